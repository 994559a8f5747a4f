// The manager's in-memory copy of the cluster, the single writer's view of
// the store. Every change goes through a Tx: it applies to these maps at once
// (so later steps of the same operation read their own writes), remembers how
// to undo itself, and yields the store operations to persist on commit.

import type {
  Cluster,
  Container,
  Network,
  Node,
  Service,
  StoredPolicy,
  Task,
} from "../core/model.ts";
import type { Op } from "../store/store.ts";

export interface Kinds {
  cluster: Cluster;
  nodes: Node;
  networks: Network;
  services: Service;
  tasks: Task;
  containers: Container;
  policies: StoredPolicy;
}
export type Kind = keyof Kinds;
export const KINDS: Kind[] = [
  "cluster",
  "nodes",
  "networks",
  "services",
  "tasks",
  "containers",
  "policies",
];

export const KEY_PREFIX = "/swarmnet/v1/";
export function storeKey(kind: Kind, id: string): string {
  return `${KEY_PREFIX}${kind}/${id}`;
}

export class ClusterState {
  readonly maps: { [K in Kind]: Map<string, Kinds[K]> } = {
    cluster: new Map(),
    nodes: new Map(),
    networks: new Map(),
    services: new Map(),
    tasks: new Map(),
    containers: new Map(),
    policies: new Map(),
  };
  /** Index: service id -> ids of its tasks (the orchestrator asks this on every change). */
  readonly tasksByService = new Map<string, Set<string>>();

  get cluster(): Cluster | undefined {
    return this.maps.cluster.get("cluster");
  }

  list<K extends Kind>(kind: K): Kinds[K][] {
    return [...this.maps[kind].values()];
  }

  get<K extends Kind>(kind: K, id: string): Kinds[K] | undefined {
    return this.maps[kind].get(id);
  }

  tasksOf(serviceId: string): Task[] {
    const ids = this.tasksByService.get(serviceId);
    if (!ids) return [];
    return [...ids].map((id) => this.maps.tasks.get(id)!).sort((a, b) => a.slot - b.slot);
  }

  /** Raw write, keeping indexes right. Use a Tx unless loading from the store. */
  set<K extends Kind>(kind: K, value: Kinds[K]): void {
    this.maps[kind].set(value.id, value);
    if (kind === "tasks") {
      const task = value as Task;
      const set = this.tasksByService.get(task.serviceId) ?? new Set<string>();
      this.tasksByService.set(task.serviceId, set);
      set.add(task.id);
    }
  }

  unset(kind: Kind, id: string): void {
    const old = this.maps[kind].get(id);
    this.maps[kind].delete(id);
    if (kind === "tasks" && old) {
      const task = old as Task;
      const set = this.tasksByService.get(task.serviceId);
      set?.delete(id);
      if (set?.size === 0) this.tasksByService.delete(task.serviceId);
    }
  }

  clear(): void {
    for (const kind of KINDS) this.maps[kind].clear();
    this.tasksByService.clear();
  }
}

export class Tx {
  readonly state: ClusterState;
  readonly now: string;
  private readonly undo: (() => void)[] = [];
  private readonly writes = new Map<string, Op>();

  constructor(state: ClusterState, now: string) {
    this.state = state;
    this.now = now;
  }

  /** Writes an object, bumping its version and updatedAt. */
  put<K extends Kind>(kind: K, value: Kinds[K]): Kinds[K] {
    const old = this.state.get(kind, value.id);
    const next = { ...value, version: (old?.version ?? 0) + 1, updatedAt: this.now } as Kinds[K];
    if (!old) next.createdAt = this.now;
    this.state.set(kind, next);
    this.undo.push(() => (old ? this.state.set(kind, old) : this.state.unset(kind, value.id)));
    const key = storeKey(kind, value.id);
    this.writes.set(key, { type: "put", key, value: JSON.stringify(next) });
    return next;
  }

  delete(kind: Kind, id: string): void {
    const old = this.state.get(kind, id);
    if (!old) return;
    this.state.unset(kind, id);
    this.undo.push(() => this.state.set(kind, old));
    const key = storeKey(kind, id);
    this.writes.set(key, { type: "delete", key });
  }

  /** Registers a compensation for a side effect outside the maps (allocations). */
  onUndo(fn: () => void): void {
    this.undo.push(fn);
  }

  rollback(): void {
    for (const fn of this.undo.reverse()) fn();
    this.undo.length = 0;
    this.writes.clear();
  }

  ops(): Op[] {
    return [...this.writes.values()];
  }
}

/** Docker's ServiceStatus: tasks running and meant to, against the replicas
 * asked for (a global service: its tasks meant to run). */
export function serviceStatus(
  state: ClusterState,
  s: Service,
): { runningTasks: number; desiredTasks: number } {
  const tasks = state.tasksOf(s.id);
  const runningTasks = tasks.filter(
    (t) => t.status.state === "running" && t.desiredState === "running",
  ).length;
  const desiredTasks =
    "replicated" in s.spec.mode
      ? s.spec.mode.replicated.replicas
      : tasks.filter((t) => t.desiredState === "running").length;
  return { runningTasks, desiredTasks };
}
