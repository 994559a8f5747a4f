// What every judgment over many flows needs, computed once and shared:
// which workloads each selector matches (cached per selector object, so a
// selector written once is evaluated once per workload, however many
// sandboxes or matrix cells use it), which policies select a workload, and
// for one endpoint ("self") and one direction the rules that can decide its
// flows, each knowing which peers it matches. enforce.ts (kernel sets) and
// reach.ts (the matrix) are built on it; evaluate.ts stays the reference
// they are tested against. Pure.
import { contains, tryParseIp } from "../core/ipam/ipv4.ts";
import {
  type Action,
  type Direction,
  type EntityMatch,
  type Namespace,
  namespaceLabels,
  type Policy,
  type PortRange,
  type Selector,
  type Workload,
} from "./model.ts";
import { matchesSelector } from "./selector.ts";

export interface PolicyIndex {
  /** In evaluation order. */
  policies: Policy[];
  namespaces: Map<string, Namespace>;
  workloads: Workload[];
  /** Workload id → position in `workloads`. */
  position: Map<string, number>;
  /** Per workload, its addresses as numbers, by network. */
  addresses: { networkId: string; ip: number }[][];
  labelMasks: WeakMap<Selector, Uint8Array>;
  namespaceMasks: WeakMap<Selector, Uint8Array>;
  /** Per side of a rule: the workloads it matches, ignoring addresses. */
  sideMasks: WeakMap<EntityMatch, Uint8Array>;
  sideLists: WeakMap<EntityMatch, Int32Array>;
  selecting: Map<string, Policy[]>;
}

export function policyIndex(
  policies: Policy[],
  namespaces: Map<string, Namespace>,
  workloads: Workload[],
): PolicyIndex {
  return {
    policies,
    namespaces,
    workloads,
    position: new Map(workloads.map((w, i) => [w.id, i])),
    addresses: workloads.map((w) =>
      w.addresses
        .map((a) => ({ networkId: a.networkId, ip: tryParseIp(a.address) }))
        .filter((a) => a.ip >= 0),
    ),
    labelMasks: new WeakMap(),
    namespaceMasks: new WeakMap(),
    sideMasks: new WeakMap(),
    sideLists: new WeakMap(),
    selecting: new Map(),
  };
}

function namespaceLabelsOf(ix: PolicyIndex, namespace: string): Record<string, string> {
  return ix.namespaces.get(namespace)?.labels ?? namespaceLabels(namespace);
}

function labelMask(ix: PolicyIndex, sel: Selector): Uint8Array {
  let mask = ix.labelMasks.get(sel);
  if (!mask) {
    mask = new Uint8Array(ix.workloads.length);
    ix.workloads.forEach((w, i) => {
      if (matchesSelector(sel, w.labels)) mask![i] = 1;
    });
    ix.labelMasks.set(sel, mask);
  }
  return mask;
}

function namespaceMask(ix: PolicyIndex, sel: Selector): Uint8Array {
  let mask = ix.namespaceMasks.get(sel);
  if (!mask) {
    // Per namespace first: there are far fewer namespaces than workloads.
    const byNamespace = new Map<string, boolean>();
    mask = new Uint8Array(ix.workloads.length);
    ix.workloads.forEach((w, i) => {
      let ok = byNamespace.get(w.namespace);
      if (ok === undefined) {
        ok = matchesSelector(sel, namespaceLabelsOf(ix, w.namespace));
        byNamespace.set(w.namespace, ok);
      }
      if (ok) mask![i] = 1;
    });
    ix.namespaceMasks.set(sel, mask);
  }
  return mask;
}

function matchesLabels(ix: PolicyIndex, sel: Selector, w: Workload): boolean {
  const i = ix.position.get(w.id);
  return i !== undefined && ix.workloads[i] === w
    ? labelMask(ix, sel)[i] === 1
    : matchesSelector(sel, w.labels);
}

function inNamespaces(ix: PolicyIndex, sel: Selector, w: Workload): boolean {
  const i = ix.position.get(w.id);
  return i !== undefined && ix.workloads[i] === w
    ? namespaceMask(ix, sel)[i] === 1
    : matchesSelector(sel, namespaceLabelsOf(ix, w.namespace));
}

/** The policies that select `w` in `direction`, in order (evaluate.ts's
 * selectingPolicies, with cached selectors). */
