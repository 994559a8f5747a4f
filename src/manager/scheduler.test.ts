// Scheduling on a state with several nodes (built directly: the scheduler is
// pure over ClusterState, no store involved).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Node, Service } from "../core/model.ts";
import { Allocator } from "./allocator.ts";
import { reconcileService } from "./orchestrator.ts";
import { scheduleServices } from "./scheduler.ts";
import { ClusterState, Tx } from "./state.ts";

function setup(nodes: Partial<Node>[]) {
  const state = new ClusterState();
  for (const [i, n] of nodes.entries()) {
    state.set("nodes", {
      id: `n${i + 1}`,
      version: 1,
      createdAt: "",
      updatedAt: "",
      hostname: `node${i + 1}`,
      role: i === 0 ? "manager" : "worker",
      availability: "active",
      advertiseAddr: "",
      dataPathAddr: "",
      state: "ready",
      message: "",
      labels: {},
      leader: i === 0,
      ...n,
    });
  }
  const tx = new Tx(state, "now");
  const alloc = new Allocator({ defaultAddrPool: ["10.0.0.0/8"], subnetSize: 24 });
  return { state, tx, alloc };
}

function service(tx: Tx, replicas: number, constraints: string[] = []): Service {
  return tx.put("services", {
    id: "s1",
    version: 0,
    createdAt: "",
    updatedAt: "",
    spec: {
      name: "web",
      labels: {},
      containerLabels: {},
      image: "",
      command: [],
      mode: { replicated: { replicas } },
      networks: [],
      endpoint: { mode: "vip", ports: [] },
      placement: { constraints },
    },
    endpoint: { ports: [], virtualIps: [] },
  });
}

const perNode = (state: ClusterState) => {
  const counts: Record<string, number> = {};
  for (const t of state.list("tasks")) counts[t.nodeId] = (counts[t.nodeId] ?? 0) + 1;
  return counts;
};

describe("scheduler", () => {
  it("spreads replicas evenly over ready nodes", () => {
    const { state, tx, alloc } = setup([{}, {}, {}]);
    const s = service(tx, 7);
    reconcileService(tx, alloc, s);
    scheduleServices(tx, [s]);
    assert.deepEqual(perNode(state), { n1: 3, n2: 2, n3: 2 });
  });
  it("skips nodes that are down, drained or excluded by constraints", () => {
    const { state, tx, alloc } = setup([
      { state: "down" },
      { availability: "drain" },
      {},
      { role: "worker" },
    ]);
    const s = service(tx, 4, ["node.hostname!=node4"]);
    reconcileService(tx, alloc, s);
    scheduleServices(tx, [s]);
    assert.deepEqual(perNode(state), { n3: 4 });
  });
  it("explains why nothing fits", () => {
    const { state, tx, alloc } = setup([{ state: "down" }, {}]);
    const s = service(tx, 1, ["node.role==manager"]);
    reconcileService(tx, alloc, s);
    scheduleServices(tx, [s]);
    const [task] = state.list("tasks");
    assert.equal(task!.status.state, "pending");
    assert.equal(
      task!.status.message,
      "no suitable node (scheduling constraints not satisfied on 1 node; 1 node not available for new tasks)",
    );
  });
});
