// Streams each node's view (see core/node-view.ts) to its agent as
// newline-delimited JSON: the full view on connect, then a new one whenever
// it changes. Views are whole, not deltas, so an agent that reconnects is
// simply resynced; the agent diffs against the kernel anyway.
import type { ServerResponse } from "node:http";
import { nodeView } from "../core/node-view.ts";
import type { Manager } from "./manager.ts";
import { storedPolicies } from "./policies.ts";
import { policySetsFor } from "./policy-sets.ts";

/** Coalesces bursts of changes (a 1,000-task scale is one view, not 1,000). */
const COALESCE_MS = 20;

export class Dispatcher {
  private readonly manager: Manager;
  private readonly streams = new Map<string, Set<{ res: ServerResponse; last: string }>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(manager: Manager) {
    this.manager = manager;
    manager.events.on("change", () => {
      if (this.streams.size === 0 || this.timer) return;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pushAll();
      }, COALESCE_MS);
    });
  }

  isConnected(nodeId: string): boolean {
    return (this.streams.get(nodeId)?.size ?? 0) > 0;
  }

  stream(nodeId: string, res: ServerResponse): void {
    res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
    const set = this.streams.get(nodeId) ?? new Set();
    this.streams.set(nodeId, set);
    const entry = { res, last: "" };
    set.add(entry);
    res.on("close", () => {
      set.delete(entry);
      if (set.size === 0) this.streams.delete(nodeId);
    });
    this.push(nodeId, entry);
  }

  private view(nodeId: string): string | undefined {
    const s = this.manager.state;
    const node = s.get("nodes", nodeId);
    const cluster = s.cluster;
    if (!node || !cluster) return undefined;
    const networks = s.list("networks");
    const services = s.list("services");
    const tasks = s.list("tasks");
    const containers = s.list("containers");
    const view = nodeView({
      node,
      dataPathPort: cluster.dataPathPort,
      nodes: s.list("nodes"),
      networks,
      services,
      tasks,
      containers,
    });
    const policies = storedPolicies(s).map((p) => p.policy);
    if (policies.length > 0) {
      view.policySets = policySetsFor({ nodeId, policies, services, tasks, containers, networks });
    }
    return JSON.stringify(view);
  }

  private push(nodeId: string, entry: { res: ServerResponse; last: string }): void {
    const text = this.view(nodeId);
    if (text === undefined) {
      entry.res.end();
      return;
    }
    if (text === entry.last) return;
    entry.last = text;
    entry.res.write(`${text}\n`);
  }

  private pushAll(): void {
    for (const [nodeId, set] of this.streams) for (const entry of set) this.push(nodeId, entry);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const set of this.streams.values()) for (const entry of set) entry.res.end();
    this.streams.clear();
  }
}
