// The verdict policies give one flow, with the reasons: what `policy test`
// checks matrices against, what `policy explain` prints, and the reference
// the dataplane's rules must agree with. Pure: no I/O, no clock.
//
// Calico's semantics, with a single tier ("default"); Kubernetes policies are
// already compiled into it (order 1000, Allow rules):
// - A flow from A to B is allowed iff A and B share a network (a policy never
//   creates a path the networks do not have), egress at A allows it, and
//   ingress at B allows it.
// - One direction at endpoint E: the policies that select E and have that
//   type, in the order given (the caller sorts). In each, the rules of that
//   direction in order; the first whose every criterion matches decides:
//   Allow, Deny, Pass (leave the tier: the default, which under the
//   Kubernetes datastore is the namespace profile's allow), or Log (noted,
//   evaluation continues). Selected by some policy but no rule decided: denied
//   ("end of tier"). Selected by none: allowed.
import { contains, tryParseIp } from "../core/ipam/ipv4.ts";
import {
  type Action,
  type Direction,
  type EntityMatch,
  type Namespace,
  namespaceLabels,
  type Policy,
  type PortRange,
  type Rule,
  type Workload,
} from "./model.ts";
import { formatSelector, matchesSelector } from "./selector.ts";

/** A peer outside the cluster (or not a workload): only its address is known. */
export interface External {
  ip: string;
}

export type Peer = Workload | External;

export interface FlowInput {
  /** In evaluation order (loadPolicyPaths sorts by order, then name). */
  policies: Policy[];
  /** Namespace labels, for namespaceSelector; a namespace missing here has
   * only its default labels (namespaceLabels(name)). */
  namespaces: Map<string, Namespace>;
  from: Peer;
  to: Peer;
  /** Destination port (ignored for protocols without ports). */
  port: number;
  protocol: number;
  /** The client's port. Usually unknown (ephemeral): a rule constraining
   * source ports then never matches, rather than guessing. */
  sourcePort?: number;
  icmp?: { type: number; code: number };
}

export type DirectionReason =
  | "no policy selects"
  | "allowed by rule"
  | "denied by rule"
  | "end of tier (selected, no rule matched)"
  | "pass to default";

export interface RuleStep {
  index: number;
  action: Action;
  matched: boolean;
  /** Why it did not match: the first criterion that failed. */
  mismatch?: string;
  /** A matching Log rule does not decide. */
  note?: "logged, continues";
}

export interface TraceStep {
  policy: string;
  selected: boolean;
  /** Why a policy does not apply to this endpoint in this direction. */
  why?: string;
  /** The rules evaluated, in order, up to the one that decided. */
  rules: RuleStep[];
}

export interface DirectionVerdict {
  allowed: boolean;
  reason: DirectionReason;
  decidedBy?: { policy: string; direction: Direction; ruleIndex: number };
  trace: TraceStep[];
}

export interface Verdict {
  allowed: boolean;
  sharedNetwork: boolean;
  egress: DirectionVerdict;
  ingress: DirectionVerdict;
}

export const TCP = 6;
export const UDP = 17;
export const ICMP = 1;
export const SCTP = 132;

export function isWorkload(peer: Peer): peer is Workload {
  return "id" in peer;
}

/** For callers judging many flows (reach, enforcement): the policies that
 * select each endpoint, found once instead of per flow, and no trace. */
export interface FlowOptions {
  /** Per direction, exactly the policies (in order) that select that
   * direction's endpoint; the others are not looked at. */
  selecting?: Partial<Record<Direction, Policy[]>>;
  /** Build the trace (default true). */
  trace?: boolean;
}

export function evaluateFlow(input: FlowInput, opts: FlowOptions = {}): Verdict {
  const shared = sharedNetworks(input.from, input.to);
  const flow: ResolvedFlow = {
    ...input,
    fromAddresses: addressesOf(input.from, shared),
    toAddresses: addressesOf(input.to, shared),
  };
  const egress = evaluateDirection(flow, "egress", opts);
  const ingress = evaluateDirection(flow, "ingress", opts);
  const sharedNetwork = shared === undefined || shared.length > 0;
  return {
    allowed: sharedNetwork && egress.allowed && ingress.allowed,
    sharedNetwork,
    egress,
    ingress,
  };
}

/** The policies that select `endpoint` in `direction`, in order. */
export function selectingPolicies(
  policies: Policy[],
  endpoint: Workload,
  direction: Direction,
  namespaces: Map<string, Namespace>,
): Policy[] {
  const type = direction === "egress" ? "Egress" : "Ingress";
  return policies.filter((p) => notSelecting(p, endpoint, type, namespaces) === undefined);
}

