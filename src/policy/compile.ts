// Calico `projectcalico.org/v3` NetworkPolicy and GlobalNetworkPolicy
// documents → Policy. Also the pieces the Kubernetes compiler shares:
// metadata, selectors, CIDRs, port ranges.
//
// Calico's namespacing of rule selectors (as its v3 → dataplane conversion
// does): in a namespaced policy, a rule side with a selector or notSelector
// but no namespaceSelector only matches endpoints of the policy's own
// namespace; a namespaceSelector replaces that with "namespaces matching";
// a side with only nets/ports is not scoped at all. A GlobalNetworkPolicy
// scopes nothing.
import { cidrContainsCidr, formatCidr, parseCidrHost } from "../core/ipam/ipv4.ts";
import type {
  Action,
  EntityMatch,
  Net,
  Policy,
  PolicyKind,
  PortRange,
  ProtocolNumber,
  Rule,
  Selector,
} from "./model.ts";
import { DEFAULT_NAMESPACE, PolicyError } from "./model.ts";
import { parseSelector, SelectorSyntaxError } from "./selector.ts";
import {
  type At,
  boolean,
  type Fields,
  fail,
  fields,
  integer,
  list,
  number,
  origin,
  originInString,
  scalar,
  string,
  stringMap,
} from "./yaml-node.ts";

export const CALICO_API_VERSION = "projectcalico.org/v3";

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
const SCTP = 132;

// ObjectMeta fields that may appear (say, in `kubectl get -o yaml` output)
// and carry nothing a policy needs.
const METADATA_FIELDS = [
  "name",
  "namespace",
  "labels",
  "annotations",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "deletionGracePeriodSeconds",
  "managedFields",
  "finalizers",
  "ownerReferences",
  "selfLink",
] as const;

// DNS-1123 subdomain, what both Calico and Kubernetes require of names.
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Namespaces are stacks, so a stack name must pass: Docker's are more
// permissive than DNS labels (upper case, `_`).
const NAMESPACE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Calico names compiled Kubernetes policies with this prefix; keep it theirs. */
export const KNP_PREFIX = "knp.default.";

export interface Metadata {
  name: string;
  nameAt: At;
  /** Absent for global policies. */
  namespace?: string;
}

export function readMetadata(doc: Fields, namespaced: boolean): Metadata {
  const at = doc.get("metadata");
  if (!at) fail(doc.at, "metadata.name is required");
  const meta = fields(at, "metadata", METADATA_FIELDS, {
    generateName: "is not supported: give the policy a name",
  });
  for (const map of ["labels", "annotations"]) {
    const value = meta.get(map);
    if (value) stringMap(value, `metadata.${map}`);
  }
  const nameAt = meta.get("name");
  if (!nameAt) fail(at, "metadata.name is required");
  const name = string(nameAt, "metadata.name");
  if (name.length > 253 || !NAME.test(name)) {
    fail(nameAt, `metadata.name "${name}" must be lower case letters, digits, '-' and '.'`);
  }
  const nsAt = meta.get("namespace");
  if (!namespaced) {
    if (nsAt) fail(nsAt, "a GlobalNetworkPolicy has no namespace");
    return { name, nameAt };
  }
  const namespace = nsAt ? string(nsAt, "metadata.namespace") : DEFAULT_NAMESPACE;
  if (nsAt && (namespace.length > 63 || !NAMESPACE.test(namespace))) {
    fail(nsAt, `metadata.namespace "${namespace}" is not a valid stack name`);
  }
  return { name, nameAt, namespace };
}

/** A selector written as a string; an empty one is `undefined` (not given). */
export function selectorField(at: At | undefined, what: string): Selector | undefined {
  if (!at) return undefined;
  const text = string(at, what);
  if (text.trim() === "") return undefined;
  try {
    return parseSelector(text);
  } catch (err) {
    if (!(err instanceof SelectorSyntaxError)) throw err;
    throw new PolicyError(
      `${what}: invalid selector: ${err.message}`,
      originInString(at, err.column - 1),
    );
  }
}

