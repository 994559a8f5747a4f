// Root, end to end: a three-node lab (real init/join, real agents), services
// on overlay networks, and real traffic between task sandboxes across nodes:
// placement, TCP (a line and a few hundred KB) and UDP to every task,
// isolation between networks, internal networks without a way out, a
// standalone task on an attachable network, and `lab down` leaving nothing.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { listNetns, mustRun } from "../../src/lab/kernel.ts";
import {
  addressOf,
  IS_ROOT,
  inNs,
  NODE,
  type Probe,
  rootLinks,
  summary,
  type TaskRow,
  TestLab,
  waitFor,
} from "./labkit.ts";

const WEB_REPLICAS = 6;
/** Lines of the bulk transfer, 100 bytes each: 400 KB out, as many identity lines back. */
const BULK_LINES = 4000;

describe("overlay networks across three lab nodes (root)", {
  skip: !IS_ROOT && "needs root",
  timeout: 180_000,
}, () => {
  const lab = new TestLab();
  let rootLinksBefore = new Set<string>();

  before(async () => {
    rootLinksBefore = await rootLinks();
    await lab.up(3);
    await lab.cli(["network", "create", "-d", "overlay", "--attachable", "front"]);
    await lab.cli(["network", "create", "-d", "overlay", "back"]);
    await lab.cli(["network", "create", "-d", "overlay", "--internal", "vault"]);
    const create = (name: string, replicas: number, network: string) =>
      lab.cli([
        "service",
        "create",
        "-q",
        "--name",
        name,
        "--replicas",
        String(replicas),
        "--network",
        network,
      ]);
    await create("web", WEB_REPLICAS, "front");
    await create("other", 3, "back");
    await create("secret", 3, "vault");
  });

  after(() => lab.cleanup());

  /** The task of `tasks` on `node` (the first one), for a sandbox to probe from. */
  function on(tasks: TaskRow[], node: string): TaskRow {
    const t = tasks.find((x) => x.Node === node);
    assert.ok(t, `no task on ${node}: ${tasks.map((x) => `${x.Name}@${x.Node}`).join(", ")}`);
    return t;
  }

  it("a service with 6 replicas lands on all three nodes", async () => {
    const tasks = await lab.running("web", WEB_REPLICAS);
    assert.deepEqual([...new Set(tasks.map((t) => t.Node))].sort(), ["node1", "node2", "node3"]);
    // Each task runs in its own sandbox on its node.
    const namespaces = await listNetns();
    for (const t of tasks)
      assert.ok(namespaces.includes(lab.sandbox(t)), `no sandbox for ${t.Name}`);
  });

  it("from a task on node1, TCP to every other task carries real bytes both ways, and UDP works", async () => {
    const tasks = await lab.running("web", WEB_REPLICAS);
    const from = on(tasks, "node1");
    const others = tasks.filter((t) => t.ID !== from.ID);
    const probes: Probe[] = others.flatMap((t): Probe[] => [
      { kind: "tcp", addr: addressOf(t), port: 80 },
      {
        kind: "tcp",
        addr: addressOf(t),
        port: 80,
        lines: BULK_LINES,
        size: 100,
        timeoutMs: 20_000,
      },
      { kind: "udp", addr: addressOf(t), port: 80 },
    ]);
    const results = await lab.probeUntilOk(lab.sandbox(from), probes);
    assert.ok(
      results.every((r) => r.ok),
      summary(results),
    );
    for (const [i, t] of others.entries()) {
      const [line, bulk, dgram] = results.slice(i * 3, i * 3 + 3);
      // Docker's task name: <service>.<slot>.<task id>; the answer names the task and its node.
      const identity = new RegExp(
        `^task=${t.Name}\\.${t.ID}\\w* service=web stack=default node=${t.Node} from=[\\d.]+$`,
      );
      assert.match(line!.answer, identity, summary([line!]));
      assert.match(dgram!.answer, identity, summary([dgram!]));
      assert.equal(bulk!.sent, BULK_LINES * 100);
      assert.equal(bulk!.lines, BULK_LINES, summary([bulk!]));
      assert.equal(bulk!.odd, 0, "every answer names the same task");
      assert.equal(bulk!.received, BULK_LINES * (line!.answer.length + 1));
    }
    // Tasks on node2 and node3 were reached across the underlay, not only node1's.
    assert.deepEqual([...new Set(others.map((t) => t.Node))].sort(), ["node1", "node2", "node3"]);
  });

  it("two overlay networks cannot reach each other, even on the same node", async () => {
    const web = await lab.running("web", WEB_REPLICAS);
    const other = await lab.running("other", 3);
    const webSandbox = lab.sandbox(on(web, "node1"));
    const otherOnNode1 = on(other, "node1");
    const otherSandbox = lab.sandbox(otherOnNode1);
    // Controls: each side reaches its own network's tasks on other nodes.
    const control = await lab.probeUntilOk(otherSandbox, [
      { kind: "tcp", addr: addressOf(on(other, "node2")), port: 80 },
      { kind: "tcp", addr: addressOf(on(other, "node3")), port: 80 },
    ]);
    assert.ok(
      control.every((r) => r.ok),
      summary(control),
    );
    const webControl = await lab.probeUntilOk(webSandbox, [
      { kind: "tcp", addr: addressOf(on(web, "node2")), port: 80 },
    ]);
    assert.ok(
      webControl.every((r) => r.ok),
      summary(webControl),
    );
    // Across networks: nothing answers, in either direction, on any node — nor
    // through the gateway bridge (whose legs cannot reach each other).
    const otherGw = await sandboxAddress(otherSandbox, "gw0");
    assert.ok(otherGw, "the task on back has a gateway leg");
    const toOther: Probe[] = [
      ...other.map((t): Probe => ({ kind: "tcp", addr: addressOf(t), port: 80, timeoutMs: 2000 })),
      ...other.map((t): Probe => ({ kind: "udp", addr: addressOf(t), port: 80, timeoutMs: 2000 })),
      { kind: "tcp", addr: otherGw, port: 80, timeoutMs: 2000 },
    ];
    const fromWeb = await lab.probe(webSandbox, toOther);
    assert.ok(
      fromWeb.every((r) => !r.ok),
      `front reached back:\n${summary(fromWeb)}`,
    );
    const toWeb = web.map(
      (t): Probe => ({ kind: "tcp", addr: addressOf(t), port: 80, timeoutMs: 2000 }),
    );
    const fromOther = await lab.probe(otherSandbox, toWeb);
    assert.ok(
      fromOther.every((r) => !r.ok),
      `back reached front:\n${summary(fromOther)}`,
    );
  });

  it("an internal network has no way out; a normal one reaches the underlay through its gateway leg", async () => {
    const node1 = lab.node("node1");
    await lab.whoServer(lab.node("node2"), 7001);
    await lab.whoServer(node1, 7001);
    const secret = await lab.running("secret", 3);
    const web = await lab.running("web", WEB_REPLICAS);
    const inside = lab.sandbox(on(secret, "node1"));
    const outside = lab.sandbox(on(web, "node1"));

    // Normal network: out through docker_gwbridge, masqueraded to node1's underlay address.
    const out = await lab.probeUntilOk(outside, [{ kind: "tcp", addr: "198.18.0.2", port: 7001 }]);
    assert.ok(out[0]!.ok, summary(out));
    assert.equal(out[0]!.answer, `node2 ${node1.address}`);
    assert.match(await mustRun(inNs(outside, ["ip", "-4", "route", "show"])), /^default via /m);

    // Internal network: its own tasks answer (on other nodes too)...
    const peers = await lab.probeUntilOk(
      inside,
      secret.map((t): Probe => ({ kind: "tcp", addr: addressOf(t), port: 80 })),
    );
    assert.ok(
      peers.every((r) => r.ok),
      summary(peers),
    );
    // ...but there is no gateway leg, no default route, and no way to the underlay.
    const links = await mustRun(inNs(inside, ["ip", "-o", "link", "show"]));
    assert.doesNotMatch(links, /\bgw0\b/);
    const routes = await mustRun(inNs(inside, ["ip", "-4", "route", "show"]));
    assert.doesNotMatch(routes, /^default/m, routes);
    const blocked = await lab.probe(inside, [
      { kind: "tcp", addr: "198.18.0.2", port: 7001, timeoutMs: 2000 },
      { kind: "tcp", addr: node1.address, port: 7001, timeoutMs: 2000 },
      { kind: "udp", addr: "198.18.0.3", port: 7001, timeoutMs: 2000 },
    ]);
    assert.ok(
      blocked.every((r) => !r.ok),
      `internal task got out:\n${summary(blocked)}`,
    );
  });

  it("a standalone task on an attachable network talks to a service task on another node", async (t) => {
    const help = await lab.cliRun(["run", "--help"]);
    if (help.code !== 0) {
      t.skip(`'swarmnet run' is not in this build yet: ${(help.stderr || help.stdout).trim()}`);
      return;
    }
    const web = await lab.running("web", WEB_REPLICAS);
    const knownSandboxes = new Set(await lab.namespaces());
    // Refused on a network that is not attachable, as Docker does.
    const refused = await lab.cliRun([
      "run",
      "-d",
      "--name",
      "stray",
      "--network",
      "back",
      "--",
      NODE,
      "-e",
      "setInterval(() => {}, 1e9)",
    ]);
    assert.notEqual(refused.code, 0, "run on a non-attachable network must fail");
    assert.match(refused.stderr, /network back not manually attachable/);
    // A line server answering with its hostname (the container's name).
    const server = `require("node:net").createServer((c) => c.end(require("node:os").hostname() + "\\n")).listen(7070)`;
    await lab.cli(["run", "-d", "--name", "solo", "--network", "front", "--", NODE, "-e", server]);
    const sandbox = await waitFor("the standalone task's sandbox", async () => {
      const fresh = (await lab.namespaces()).filter(
        (ns) => !knownSandboxes.has(ns) && /-sb-\w+$/.test(ns),
      );
      return fresh.length === 1 ? fresh[0] : undefined;
    });
    const node = lab.state!.nodes.find((n) => sandbox.startsWith(n.nsPrefix))!;
    const address = await waitFor("the standalone task's address", () =>
      sandboxAddress(sandbox, "eth0"),
    );
    const peer = web.find((w) => w.Node !== node.name)!;
    // Standalone → service task on another node.
    const there = await lab.probeUntilOk(sandbox, [
      { kind: "tcp", addr: addressOf(peer), port: 80 },
    ]);
    assert.ok(there[0]!.ok, summary(there));
    assert.match(there[0]!.answer, new RegExp(`service=web .*node=${peer.Node} from=[\\d.]+$`));
    // Service task on another node → standalone.
    const back = await lab.probeUntilOk(lab.sandbox(peer), [
      { kind: "tcp", addr: address, port: 7070 },
    ]);
    assert.ok(back[0]!.ok, summary(back));
    assert.equal(back[0]!.answer, "solo");
  });

  it("lab down removes every namespace, link, mount and process of the lab", async () => {
    const processes = await lab.processes();
    assert.ok(processes.size >= 3 + WEB_REPLICAS + 6, `few processes found: ${processes.size}`);
    assert.ok((await lab.namespaces()).length > 4);
    assert.equal(await lab.down(), true);
    await lab.assertGone(processes, rootLinksBefore);
  });
});

/** The IPv4 address of a link inside a namespace, or undefined. */
async function sandboxAddress(netns: string, ifname: string): Promise<string | undefined> {
  const out = await mustRun(inNs(netns, ["ip", "-j", "-4", "addr", "show", "dev", ifname]));
  const parsed = JSON.parse(out || "[]") as { addr_info: { local: string }[] }[];
  return parsed[0]?.addr_info[0]?.local;
}
