// Policies compiled into what the kernel enforces in one sandbox: per
// direction, verdict-map elements (peer address . protocol . port) → the
// outcome of the rule that decides those flows, so nftables decides each new
// connection with ONE lookup, whatever the number of rules:
//   ingress (input hook):  ip saddr . meta l4proto . th dport vmap @policy-in
//   egress (output hook):  ip daddr . meta l4proto . th dport vmap @policy-out
// (and an `ipv4_addr . inet_proto` map for ICMP). A flow in no element is at
// the end of the tier: dropped by the chain's last rule.
//
// How: the port axis is cut where some rule's ports start or end; within a
// cut ("port cell") the same rules apply, in order. Per cell the rules are
// walked once, first match wins (peer-paint.ts for workloads, intervals here
// for outside addresses); the resulting (address interval → outcome) list
// is then stretched over consecutive cells where it holds. Work grows with
// the rules and the peers they match, never with their product of cells; a
// cell's candidates seen before reuse its result. The verdicts must equal
// evaluateFlow's (the reference): enforce.test.ts checks them on random flows.
//
// Elements are text exactly as `nft list` prints them (nftables 1.0.6): an
// address range prints as the bare address when it is one address, as CIDR
// when it is one aligned block ("10.0.0.8/30", "0.0.0.0/0"), otherwise as
// "a-b"; a port as "80", a range as "80-82" ("0-65535" stays a range); the
// protocol by name. nft does not merge adjacent elements of concatenated
// sets and rejects overlapping ones, so elements here are disjoint and
// elements of one outcome already merged where adjacent.

import { formatIp } from "../core/ipam/ipv4.ts";
import type { PolicyDirectionSets, PolicyOutcome, SandboxPolicySets } from "../core/node-view.ts";
import { ICMP, TCP, UDP } from "./evaluate.ts";
import type { Direction, Namespace, Policy, Workload } from "./model.ts";
import { type Decision, decidePeers, type PeerSlot, peerSlots, slotIndex } from "./peer-paint.ts";
import {
  type CandidateRule,
  candidateRules,
  type PolicyIndex,
  policyIndex,
  ruleTakes,
} from "./policy-index.ts";

export interface SandboxPolicyInput {
  /** In evaluation order, as evaluateFlow takes them. */
  policies: Policy[];
  namespaces: Map<string, Namespace>;
  workloads: Workload[];
  self: Workload;
  /** Built once for many sandboxes (its selector caches are shared); made
   * here when absent. Must be of these policies, namespaces and workloads. */
  index?: PolicyIndex;
}

/** Only the directions some policy selects `self` in: the others get no
 * chain at all (Docker's default: everything on a shared network is allowed). */
export function sandboxPolicy(input: SandboxPolicyInput): SandboxPolicySets {
  const ix = input.index ?? policyIndex(input.policies, input.namespaces, input.workloads);
  const out: SandboxPolicySets = {};
  const slots = peerSlots(ix, input.self);
  for (const direction of ["ingress", "egress"] as const) {
    const sets = directionSets(ix, input.self, direction, slots);
    if (sets) out[direction] = sets;
  }
  return out;
}

const LAST_ADDRESS = 2 ** 32 - 1;
const LAST_PORT = 65535;
const PROTOCOL_NAMES = new Map([
  [TCP, "tcp"],
  [UDP, "udp"],
  [ICMP, "icmp"],
]);

/** [first, last], inclusive. */
type Interval = [number, number];

/** A decided stretch of addresses in one cell. */
interface Segment {
  from: number;
  to: number;
  outcome: number;
}

function directionSets(
  ix: PolicyIndex,
  self: Workload,
  direction: Direction,
  slots: PeerSlot[],
): PolicyDirectionSets | undefined {
  const { selected, rules } = candidateRules(ix, self, direction);
  if (!selected) return undefined;
  const outcomes = new OutcomeTable();
  const points = peerPoints(slots);
  const slotOf = slotIndex(slots, ix.workloads.length);
  const judge = (cellRules: CandidateRule[]) =>
    segmentsOf(cellRules, slots, slotOf, points, outcomes);

  const boxes: { addr: Interval; protocol: number; ports: Interval; outcome: number }[] = [];
  for (const protocol of [TCP, UDP]) {
    const onProtocol = rules.filter((r) => ruleTakesProtocol(r, protocol));
    for (const e of stretchOverCells(onProtocol, protocol, judge)) boxes.push({ ...e, protocol });
  }
  // Sorted as the old sets were (address, protocol, port): stable text to read and diff.
  boxes.sort((a, b) => a.addr[0] - b.addr[0] || a.protocol - b.protocol || a.ports[0] - b.ports[0]);
  const ports = boxes.map((e): [string, number] => [
    `${formatAddresses(e.addr)} . ${PROTOCOL_NAMES.get(e.protocol)} . ${formatPorts(e.ports)}`,
    e.outcome,
  ]);
  // Protocols without ports: ICMP, judged at port 0 and with no ICMP type (a
  // rule on ICMP types cannot be expressed by this map; it does not match).
  const other: [string, number][] = judge(rules.filter((r) => ruleTakes(r, ICMP, 0))).map((s) => [
    `${formatAddresses([s.from, s.to])} . icmp`,
    s.outcome,
  ]);
  return {
    ports: Object.fromEntries(ports),
    other: Object.fromEntries(other),
    outcomes: outcomes.list,
  };
}