/** One line for a direction's verdict: "end of tier (selected, no rule matched)",
 * "denied by rule x/deny egress[0]". */
export function describeDirection(v: DirectionVerdict): string {
  if (!v.decidedBy) return v.reason;
  const { policy, direction, ruleIndex } = v.decidedBy;
  return `${v.reason} ${policy} ${direction}[${ruleIndex}]`;
}

interface ResolvedFlow extends FlowInput {
  /** The addresses nets/notNets look at: on the shared network when there is one. */
  fromAddresses: number[];
  toAddresses: number[];
}

/** The networks both workloads are on; undefined when a side is external
 * (it has no networks of ours; whether it is routable is not ours to model). */
function sharedNetworks(a: Peer, b: Peer): string[] | undefined {
  if (!isWorkload(a) || !isWorkload(b)) return undefined;
  const ofB = new Set(b.addresses.map((x) => x.networkId));
  return [...new Set(a.addresses.map((x) => x.networkId))].filter((n) => ofB.has(n));
}

/** A workload's address on the shared network(s) the flow uses, or all of
 * them when there is none (the flow is refused anyway; explain still shows
 * what the rules would say). */
function addressesOf(peer: Peer, shared: string[] | undefined): number[] {
  if (!isWorkload(peer)) {
    const ip = tryParseIp(peer.ip);
    return ip < 0 ? [] : [ip];
  }
  const on =
    shared && shared.length > 0
      ? peer.addresses.filter((a) => shared.includes(a.networkId))
      : peer.addresses;
  return on.map((a) => tryParseIp(a.address)).filter((ip) => ip >= 0);
}

function evaluateDirection(
  flow: ResolvedFlow,
  direction: Direction,
  opts: FlowOptions,
): DirectionVerdict {
  const endpoint = direction === "egress" ? flow.from : flow.to;
  const trace: TraceStep[] = [];
  const tracing = opts.trace !== false;
  // An external peer has no policies of its own.
  if (!isWorkload(endpoint)) return { allowed: true, reason: "no policy selects", trace };
  const type = direction === "egress" ? "Egress" : "Ingress";
  const preselected = opts.selecting?.[direction];
  let selectedAny = false;
  for (const policy of preselected ?? flow.policies) {
    const why = preselected ? undefined : notSelecting(policy, endpoint, type, flow.namespaces);
    const step: TraceStep = { policy: policy.name, selected: why === undefined, rules: [] };
    if (tracing) trace.push(step);
    if (why !== undefined) {
      step.why = why;
      continue;
    }
    selectedAny = true;
    for (const rule of policy[direction]) {
      const mismatch = ruleMismatch(rule, flow);
      const ruleStep: RuleStep = { index: rule.index, action: rule.action, matched: !mismatch };
      if (tracing) step.rules.push(ruleStep);
      if (mismatch !== undefined) {
        ruleStep.mismatch = mismatch;
        continue;
      }
      if (rule.action === "Log") {
        ruleStep.note = "logged, continues";
        continue;
      }
      const decidedBy = { policy: policy.name, direction, ruleIndex: rule.index };
      if (rule.action === "Allow")
        return { allowed: true, reason: "allowed by rule", decidedBy, trace };
      if (rule.action === "Deny")
        return { allowed: false, reason: "denied by rule", decidedBy, trace };
      // Pass: skip the rest of the tier; the only tier left is the default's.
      return { allowed: true, reason: "pass to default", decidedBy, trace };
    }
  }
  if (selectedAny)
    return { allowed: false, reason: "end of tier (selected, no rule matched)", trace };
  return { allowed: true, reason: "no policy selects", trace };
}

/** Why `policy` does not apply to `endpoint` for `type`; undefined when it does. */
function notSelecting(
  policy: Policy,
  endpoint: Workload,
  type: "Ingress" | "Egress",
  namespaces: Map<string, Namespace>,
): string | undefined {
  if (!policy.types.includes(type)) return `no ${type} type`;
  if (policy.namespace !== undefined && policy.namespace !== endpoint.namespace)
    return `namespace ${policy.namespace}, not ${endpoint.namespace}`;
  if (!matchesSelector(policy.selector, endpoint.labels))
    return `selector ${formatSelector(policy.selector)} does not match`;
  if (policy.namespaceSelector !== undefined) {
    const labels =
      namespaces.get(endpoint.namespace)?.labels ?? namespaceLabels(endpoint.namespace);
    if (!matchesSelector(policy.namespaceSelector, labels))
      return `namespace ${endpoint.namespace} does not match namespaceSelector ${formatSelector(policy.namespaceSelector)}`;
  }
  return undefined;
}

