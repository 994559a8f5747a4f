// Turns services into tasks: replicated services get slots 1..N, global
// services one task per eligible node. Tasks no agent has started yet are
// deleted outright (their addresses freed); started ones are asked to shut
// down and are deleted when their agent reports them stopped.
import { nodeMatches, parseConstraints } from "../core/constraints.ts";
import { newId } from "../core/ids.ts";
import {
  isTerminal,
  isUnstarted,
  type NetworkAttachment,
  type Service,
  type Task,
} from "../core/model.ts";
import type { Allocator } from "./allocator.ts";
import { eligibleNodes } from "./scheduler.ts";
import type { Tx } from "./state.ts";

/** Networks a task of this service attaches to: its own, plus ingress when it publishes ingress ports. */
export function taskNetworkIds(
  tx: Tx,
  service: Service,
): { networkId: string; aliases: string[] }[] {
  const nets = service.spec.networks.map((n) => ({ networkId: n.target, aliases: n.aliases }));
  const ingress = tx.state.list("networks").find((n) => n.ingress);
  const publishes = service.endpoint.ports.some((p) => p.publishMode === "ingress");
  if (publishes && ingress && !nets.some((n) => n.networkId === ingress.id)) {
    nets.unshift({ networkId: ingress.id, aliases: [] });
  }
  return nets;
}

/**
 * Brings a task's attachments in line with the service, keeping the task: an
 * address on each added network, the address of a removed one released, kept
 * ones untouched but for their aliases. Kept attachments keep their order (an
 * agent plugs interfaces in and out without renumbering the others), added
 * ones go last, except ingress, which is always first (as newTask puts it).
 */
function reattach(
  tx: Tx,
  alloc: Allocator,
  service: Service,
  networks: NetworkAttachment[],
): NetworkAttachment[] {
  const wanted = taskNetworkIds(tx, service);
  const aliasesOf = new Map(wanted.map((w) => [w.networkId, w.aliases] as const));
  const out: NetworkAttachment[] = [];
  for (const att of networks) {
    const aliases = aliasesOf.get(att.networkId);
    if (aliases) out.push({ ...att, aliases });
    else for (const addr of att.addresses) alloc.releaseAddress(tx, att.networkId, addr);
  }
  for (const w of wanted) {
    if (out.some((a) => a.networkId === w.networkId)) continue;
    out.push({
      networkId: w.networkId,
      aliases: w.aliases,
      addresses: [alloc.allocateAddress(tx, w.networkId)],
    });
  }
  const ingressId = tx.state.list("networks").find((n) => n.ingress)?.id;
  const first = out.findIndex((a) => a.networkId === ingressId);
  if (first > 0) out.unshift(...out.splice(first, 1));
  return out;
}

/** A service update that changed no more than networks and published ports: the
 * running tasks take the new attachments, and the service version, without a restart. */
export function reattachTasks(tx: Tx, alloc: Allocator, service: Service): void {
  for (const t of tx.state.tasksOf(service.id)) {
    if (t.desiredState !== "running") continue; // on its way out: it keeps what it has
    const networks = reattach(tx, alloc, service, t.networks);
    // Untouched tasks are not rewritten: a label change must not wake every agent.
    if (JSON.stringify(networks) === JSON.stringify(t.networks)) continue;
    tx.put("tasks", { ...t, networks, serviceVersion: service.version });
  }
}

export function newTask(
  tx: Tx,
  alloc: Allocator,
  service: Service,
  slot: number,
  nodeId: string,
): Task {
  const networks = taskNetworkIds(tx, service).map((n) => ({
    networkId: n.networkId,
    aliases: n.aliases,
    addresses: [alloc.allocateAddress(tx, n.networkId)],
  }));
  return tx.put("tasks", {
    id: newId(),
    version: 0,
    createdAt: tx.now,
    updatedAt: tx.now,
    serviceId: service.id,
    slot,
    nodeId,
    desiredState: "running",
    status: { state: "new", message: "created", err: "", timestamp: tx.now },
    networks,
    serviceVersion: service.version,
  });
}

/** Removes a task now if nothing runs it, else asks its agent to stop it. */
export function retireTask(
  tx: Tx,
  alloc: Allocator,
  task: Task,
  desired: "shutdown" | "remove",
): void {
  if (isUnstarted(task.status.state) || isTerminal(task.status.state)) {
    deleteTask(tx, alloc, task);
  } else if (task.desiredState !== desired) {
    tx.put("tasks", { ...task, desiredState: desired });
  }
}

export function deleteTask(tx: Tx, alloc: Allocator, task: Task): void {
  for (const att of task.networks) {
    for (const addr of att.addresses) alloc.releaseAddress(tx, att.networkId, addr);
  }
  tx.delete("tasks", task.id);
}

/** Brings the service's tasks in line with its spec. `replace` retires every task first (spec changed). */
export function reconcileService(
  tx: Tx,
  alloc: Allocator,
  service: Service,
  replace = false,
): void {
  const live = tx.state.tasksOf(service.id).filter((t) => t.desiredState === "running");
  const keep: Task[] = [];
  for (const t of live) {
    if (replace && t.serviceVersion !== service.version) retireTask(tx, alloc, t, "shutdown");
    else keep.push(t);
  }
  if ("replicated" in service.spec.mode) {
    const replicas = service.spec.mode.replicated.replicas;
    const bySlot = new Map<number, Task>();
    for (const t of keep) {
      if (t.slot > replicas || bySlot.has(t.slot)) retireTask(tx, alloc, t, "shutdown");
      else bySlot.set(t.slot, t);
    }
    for (let slot = 1; slot <= replicas; slot++) {
      if (!bySlot.has(slot)) newTask(tx, alloc, service, slot, "");
    }
  } else {
    const nodes = tx.state.list("nodes");
    const eligible = new Set(eligibleNodes(nodes, service).map((n) => n.id));
    // A paused node keeps what it runs (Docker's pause); only drain or a constraint moves tasks off.
    const constraints = parseConstraints(service.spec.placement.constraints);
    const keepOn = new Set(
      nodes
        .filter((n) => n.availability !== "drain" && nodeMatches(n, constraints))
        .map((n) => n.id),
    );
    const byNode = new Map<string, Task>();
    for (const t of keep) {
      if (!keepOn.has(t.nodeId) || byNode.has(t.nodeId)) retireTask(tx, alloc, t, "shutdown");
      else byNode.set(t.nodeId, t);
    }
    for (const nodeId of eligible) {
      if (byNode.has(nodeId)) continue;
      const task = newTask(tx, alloc, service, 0, nodeId);
      tx.put("tasks", {
        ...task,
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

/** Retires all of a service's tasks (service removal). */
export function retireAll(tx: Tx, alloc: Allocator, serviceId: string): void {
  for (const t of tx.state.tasksOf(serviceId)) retireTask(tx, alloc, t, "remove");
}