/** Outcomes by content, so equal ones share an index (and elements merge). */
class OutcomeTable {
  readonly list: PolicyOutcome[] = [];
  private readonly ids = new Map<string, number>();
  /** The common case, no Log rule met: by the rule itself, without building a key. */
  private readonly plain = new Map<CandidateRule, number>();
  of(d: Decision): number {
    if (d.logs.length === 0) {
      const known = this.plain.get(d.rule);
      if (known !== undefined) return known;
    }
    const action = d.rule.action === "Deny" ? "drop" : "accept"; // Allow, or Pass to the default allow
    const key = `${action}\u0000${d.rule.ref}\u0000${d.logs.join("\u0000")}`;
    let id = this.ids.get(key);
    if (id === undefined) {
      id = this.list.length;
      this.list.push({ action, rule: d.rule.ref, logs: d.logs });
      this.ids.set(key, id);
    }
    if (d.logs.length === 0) this.plain.set(d.rule, id);
    return id;
  }
}

function ruleTakesProtocol(r: CandidateRule, protocol: number): boolean {
  return (
    (r.protocol === undefined || r.protocol === protocol) &&
    (r.notProtocol === undefined || r.notProtocol !== protocol)
  );
}

/** Peer addresses, sorted and unique, with the slots at each (two workloads
 * on overlapping subnets of two networks can share one). */
interface Points {
  ips: number[];
  slotsAt: number[][];
}

function peerPoints(slots: PeerSlot[]): Points {
  const at = new Map<number, number[]>();
  slots.forEach((s, i) => {
    for (const ip of s.peerIps) {
      const list = at.get(ip) ?? [];
      if (!list.includes(i)) list.push(i);
      at.set(ip, list);
    }
  });
  const ips = [...at.keys()].sort((a, b) => a - b);
  return { ips, slotsAt: ips.map((ip) => at.get(ip)!) };
}

/**
 * The decided addresses for one protocol and port: workload peers at their
 * addresses, outside addresses between them; sorted, disjoint, adjacent
 * stretches of one outcome joined.
 */
function segmentsOf(
  rules: CandidateRule[],
  slots: PeerSlot[],
  slotOf: Int32Array,
  points: Points,
  outcomes: OutcomeTable,
): Segment[] {
  const decided = decidePeers(slots, rules, slotOf);
  const outside = decideOutside(rules, outcomes);
  const segments: Segment[] = [];
  // Outside stretches, with every peer address cut out: a workload's
  // address is judged as that workload, never as an outsider.
  let p = 0;
  for (const s of outside) {
    while (p < points.ips.length && points.ips[p]! < s.from) p++;
    let from = s.from;
    while (p < points.ips.length && points.ips[p]! <= s.to) {
      const ip = points.ips[p]!;
      if (ip > from) segments.push({ from, to: ip - 1, outcome: s.outcome });
      from = ip + 1;
      p++;
    }
    if (from <= s.to) segments.push({ from, to: s.to, outcome: s.outcome });
  }
  points.ips.forEach((ip, i) => {
    const outcome = pointOutcome(points.slotsAt[i]!, decided, outcomes);
    if (outcome !== undefined) segments.push({ from: ip, to: ip, outcome });
  });
  segments.sort((a, b) => a.from - b.from);
  const merged: Segment[] = [];
  for (const s of segments) {
    const last = merged[merged.length - 1];
    if (last && last.outcome === s.outcome && last.to + 1 === s.from) last.to = s.to;
    else merged.push({ ...s });
  }
  return merged;
}

/** One address, several workloads: a set keyed by address cannot tell them
 * apart, so it gets an element only if every one is decided, and then a
 * denying outcome if any is denied. */
function pointOutcome(
  at: number[],
  decided: (Decision | undefined)[],
  outcomes: OutcomeTable,
): number | undefined {
  let chosen: number | undefined;
  for (const slot of at) {
    const d = decided[slot];
    if (d === undefined) return undefined;
    const id = outcomes.of(d);
    if (chosen === undefined || outcomes.list[id]!.action === "drop") chosen = id;
  }
  return chosen;
}

/** Outside addresses: stretches not yet decided, each with the Log rules
 * that matched it so far, painted rule by rule. */
