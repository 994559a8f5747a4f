// Picks a node for each task that has none, the way swarmkit spreads: among
// ready, active nodes that satisfy the service's constraints, the one running
// the fewest tasks of this service, then the fewest tasks overall, then by
// hostname for a stable order. No eligible node leaves the task pending with
// Docker's reason text.
import { nodeMatches, parseConstraints } from "../core/constraints.ts";
import { isTerminal, type Node, type Service } from "../core/model.ts";
import type { ClusterState, Tx } from "./state.ts";

export function eligibleNodes(nodes: Node[], service: Service): Node[] {
  const constraints = parseConstraints(service.spec.placement.constraints);
  return nodes.filter(
    (n) => n.state === "ready" && n.availability === "active" && nodeMatches(n, constraints),
  );
}

export function noSuitableNodeMessage(nodes: Node[], service: Service): string {
  const constraints = parseConstraints(service.spec.placement.constraints);
  const unavailable = nodes.filter((n) => n.state !== "ready" || n.availability !== "active");
  const constrained = nodes.filter((n) => !unavailable.includes(n) && !nodeMatches(n, constraints));
  const parts: string[] = [];
  const plural = (n: number) => (n === 1 ? "1 node" : `${n} nodes`);
  if (constrained.length)
    parts.push(`scheduling constraints not satisfied on ${plural(constrained.length)}`);
  if (unavailable.length) parts.push(`${plural(unavailable.length)} not available for new tasks`);
  return parts.length ? `no suitable node (${parts.join("; ")})` : "no suitable node";
}

/** Live tasks per node, overall. */
function loadByNode(state: ClusterState): Map<string, number> {
  const load = new Map<string, number>();
  for (const t of state.maps.tasks.values()) {
    if (t.nodeId && !isTerminal(t.status.state)) load.set(t.nodeId, (load.get(t.nodeId) ?? 0) + 1);
  }
  return load;
}

/** Schedules every unassigned task of the given services. */
export function scheduleServices(tx: Tx, services: Service[]): void {
  const nodes = tx.state.list("nodes");
  let overall: Map<string, number> | undefined;
  for (const service of services) {
    const tasks = tx.state.tasksOf(service.id);
    const waiting = tasks.filter((t) => !t.nodeId && t.desiredState === "running");
    if (waiting.length === 0) continue;
    const eligible = eligibleNodes(nodes, service);
    if (eligible.length === 0) {
      const message = noSuitableNodeMessage(nodes, service);
      for (const t of waiting) {
        if (t.status.state !== "pending" || t.status.message !== message) {
          tx.put("tasks", {
            ...t,
            status: { ...t.status, state: "pending", message, timestamp: tx.now },
          });
        }
      }
      continue;
    }
    overall ??= loadByNode(tx.state);
    const mine = new Map<string, number>();
    for (const t of tasks)
      if (t.nodeId && !isTerminal(t.status.state))
        mine.set(t.nodeId, (mine.get(t.nodeId) ?? 0) + 1);
    for (const t of waiting) {
      let best = eligible[0]!;
      for (const n of eligible.slice(1)) {
        const a = [mine.get(n.id) ?? 0, overall.get(n.id) ?? 0, n.hostname] as const;
        const b = [mine.get(best.id) ?? 0, overall.get(best.id) ?? 0, best.hostname] as const;
        if (a[0] < b[0] || (a[0] === b[0] && (a[1] < b[1] || (a[1] === b[1] && a[2] < b[2]))))
          best = n;
      }
      mine.set(best.id, (mine.get(best.id) ?? 0) + 1);
      overall.set(best.id, (overall.get(best.id) ?? 0) + 1);
      tx.put("tasks", {
        ...t,
        nodeId: best.id,
        status: {
          state: "assigned",
          message: "scheduler assigned task to node",
          err: "",
          timestamp: tx.now,
        },
      });
    }
  }
}
