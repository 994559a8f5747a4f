// What agents change in the cluster: nodes joining, nodes going down and
// coming back, and the state of the tasks they run. Kept apart from the
// user-facing operations in manager.ts; both go through Manager.transact.
import { invalid } from "../core/errors.ts";
import { newId } from "../core/ids.ts";
import {
  isTerminal,
  type Node,
  type NodeRole,
  TASK_STATES,
  type TaskState,
} from "../core/model.ts";
import { deleteContainer } from "./container-ops.ts";
import { withIngressAddr } from "./ingress.ts";
import type { Manager } from "./manager.ts";
import { deleteTask, reconcileService, retireTask } from "./orchestrator.ts";
import { scheduleServices } from "./scheduler.ts";

export interface JoinRequest {
  hostname: string;
  role: NodeRole;
  advertiseAddr: string;
  dataPathAddr: string;
}

/** Adds a node that presented a valid join token; it is "unknown" until its first heartbeat. */
export async function registerNode(m: Manager, req: JoinRequest): Promise<Node> {
  return m.transact((tx, alloc) => {
    if (typeof req.hostname !== "string" || req.hostname === "")
      throw invalid("a joining node must send its hostname");
    const node: Node = {
      id: newId(),
      version: 0,
      createdAt: tx.now,
      updatedAt: tx.now,
      hostname: req.hostname,
      role: req.role,
      availability: "active",
      advertiseAddr: req.advertiseAddr,
      dataPathAddr: req.dataPathAddr || req.advertiseAddr,
      state: "unknown",
      message: "joined, waiting for the first heartbeat",
      labels: {},
      leader: false,
    };
    return tx.put("nodes", withIngressAddr(tx, alloc, node));
  });
}

/**
 * Records a node's state. A node that goes down has its running tasks asked to
 * stop and replaced elsewhere (their records, and so their addresses, stay
 * until the node reports them stopped or is removed: the old process may still
 * run behind a partition). A node that becomes ready gets pending tasks.
 */
export async function setNodeState(
  m: Manager,
  nodeId: string,
  state: Node["state"],
  message: string,
): Promise<void> {
  const current = m.state.get("nodes", nodeId);
  if (!current || (current.state === state && current.message === message)) return;
  await m.transact((tx, alloc) => {
    const node = tx.state.get("nodes", nodeId);
    if (!node) return;
    tx.put("nodes", { ...node, state, message });
    const services = tx.state.list("services");
    if (state === "down") {
      for (const service of services) {
        for (const t of tx.state.tasksOf(service.id)) {
          if (t.nodeId === nodeId && t.desiredState === "running") {
            tx.put("tasks", {
              ...t,
              desiredState: "shutdown",
              status: { ...t.status, message: `node ${node.hostname} is down` },
            });
          }
        }
      }
    }
    for (const service of services)
      reconcileService(tx, alloc, tx.state.get("services", service.id)!);
    scheduleServices(tx, services);
  });
}

export interface TaskStatusReport {
  taskId: string;
  state: TaskState;
  message?: string;
  err?: string;
}

/** Applies what an agent reports about its tasks and containers; replaces tasks that ended. */
export async function reportTaskStatus(
  m: Manager,
  nodeId: string,
  reports: TaskStatusReport[],
): Promise<void> {
  if (!Array.isArray(reports)) throw invalid("status reports must be a list");
  for (const r of reports) {
    if (!TASK_STATES.includes(r?.state)) throw invalid(`unknown task state "${String(r?.state)}"`);
  }
  await m.transact((tx, alloc) => {
    const touched = new Set<string>();
    for (const r of reports) {
      const container = tx.state.get("containers", r.taskId);
      if (container && container.nodeId === nodeId) {
        const updated = tx.put("containers", { ...container, status: status(r, tx.now) });
        if (isTerminal(r.state) && updated.desiredState === "remove")
          deleteContainer(tx, alloc, updated);
        continue;
      }
      const task = tx.state.get("tasks", r.taskId);
      if (!task || task.nodeId !== nodeId) continue;
      // States only move forward (an old report arriving late changes nothing).
      if (TASK_STATES.indexOf(r.state) < TASK_STATES.indexOf(task.status.state)) continue;
      if (isTerminal(task.status.state)) continue;
      const updated = tx.put("tasks", { ...task, status: status(r, tx.now) });
      if (!isTerminal(r.state)) continue;
      if (updated.desiredState === "running") retireTask(tx, alloc, updated, "shutdown");
      else deleteTask(tx, alloc, updated);
      touched.add(task.serviceId);
    }
    const services = [...touched]
      .map((id) => tx.state.get("services", id))
      .filter((s) => s !== undefined);
    for (const s of services) reconcileService(tx, alloc, s);
    scheduleServices(tx, services);
  });
}

function status(r: TaskStatusReport, now: string) {
  return {
    state: r.state,
    message: String(r.message ?? r.state),
    err: String(r.err ?? ""),
    timestamp: now,
  };
}
