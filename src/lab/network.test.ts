// Root: the network part of a 3-node lab, under a unique prefix (never the
// real node1..nodeN): real traffic over the underlay, hostnames from the
// persistent UTS namespaces, no way out, and a teardown that leaves nothing.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { onNodeArgv } from "./commands.ts";
import { mustRun, run } from "./kernel.ts";
import { labDown, labExec, labStatus, labUp, readState } from "./lab.ts";
import { planLab } from "./plan.ts";
import { IS_ROOT, leftovers, serveHostname, tcpProbe, testConfig } from "./testkit.ts";

describe("lab network (root)", { skip: !IS_ROOT && "needs root", timeout: 120_000 }, () => {
  const { config, dir } = testConfig();
  const plan = planLab(config, 3);
  const [n1, n2, n3] = plan.nodes as [
    (typeof plan.nodes)[0],
    (typeof plan.nodes)[0],
    (typeof plan.nodes)[0],
  ];

  before(async () => {
    await labUp({ config, nodes: 3, cluster: false });
  });
  after(async () => {
    // Whatever happened above: nothing of this lab stays on the machine.
    await labDown(config).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it("node1 reaches node2 and node3 over the underlay, and they answer with their hostnames", async () => {
    const stops = [await serveHostname(n2, 7001), await serveHostname(n3, 7001)];
    try {
      assert.equal(await tcpProbe(n1, n2.address, 7001), "OK node2");
      assert.equal(await tcpProbe(n1, n3.address, 7001), "OK node3");
      assert.equal(await tcpProbe(n3, n2.address, 7001), "OK node2");
    } finally {
      for (const stop of stops) stop();
    }
    const ping = await run(["sh", "-c", "command -v ping"]);
    if (ping.code === 0) {
      for (const to of [n2, n3]) {
        await mustRun(onNodeArgv(n1, ["ping", "-c", "1", "-W", "2", to.address]));
      }
    }
  });

  it("each node's UTS namespace has its name as hostname; forwarding is on", async () => {
    for (const n of plan.nodes) {
      assert.equal((await mustRun(onNodeArgv(n, ["hostname"]))).trim(), n.name);
      const fwd = await mustRun(onNodeArgv(n, ["cat", "/proc/sys/net/ipv4/ip_forward"]));
      assert.equal(fwd.trim(), "1");
    }
  });

  it("a node has no route out of the lab", async () => {
    for (const n of plan.nodes) {
      const routes = JSON.parse(await mustRun(["ip", "-n", n.netns, "-j", "route", "show"]));
      assert.deepEqual(
        routes.map((r: { dst: string; dev: string }) => `${r.dst} ${r.dev}`),
        ["198.18.0.0/15 eth0"],
      );
      const v6 = JSON.parse(await mustRun(["ip", "-n", n.netns, "-6", "-j", "route", "show"]));
      assert.ok(
        v6.every((r: { dst: string }) => r.dst.startsWith("fe80::")),
        JSON.stringify(v6),
      );
      const get = await run(["ip", "-n", n.netns, "route", "get", "1.1.1.1"]);
      assert.notEqual(get.code, 0);
      assert.match(get.stderr, /unreachable/i);
    }
    const hostRoute = JSON.parse(await mustRun(["ip", "-j", "route", "get", "1.1.1.1"]))[0];
    for (const addr of [
      "1.1.1.1",
      hostRoute?.prefsrc ?? "10.0.0.1",
      hostRoute?.gateway ?? "10.0.0.1",
    ]) {
      assert.equal(await tcpProbe(n1, addr, 53), "ERR ENETUNREACH", addr);
    }
    const underlay = JSON.parse(await mustRun(["ip", "-n", plan.underlay.netns, "-j", "addr"]));
    assert.ok(
      underlay.every((l: { addr_info: { family: string }[] }) =>
        l.addr_info.every((a) => a.family !== "inet"),
      ),
      "the underlay namespace holds no IPv4 address",
    );
  });

  it("records the lab; status shows no daemons (network only); exec returns the exit code", async () => {
    const state = await readState(config);
    assert.equal(state?.phase, "up");
    assert.deepEqual(
      state?.nodes.map((n) => n.netns),
      plan.nodes.map((n) => n.netns),
    );
    const { rows } = await labStatus(config);
    assert.deepEqual(
      rows.map((r) => [r.Node, r.Address, r.Daemon]),
      [
        ["node1", "198.18.0.1/15", "none"],
        ["node2", "198.18.0.2/15", "none"],
        ["node3", "198.18.0.3/15", "none"],
      ],
    );
    assert.equal(await labExec("node2", ["sh", "-c", "exit 7"], config), 7);
    await assert.rejects(labExec("node9", ["true"], config), /no such lab node: node9/);
  });

  it("refuses a second lab up and changes nothing", async () => {
    await assert.rejects(
      labUp({ config, nodes: 2, cluster: false }),
      /a lab is already running \(3 nodes\); run 'swarmnet lab down' first/,
    );
    assert.equal(await tcpProbe(n1, n2.address, 7002), "ERR ECONNREFUSED");
  });

  it("lab down removes every namespace, link, mount and process; a second down is a no-op", async () => {
    const stop = await serveHostname(n2, 7003); // a process living on a node
    try {
      assert.equal(await labDown(config), true);
    } finally {
      stop();
    }
    assert.deepEqual(await leftovers(config, dir), []);
    assert.equal(await readState(config), undefined);
    assert.equal(await labDown(config), false);
  });
});
