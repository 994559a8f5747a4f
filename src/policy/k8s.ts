// Kubernetes `networking.k8s.io/v1` NetworkPolicy → Policy, the way Calico
// converts one: a namespaced policy named "knp.default.<name>" at order 1000
// whose rules all Allow, so it composes with Calico policies by order.
//
// A rule becomes one model rule per (peer × protocol): peers are ORed by
// being separate Allow rules, and the ports of one protocol share a rule.
// Rules exist only for the directions in `types` (Kubernetes ignores the
// others).

import { netContains, parseNet, readMetadata, readTypes, TCP, UDP } from "./compile.ts";
import type { EntityMatch, Policy, PortRange, Rule, Selector } from "./model.ts";
import {
  type At,
  type Fields,
  fail,
  fields,
  integer,
  list,
  origin,
  scalar,
  string,
  stringMap,
} from "./yaml-node.ts";

export const K8S_API_VERSION = "networking.k8s.io/v1";
export const K8S_ORDER = 1000;

const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkLabelKey(at: At, key: string, what: string): void {
  const slash = key.indexOf("/");
  const prefix = slash < 0 ? undefined : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  const ok =
    name.length <= 63 &&
    LABEL_NAME.test(name) &&
    (prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
  if (!ok) fail(at, `${what}: "${key}" is not a valid label key`);
}

function checkLabelValue(at: At, value: string, what: string): void {
  if (value.length > 63 || (value !== "" && !LABEL_NAME.test(value))) {
    fail(at, `${what}: "${value}" is not a valid label value`);
  }
}

/** A LabelSelector (matchLabels AND matchExpressions) as a selector; empty: all(). */
export function labelSelector(at: At, what: string): Selector {
  const f = fields(at, what, ["matchLabels", "matchExpressions"]);
  const terms: Selector[] = [];
  const labels = f.get("matchLabels");
  if (labels) {
    for (const [key, entry] of stringMap(labels, `${what}.matchLabels`)) {
      checkLabelKey(entry.key, key, `${what}.matchLabels`);
      checkLabelValue(entry.value, entry.text, `${what}.matchLabels`);
      terms.push({ op: "eq", key, value: entry.text });
    }
  }
  const expressions = f.get("matchExpressions");
  if (expressions) {
    for (const [i, item] of list(expressions, `${what}.matchExpressions`).entries()) {
      terms.push(labelExpression(item, `${what}.matchExpressions[${i}]`));
    }
  }
  if (terms.length === 0) return { op: "all" };
  return terms.length === 1 ? terms[0]! : { op: "and", args: terms };
}

function labelExpression(at: At, what: string): Selector {
  const f = fields(at, what, ["key", "operator", "values"]);
  const keyAt = f.get("key");
  const operatorAt = f.get("operator");
  if (!keyAt) fail(at, `${what}.key is required`);
  if (!operatorAt) fail(at, `${what}.operator is required`);
  const key = string(keyAt, `${what}.key`);
  checkLabelKey(keyAt, key, `${what}.key`);
  const operator = string(operatorAt, `${what}.operator`);
  const valuesAt = f.get("values");
  const values = valuesAt
    ? list(valuesAt, `${what}.values`).map((v, i) => {
        const value = string(v, `${what}.values[${i}]`);
        checkLabelValue(v, value, `${what}.values`);
        return value;
      })
    : [];
  switch (operator) {
    case "In":
    case "NotIn":
      if (values.length === 0)
        fail(valuesAt ?? at, `${what}.values must not be empty for ${operator}`);
      return { op: operator === "In" ? "in" : "notin", key, values };
    case "Exists":
    case "DoesNotExist":
      if (values.length > 0) fail(valuesAt!, `${what}.values must be empty for ${operator}`);
      return operator === "Exists" ? { op: "has", key } : { op: "not", arg: { op: "has", key } };
    default:
      return fail(
        operatorAt,
        `${what}.operator "${operator}" must be In, NotIn, Exists or DoesNotExist`,
      );
  }
}

function compilePeer(at: At, what: string, namespace: string): EntityMatch {
  const f = fields(at, what, ["podSelector", "namespaceSelector", "ipBlock"]);
  const pods = f.get("podSelector");
  const namespaces = f.get("namespaceSelector");
  const block = f.get("ipBlock");
  if (block) {
    if (pods || namespaces)
      fail(block, `${what}: ipBlock cannot be combined with podSelector or namespaceSelector`);
    return compileIpBlock(block, `${what}.ipBlock`);
  }
  if (!pods && !namespaces) fail(at, `${what} must have podSelector, namespaceSelector or ipBlock`);
  const match: EntityMatch = {};
  if (pods) match.selector = labelSelector(pods, `${what}.podSelector`);
  // A podSelector alone means pods of the policy's namespace; with a
  // namespaceSelector, pods of those namespaces; a namespaceSelector alone,
  // every pod of them.
  if (namespaces) match.namespaceSelector = labelSelector(namespaces, `${what}.namespaceSelector`);
  else match.namespace = namespace;
  return match;
}

function compileIpBlock(at: At, what: string): EntityMatch {
  const f = fields(at, what, ["cidr", "except"]);
  const cidrAt = f.get("cidr");
  if (!cidrAt) fail(at, `${what}.cidr is required`);
  const cidr = parseNet(cidrAt, `${what}.cidr`, false);
  const match: EntityMatch = { nets: [cidr] };
  const exceptAt = f.get("except");
  if (exceptAt) {
    match.notNets = list(exceptAt, `${what}.except`).map((e, i) => {
      const net = parseNet(e, `${what}.except[${i}]`, false);
      if (net.prefix <= cidr.prefix || !netContains(cidr, net)) {
        fail(e, `${what}.except[${i}] "${net.text}" must be strictly inside cidr ${cidr.text}`);
      }
      return net;
    });
  }
  return match;
}

interface PortGroup {
  protocol: number;
  /** Undefined: every port of the protocol. */
  ports?: PortRange[];
  at: At;
}

/** Ports grouped by protocol, in order of first appearance. */
function compilePorts(at: At, what: string): PortGroup[] {
  const groups = new Map<number, PortGroup>();
  for (const [i, item] of list(at, what).entries()) {
    const w = `${what}[${i}]`;
    const f = fields(item, w, ["protocol", "port", "endPort"]);
    const protocolAt = f.get("protocol");
    const protocolName = protocolAt ? string(protocolAt, `${w}.protocol`) : "TCP";
    if (protocolName === "SCTP") fail(protocolAt!, `${w}.protocol: SCTP is not supported`);
    if (protocolName !== "TCP" && protocolName !== "UDP") {
      fail(protocolAt!, `${w}.protocol "${protocolName}" must be TCP or UDP`);
    }
    const protocol = protocolName === "TCP" ? TCP : UDP;
    const range = compilePortRange(f, w);
    const group = groups.get(protocol) ?? { protocol, ports: [], at: item };
    groups.set(protocol, group);
    if (range === undefined) delete group.ports;
    else group.ports?.push(range);
  }
  return [...groups.values()];
}

function compilePortRange(f: Fields, what: string): PortRange | undefined {
  const portAt = f.get("port");
  const endAt = f.get("endPort");
  if (!portAt) {
    if (endAt) fail(endAt, `${what}.endPort needs a port`);
    return undefined;
  }
  if (typeof scalar(portAt) === "string") {
    fail(portAt, `${what}.port "${scalar(portAt)}": named ports are not supported`);
  }
  const from = integer(portAt, `${what}.port`, 1, 65535);
  const to = endAt ? integer(endAt, `${what}.endPort`, 1, 65535) : from;
  if (to < from) fail(endAt!, `${what}.endPort must not be below port ${from}`);
  return { from, to };
}

function compileRules(
  at: At,
  direction: "ingress" | "egress",
  namespace: string,
  rules: Rule[],
): void {
  for (const [i, ruleAt] of list(at, `spec.${direction}`).entries()) {
    const what = `spec.${direction}[${i}]`;
    const peersField = direction === "ingress" ? "from" : "to";
    const f = fields(ruleAt, what, [peersField, "ports"]);
    const peersAt = f.get(peersField);
    const portsAt = f.get("ports");
    // No peers (or an empty list) is everyone; no ports, every port.
    const peerAts = peersAt ? list(peersAt, `${what}.${peersField}`) : [];
    const peers: { match: EntityMatch; at: At }[] = peerAts.map((p, j) => ({
      match: compilePeer(p, `${what}.${peersField}[${j}]`, namespace),
      at: p,
    }));
    if (peers.length === 0) peers.push({ match: {}, at: ruleAt });
    const groups: (PortGroup | undefined)[] = portsAt ? compilePorts(portsAt, `${what}.ports`) : [];
    if (groups.length === 0) groups.push(undefined);
    for (const peer of peers) {
      for (const group of groups) {
        const ports: EntityMatch = group?.ports ? { ports: group.ports } : {};
        const rule: Rule = {
          action: "Allow",
          source: direction === "ingress" ? { ...peer.match } : {},
          destination: direction === "ingress" ? ports : { ...peer.match, ...ports },
          index: rules.length,
          origin: origin(peer.at),
        };
        if (group) rule.protocol = group.protocol;
        rules.push(rule);
      }
    }
  }
}

export function compileKubernetes(doc: Fields): Policy {
  const meta = readMetadata(doc, true);
  const namespace = meta.namespace!;
  const specAt = doc.get("spec");
  if (!specAt) fail(doc.at, "spec is required");
  const spec = fields(specAt, "spec", ["podSelector", "policyTypes", "ingress", "egress"]);
  const podSelector = spec.get("podSelector");
  const ingressAt = spec.get("ingress");
  const egressAt = spec.get("egress");
  const typesAt = spec.get("policyTypes");
  // Kubernetes' defaulting: Ingress always, Egress when there are egress rules.
  const types = typesAt
    ? readTypes(typesAt, "spec.policyTypes")
    : egressAt && list(egressAt, "spec.egress").length > 0
      ? (["Ingress", "Egress"] as const).slice()
      : (["Ingress"] as ("Ingress" | "Egress")[]);
  const ingress: Rule[] = [];
  const egress: Rule[] = [];
  if (ingressAt && types.includes("Ingress"))
    compileRules(ingressAt, "ingress", namespace, ingress);
  if (egressAt && types.includes("Egress")) compileRules(egressAt, "egress", namespace, egress);
  // Rules of a direction not in policyTypes are ignored, but still checked.
  if (ingressAt && !types.includes("Ingress")) compileRules(ingressAt, "ingress", namespace, []);
  if (egressAt && !types.includes("Egress")) compileRules(egressAt, "egress", namespace, []);
  return {
    name: `${namespace}/knp.default.${meta.name}`,
    kind: "KubernetesNetworkPolicy",
    namespace,
    order: K8S_ORDER,
    selector: podSelector ? labelSelector(podSelector, "spec.podSelector") : { op: "all" },
    types,
    ingress,
    egress,
    origin: origin(doc.at),
  };
}
