// Policies compiled into what the kernel enforces in one sandbox: per
// direction, a set of allowed (peer address, protocol, port) elements, so that
// nftables decides each packet with ONE set lookup:
//   ingress (input hook):  ip saddr . meta l4proto . th dport @policy-in accept
//                          ip saddr . meta l4proto @policy-in-other accept; drop
//   egress (output hook):  ip daddr . meta l4proto . th dport @policy-out accept
//                          ip daddr . meta l4proto @policy-out-other accept; drop
// The verdicts come from evaluateFlow (the reference semantics), never from a
// second reading of the rules: the address space and the ports are cut into
// cells on which every rule's criteria are constant, evaluateFlow judges one
// representative flow per cell, and the allowed cells are merged back into
// elements.
//
// Elements are text exactly as `nft list` prints them (nftables 1.0.6,
// checked on a `flags interval` set of `ipv4_addr . inet_proto .
// inet_service`): an address range prints as the bare address when it is one
// address, as CIDR when it is one aligned block ("10.0.0.8/30",
// "0.0.0.0/0"), otherwise as "a-b"; a port as "80", a range as "80-82"
// ("0-65535" stays a range); the protocol by name ("tcp", "udp", "icmp").
// nft does not merge adjacent elements of concatenated sets and rejects
// overlapping ones ("File exists"), so the elements here are disjoint and
// already merged; then what nft lists equals what is generated, as a set. nft
// lists them in the kernel's (pipapo) order, which depends on insertion
// history, so they are returned sorted by (first address, protocol number,
// first port) and must be compared with nft's listing as sets.
import { formatIp, tryParseIp } from "../core/ipam/ipv4.ts";
import {
  evaluateFlow,
  type FlowOptions,
  ICMP,
  type Peer,
  selectingPolicies,
  TCP,
  UDP,
} from "./evaluate.ts";
import type { Direction, EntityMatch, Namespace, Policy, Rule, Workload } from "./model.ts";

export interface AllowSets {
  /** `ipv4_addr . inet_proto . inet_service` elements, TCP and UDP. */
  ports: string[];
  /** `ipv4_addr . inet_proto` elements for the protocols without ports (ICMP). */
  other: string[];
}

export interface SandboxPolicyInput {
  /** In evaluation order, as evaluateFlow takes them. */
  policies: Policy[];
  namespaces: Map<string, Namespace>;
  workloads: Workload[];
  self: Workload;
}

/** Only the directions some policy selects `self` in: the others get no
 * chain at all (Docker's default: everything on a shared network is allowed). */
export function sandboxPolicy(input: SandboxPolicyInput): {
  ingress?: AllowSets;
  egress?: AllowSets;
} {
  const out: { ingress?: AllowSets; egress?: AllowSets } = {};
  const ingress = allowSets(input, "ingress");
  if (ingress) out.ingress = ingress;
  const egress = allowSets(input, "egress");
  if (egress) out.egress = egress;
  return out;
}

const ADDRESS_END = 2 ** 32; // exclusive
const PORT_END = 65536; // exclusive
const PROTOCOL_NAMES = new Map([
  [TCP, "tcp"],
  [UDP, "udp"],
  [ICMP, "icmp"],
]);

/** [first, last], inclusive. */
type Interval = [number, number];

