// Network policies as swarmnet evaluates and enforces them: one model that
// Calico `projectcalico.org/v3` NetworkPolicy / GlobalNetworkPolicy and
// Kubernetes `networking.k8s.io/v1` NetworkPolicy both compile into (as
// Calico itself does: a Kubernetes policy becomes an ordered policy at order
// 1000 whose rules all Allow). Plain data; the selector AST is data too.

/** A parsed Calico selector (see selector.ts). */
export type Selector =
  | { op: "all" }
  | { op: "has"; key: string }
  | { op: "eq" | "ne"; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "contains" | "startswith" | "endswith"; key: string; value: string }
  | { op: "not"; arg: Selector }
  | { op: "and" | "or"; args: Selector[] };

export type Action = "Allow" | "Deny" | "Log" | "Pass";
export type Direction = "ingress" | "egress";

/** IANA protocol number (TCP 6, UDP 17, ICMP 1, …). */
export type ProtocolNumber = number;

export interface PortRange {
  /** Inclusive. */
  from: number;
  to: number;
}

/** IPv4 CIDR as parsed: base address and prefix length. */
export interface Net {
  text: string;
  base: number;
  prefix: number;
}

/** Where a rule or policy was written, for errors and `explain`. */
export interface Origin {
  file: string;
  line: number;
  column: number;
}

/** One side of a rule (Calico's EntityRule). Every field present must match. */
export interface EntityMatch {
  /** Endpoints whose labels match (`selector`). */
  selector?: Selector;
  notSelector?: Selector;
  /** Endpoints in namespaces (stacks) whose labels match. Absent with a
   * selector in a namespaced policy: the policy's own namespace. */
  namespaceSelector?: Selector;
  /** For a namespaced policy with neither namespaceSelector: its namespace. */
  namespace?: string;
  nets?: Net[];
  notNets?: Net[];
  ports?: PortRange[];
  notPorts?: PortRange[];
}

export interface Rule {
  action: Action;
  protocol?: ProtocolNumber;
  notProtocol?: ProtocolNumber;
  /** ICMP type/code (code undefined: any). */
  icmp?: { type: number; code?: number };
  notIcmp?: { type: number; code?: number };
  source: EntityMatch;
  destination: EntityMatch;
  /** Position in its policy, for explain: "ingress[2]". */
  index: number;
  origin: Origin;
}

export type PolicyKind = "NetworkPolicy" | "GlobalNetworkPolicy" | "KubernetesNetworkPolicy";

export interface Policy {
  /** As `policy ls` shows and `policy rm` takes: "<namespace>/<name>" for
   * namespaced policies ("<namespace>/knp.default.<name>" for Kubernetes
   * ones, Calico's naming), "<name>" for global ones. */
  name: string;
  kind: PolicyKind;
  /** Namespaced policies only: they select endpoints of this namespace. */
  namespace?: string;
  /** Lower first; undefined = after every ordered policy (Calico's "infinite"). */
  order?: number;
  /** Which endpoints the policy applies to (within `namespace` when set). */
  selector: Selector;
  /** GlobalNetworkPolicy only: and only endpoints in namespaces whose labels match. */
  namespaceSelector?: Selector;
  types: ("Ingress" | "Egress")[];
  ingress: Rule[];
  egress: Rule[];
  origin: Origin;
}

/** A workload as policies see it: a task or standalone container (or, in
 * `policy test`, a declared workload). */
export interface Workload {
  /** "<stack>/<name>" (stack "default" when in none). */
  id: string;
  namespace: string;
  /** Service labels, its own labels, and the stack label. */
  labels: Record<string, string>;
  /** IPv4 addresses, one per network it is on. */
  addresses: { networkId: string; address: string }[];
}

export interface Namespace {
  name: string;
  /** `com.docker.stack.namespace=<name>`, `kubernetes.io/metadata.name=<name>` and any extra. */
  labels: Record<string, string>;
}

export const STACK_LABEL = "com.docker.stack.namespace";
export const K8S_NAMESPACE_LABEL = "kubernetes.io/metadata.name";
export const DEFAULT_NAMESPACE = "default";

/** Calico's own labels: a namespace's name, and on an endpoint its namespace,
 * so selectors written for Calico (`projectcalico.org/name == "x"`) work as there. */
export const CALICO_NAME_LABEL = "projectcalico.org/name";
export const CALICO_NAMESPACE_LABEL = "projectcalico.org/namespace";

export function namespaceLabels(
  name: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return { ...extra, [STACK_LABEL]: name, [K8S_NAMESPACE_LABEL]: name, [CALICO_NAME_LABEL]: name };
}

/** A workload's labels as policies see them: its own, plus its stack (namespace). */
export function workloadLabels(
  labels: Record<string, string>,
  namespace: string,
): Record<string, string> {
  return { ...labels, [STACK_LABEL]: namespace, [CALICO_NAMESPACE_LABEL]: namespace };
}

/** A policy error that points at the input: "file:line:column: message". */
export class PolicyError extends Error {
  readonly origin: Origin | undefined;
  constructor(message: string, origin?: Origin) {
    super(origin ? `${origin.file}:${origin.line}:${origin.column}: ${message}` : message);
    this.name = "PolicyError";
    this.origin = origin;
  }
}