function decideOutside(rules: CandidateRule[], outcomes: OutcomeTable): Segment[] {
  let open: { from: number; to: number; logs: string[] }[] = [
    { from: 0, to: LAST_ADDRESS, logs: [] },
  ];
  const out: Segment[] = [];
  for (const rule of rules) {
    if (open.length === 0) break;
    if (rule.outside.length === 0) continue;
    const next: typeof open = [];
    let j = 0;
    for (const piece of open) {
      while (j < rule.outside.length && rule.outside[j]![1] < piece.from) j++;
      let from = piece.from;
      for (let k = j; k < rule.outside.length && rule.outside[k]![0] <= piece.to; k++) {
        const [hitFrom, hitTo] = rule.outside[k]!;
        const a = Math.max(from, hitFrom);
        const b = Math.min(piece.to, hitTo);
        if (a > b) continue;
        if (a > from) next.push({ from, to: a - 1, logs: piece.logs });
        if (rule.action === "Log") next.push({ from: a, to: b, logs: [...piece.logs, rule.ref] });
        else out.push({ from: a, to: b, outcome: outcomes.of({ rule, logs: piece.logs }) });
        from = b + 1;
      }
      if (from <= piece.to) next.push({ from, to: piece.to, logs: piece.logs });
    }
    open = next;
  }
  return out.sort((a, b) => a.from - b.from);
}

/**
 * Cuts the port axis where the rules' ports start and end, judges each cell
 * by the rules that apply in it (cells with the same rules share one
 * judgement), and stretches every decided address range over the
 * consecutive cells where it holds with the same outcome.
 */
function stretchOverCells(
  rules: CandidateRule[],
  protocol: number,
  judge: (rules: CandidateRule[]) => Segment[],
): { addr: Interval; ports: Interval; outcome: number }[] {
  const cuts = new Set<number>([0]);
  for (const r of rules) {
    for (const range of [...(r.ports ?? []), ...(r.notPorts ?? [])]) {
      cuts.add(range.from);
      if (range.to < LAST_PORT) cuts.add(range.to + 1);
    }
  }
  const starts = [...cuts].sort((a, b) => a - b);
  const cellOf = (port: number) => upperBound(starts, port) - 1;
  // Per cell, the positions of the rules with port criteria that apply there.
  const specific: number[][] = starts.map(() => []);
  const always: number[] = [];
  rules.forEach((r, i) => {
    if (r.ports === undefined && r.notPorts === undefined) always.push(i);
    else if (r.ports !== undefined) {
      const cells = new Set<number>();
      for (const range of r.ports) {
        for (let c = cellOf(range.from); c < starts.length && starts[c]! <= range.to; c++)
          cells.add(c);
      }
      for (const c of cells) if (ruleTakes(r, protocol, starts[c]!)) specific[c]!.push(i);
    } else {
      starts.forEach((port, c) => {
        if (ruleTakes(r, protocol, port)) specific[c]!.push(i);
      });
    }
  });
  const judged = new Map<string, Segment[]>();
  const open = new Map<string, { seg: Segment; first: number; last: number }>();
  const out: { addr: Interval; ports: Interval; outcome: number }[] = [];
  const close = (run: { seg: Segment; first: number; last: number }) =>
    out.push({
      addr: [run.seg.from, run.seg.to],
      ports: [run.first, run.last],
      outcome: run.seg.outcome,
    });
  starts.forEach((first, c) => {
    const last = (starts[c + 1] ?? LAST_PORT + 1) - 1;
    const mine = specific[c]!;
    const key = mine.join(",");
    let segments = judged.get(key);
    if (!segments) {
      const positions = mergeSorted(always, mine);
      segments = judge(positions.map((i) => rules[i]!));
      judged.set(key, segments);
    }
    for (const seg of segments) {
      const k = `${seg.from}:${seg.to}:${seg.outcome}`;
      const run = open.get(k);
      if (run && run.last + 1 === first) run.last = last;
      else {
        if (run) close(run);
        open.set(k, { seg, first, last });
      }
    }
  });
  for (const run of open.values()) close(run);
  return out;
}

/** Index of the first element greater than `value` (sorted ascending). */
function upperBound(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function mergeSorted(a: number[], b: number[]): number[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) out.push(a[i++]!);
    else out.push(b[j++]!);
  }
  return out;
}

/** As nft prints an address interval: one address bare, an aligned block as
 * CIDR, anything else as "first-last". */
export function formatAddresses([first, last]: Interval): string {
  if (first === last) return formatIp(first);
  const size = last - first + 1;
  const prefix = 32 - Math.log2(size);
  if (Number.isInteger(prefix) && first % size === 0) return `${formatIp(first)}/${prefix}`;
  return `${formatIp(first)}-${formatIp(last)}`;
}

function formatPorts([first, last]: Interval): string {
  return first === last ? `${first}` : `${first}-${last}`;
}
