// Judging every workload peer of one endpoint at once: the endpoint's
// candidate rules (policy-index.ts) are walked in order and each decides the
// peers it matches that no earlier rule decided — first match wins, Log rules
// note themselves and go on, as evaluate.ts reads one flow at a time. A peer
// no rule decides is at the end of the tier. Pure.

import { tryParseIp } from "../core/ipam/ipv4.ts";
import type { Workload } from "./model.ts";
import { addressesMatch, type CandidateRule, type PolicyIndex } from "./policy-index.ts";

/** A workload sharing a network with self, with the addresses the flow uses. */
export interface PeerSlot {
  /** Position in the index's workloads. */
  index: number;
  /** The peer's and self's addresses on the networks they share. */
  peerIps: number[];
  selfIps: number[];
}

/** Every workload (self too) on some network self is on. */
export function peerSlots(ix: PolicyIndex, self: Workload): PeerSlot[] {
  const selfNets = self.addresses.map((a) => a.networkId);
  const selfIps = self.addresses.map((a) => tryParseIp(a.address));
  const out: PeerSlot[] = [];
  ix.addresses.forEach((addrs, index) => {
    const peerIps: number[] = [];
    const shared: string[] = [];
    for (const a of addrs) {
      if (!selfNets.includes(a.networkId)) continue;
      peerIps.push(a.ip);
      if (!shared.includes(a.networkId)) shared.push(a.networkId);
    }
    if (peerIps.length === 0) return;
    const mine = selfIps.filter((ip, i) => ip >= 0 && shared.includes(selfNets[i]!));
    out.push({ index, peerIps, selfIps: mine });
  });
  return out;
}

export function matchesPeer(rule: CandidateRule, slot: PeerSlot): boolean {
  if (rule.peerMask[slot.index] !== 1) return false;
  if (rule.peerAddresses && !addressesMatch(rule.peerAddresses, slot.peerIps)) return false;
  if (rule.selfAddresses && !addressesMatch(rule.selfAddresses, slot.selfIps)) return false;
  return true;
}

/** What decided a flow: the deciding rule, and Log rules met before it. */
export interface Decision {
  rule: CandidateRule;
  logs: string[];
}

const NO_LOGS: string[] = [];

/**
 * Per slot, the rule that decides it among `rules` (already filtered to the
 * flow's protocol and port), or undefined at the end of the tier. `slotOf`
 * maps a workload position to its slot (-1: not a peer): slotIndex().
 */
export function decidePeers(
  slots: PeerSlot[],
  rules: CandidateRule[],
  slotOf: Int32Array,
): (Decision | undefined)[] {
  const decided: (Decision | undefined)[] = new Array(slots.length);
  const logs: string[][] = new Array(slots.length).fill(NO_LOGS);
  let openCount = slots.length;
  const take = (rule: CandidateRule, s: number) => {
    if (decided[s] !== undefined || !matchesPeer(rule, slots[s]!)) return;
    if (rule.action === "Log") logs[s] = [...logs[s]!, rule.ref];
    else {
      decided[s] = { rule, logs: logs[s]! };
      openCount--;
    }
  };
  for (const rule of rules) {
    if (openCount === 0) break;
    // Whichever is shorter: the workloads the rule matches, or the slots.
    if (rule.peerList.length < slots.length) {
      for (const position of rule.peerList) {
        const s = slotOf[position]!;
        if (s >= 0) take(rule, s);
      }
    } else {
      for (let s = 0; s < slots.length; s++) take(rule, s);
    }
  }
  return decided;
}

/** Workload position (of `size` in the index) → slot (-1 when not a peer). */
export function slotIndex(slots: PeerSlot[], size: number): Int32Array {
  const out = new Int32Array(size).fill(-1);
  slots.forEach((s, i) => {
    out[s.index] = i;
  });
  return out;
}