/** A CIDR (host bits masked, as Calico and Kubernetes accept them) or, where
 * `bareIp`, a single address as a /32. */
export function parseNet(at: At, what: string, bareIp: boolean): Net {
  const text = string(at, what).trim();
  if (text.includes(":")) fail(at, `${what} "${text}": IPv6 is not supported`);
  const withPrefix = bareIp && !text.includes("/") ? `${text}/32` : text;
  try {
    const { cidr } = parseCidrHost(withPrefix);
    return { text: formatCidr(cidr), base: cidr.base, prefix: cidr.prefix };
  } catch {
    return fail(at, `${what} "${text}" is not an IPv4 ${bareIp ? "address or " : ""}CIDR`);
  }
}

export function netContains(outer: Net, inner: Net): boolean {
  return cidrContainsCidr(outer, inner);
}

/** Calico's port forms: 80, "80", "1000:2000". Any other string is a named
 * port, which needs the workload's port names: not supported. */
function parsePort(at: At, what: string): PortRange {
  const value = scalar(at);
  if (typeof value === "number") {
    const port = integer(at, what, 0, 65535);
    return { from: port, to: port };
  }
  if (typeof value !== "string") fail(at, `${what} must be a port number or "from:to" range`);
  const range = /^\s*(\d+)\s*(?::\s*(\d+)\s*)?$/.exec(value);
  if (!range) fail(at, `${what} "${value}": named ports are not supported`);
  const from = Number(range[1]);
  const to = range[2] === undefined ? from : Number(range[2]);
  if (from > 65535 || to > 65535) fail(at, `${what} "${value}": ports go up to 65535`);
  if (from > to) fail(at, `${what} "${value}": the range ends before it starts`);
  return { from, to };
}

const PROTOCOLS: Record<string, ProtocolNumber> = { tcp: TCP, udp: UDP, icmp: ICMP };

/** TCP, UDP, ICMP (any case, as Calico accepts) or a protocol number. */
function parseProtocol(at: At, what: string): ProtocolNumber {
  const value = scalar(at);
  if (typeof value === "number") {
    const n = integer(at, what, 1, 255);
    if (n === SCTP) fail(at, `${what}: SCTP is not supported`);
    return n;
  }
  if (typeof value !== "string") fail(at, `${what} must be TCP, UDP, ICMP or a number`);
  const lower = value.toLowerCase();
  if (lower === "sctp") fail(at, `${what}: SCTP is not supported`);
  if (lower === "icmpv6") fail(at, `${what}: ICMPv6 is not supported (swarmnet is IPv4 only)`);
  if (lower === "udplite") fail(at, `${what}: UDPLite is not supported`);
  const n = PROTOCOLS[lower];
  if (n === undefined) fail(at, `${what} "${value}" must be TCP, UDP, ICMP or a number`);
  return n;
}

function parseIcmp(at: At, what: string): { type: number; code?: number } | undefined {
  const f = fields(at, what, ["type", "code"]);
  const typeAt = f.get("type");
  const codeAt = f.get("code");
  if (!typeAt) {
    if (codeAt) fail(codeAt, `${what}.code needs a type`);
    return undefined;
  }
  const type = integer(typeAt, `${what}.type`, 0, 254);
  return codeAt ? { type, code: integer(codeAt, `${what}.code`, 0, 255) } : { type };
}

const ACTIONS: readonly Action[] = ["Allow", "Deny", "Log", "Pass"];

const RULE_FIELDS = [
  "action",
  "protocol",
  "notProtocol",
  "icmp",
  "notICMP",
  "ipVersion",
  "source",
  "destination",
  "metadata",
] as const;

const ENTITY_FIELDS = [
  "selector",
  "notSelector",
  "namespaceSelector",
  "nets",
  "notNets",
  "ports",
  "notPorts",
] as const;

const ENTITY_UNSUPPORTED = {
  serviceAccounts: "is not supported: swarmnet workloads have no service accounts",
  services: "is not supported: match the service's labels with selector",
  serviceSelector: "is not supported: match the service's labels with selector",
};

