// The manager against the real embedded store in a temp dir: allocation
// rules, persistence across restart, and "bad input changes nothing".
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { isSwarmnetError } from "../core/errors.ts";
import { openEmbeddedStore } from "../store/embedded.ts";
import type { Store } from "../store/store.ts";
import { type InitOptions, Manager } from "./manager.ts";
import { registerNode, reportTaskStatus } from "./node-ops.ts";
import { KEY_PREFIX } from "./state.ts";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function fresh(
  opts: InitOptions = {},
): Promise<{ manager: Manager; store: Store; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "swarmnet-manager-"));
  dirs.push(dir);
  const store = await openEmbeddedStore(dir);
  const manager = new Manager(store);
  await manager.load();
  await manager.init({ hostname: "node1", ...opts });
  return { manager, store, dir };
}

async function snapshot(store: Store): Promise<string> {
  const { kvs, revision } = await store.range(KEY_PREFIX);
  return JSON.stringify({ revision, kvs: kvs.map((kv) => [kv.key, kv.value]) });
}

const subnetOf = (m: Manager, name: string) =>
  m.state.list("networks").find((n) => n.name === name)!.ipam[0]!.subnet;

describe("network allocation", () => {
  it("follows Docker's order: ingress first, then user overlays, reusing freed subnets", async () => {
    const { manager } = await fresh();
    assert.equal(subnetOf(manager, "ingress"), "10.0.0.0/24");
    assert.equal(manager.state.list("networks").find((n) => n.ingress)!.vni, 4096);
    const ov1 = await manager.createNetwork({ name: "ov1", attachable: true });
    assert.equal(ov1.ipam[0]!.subnet, "10.0.1.0/24");
    assert.equal(ov1.ipam[0]!.gateway, "10.0.1.1");
    assert.equal((await manager.createNetwork({ name: "ov2" })).ipam[0]!.subnet, "10.0.2.0/24");
    await manager.removeNetwork("ov1");
    const ov3 = await manager.createNetwork({ name: "ov3" });
    assert.equal(ov3.ipam[0]!.subnet, "10.0.1.0/24");
    assert.equal(ov3.vni, ov1.vni, "the freed VXLAN id is reused");
  });

  it("carves custom default pools with the given mask length", async () => {
    const { manager } = await fresh({ defaultAddrPool: ["192.168.0.0/16"], subnetSize: 26 });
    assert.equal(subnetOf(manager, "ingress"), "192.168.0.0/26");
    assert.equal((await manager.createNetwork({ name: "a" })).ipam[0]!.subnet, "192.168.0.64/26");
  });

  it("names the network and the pools when the pools run out", async () => {
    const { manager } = await fresh({ defaultAddrPool: ["10.99.0.0/23"], subnetSize: 24 });
    await manager.createNetwork({ name: "ov1" });
    await assert.rejects(
      manager.createNetwork({ name: "ov2" }),
      /could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network ov2 \(every \/24 of 10\.99\.0\.0\/23 is in use\)/,
    );
  });

  it("skips subnets users chose and refuses overlaps", async () => {
    const { manager } = await fresh();
    await manager.createNetwork({ name: "mine", ipam: [{ subnet: "10.0.1.0/24" }] });
    assert.equal((await manager.createNetwork({ name: "next" })).ipam[0]!.subnet, "10.0.2.0/24");
    await assert.rejects(
      manager.createNetwork({ name: "clash", ipam: [{ subnet: "10.0.0.128/25" }] }),
      /overlaps/,
    );
  });

  it("never hands out network, gateway, broadcast or aux addresses", async () => {
    const { manager } = await fresh();
    await manager.createNetwork({
      name: "tiny",
      ipam: [{ subnet: "10.9.0.0/29", gateway: "10.9.0.6", auxAddresses: { router: "10.9.0.1" } }],
    });
    // /29: 8 addresses - network - broadcast - gateway - aux = 4 usable; the service VIP takes one.
    const svc = await manager.createService({
      name: "s",
      mode: { replicated: { replicas: 3 } },
      networks: ["tiny"],
    });
    const used = [
      ...svc.endpoint.virtualIps.map((v) => v.addr),
      ...manager.state.tasksOf(svc.id).flatMap((t) => t.networks.flatMap((n) => n.addresses)),
    ].map((a) => a.split("/")[0]);
    assert.deepEqual(new Set(used).size, 4);
    for (const bad of ["10.9.0.0", "10.9.0.7", "10.9.0.6", "10.9.0.1"])
      assert.ok(!used.includes(bad), bad);
    await assert.rejects(
      manager.createService({ name: "t", networks: ["tiny"] }),
      (err) =>
        isSwarmnetError(err, "INVALID_ARGUMENT") &&
        /tiny/.test(err.message) &&
        /10\.9\.0\.0\/29/.test(err.message),
    );
  });
});