export function selectingOf(ix: PolicyIndex, w: Workload, direction: Direction): Policy[] {
  const key = `${direction}\u0000${w.id}`;
  let out = ix.selecting.get(key);
  if (!out) {
    const type = direction === "egress" ? "Egress" : "Ingress";
    out = ix.policies.filter(
      (p) =>
        p.types.includes(type) &&
        (p.namespace === undefined || p.namespace === w.namespace) &&
        matchesLabels(ix, p.selector, w) &&
        (p.namespaceSelector === undefined || inNamespaces(ix, p.namespaceSelector, w)),
    );
    ix.selecting.set(key, out);
  }
  return out;
}

/** Does a workload satisfy a side's label and namespace criteria (not its
 * addresses, not its ports)? */
function sideMatchesWorkload(ix: PolicyIndex, m: EntityMatch, w: Workload): boolean {
  if (m.selector !== undefined && !matchesLabels(ix, m.selector, w)) return false;
  if (m.notSelector !== undefined && matchesLabels(ix, m.notSelector, w)) return false;
  if (m.namespaceSelector !== undefined && !inNamespaces(ix, m.namespaceSelector, w)) return false;
  if (m.namespace !== undefined && w.namespace !== m.namespace) return false;
  return true;
}

/** The same, for every workload of the index at once (cached per side). */
function sideMask(ix: PolicyIndex, m: EntityMatch): Uint8Array {
  let mask = ix.sideMasks.get(m);
  if (!mask) {
    mask = new Uint8Array(ix.workloads.length).fill(1);
    const and = (other: Uint8Array, want: number) => {
      for (let i = 0; i < mask!.length; i++) if (other[i] !== want) mask![i] = 0;
    };
    if (m.selector !== undefined) and(labelMask(ix, m.selector), 1);
    if (m.notSelector !== undefined) and(labelMask(ix, m.notSelector), 0);
    if (m.namespaceSelector !== undefined) and(namespaceMask(ix, m.namespaceSelector), 1);
    if (m.namespace !== undefined) {
      ix.workloads.forEach((w, i) => {
        if (w.namespace !== m.namespace) mask![i] = 0;
      });
    }
    ix.sideMasks.set(m, mask);
  }
  return mask;
}

function sideList(ix: PolicyIndex, m: EntityMatch): Int32Array {
  let list = ix.sideLists.get(m);
  if (!list) {
    const mask = sideMask(ix, m);
    const positions: number[] = [];
    for (let i = 0; i < mask.length; i++) if (mask[i] === 1) positions.push(i);
    list = Int32Array.from(positions);
    ix.sideLists.set(m, list);
  }
  return list;
}

/** What one endpoint's judgement of its peers depends on besides the rules'
 * content: the networks it is on (which workloads are peers) and, when a rule
 * looks at the endpoint's own addresses, those. Endpoints with equal keys
 * (replicas of one service, typically) get equal judgements. */
export function judgementKey(self: Workload, direction: Direction, rules: CandidateRule[]): string {
  const networks = [...new Set(self.addresses.map((a) => a.networkId))].sort().join(",");
  const own = rules.some((r) => r.selfAddresses)
    ? self.addresses.map((a) => `${a.networkId}=${a.address}`).join(",")
    : "";
  return `${direction}|${networks}|${own}|${rules.map((r) => r.ref).join("\u0000")}`;
}

/** A side's address criteria against the addresses the flow uses. */
export function addressesMatch(m: EntityMatch, addresses: number[]): boolean {
  if (m.nets !== undefined && !addresses.some((ip) => m.nets!.some((n) => contains(n, ip))))
    return false;
  if (m.notNets !== undefined && addresses.some((ip) => m.notNets!.some((n) => contains(n, ip))))
    return false;
  return true;
}

function hasAddressCriteria(m: EntityMatch): boolean {
  return m.nets !== undefined || m.notNets !== undefined;
}

/** Does a side accept a peer that is only an address (no labels, no namespace)? */
function sideTakesOutsiders(m: EntityMatch): boolean {
  // notSelector alone matches outsiders: they are never in the selected set.
  return m.selector === undefined && m.namespaceSelector === undefined && m.namespace === undefined;
}

/** A rule as one endpoint's direction sees it. */
export interface CandidateRule {
  /** As explain names it: "x/deny ingress[0]". */
  ref: string;
  action: Action;
  protocol?: number;
  notProtocol?: number;
  /** The destination's ports (the flow's port). */
  ports?: PortRange[];
  notPorts?: PortRange[];
  /** Workloads the peer side matches, ignoring addresses: by index position. */
  peerMask: Uint8Array;
  /** The same as a list of positions (walked when shorter than the peers still open). */
  peerList: Int32Array;
  /** The peer side's address criteria, when it has any. */
  peerAddresses?: EntityMatch;
  /** Self's side, when it has address criteria (judged per shared network). */
  selfAddresses?: EntityMatch;
  /** Outside addresses the rule matches, given self's own criteria hold on
   * all of self's addresses: sorted disjoint [first, last] intervals. */
  outside: [number, number][];
}

