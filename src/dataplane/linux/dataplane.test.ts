// The data plane on the real kernel: two simulated hosts, render → observe →
// diff → apply, then real packets. Needs root; everything it makes has a
// unique prefix and is removed in after(), failed or not.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { diff } from "../diff.ts";
import { isDataplaneError } from "../errors.ts";
import { type Cluster, GW, ID, overlay, scenario, task, viewOf } from "../fixtures.ts";
import type { Scope } from "../names.ts";
import { describePlan, type Plan } from "../plan.ts";
import { render } from "../render.ts";
import { apply } from "./apply.ts";
import { cleanup } from "./cleanup.ts";
import { run, splitJson } from "./exec.ts";
import { observe } from "./observe.ts";
import {
  exchange,
  makeHosts,
  namespacesStartingWith,
  ping,
  removeNamespaces,
  startServer,
} from "./testbed.ts";

const root = process.getuid?.() === 0;

describe("data plane on the kernel", {
  skip: root ? false : "needs root (creates network namespaces)",
}, () => {
  const prefix = `t-dp-${randomBytes(3).toString("hex")}-`;
  const hosts = { [ID.n1]: `${prefix}h1`, [ID.n2]: `${prefix}h2` };
  const scope = (nodeId: string): Scope => ({
    hostNs: hosts[nodeId]!,
    prefix: `${hosts[nodeId]}-`,
  });
  const sb = (nodeId: string, task: string) => `${scope(nodeId).prefix}sb-${task.slice(0, 12)}`;
  const net = (nodeId: string, id: string) => `${scope(nodeId).prefix}net-${id.slice(0, 12)}`;
  let cluster: Cluster = scenario();

  async function sync(nodeId: string): Promise<Plan> {
    const s = scope(nodeId);
    const desired = render(viewOf(cluster, nodeId), { gwAddresses: GW, ...s });
    const plan = diff(await observe(s), desired);
    await apply(plan);
    return plan;
  }

  async function pending(nodeId: string): Promise<string> {
    const s = scope(nodeId);
    const desired = render(viewOf(cluster, nodeId), { gwAddresses: GW, ...s });
    return describePlan(diff(await observe(s), desired));
  }

  before(async () => {
    await makeHosts(prefix);
  });

  after(async () => {
    try {
      for (const n of [ID.n1, ID.n2]) await cleanup(scope(n));
    } finally {
      await removeNamespaces(prefix);
    }
    assert.deepEqual(await namespacesStartingWith(prefix), []);
  });

  it("builds both hosts, and a second apply has nothing to do", async () => {
    const p1 = await sync(ID.n1);
    const p2 = await sync(ID.n2);
    assert.ok(p1.steps.length > 0 && p2.steps.length > 0);
    assert.equal(await pending(ID.n1), "");
    assert.equal(await pending(ID.n2), "");
    assert.deepEqual((await sync(ID.n1)).steps, []);
  });

  it("keeps the VXLAN socket in the host namespace", async () => {
    const { stdout } = await run([
      "ip",
      "netns",
      "exec",
      hosts[ID.n1]!,
      "ss",
      "-Hlun",
      "sport",
      "= :4789",
    ]);
    assert.match(stdout, /:4789/);
  });

  it("carries ping and TCP both ways between hosts over VXLAN", async (t) => {
    const answered = await ping(sb(ID.n1, ID.a), "10.0.1.3");
    if (answered === undefined)
      t.diagnostic("ping not installed: ICMP check skipped, TCP still checked");
    else assert.equal(answered, true, "ping a → b");
    const server = await startServer(sb(ID.n2, ID.b));
    try {
      assert.equal(
        await exchange(sb(ID.n1, ID.a), "10.0.1.3", "hello-from-a"),
        "pong:hello-from-a",
      );
      await server.done;
    } finally {
      server.stop();
    }
  });

  it("connects internal-only tasks across hosts, without a way out", async () => {
    const server = await startServer(sb(ID.n2, ID.d));
    try {
      assert.equal(await exchange(sb(ID.n1, ID.c), "10.0.2.3", "internal"), "pong:internal");
      await server.done;
    } finally {
      server.stop();
    }
    const c = sb(ID.n1, ID.c);
    const routes = splitJson((await run(["ip", "-n", c, "-j", "route", "show"])).stdout)[0] as {
      dst: string;
    }[];
    assert.ok(!routes.some((r) => r.dst === "default"), "no default route");
    const links = splitJson((await run(["ip", "-n", c, "-j", "link", "show"])).stdout)[0] as {
      ifname: string;
    }[];
    assert.deepEqual(links.map((l) => l.ifname).sort(), ["eth0", "lo"]);
    assert.match(await exchange(c, "198.18.0.1", "out"), /^ERR /);
  });

  it("keeps different networks and gateway legs apart", async () => {
    const server = await startServer(sb(ID.n2, ID.d));
    try {
      // a is only on ov1: d (ov2, other host) and e's ov2 address (same host) are out of reach
      assert.match(await exchange(sb(ID.n1, ID.a), "10.0.2.3", "x"), /^ERR /);
      assert.match(await exchange(sb(ID.n1, ID.a), "10.0.2.4", "x"), /^ERR /);
      // e's gateway leg, on the same bridge as a's: isolated
      assert.match(await exchange(sb(ID.n1, ID.a), "172.18.0.4", "x"), /^ERR /);
      // the server is still waiting for its first connection: nothing got through
      assert.equal(await exchange(sb(ID.n2, ID.d), "10.0.2.3", "self"), "pong:self");
      await server.done;
    } finally {
      server.stop();
    }
  });

  it("reaches the underlay through the gateway bridge, masqueraded", async () => {
    // host 2 has no route back to 172.18.0.0/16: only a masqueraded reply comes back
    const server = await startServer(hosts[ID.n2]!);
    try {
      assert.equal(await exchange(sb(ID.n1, ID.a), "198.18.0.2", "egress"), "pong:egress");
      await server.done;
    } finally {
      server.stop();
    }
  });

  it("repairs drift on the next sync", async () => {
    const ov1 = net(ID.n1, ID.ov1);
    await run(["bridge", "-n", ov1, "fdb", "del", "02:42:0a:00:01:03", "dev", "vxlan0", "self"]);
    await run(["ip", "-n", sb(ID.n1, ID.a), "link", "set", "eth0", "down"]);
    await run([
      "ip",
      "netns",
      "exec",
      hosts[ID.n1]!,
      "nft",
      "flush",
      "chain",
      "ip",
      "swarmnet",
      "forward",
    ]);
    const drift = await pending(ID.n1);
    assert.match(drift, /ensureFdb: .*vxlan0 02:42:0a:00:01:03 → 198.18.0.2/);
    assert.match(drift, /ensureUp: .*eth0 up/);
    assert.match(drift, /ensureChain: \S+ swarmnet\/forward rules differ/);
    await sync(ID.n1);
    assert.equal(await pending(ID.n1), "");
  });

  it("names the failing line and step when a batch fails", async () => {
    const plan: Plan = {
      steps: [
        {
          phase: "configure",
          kind: "link-up",
          ns: sb(ID.n1, ID.a),
          name: "lo",
          up: true,
          reason: "ensureUp: lo",
        },
        {
          phase: "configure",
          kind: "link-up",
          ns: sb(ID.n1, ID.a),
          name: "nope0",
          up: true,
          reason: "ensureUp: nope0",
        },
      ],
    };
    await assert.rejects(apply(plan), (e) => {
      assert.ok(isDataplaneError(e, "DP_NOT_FOUND"), String(e));
      assert.equal(e.exec?.line, 2);
      assert.equal(e.exec?.command, "link set dev nope0 up");
      assert.equal(e.exec?.reason, "ensureUp: nope0");
      return true;
    });
  });

  it("removes a task's sandbox, and the network with its last local endpoint", async () => {
    cluster = { ...cluster, tasks: cluster.tasks.filter((t) => t.id !== ID.b) };
    await sync(ID.n2);
    await sync(ID.n1);
    assert.deepEqual(await namespacesStartingWith(scope(ID.n2).prefix), [
      net(ID.n2, ID.ov2),
      sb(ID.n2, ID.d),
    ]);
    const n1 = await observe(scope(ID.n1));
    const ov1 = n1.namespaces.find((n) => n.name === net(ID.n1, ID.ov1))!;
    assert.deepEqual(ov1.fdb, []);
    assert.deepEqual(ov1.neigh, []);
    const h2 = await observe(scope(ID.n2));
    assert.deepEqual(h2.host.links, [], "d is internal-only: no gateway bridge left on host 2");
    assert.equal(h2.host.nft, undefined);
    assert.equal(await pending(ID.n1), "");
    assert.equal(await pending(ID.n2), "");
  });

  it("moves tasks to a new network that reuses a removed network's VNI", async () => {
    const ov3 = "ov3ccccccccccccccccccccc";
    const moved = (addr: string) => [ov3, addr] as [string, string];
    cluster = {
      ...cluster,
      networks: [cluster.networks[0]!, overlay(ov3, "10.0.3.0/24", 4098, { internal: true })],
      tasks: cluster.tasks.map((t) => {
        if (t.id === ID.c) return task(ID.c, ID.n1, [moved("10.0.3.2/24")]);
        if (t.id === ID.d) return task(ID.d, ID.n2, [moved("10.0.3.3/24")]);
        if (t.id === ID.e)
          return task(ID.e, ID.n1, [[ID.ov1, "10.0.1.4/24"], moved("10.0.3.4/24")]);
        return t;
      }),
    };
    await sync(ID.n1);
    await sync(ID.n2);
    assert.equal(await pending(ID.n1), "");
    assert.equal(await pending(ID.n2), "");
    assert.deepEqual(await namespacesStartingWith(scope(ID.n2).prefix), [
      net(ID.n2, ov3),
      sb(ID.n2, ID.d),
    ]);
    const server = await startServer(sb(ID.n2, ID.d));
    try {
      assert.equal(await exchange(sb(ID.n1, ID.e), "10.0.3.3", "ov3"), "pong:ov3");
      await server.done;
    } finally {
      server.stop();
    }
  });

  it("cleanup removes everything swarmnet made for a node", async () => {
    const done = await cleanup(scope(ID.n1));
    assert.equal(done.namespaces.length, 5);
    assert.equal(done.gwBridge, true);
    assert.equal(done.nftTable, true);
    assert.deepEqual(await namespacesStartingWith(scope(ID.n1).prefix), []);
    const again = await cleanup(scope(ID.n1));
    assert.deepEqual(again, { namespaces: [], gwBridge: false, nftTable: false });
  });
});