describe("bad input changes nothing", () => {
  let manager: Manager;
  let store: Store;
  before(async () => {
    ({ manager, store } = await fresh());
    await manager.createNetwork({ name: "ov1" });
    await manager.createService({
      name: "web",
      networks: ["ov1"],
      endpoint: { ports: [{ targetPort: 80, publishedPort: 8080 }] },
    });
  });

  const cases: [string, () => Promise<unknown>][] = [
    [
      "invalid CIDR",
      () => manager.createNetwork({ name: "x", ipam: [{ subnet: "10.0.300.0/24" }] }),
    ],
    [
      "gateway outside",
      () =>
        manager.createNetwork({
          name: "x",
          ipam: [{ subnet: "10.5.0.0/24", gateway: "10.6.0.1" }],
        }),
    ],
    ["overlap", () => manager.createNetwork({ name: "x", ipam: [{ subnet: "10.0.1.0/24" }] })],
    ["unknown driver", () => manager.createNetwork({ name: "x", driver: "foo" })],
    ["unknown option", () => manager.createNetwork({ name: "x", options: { foo: "bar" } })],
    ["duplicate network", () => manager.createNetwork({ name: "ov1" })],
    ["second ingress", () => manager.createNetwork({ name: "in2", ingress: true })],
    ["duplicate service", () => manager.createService({ name: "web" })],
    [
      "negative replicas",
      () => manager.createService({ name: "x", mode: { replicated: { replicas: -1 } } }),
    ],
    [
      "port out of range",
      () => manager.createService({ name: "x", endpoint: { ports: [{ targetPort: 70000 }] } }),
    ],
    ["unknown network", () => manager.createService({ name: "x", networks: ["nope"] })],
    [
      "bad constraint",
      () => manager.createService({ name: "x", placement: { constraints: ["node.hostname"] } }),
    ],
    [
      "port in use",
      () =>
        manager.createService({
          name: "x",
          endpoint: { ports: [{ targetPort: 80, publishedPort: 8080 }] },
        }),
    ],
    [
      "dnsrr + ingress port",
      () =>
        manager.createService({
          name: "x",
          endpoint: { mode: "dnsrr", ports: [{ targetPort: 80 }] },
        }),
    ],
    ["network in use", () => manager.removeNetwork("ov1")],
    ["ingress in use", () => manager.removeNetwork("ingress")],
    ["predefined network", () => manager.removeNetwork("docker_gwbridge")],
    ["stale update", () => manager.updateService("web", 0, { name: "web" })],
    ["unknown service", () => manager.removeService("nope")],
  ];
  for (const [name, op] of cases) {
    it(name, async () => {
      const before = await snapshot(store);
      const vipsBefore = manager.addressesInUse(
        manager.state.list("networks").find((n) => n.name === "ov1")!.id,
      );
      await assert.rejects(op(), (err) => isSwarmnetError(err) && err.message.length > 0);
      assert.equal(await snapshot(store), before);
      assert.equal(
        manager.addressesInUse(manager.state.list("networks").find((n) => n.name === "ov1")!.id),
        vipsBefore,
      );
    });
  }
});