function allowSets(input: SandboxPolicyInput, direction: Direction): AllowSets | undefined {
  const { self } = input;
  // The policies that select self in this direction, found once; each cell
  // then costs only their rules (and no trace).
  const selectingSelf = selectingPolicies(input.policies, self, direction);
  const peerSide: Direction = direction === "ingress" ? "egress" : "ingress";
  const opts: FlowOptions = {
    trace: false,
    selecting: { [direction]: selectingSelf, [peerSide]: [] },
  };
  let optsForPort = (_port: number): FlowOptions => opts;
  const verdict = (peer: Peer, protocol: number, port: number): boolean => {
    const flow = {
      policies: input.policies,
      namespaces: input.namespaces,
      from: direction === "ingress" ? peer : self,
      to: direction === "ingress" ? self : peer,
      port,
      protocol,
    };
    return evaluateFlow(flow, optsForPort(port))[direction].allowed;
  };
  const selecting = new Set(selectingSelf.map((p) => p.name));
  if (selecting.size === 0) return undefined;
  const rules = input.policies.filter((p) => selecting.has(p.name)).flatMap((p) => p[direction]);

  // Peers by address: every workload on a network self is on (self too), at
  // its address there. Two on one address (overlapping subnets of two
  // networks) cannot be told apart by a set keyed on the address: the
  // address is allowed only if every one of them is.
  const peersAt = new Map<number, Workload[]>();
  const selfNetworks = new Set(self.addresses.map((a) => a.networkId));
  const all = input.workloads.some((w) => w.id === self.id)
    ? input.workloads
    : [...input.workloads, self];
  for (const w of all) {
    for (const a of w.addresses) {
      const ip = tryParseIp(a.address);
      if (ip < 0 || !selfNetworks.has(a.networkId)) continue;
      const list = peersAt.get(ip) ?? [];
      if (!list.includes(w)) list.push(w);
      peersAt.set(ip, list);
    }
  }

  // Address cuts: around every workload address (any workload: one not on a
  // shared network is then judged as a bare address, like any outsider) and
  // at both ends of every CIDR the rules name. Within a cell, no rule's nets
  // can tell two addresses apart.
  const addressCuts = new Set<number>([0]);
  for (const w of all) {
    for (const a of w.addresses) {
      const ip = tryParseIp(a.address);
      if (ip >= 0) addCut(addressCuts, ip, ip + 1, ADDRESS_END);
    }
  }
  const portCuts = new Set<number>([0]);
  for (const rule of rules) {
    for (const side of [rule.source, rule.destination]) {
      for (const net of [...(side.nets ?? []), ...(side.notNets ?? [])]) {
        addCut(addressCuts, net.base, net.base + 2 ** (32 - net.prefix), ADDRESS_END);
      }
    }
    for (const r of portRanges(rule)) addCut(portCuts, r.from, r.to + 1, PORT_END);
  }
  const addressCells = cells(addressCuts, ADDRESS_END);
  const portCells = cells(portCuts, PORT_END);

  // Per port cell, only the rules that can match it: a rule whose destination
  // ports exclude the cell cannot match any flow in it, so leaving it out
  // changes no verdict — and with thousands of rules on distinct ports a cell
  // is judged against a handful instead of all of them.
  const candidates = rulesByPortCell(selectingSelf, direction, portCells);
  const optsByCell = new Map<number, FlowOptions>();
  optsForPort = (port: number): FlowOptions => {
    const cell = cellIndex(portCells, port);
    let o = optsByCell.get(cell);
    if (!o) {
      o = { ...opts, selecting: { [direction]: candidates(cell), [peerSide]: [] } };
      optsByCell.set(cell, o);
    }
    return o;
  };

  // The flows a cell stands for: the workloads at that address, or an
  // outsider at its first address (a representative: nothing in the rules
  // distinguishes the cell's addresses).
  const peersOf = ([first, last]: Interval): Peer[] => {
    const at = first === last ? peersAt.get(first) : undefined;
    return at ?? [{ ip: formatIp(first) }];
  };
  const allowed = (cell: Interval, protocol: number, port: number) =>
    peersOf(cell).every((peer) => verdict(peer, protocol, port));

  const ports: { addr: Interval; protocol: number; ports: Interval }[] = [];
  for (const protocol of [TCP, UDP]) {
    // Ports first: per address cell, runs of adjacent allowed port cells.
    const runsByCell = addressCells.map((cell) =>
      mergeIntervals(portCells.filter((p) => allowed(cell, protocol, p[0]))),
    );
    // Then addresses: adjacent address cells with the very same port runs
    // become one element per run. Every cell lands in exactly one element,
    // so elements never overlap (nft would refuse them).
    let i = 0;
    while (i < addressCells.length) {
      const runs = runsByCell[i]!;
      let j = i;
      while (j + 1 < addressCells.length && sameIntervals(runsByCell[j + 1]!, runs)) j++;
      const addr: Interval = [addressCells[i]![0], addressCells[j]![1]];
      for (const run of runs) ports.push({ addr, protocol, ports: run });
      i = j + 1;
    }
  }
  ports.sort((a, b) => a.addr[0] - b.addr[0] || a.protocol - b.protocol || a.ports[0] - b.ports[0]);

  // Protocols without ports: ICMP, judged with port 0 and no ICMP type (a
  // rule on ICMP types cannot be expressed by this set; it does not match).
  const other = mergeIntervals(addressCells.filter((cell) => allowed(cell, ICMP, 0)));

  return {
    ports: ports.map(
      (e) => `${formatAddresses(e.addr)} . ${protocolName(e.protocol)} . ${formatPorts(e.ports)}`,
    ),
    other: other.map((addr) => `${formatAddresses(addr)} . ${protocolName(ICMP)}`),
  };
}