/**
 * The rules of the policies selecting `self` in `direction`, in order, that
 * can match some flow the kernel sets or the matrix judge: rules whose self
 * side rejects self are gone, as are rules on source ports (the client's
 * ephemeral port is unknown, so they never match — evaluate.ts's reading)
 * and rules on ICMP types (flows are judged without one).
 */
export function candidateRules(
  ix: PolicyIndex,
  self: Workload,
  direction: Direction,
): { selected: boolean; rules: CandidateRule[] } {
  const policies = selectingOf(ix, self, direction);
  const rules: CandidateRule[] = [];
  const selfAll = self.addresses.map((a) => tryParseIp(a.address)).filter((ip) => ip >= 0);
  for (const policy of policies) {
    for (const rule of policy[direction]) {
      if (rule.icmp !== undefined) continue;
      if (rule.source.ports !== undefined || rule.source.notPorts !== undefined) continue;
      const peer = direction === "ingress" ? rule.source : rule.destination;
      const mine = direction === "ingress" ? rule.destination : rule.source;
      if (!sideMatchesWorkload(ix, mine, self)) continue;
      const c: CandidateRule = {
        ref: `${policy.name} ${direction}[${rule.index}]`,
        action: rule.action,
        peerMask: sideMask(ix, peer),
        peerList: sideList(ix, peer),
        outside:
          sideTakesOutsiders(peer) && addressesMatch(mine, selfAll) ? outsideIntervals(peer) : [],
      };
      if (rule.protocol !== undefined) c.protocol = rule.protocol;
      if (rule.notProtocol !== undefined) c.notProtocol = rule.notProtocol;
      if (rule.destination.ports !== undefined) c.ports = rule.destination.ports;
      if (rule.destination.notPorts !== undefined) c.notPorts = rule.destination.notPorts;
      if (hasAddressCriteria(peer)) c.peerAddresses = peer;
      if (hasAddressCriteria(mine)) c.selfAddresses = mine;
      rules.push(c);
    }
  }
  return { selected: policies.length > 0, rules };
}

/** Does the rule apply to this protocol and destination port? */
export function ruleTakes(rule: CandidateRule, protocol: number, port: number): boolean {
  if (rule.protocol !== undefined && rule.protocol !== protocol) return false;
  if (rule.notProtocol !== undefined && rule.notProtocol === protocol) return false;
  if (rule.ports !== undefined && !inRanges(port, rule.ports)) return false;
  if (rule.notPorts !== undefined && inRanges(port, rule.notPorts)) return false;
  return true;
}

function inRanges(port: number, ranges: PortRange[]): boolean {
  for (const r of ranges) if (port >= r.from && port <= r.to) return true;
  return false;
}

const LAST_ADDRESS = 2 ** 32 - 1;

/** The addresses a side with no label criteria matches: its nets (all when
 * none) minus its notNets, as sorted disjoint intervals. */
function outsideIntervals(m: EntityMatch): [number, number][] {
  const span = (n: { base: number; prefix: number }): [number, number] => [
    n.base,
    n.base + 2 ** (32 - n.prefix) - 1,
  ];
  const base = m.nets ? union(m.nets.map(span)) : [[0, LAST_ADDRESS] as [number, number]];
  return m.notNets ? subtract(base, union(m.notNets.map(span))) : base;
}

/** Sorted, disjoint, adjacent ones joined. */
export function union(intervals: [number, number][]): [number, number][] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** `a` minus `b`, both sorted and disjoint. */
export function subtract(a: [number, number][], b: [number, number][]): [number, number][] {
  const out: [number, number][] = [];
  let j = 0;
  for (const [first, last] of a) {
    let from = first;
    while (j < b.length && b[j]![1] < from) j++;
    let k = j;
    while (from <= last && k < b.length && b[k]![0] <= last) {
      const [hf, hl] = b[k]!;
      if (hf > from) out.push([from, hf - 1]);
      from = Math.max(from, hl + 1);
      k++;
    }
    if (from <= last) out.push([from, last]);
  }
  return out;
}