/** The first criterion of `rule` the flow fails, or undefined when all match. */
function ruleMismatch(rule: Rule, flow: ResolvedFlow): string | undefined {
  if (rule.protocol !== undefined && rule.protocol !== flow.protocol)
    return `protocol ${flow.protocol} is not ${rule.protocol}`;
  if (rule.notProtocol !== undefined && rule.notProtocol === flow.protocol)
    return `protocol is ${rule.notProtocol} (notProtocol)`;
  if (rule.icmp !== undefined && !icmpMatches(rule.icmp, flow))
    return `ICMP ${formatIcmp(flow.icmp)} is not ${formatIcmp(rule.icmp)}`;
  if (rule.notIcmp !== undefined && icmpMatches(rule.notIcmp, flow))
    return `ICMP is ${formatIcmp(rule.notIcmp)} (notICMP)`;
  const source = entityMismatch(rule.source, flow, "source");
  if (source !== undefined) return source;
  return entityMismatch(rule.destination, flow, "destination");
}

function icmpMatches(want: { type: number; code?: number }, flow: ResolvedFlow): boolean {
  if (flow.protocol !== ICMP || flow.icmp === undefined) return false;
  return want.type === flow.icmp.type && (want.code === undefined || want.code === flow.icmp.code);
}

function formatIcmp(icmp: { type: number; code?: number } | undefined): string {
  if (icmp === undefined) return "(none)";
  return icmp.code === undefined ? `type ${icmp.type}` : `type ${icmp.type} code ${icmp.code}`;
}

/** Why the peer on `side` fails `match`; undefined when every field present matches. */
function entityMismatch(
  match: EntityMatch,
  flow: ResolvedFlow,
  side: "source" | "destination",
): string | undefined {
  const peer = side === "source" ? flow.from : flow.to;
  const name = isWorkload(peer) ? peer.id : peer.ip;
  if (match.selector !== undefined) {
    // Selectors pick workloads; an address outside them is never selected.
    if (!isWorkload(peer) || !matchesSelector(match.selector, peer.labels))
      return `${side} ${name} does not match selector ${formatSelector(match.selector)}`;
  }
  if (match.notSelector !== undefined) {
    // Calico matches notSelector by "not in the selected set": an external
    // address never is, so it matches.
    if (isWorkload(peer) && matchesSelector(match.notSelector, peer.labels))
      return `${side} ${name} matches notSelector ${formatSelector(match.notSelector)}`;
  }
  if (match.namespaceSelector !== undefined) {
    const labels = isWorkload(peer)
      ? (flow.namespaces.get(peer.namespace)?.labels ?? namespaceLabels(peer.namespace))
      : undefined;
    if (!labels || !matchesSelector(match.namespaceSelector, labels))
      return `${side} ${name} is not in a namespace matching ${formatSelector(match.namespaceSelector)}`;
  }
  if (match.namespace !== undefined) {
    if (!isWorkload(peer) || peer.namespace !== match.namespace)
      return `${side} ${name} is not in namespace ${match.namespace}`;
  }
  const addresses = side === "source" ? flow.fromAddresses : flow.toAddresses;
  if (match.nets !== undefined) {
    const nets = match.nets;
    if (!addresses.some((ip) => nets.some((n) => contains(n, ip))))
      return `${side} ${name} is not in ${nets.map((n) => n.text).join(", ")}`;
  }
  if (match.notNets !== undefined) {
    const notNets = match.notNets;
    if (addresses.some((ip) => notNets.some((n) => contains(n, ip))))
      return `${side} ${name} is in ${notNets.map((n) => n.text).join(", ")} (notNets)`;
  }
  // Ports: the destination's is the flow's port; the source's is the
  // client's ephemeral port, unknown unless the flow names it — then a
  // constraint on it cannot be shown to hold and does not match.
  const port = side === "destination" ? flow.port : flow.sourcePort;
  if (match.ports !== undefined) {
    if (port === undefined || !inRanges(port, match.ports))
      return `${side} port ${port ?? "(unknown)"} is not in ${formatRanges(match.ports)}`;
  }
  if (match.notPorts !== undefined) {
    if (port === undefined || inRanges(port, match.notPorts))
      return `${side} port ${port ?? "(unknown)"} is in ${formatRanges(match.notPorts)} (notPorts)`;
  }
  return undefined;
}

function inRanges(port: number, ranges: PortRange[]): boolean {
  return ranges.some((r) => port >= r.from && port <= r.to);
}

function formatRanges(ranges: PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? `${r.from}` : `${r.from}:${r.to}`)).join(", ");
}