function compileEntity(
  at: At | undefined,
  what: string,
  protocol: number | undefined,
  namespace: string | undefined,
): EntityMatch {
  const match: EntityMatch = {};
  if (!at) return match;
  const f = fields(at, what, ENTITY_FIELDS, ENTITY_UNSUPPORTED);
  const selector = selectorField(f.get("selector"), `${what}.selector`);
  const notSelector = selectorField(f.get("notSelector"), `${what}.notSelector`);
  const namespaceSelector = selectorField(f.get("namespaceSelector"), `${what}.namespaceSelector`);
  if (selector) match.selector = selector;
  if (notSelector) match.notSelector = notSelector;
  if (namespaceSelector) match.namespaceSelector = namespaceSelector;
  else if (namespace !== undefined && (selector || notSelector)) match.namespace = namespace;
  for (const key of ["nets", "notNets"] as const) {
    const netsAt = f.get(key);
    if (netsAt) {
      match[key] = list(netsAt, `${what}.${key}`).map((n, i) =>
        parseNet(n, `${what}.${key}[${i}]`, true),
      );
    }
  }
  for (const key of ["ports", "notPorts"] as const) {
    const portsAt = f.get(key);
    if (!portsAt) continue;
    if (protocol !== TCP && protocol !== UDP) {
      fail(f.key(key), `${what}.${key} needs the rule's protocol to be TCP or UDP`);
    }
    match[key] = list(portsAt, `${what}.${key}`).map((p, i) =>
      parsePort(p, `${what}.${key}[${i}]`),
    );
  }
  return match;
}

function compileRule(at: At, what: string, index: number, namespace: string | undefined): Rule {
  const f = fields(at, what, RULE_FIELDS, { http: "(an L7 match) is not supported" });
  const actionAt = f.get("action");
  if (!actionAt) fail(at, `${what}.action is required (Allow, Deny, Log or Pass)`);
  const action = string(actionAt, `${what}.action`) as Action;
  if (!ACTIONS.includes(action))
    fail(actionAt, `${what}.action "${action}" must be Allow, Deny, Log or Pass`);
  const ipVersion = f.get("ipVersion");
  if (ipVersion && integer(ipVersion, `${what}.ipVersion`, 4, 6) !== 4) {
    fail(ipVersion, `${what}.ipVersion must be 4: swarmnet is IPv4 only`);
  }
  const metadata = f.get("metadata");
  if (metadata) {
    const annotations = fields(metadata, `${what}.metadata`, ["annotations"]).get("annotations");
    if (annotations) stringMap(annotations, `${what}.metadata.annotations`);
  }
  const protocolAt = f.get("protocol");
  const notProtocolAt = f.get("notProtocol");
  const protocol = protocolAt ? parseProtocol(protocolAt, `${what}.protocol`) : undefined;
  const rule: Rule = {
    action,
    source: compileEntity(f.get("source"), `${what}.source`, protocol, namespace),
    destination: compileEntity(f.get("destination"), `${what}.destination`, protocol, namespace),
    index,
    origin: origin(at),
  };
  if (protocol !== undefined) rule.protocol = protocol;
  if (notProtocolAt) rule.notProtocol = parseProtocol(notProtocolAt, `${what}.notProtocol`);
  for (const [key, name] of [
    ["icmp", "icmp"],
    ["notIcmp", "notICMP"],
  ] as const) {
    const icmpAt = f.get(name);
    if (!icmpAt) continue;
    if (protocol !== ICMP)
      fail(f.key(name), `${what}.${name} needs the rule's protocol to be ICMP`);
    const icmp = parseIcmp(icmpAt, `${what}.${name}`);
    if (icmp) rule[key] = icmp;
  }
  return rule;
}

