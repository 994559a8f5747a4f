// Streams each node's view (see core/node-view.ts) to its agent as
// newline-delimited JSON: the full view on connect, then a new one whenever
// it changes. Views are whole, not deltas, so an agent that reconnects is
// simply resynced; the agent diffs against the kernel anyway.
import type { ServerResponse } from "node:http";
import type { Container, Network, Node, Service, Task } from "../core/model.ts";
import { nodeView } from "../core/node-view.ts";
import { type ClusterModel, clusterModel } from "../policy/cluster.ts";
import type { Policy } from "../policy/model.ts";
import type { Manager } from "./manager.ts";
import { storedPolicies } from "./policies.ts";
import { PolicySetCache } from "./policy-sets.ts";

interface Snapshot {
  nodes: Node[];
  networks: Network[];
  services: Service[];
  tasks: Task[];
  containers: Container[];
  policies: Policy[];
  /** Built only when some policy exists. */
  model: ClusterModel | undefined;
}

/** Coalesces bursts of changes (a 1,000-task scale is one view, not 1,000). */
const COALESCE_MS = 20;

export class Dispatcher {
  private readonly manager: Manager;
  private readonly streams = new Map<string, Set<{ res: ServerResponse; last: string }>>();
  private timer: NodeJS.Timeout | undefined;
  private readonly policySets = new PolicySetCache();

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
    this.push(entry, this.view(nodeId, this.snapshot()));
  }

  /** What every node's view is made of, read once per push. */
  private snapshot(): Snapshot {
    const s = this.manager.state;
    const policies = storedPolicies(s).map((p) => p.policy);
    const lists = {
      nodes: s.list("nodes"),
      networks: s.list("networks"),
      services: s.list("services"),
      tasks: s.list("tasks"),
      containers: s.list("containers"),
    };
    return { ...lists, policies, model: policies.length > 0 ? clusterModel(lists) : undefined };
  }

  private view(nodeId: string, snap: Snapshot): string | undefined {
    const node = this.manager.state.get("nodes", nodeId);
    const cluster = this.manager.state.cluster;
    if (!node || !cluster) return undefined;
    const view = nodeView({ ...snap, node, dataPathPort: cluster.dataPathPort });
    if (cluster.policyLogDenied) view.policyLogDenied = true;
    if (snap.model) {
      view.policySets = this.policySets.setsFor({ ...snap, model: snap.model, nodeId });
    }
    return JSON.stringify(view);
  }

  private push(entry: { res: ServerResponse; last: string }, text: string | undefined): void {
    if (text === undefined) {
      entry.res.end();
      return;
    }
    if (text === entry.last) return;
    entry.last = text;
    entry.res.write(`${text}\n`);
  }

  /** One snapshot for all nodes, one view per node for all its streams. */
  private pushAll(): void {
    const snap = this.snapshot();
    for (const [nodeId, set] of this.streams) {
      const text = this.view(nodeId, snap);
      for (const entry of set) this.push(entry, text);
    }
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    for (const set of this.streams.values()) for (const entry of set) entry.res.end();
    this.streams.clear();
  }
}