describe("persistence", () => {
  it("survives a restart, allocator included", async () => {
    const { manager, store, dir } = await fresh();
    await manager.createNetwork({ name: "ov1" });
    const web = await manager.createService({
      name: "web",
      mode: { replicated: { replicas: 3 } },
      networks: ["ov1"],
    });
    const before = await snapshot(store);
    await store.close();
    const store2 = await openEmbeddedStore(dir);
    const m2 = new Manager(store2);
    await m2.load();
    assert.equal(await snapshot(store2), before);
    assert.ok(m2.initialized);
    const api = await m2.createService({
      name: "api",
      mode: { replicated: { replicas: 3 } },
      networks: ["ov1"],
    });
    const addrs = (m: Manager, ids: string[]) =>
      ids.flatMap((id) => [
        ...m.state.get("services", id)!.endpoint.virtualIps.map((v) => v.addr),
        ...m.state.tasksOf(id).flatMap((t) => t.networks.flatMap((n) => n.addresses)),
      ]);
    const all = addrs(m2, [web.id, api.id]);
    assert.equal(new Set(all).size, all.length, "no address handed out twice after restart");
    assert.equal((await m2.createNetwork({ name: "ov2" })).ipam[0]!.subnet, "10.0.2.0/24");
    await store2.close();
  });
});

describe("orchestration", () => {
  it("scales up and down, freeing addresses", async () => {
    const { manager } = await fresh();
    const net = await manager.createNetwork({ name: "ov1" });
    let svc = await manager.createService({
      name: "web",
      mode: { replicated: { replicas: 3 } },
      networks: ["ov1"],
    });
    assert.deepEqual(
      manager.state.tasksOf(svc.id).map((t) => t.slot),
      [1, 2, 3],
    );
    assert.ok(manager.state.tasksOf(svc.id).every((t) => t.status.state === "assigned"));
    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      mode: { replicated: { replicas: 10 } },
    });
    assert.equal(manager.state.tasksOf(svc.id).length, 10);
    assert.equal(manager.addressesInUse(net.id), 11);
    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      mode: { replicated: { replicas: 2 } },
    });
    assert.deepEqual(
      manager.state.tasksOf(svc.id).map((t) => t.slot),
      [1, 2],
    );
    assert.equal(manager.addressesInUse(net.id), 3);
    await manager.removeService("web");
    assert.equal(manager.addressesInUse(net.id), 0);
    assert.equal(manager.state.list("tasks").length, 0);
    await manager.removeNetwork("ov1");
  });

  it("gives a global service one task per eligible node", async () => {
    const { manager } = await fresh();
    const svc = await manager.createService({ name: "agent", mode: { global: {} } });
    assert.equal(manager.state.tasksOf(svc.id).length, 1);
    assert.equal(manager.state.tasksOf(svc.id)[0]!.nodeId, manager.selfNodeId);
  });

  it("leaves tasks pending with Docker's reason when no node fits", async () => {
    const { manager } = await fresh();
    const svc = await manager.createService({
      name: "web",
      mode: { replicated: { replicas: 2 } },
      placement: { constraints: ["node.hostname==elsewhere"] },
    });
    for (const t of manager.state.tasksOf(svc.id)) {
      assert.equal(t.status.state, "pending");
      assert.equal(
        t.status.message,
        "no suitable node (scheduling constraints not satisfied on 1 node)",
      );
    }
  });
});

describe("allocation invariants under random operations", () => {
  it("no two live endpoints share an address, and removing everything frees everything", async () => {
    const { manager } = await fresh();
    const nets = [
      await manager.createNetwork({ name: "a", ipam: [{ subnet: "10.20.0.0/27" }] }),
      await manager.createNetwork({ name: "b" }),
    ];
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("create" as const),
        name: fc.integer({ min: 0, max: 5 }),
        replicas: fc.integer({ min: 0, max: 12 }),
        nets: fc.subarray(["a", "b"]),
      }),
      fc.record({
        kind: fc.constant("scale" as const),
        name: fc.integer({ min: 0, max: 5 }),
        replicas: fc.integer({ min: 0, max: 12 }),
      }),
      fc.record({ kind: fc.constant("rm" as const), name: fc.integer({ min: 0, max: 5 }) }),
      fc.record({
        kind: fc.constant("renet" as const),
        name: fc.integer({ min: 0, max: 5 }),
        nets: fc.subarray(["a", "b"]),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
        for (const o of ops) {
          const name = `s${o.name}`;
          const existing = manager.state.list("services").find((s) => s.spec.name === name);
          try {
            if (o.kind === "create") {
              await manager.createService({
                name,
                mode: { replicated: { replicas: o.replicas } },
                networks: o.nets,
              });
            } else if (o.kind === "scale" && existing) {
              await manager.updateService(name, existing.version, {
                ...existing.spec,
                mode: { replicated: { replicas: o.replicas } },
              });
            } else if (o.kind === "renet" && existing) {
              // Attachments change in place: the tasks stay, their addresses follow.
              await manager.updateService(name, existing.version, {
                ...existing.spec,
                networks: o.nets,
              });
            } else if (o.kind === "rm" && existing) {
              await manager.removeService(name);
            }
          } catch (err) {
            // Exhausting the small network or reusing a name are expected refusals.
            if (!isSwarmnetError(err)) throw err;
          }
          for (const net of nets) {
            const addrs = [
              ...manager.state
                .list("services")
                .flatMap((s) =>
                  s.endpoint.virtualIps.filter((v) => v.networkId === net.id).map((v) => v.addr),
                ),
              ...manager.state
                .list("tasks")
                .flatMap((t) =>
                  t.networks.filter((n) => n.networkId === net.id).flatMap((n) => n.addresses),
                ),
            ];
            assert.equal(new Set(addrs).size, addrs.length, "duplicate address");
            assert.equal(
              manager.addressesInUse(net.id),
              addrs.length,
              "allocator and state disagree",
            );
          }
        }
        for (const s of manager.state.list("services")) await manager.removeService(s.id);
        for (const net of nets)
          assert.equal(manager.addressesInUse(net.id), 0, "leak after removing everything");
      }),
      { numRuns: 40 },
    );
  });
});

