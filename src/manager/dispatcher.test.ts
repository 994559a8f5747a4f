// The per-node watch stream over the real API: a whole view on connect, a new
// one after each change that concerns the node.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { NodeView } from "../core/node-view.ts";
import { type RunningDaemon, startDaemon } from "../daemon/daemon.ts";

describe("node watch stream", () => {
  let dir: string;
  let daemon: RunningDaemon;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "swarmnet-watch-"));
    daemon = await startDaemon({
      dataDir: join(dir, "data"),
      host: { kind: "unix", path: join(dir, "sock") },
      log: () => {},
    });
    await daemon.manager.init({ hostname: "node1" });
  });
  after(async () => {
    await daemon.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("sends the node's view, then each change", async () => {
    const views: NodeView[] = [];
    let wake: () => void = () => {};
    const req = request({ socketPath: join(dir, "sock"), path: `/v1/nodes/node1/watch` }, (res) => {
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let nl = buffer.indexOf("\n");
        while (nl >= 0) {
          views.push(JSON.parse(buffer.slice(0, nl)));
          buffer = buffer.slice(nl + 1);
          nl = buffer.indexOf("\n");
        }
        wake();
      });
    });
    req.end();
    const next = async (count: number) => {
      while (views.length < count) await new Promise<void>((r) => (wake = r));
      return views[count - 1]!;
    };
    try {
      const first = await next(1);
      assert.equal(first.node.hostname, "node1");
      assert.deepEqual(first.tasks, []);
      await daemon.manager.createNetwork({ name: "ov1" });
      await daemon.manager.createService({
        name: "web",
        mode: { replicated: { replicas: 2 } },
        networks: ["ov1"],
      });
      let view = await next(2);
      while (view.tasks.length < 2) view = await next(views.length + 1);
      assert.equal(view.tasks.length, 2);
      assert.deepEqual(
        view.networks.map((n) => n.name),
        ["ov1"],
      );
      assert.equal(view.endpoints.length, 2, "one endpoint per task on ov1");
      assert.equal(view.services[0]!.spec.name, "web");
      await daemon.manager.removeService("web");
      while (view.tasks.length > 0) view = await next(views.length + 1);
      assert.deepEqual(view.networks, []);
    } finally {
      req.destroy();
    }
  });

  it("moves tasks off a drained node and back when it is active", async () => {
    const m = daemon.manager;
    const svc = await m.createService({ name: "api", mode: { replicated: { replicas: 2 } } });
    const node = m.node("node1");
    await m.updateNode("node1", node.version, { availability: "drain" });
    for (const t of m.state.tasksOf(svc.id)) {
      assert.equal(t.status.state, "pending");
      assert.match(t.status.message, /1 node not available for new tasks/);
    }
    await m.updateNode("node1", m.node("node1").version, { availability: "active" });
    // Pending tasks wait for a node; making one active again places them.
    assert.ok(m.state.tasksOf(svc.id).every((t) => t.status.state === "assigned"));
    await assert.rejects(
      m.updateNode("node1", 0, { availability: "drain" }),
      /update out of sequence/,
    );
    await assert.rejects(
      m.updateNode("node1", m.node("node1").version, { availability: "gone" }),
      /invalid availability/,
    );
    await m.removeService("api");
  });
});
