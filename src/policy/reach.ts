// Who reaches whom on one port, for every pair of workloads at once: per
// workload its ingress and its egress judged for all peers in one walk of
// its rules (peer-paint.ts), instead of one evaluation per pair. A cell is
// allowed when the two share a network, the client's egress allows it and
// the server's ingress allows it — evaluateFlow's verdict, which the tests
// check cell by cell. Pure.
import type { Direction, Namespace, Policy, Workload } from "./model.ts";
import { decidePeers, peerSlots, slotIndex } from "./peer-paint.ts";
import {
  type CandidateRule,
  candidateRules,
  judgementKey,
  type PolicyIndex,
  policyIndex,
  ruleTakes,
} from "./policy-index.ts";

/** cells[from][to] by position in `workloads`. */
export function reachCells(
  policies: Policy[],
  namespaces: Map<string, Namespace>,
  workloads: Workload[],
  port: number,
  protocol: number,
): boolean[][] {
  const ix = policyIndex(policies, namespaces, workloads);
  const n = workloads.length;
  // allows[d][w][peer]: 1 allowed, 0 not (or no shared network).
  // Endpoints with the same rules and networks (a service's replicas) share one judgement.
  const judged = new Map<string, Uint8Array>();
  const judge = (direction: Direction): Uint8Array[] =>
    workloads.map((self) => {
      const { selected, rules } = candidateRules(ix, self, direction);
      const applicable = rules.filter((r) => ruleTakes(r, protocol, port));
      const key = `${selected}|${judgementKey(self, direction, applicable)}`;
      let row = judged.get(key);
      if (!row) {
        row = judgePeers(ix, self, selected, applicable, n);
        judged.set(key, row);
      }
      return row;
    });
  const egress = judge("egress");
  const ingress = judge("ingress");
  return workloads.map((_, from) =>
    workloads.map((_, to) => egress[from]![to] === 1 && ingress[to]![from] === 1),
  );
}

/** The same as a map: from id → to id → allowed. */
export function reachMatrix(
  policies: Policy[],
  namespaces: Map<string, Namespace>,
  workloads: Workload[],
  port: number,
  protocol: number,
): Map<string, Map<string, boolean>> {
  const cells = reachCells(policies, namespaces, workloads, port, protocol);
  return new Map(
    workloads.map((from, i) => [
      from.id,
      new Map(workloads.map((to, j) => [to.id, cells[i]![j]!])),
    ]),
  );
}

function judgePeers(
  ix: PolicyIndex,
  self: Workload,
  selected: boolean,
  rules: CandidateRule[],
  n: number,
): Uint8Array {
  const out = new Uint8Array(n);
  const slots = peerSlots(ix, self);
  if (!selected) {
    for (const s of slots) out[s.index] = 1;
    return out;
  }
  const decided = decidePeers(slots, rules, slotIndex(slots, n));
  slots.forEach((s, i) => {
    const d = decided[i];
    // Allow, or Pass to the default (allow); Deny and the end of the tier refuse.
    if (d && d.rule.action !== "Deny") out[s.index] = 1;
  });
  return out;
}