describe("init", () => {
  it("refuses bad options and a second init, changing nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "swarmnet-manager-"));
    dirs.push(dir);
    const store = await openEmbeddedStore(dir);
    const m = new Manager(store);
    await m.load();
    for (const bad of [
      { defaultAddrPool: ["10.0.0.0/33"] },
      { defaultAddrPool: "10.0.0.0/8" },
      { defaultAddrPool: ["10.0.0.0/8", "10.1.0.0/16"] },
      { subnetSize: 4, defaultAddrPool: ["10.0.0.0/8"] },
      { dataPathPort: 80 },
      { advertiseAddr: "not-an-ip" },
    ]) {
      await assert.rejects(m.init(bad as never), (err) => isSwarmnetError(err, "INVALID_ARGUMENT"));
      assert.equal(m.initialized, false);
      assert.equal((await store.range(KEY_PREFIX)).kvs.length, 0);
    }
    await m.init({});
    await assert.rejects(m.init({}), /already part of a swarm/);
    await store.close();
  });
});

describe("routing-mesh address per node (ingress-sbox)", () => {
  const join = (m: Manager, hostname: string) =>
    registerNode(m, { hostname, role: "worker", advertiseAddr: "192.0.2.9", dataPathAddr: "" });
  const ingressOf = (m: Manager) => m.state.list("networks").find((n) => n.ingress)!;

  it("gives the first node and every joining node one; node rm releases it", async () => {
    const { manager } = await fresh();
    assert.equal(manager.node(manager.selfNodeId).ingressAddr, "10.0.0.2/24");
    const w1 = await join(manager, "w1");
    const w2 = await join(manager, "w2");
    assert.equal(w1.ingressAddr, "10.0.0.3/24");
    assert.equal(w2.ingressAddr, "10.0.0.4/24");
    assert.equal(manager.addressesInUse(ingressOf(manager).id), 3);
    await manager.removeNode("w1", true);
    assert.equal(manager.addressesInUse(ingressOf(manager).id), 2);
    // Tasks on ingress never take a node's address.
    const svc = await manager.createService({
      name: "web",
      mode: { replicated: { replicas: 3 } },
      endpoint: { ports: [{ targetPort: 80 }] },
    });
    const taken = [
      ...manager.state.list("nodes").map((n) => n.ingressAddr),
      ...svc.endpoint.virtualIps.map((v) => v.addr),
      ...manager.state.tasksOf(svc.id).flatMap((t) => t.networks.flatMap((n) => n.addresses)),
    ];
    assert.equal(new Set(taken).size, taken.length);
    assert.equal(manager.addressesInUse(ingressOf(manager).id), taken.length);
  });

  it("follows the ingress network: removed with it, given anew by network create --ingress", async () => {
    const { manager } = await fresh();
    await join(manager, "w1");
    await manager.removeNetwork("ingress");
    assert.ok(manager.state.list("nodes").every((n) => n.ingressAddr === undefined));
    const w2 = await join(manager, "w2");
    assert.equal(w2.ingressAddr, undefined, "no ingress network, no address");
    const ing = await manager.createNetwork({
      name: "mesh",
      ingress: true,
      ipam: [{ subnet: "10.77.0.0/24" }],
    });
    const addrs = manager.state
      .list("nodes")
      .map((n) => n.ingressAddr)
      .sort();
    assert.deepEqual(addrs, ["10.77.0.2/24", "10.77.0.3/24", "10.77.0.4/24"]);
    assert.equal(manager.addressesInUse(ing.id), 3);
  });

  it("refuses an ingress network too small for the nodes, changing nothing", async () => {
    const { manager, store } = await fresh();
    await join(manager, "w1");
    await join(manager, "w2");
    await manager.removeNetwork("ingress");
    const before = await snapshot(store);
    // A /30 has two usable addresses, one of them the gateway: one node fits, three do not.
    await assert.rejects(
      manager.createNetwork({ name: "mesh", ingress: true, ipam: [{ subnet: "10.77.0.0/30" }] }),
      (err) => isSwarmnetError(err, "INVALID_ARGUMENT") && /mesh/.test(err.message),
    );
    assert.equal(await snapshot(store), before);
    assert.ok(manager.state.list("nodes").every((n) => n.ingressAddr === undefined));
  });

  it("survives a restart: kept, never handed out twice", async () => {
    const { manager, store, dir } = await fresh();
    await join(manager, "w1");
    const addrs = (m: Manager) =>
      m.state
        .list("nodes")
        .map((n) => n.ingressAddr)
        .sort();
    const before = addrs(manager);
    await store.close();
    const store2 = await openEmbeddedStore(dir);
    const m2 = new Manager(store2);
    await m2.load();
    assert.deepEqual(addrs(m2), before);
    const w2 = await join(m2, "w2");
    assert.equal(w2.ingressAddr, "10.0.0.4/24");
    assert.equal(m2.addressesInUse(ingressOf(m2).id), 3);
    await store2.close();
  });
});

