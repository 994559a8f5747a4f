// The routing mesh on the real kernel: two simulated hosts, each with an
// ingress sandbox and one task of a service publishing 8080 → 80 over TCP and
// UDP. Each host is the other's client: a connection through either node must
// reach both tasks, each task must see the client's own address, and every
// reply must come back from the address the client asked (a connected UDP
// socket drops anything else). Needs root; everything it makes has a unique
// prefix and is removed in after().
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { diff } from "../diff.ts";
import { type Cluster, ID, MESH, MESH_GW, meshScenario, viewOf } from "../fixtures.ts";
import type { Scope } from "../names.ts";
import { describePlan, type Plan } from "../plan.ts";
import { render } from "../render.ts";
import { apply } from "./apply.ts";
import { cleanup } from "./cleanup.ts";
import { inNs, run } from "./exec.ts";
import { observe } from "./observe.ts";
import {
  makeHosts,
  namespacesStartingWith,
  removeNamespaces,
  startWhoServer,
  whoAnswers,
} from "./testbed.ts";

const root = process.getuid?.() === 0;
const ADDR = { [ID.n1]: "198.18.0.1", [ID.n2]: "198.18.0.2" };

describe("routing mesh on the kernel", {
  skip: root ? false : "needs root (creates network namespaces)",
}, () => {
  const prefix = `t-mesh-${randomBytes(3).toString("hex")}-`;
  const hosts = { [ID.n1]: `${prefix}h1`, [ID.n2]: `${prefix}h2` };
  const scope = (nodeId: string): Scope => ({
    hostNs: hosts[nodeId]!,
    prefix: `${hosts[nodeId]}-`,
  });
  const sb = (nodeId: string, owner: string) => `${scope(nodeId).prefix}sb-${owner.slice(0, 12)}`;
  let cluster: Cluster = meshScenario();
  const stops: (() => void)[] = [];

  const desired = (nodeId: string) =>
    render(viewOf(cluster, nodeId), { gwAddresses: MESH_GW, ...scope(nodeId) });

  async function sync(nodeId: string): Promise<Plan> {
    const plan = diff(await observe(scope(nodeId)), desired(nodeId));
    await apply(plan);
    return plan;
  }

  async function pending(nodeId: string): Promise<string> {
    return describePlan(diff(await observe(scope(nodeId)), desired(nodeId)));
  }

  before(async () => {
    await makeHosts(prefix);
  });

  after(async () => {
    for (const stop of stops) stop();
    try {
      for (const n of [ID.n1, ID.n2]) await cleanup(scope(n));
    } finally {
      await removeNamespaces(prefix);
    }
    assert.deepEqual(await namespacesStartingWith(prefix), []);
  });

  it("builds both nodes, reads back rules, tables and rp_filter, and a second apply has nothing to do", async () => {
    await sync(ID.n1);
    await sync(ID.n2);
    assert.equal(await pending(ID.n1), "");
    assert.equal(await pending(ID.n2), "");
    const seen = (await observe(scope(ID.n1))).namespaces.find(
      (n) => n.name === sb(ID.n1, MESH.t1),
    )!;
    assert.deepEqual(seen.rules, [
      { priority: 100, fwmark: 2, table: 1002 },
      { priority: 100, fwmark: 3, table: 1003 },
    ]);
    assert.deepEqual(
      seen.routes.filter((r) => r.table !== undefined),
      [
        { dst: "default", via: "10.255.0.2", dev: "eth0", table: 1002 },
        { dst: "default", via: "10.255.0.3", dev: "eth0", table: 1003 },
      ],
    );
    assert.equal(seen.rpFilter, 2);
    const ingress = (await observe(scope(ID.n1))).namespaces.find(
      (n) => n.name === sb(ID.n1, "ingress"),
    )!;
    assert.deepEqual(
      ingress.nft?.chains.map((c) => c.name),
      ["prerouting", "pub-tcp-8080", "pub-udp-8080"],
      "no masquerade in the ingress sandbox",
    );
  });

  it("reaches both tasks through either node, which see the client's address and answer from the address asked", async () => {
    stops.push(await startWhoServer(sb(ID.n1, MESH.t1), "t1", 80));
    stops.push(await startWhoServer(sb(ID.n2, MESH.t2), "t2", 80));
    for (const [client, through] of [
      [ID.n2, ID.n1],
      [ID.n1, ID.n2],
    ] as const) {
      for (const kind of ["tcp", "udp"] as const) {
        const seen = new Set<string>();
        // Random picks: 40 tries miss a task with probability 2^-39.
        for (let i = 0; i < 40 && seen.size < 2; i++) {
          const answer = await whoAnswers(hosts[client]!, kind, ADDR[through]!, 8080);
          assert.match(answer, /^t[12] /, `${kind} from ${client} through ${through}`);
          const [task, from] = answer.split(" ");
          assert.equal(from, ADDR[client], `${kind} ${task} through ${through} sees the client`);
          seen.add(task!);
        }
        assert.deepEqual([...seen].sort(), ["t1", "t2"], `${kind} through ${through}`);
      }
    }
  });

  it("repairs a deleted rule, a deleted route and a strict rp_filter", async () => {
    const t1 = sb(ID.n1, MESH.t1);
    await run(["ip", "-n", t1, "rule", "del", "priority", "100", "fwmark", "0x3", "table", "1003"]);
    await run(["ip", "-n", t1, "route", "del", "default", "table", "1002"]);
    await run(inNs(t1, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter"]));
    const drift = await pending(ID.n1);
    assert.match(drift, /ensureRule: \S+ priority 100 fwmark 3 lookup 1003 missing/);
    assert.match(drift, /ensureRoute: \S+ default via 10\.255\.0\.2 dev eth0 table 1002/);
    assert.match(drift, /ensureRpFilter: net\.ipv4\.conf\.all\.rp_filter=2/);
    await sync(ID.n1);
    assert.equal(await pending(ID.n1), "");
    assert.match(await whoAnswers(hosts[ID.n2]!, "udp", ADDR[ID.n1]!, 8080), / 198\.18\.0\.2$/);
  });

  it("removes the rules, tables and chains when nothing is published any more", async () => {
    cluster = { ...cluster, services: [] };
    await sync(ID.n1);
    await sync(ID.n2);
    assert.equal(await pending(ID.n1), "");
    const t1 = (await observe(scope(ID.n1))).namespaces.find((n) => n.name === sb(ID.n1, MESH.t1))!;
    assert.deepEqual(t1.rules, []);
    assert.deepEqual(
      t1.routes.filter((r) => r.table !== undefined),
      [],
    );
    assert.equal(t1.nft, undefined);
    assert.deepEqual(await namespacesStartingWith(scope(ID.n1).prefix), [
      `${scope(ID.n1).prefix}net-${MESH.ingress.slice(0, 12)}`,
      t1.name,
    ]);
  });
});