/** Port ranges a rule names; source ports too (cutting more is harmless). */
function portRanges(rule: Rule): { from: number; to: number }[] {
  const sides: EntityMatch[] = [rule.source, rule.destination];
  return sides.flatMap((s) => [...(s.ports ?? []), ...(s.notPorts ?? [])]);
}

function addCut(cuts: Set<number>, start: number, end: number, limit: number): void {
  cuts.add(start);
  if (end < limit) cuts.add(end);
}

/** The cells between sorted cuts (the first cut is 0), up to `end` exclusive. */
function cells(cuts: Set<number>, end: number): Interval[] {
  const sorted = [...cuts].sort((a, b) => a - b);
  return sorted.map((start, i): Interval => [start, (sorted[i + 1] ?? end) - 1]);
}

/** Sorted, disjoint intervals with adjacent ones joined. */
function mergeIntervals(sorted: Interval[]): Interval[] {
  const out: Interval[] = [];
  for (const [first, last] of sorted) {
    const prev = out[out.length - 1];
    if (prev && prev[1] + 1 === first) prev[1] = last;
    else out.push([first, last]);
  }
  return out;
}

function sameIntervals(a: Interval[], b: Interval[]): boolean {
  return a.length === b.length && a.every((x, i) => x[0] === b[i]![0] && x[1] === b[i]![1]);
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

function protocolName(protocol: number): string {
  return PROTOCOL_NAMES.get(protocol) ?? `${protocol}`;
}

/** The index of the cell (sorted, contiguous, from 0) holding `value`. */
function cellIndex(sorted: Interval[], value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (sorted[mid]![0] <= value) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** For each port cell, the selecting policies (all kept, in order: being
 * selected matters even with no rule left) with only the rules of
 * `direction` whose destination ports include that cell, or that name none. */
function rulesByPortCell(
  policies: Policy[],
  direction: Direction,
  portCells: Interval[],
): (cell: number) => Policy[] {
  // Rules are identified by their position: policy, then rule, in order.
  const anyPort: number[][] = policies.map(() => []);
  const byCell = new Map<number, [number, number][]>();
  policies.forEach((p, pi) => {
    p[direction].forEach((rule, ri) => {
      const ranges = rule.destination.ports;
      if (!ranges) {
        anyPort[pi]!.push(ri);
        return;
      }
      for (const r of ranges) {
        // Cells never straddle a range boundary: every boundary is a cut.
        for (let c = cellIndex(portCells, r.from); c < portCells.length; c++) {
          if (portCells[c]![0] > r.to) break;
          const list = byCell.get(c) ?? [];
          list.push([pi, ri]);
          byCell.set(c, list);
        }
      }
    });
  });
  return (cell) => {
    const picked = anyPort.map((ris) => [...ris]);
    for (const [pi, ri] of byCell.get(cell) ?? []) picked[pi]!.push(ri);
    return policies.map((p, pi) => {
      const ris = [...new Set(picked[pi]!)].sort((a, b) => a - b);
      return { ...p, [direction]: ris.map((ri) => p[direction][ri]!) };
    });
  };
}