describe("service update in place", () => {
  const ids = (m: Manager, svc: { id: string }) => m.state.tasksOf(svc.id).map((t) => t.id);
  const netsOf = (m: Manager, svc: { id: string }) =>
    m.state.tasksOf(svc.id).map((t) => t.networks.map((n) => n.networkId));
  /** The agent's report: the tasks run (so a replacement must stop them, not delete them). */
  const runAll = async (m: Manager, svc: { id: string }) => {
    for (const t of m.state.tasksOf(svc.id)) {
      await reportTaskStatus(m, t.nodeId, [{ taskId: t.id, state: "running" }]);
    }
  };

  it("network add and rm keep the tasks, give and take their addresses", async () => {
    const { manager } = await fresh();
    const ov1 = await manager.createNetwork({ name: "ov1" });
    const tiny = await manager.createNetwork({ name: "tiny", ipam: [{ subnet: "10.9.0.0/29" }] });
    let svc = await manager.createService({
      name: "web",
      mode: { replicated: { replicas: 2 } },
      networks: ["ov1"],
    });
    await runAll(manager, svc);
    const before = ids(manager, svc);
    svc = manager.state.get("services", svc.id)!;
    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      networks: [...svc.spec.networks, { target: "tiny", aliases: ["w"] }],
    });
    assert.deepEqual(ids(manager, svc), before, "same tasks");
    assert.deepEqual(netsOf(manager, svc), [
      [ov1.id, tiny.id],
      [ov1.id, tiny.id],
    ]);
    for (const t of manager.state.tasksOf(svc.id)) {
      assert.equal(t.desiredState, "running");
      assert.equal(t.status.state, "running");
      assert.deepEqual(t.networks[1]!.aliases, ["w"]);
      assert.match(t.networks[1]!.addresses[0]!, /^10\.9\.0\.[2-6]\/29$/);
      assert.equal(t.serviceVersion, svc.version);
    }
    assert.equal(manager.addressesInUse(tiny.id), 3, "two tasks and the VIP");
    const ov1Addrs = manager.state.tasksOf(svc.id).map((t) => t.networks[0]!.addresses[0]);

    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      networks: [
        { target: tiny.id, aliases: ["w", "www"] },
        { target: ov1.id, aliases: [] },
      ],
    });
    assert.deepEqual(ids(manager, svc), before);
    assert.deepEqual(
      manager.state.tasksOf(svc.id).map((t) => t.networks[0]!.addresses[0]),
      ov1Addrs,
      "kept attachments keep their place and address",
    );
    assert.deepEqual(manager.state.tasksOf(svc.id)[0]!.networks[1]!.aliases, ["w", "www"]);

    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      networks: [{ target: ov1.id, aliases: [] }],
    });
    assert.deepEqual(ids(manager, svc), before);
    assert.deepEqual(netsOf(manager, svc), [[ov1.id], [ov1.id]]);
    assert.equal(manager.addressesInUse(tiny.id), 0, "released");
    // The /29's five addresses are all free again: a VIP and four tasks fit.
    const other = await manager.createService({
      name: "other",
      mode: { replicated: { replicas: 4 } },
      networks: ["tiny"],
    });
    assert.equal(manager.state.tasksOf(other.id).length, 4);
    assert.equal(manager.addressesInUse(tiny.id), 5);
  });

  it("publishing the first ingress port attaches the tasks to ingress; removing the last detaches", async () => {
    const { manager } = await fresh();
    const ingress = manager.state.list("networks").find((n) => n.ingress)!;
    const ov1 = await manager.createNetwork({ name: "ov1" });
    let svc = await manager.createService({
      name: "web",
      mode: { replicated: { replicas: 2 } },
      networks: ["ov1"],
    });
    await runAll(manager, svc);
    const before = ids(manager, svc);
    svc = manager.state.get("services", svc.id)!;
    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      endpoint: { mode: "vip", ports: [{ targetPort: 80, publishedPort: 8080 }] },
    });
    assert.deepEqual(ids(manager, svc), before);
    assert.deepEqual(netsOf(manager, svc), [
      [ingress.id, ov1.id],
      [ingress.id, ov1.id],
    ]);
    assert.ok(svc.endpoint.virtualIps.some((v) => v.networkId === ingress.id));
    // The node's own address, the VIP, two tasks.
    assert.equal(manager.addressesInUse(ingress.id), 4);

    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      endpoint: {
        mode: "vip",
        ports: [
          { targetPort: 80, publishedPort: 8080 },
          { targetPort: 81, publishedPort: 8081 },
        ],
      },
    });
    assert.deepEqual(ids(manager, svc), before, "another port: nothing to attach");

    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      endpoint: { mode: "vip", ports: [] },
    });
    assert.deepEqual(ids(manager, svc), before);
    assert.deepEqual(netsOf(manager, svc), [[ov1.id], [ov1.id]]);
    assert.equal(manager.addressesInUse(ingress.id), 1, "only the node's own address is left");
  });

  it("a change to what the task runs still replaces the tasks", async () => {
    const { manager } = await fresh();
    await manager.createNetwork({ name: "ov1" });
    let svc = await manager.createService({
      name: "web",
      mode: { replicated: { replicas: 2 } },
      networks: ["ov1"],
    });
    await runAll(manager, svc);
    const before = ids(manager, svc);
    svc = manager.state.get("services", svc.id)!;
    svc = await manager.updateService("web", svc.version, {
      ...svc.spec,
      command: ["sleep", "1000"],
    });
    const tasks = manager.state.tasksOf(svc.id);
    const old = tasks.filter((t) => before.includes(t.id));
    const fresh2 = tasks.filter((t) => !before.includes(t.id));
    assert.equal(old.length, 2);
    assert.ok(old.every((t) => t.desiredState === "shutdown"));
    assert.equal(fresh2.length, 2);
    assert.ok(
      fresh2.every((t) => t.desiredState === "running" && t.serviceVersion === svc.version),
    );
  });

  it("an update that cannot allocate changes nothing", async () => {
    const { manager, store } = await fresh();
    await manager.createNetwork({ name: "tiny", ipam: [{ subnet: "10.9.0.0/30" }] });
    const svc = await manager.createService({ name: "web", mode: { replicated: { replicas: 3 } } });
    const before = await snapshot(store);
    await assert.rejects(
      manager.updateService("web", svc.version, { ...svc.spec, networks: ["tiny"] }),
      (err) => isSwarmnetError(err, "INVALID_ARGUMENT"),
    );
    assert.equal(await snapshot(store), before);
  });
});
