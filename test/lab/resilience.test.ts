// Root, end to end: agents dying. `kill -9` of node2's daemon while a TCP
// stream from a node1 task to a node2 task flows: the stream never notices,
// and the restarted agent adopts its tasks without touching the kernel. Then
// node3's daemon stopped for good: the manager marks node3 down after the
// heartbeat timeout and its tasks come back on the other nodes. Finally `lab
// down` leaves nothing, orphaned tasks of the dead node included.
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { alive } from "../../src/lab/kernel.ts";
import {
  addressOf,
  IS_ROOT,
  kernelSnapshot,
  type Probe,
  rootLinks,
  summary,
  type TaskRow,
  TestLab,
  taskPids,
  waitFor,
} from "./labkit.ts";

const REPLICAS = 6;

describe("agents restarting and nodes failing in a three-node lab (root)", {
  skip: !IS_ROOT && "needs root",
  timeout: 180_000,
}, () => {
  const lab = new TestLab();
  let rootLinksBefore = new Set<string>();

  before(async () => {
    rootLinksBefore = await rootLinks();
    await lab.up(3);
    await lab.cli(["network", "create", "-d", "overlay", "front"]);
    await lab.cli([
      "service",
      "create",
      "-q",
      "--name",
      "web",
      "--replicas",
      String(REPLICAS),
      "--network",
      "front",
    ]);
  });

  after(() => lab.cleanup());

  const ids = (tasks: TaskRow[]) => tasks.map((t) => `${t.ID} ${t.Name} ${t.Node}`).sort();

  it("kill -9 of an agent: a live TCP stream through its node keeps flowing, and the restarted agent adopts its tasks without a kernel change", async () => {
    const node2 = lab.node("node2");
    const tasks = await lab.running("web", REPLICAS);
    const from = tasks.find((t) => t.Node === "node1")!;
    const to = tasks.find((t) => t.Node === "node2")!;
    assert.ok(from && to, `tasks on node1 and node2: ${ids(tasks).join(", ")}`);
    // Every task answers before the snapshot (its responder listens: nothing is still starting).
    const ready = await lab.probeUntilOk(
      lab.sandbox(from),
      tasks.map((t): Probe => ({ kind: "tcp", addr: addressOf(t), port: 80 })),
    );
    assert.ok(
      ready.every((r) => r.ok),
      summary(ready),
    );

    const stream = await lab.stream(lab.sandbox(from), addressOf(to), 80);
    const kernelBefore = await kernelSnapshot(node2);
    // What the snapshot covers: node2 itself, the overlay's namespace, every task sandbox.
    assert.deepEqual(
      Object.keys(kernelBefore).filter((ns) => !ns.includes("-net-")),
      [node2.netns, ...tasks.filter((t) => t.Node === "node2").map((t) => lab.sandbox(t))].sort(),
    );
    assert.equal(Object.keys(kernelBefore).filter((ns) => ns.includes("-net-")).length, 1);
    const pidsBefore = taskPids(node2);
    assert.equal(pidsBefore.size, tasks.filter((t) => t.Node === "node2").length);

    const daemon = lab.daemonPid(node2);
    const logOffset = statSync(node2.log).size;
    process.kill(daemon, "SIGKILL");
    await waitFor("node2's daemon to die", () => !alive(daemon), 5000, 20);
    // The agent is gone; the stream goes on (for a couple of seconds, well under the heartbeat timeout).
    await stream.flows(100, "after the kill");
    await sleep(1500);
    await stream.flows(100, "seconds after the kill");

    lab.restartDaemon(node2);
    const log = () => readFileSync(node2.log).subarray(logOffset).toString("utf8");
    await waitFor("the restarted daemon's agent", () => log().includes("agent started"), 20_000);
    assert.match(log(), new RegExp(`agent: adopted ${pidsBefore.size} running task\\(s\\)`));
    await stream.flows(100, "after the restart");
    // The agent resynced against the manager's view: give it a few heartbeats.
    await waitFor("node2 to be Ready", async () =>
      (await lab.nodes()).some((n) => n.Hostname === "node2" && n.Status === "Ready"),
    );
    await sleep(3000);
    await stream.flows(100, "seconds after the restart");

    assert.doesNotMatch(log(), /kernel change/, "the restarted agent changed the kernel");
    assert.deepEqual(await kernelSnapshot(node2), kernelBefore);
    assert.deepEqual(taskPids(node2), pidsBefore, "the same task processes");
    for (const [id, p] of pidsBefore) assert.ok(alive(p.pid), `task ${id} (pid ${p.pid}) runs`);
    assert.deepEqual(ids(await lab.running("web", REPLICAS)), ids(tasks), "the same tasks");
    assert.equal(stream.broken(), undefined);
    stream.stop();
  });

  it("a node whose agent stopped for good is marked down and its tasks come back on the other nodes", async () => {
    const node3 = lab.node("node3");
    const tasks = await lab.running("web", REPLICAS);
    const lost = tasks.filter((t) => t.Node === "node3");
    assert.ok(lost.length > 0, `no task on node3: ${ids(tasks).join(", ")}`);

    process.kill(lab.daemonPid(node3), "SIGKILL");
    await waitFor(
      "node3 to be marked Down",
      async () => (await lab.nodes()).some((n) => n.Hostname === "node3" && n.Status === "Down"),
      40_000,
      1000,
    );
    const now = await waitFor(
      "web's tasks to run on node1 and node2 only",
      async () => {
        const rows = await lab.running("web", REPLICAS, 2000).catch(() => undefined);
        return rows?.every((t) => t.Node !== "node3") ? rows : undefined;
      },
      40_000,
      1000,
    );
    // Each slot node3 had is running again elsewhere, as a new task.
    const slot = (t: TaskRow) => t.Name;
    assert.deepEqual(now.map(slot).sort(), tasks.map(slot).sort());
    for (const t of lost) assert.ok(!now.some((n) => n.ID === t.ID), `${t.Name} replaced`);
    // And they answer, from node1, with their new node's name.
    const from = now.find((t) => t.Node === "node1")!;
    const results = await lab.probeUntilOk(
      lab.sandbox(from),
      now.map((t): Probe => ({ kind: "tcp", addr: addressOf(t), port: 80 })),
    );
    assert.ok(
      results.every((r) => r.ok),
      summary(results),
    );
    for (const [i, t] of now.entries()) {
      assert.match(
        results[i]!.answer,
        new RegExp(`^task=${t.Name}\\.${t.ID}\\w* .* node=${t.Node} from=[\\d.]+$`),
      );
    }
  });

  it("lab down removes every namespace, link, mount and process, a restarted daemon and a dead node's tasks included", async () => {
    const processes = await lab.processes();
    assert.ok(processes.size >= 2 + REPLICAS, `few processes found: ${processes.size}`);
    assert.equal(await lab.down(), true);
    await lab.assertGone(processes, rootLinksBefore);
  });
});