/** Checks `types`/`policyTypes`: Ingress and Egress, each at most once. */
export function readTypes(at: At, what: string): ("Ingress" | "Egress")[] {
  const types: ("Ingress" | "Egress")[] = [];
  for (const [i, item] of list(at, what).entries()) {
    const type = string(item, `${what}[${i}]`);
    if (type !== "Ingress" && type !== "Egress")
      fail(item, `${what}[${i}] "${type}" must be Ingress or Egress`);
    if (types.includes(type)) fail(item, `${what}[${i}]: ${type} is listed twice`);
    types.push(type);
  }
  return types;
}

const SPEC_FIELDS = ["order", "tier", "selector", "types", "ingress", "egress", "performanceHints"];
// Host-endpoint features: they mean nothing for workloads, so refuse them
// when on rather than pretend.
const GLOBAL_ONLY = ["doNotTrack", "preDNAT", "applyOnForward"];

export function compileCalico(doc: Fields, kind: "NetworkPolicy" | "GlobalNetworkPolicy"): Policy {
  const global = kind === "GlobalNetworkPolicy";
  const meta = readMetadata(doc, !global);
  const specAt = doc.get("spec");
  const spec = specAt
    ? fields(
        specAt,
        "spec",
        global ? [...SPEC_FIELDS, ...GLOBAL_ONLY, "namespaceSelector"] : SPEC_FIELDS,
        { serviceAccountSelector: "is not supported: swarmnet workloads have no service accounts" },
      )
    : undefined;
  const get = (name: string) => spec?.get(name);

  const tier = get("tier");
  if (tier && string(tier, "spec.tier") !== "default") {
    fail(tier, "spec.tier: only the default tier is supported");
  }
  for (const flag of GLOBAL_ONLY) {
    const at = get(flag);
    if (at && boolean(at, `spec.${flag}`))
      fail(at, `spec.${flag} is not supported (host endpoints only)`);
  }
  const hints = get("performanceHints");
  if (hints) list(hints, "spec.performanceHints");
  if (meta.name.startsWith(KNP_PREFIX)) {
    fail(
      meta.nameAt,
      `metadata.name: the "${KNP_PREFIX}" prefix is reserved for Kubernetes policies`,
    );
  }

  const namespace = meta.namespace;
  const rules = (direction: "ingress" | "egress"): Rule[] => {
    const at = get(direction);
    return at
      ? list(at, `spec.${direction}`).map((r, i) =>
          compileRule(r, `spec.${direction}[${i}]`, i, namespace),
        )
      : [];
  };
  const ingress = rules("ingress");
  const egress = rules("egress");

  const typesAt = get("types");
  let types: ("Ingress" | "Egress")[];
  if (typesAt) {
    types = readTypes(typesAt, "spec.types");
    // Rules for a direction the policy does not apply to would never run:
    // refuse them rather than leave a silent no-op.
    if (ingress.length > 0 && !types.includes("Ingress"))
      fail(typesAt, "spec.types must include Ingress when there are ingress rules");
    if (egress.length > 0 && !types.includes("Egress"))
      fail(typesAt, "spec.types must include Egress when there are egress rules");
  } else {
    // Calico's defaulting: Egress when there are egress rules; Ingress when
    // there are ingress rules or no egress rules (so an empty policy
    // isolates ingress).
    types = [];
    if (ingress.length > 0 || egress.length === 0) types.push("Ingress");
    if (egress.length > 0) types.push("Egress");
  }

  const orderAt = get("order");
  const policy: Policy = {
    name: namespace === undefined ? meta.name : `${namespace}/${meta.name}`,
    kind: kind satisfies PolicyKind,
    selector: selectorField(get("selector"), "spec.selector") ?? { op: "all" },
    types,
    ingress,
    egress,
    origin: origin(doc.at),
  };
  if (namespace !== undefined) policy.namespace = namespace;
  // A GlobalNetworkPolicy's namespaceSelector narrows what it applies to:
  // endpoints whose namespace (stack) matches, as well as its selector.
  const nsSelector = global
    ? selectorField(get("namespaceSelector"), "spec.namespaceSelector")
    : undefined;
  if (nsSelector) policy.namespaceSelector = nsSelector;
  if (orderAt) policy.order = number(orderAt, "spec.order");
  return policy;
}
