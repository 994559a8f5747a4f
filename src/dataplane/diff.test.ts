import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diff } from "./diff.ts";
import { GW, ID, overlay, scenario, task, viewOf } from "./fixtures.ts";
import { emptyState, type KernelState, type Link, type Namespace } from "./kernel-state.ts";
import { gatewayPeerName, overlayPeerName } from "./names.ts";
import { PHASES, type Plan, type Step } from "./plan.ts";
import { render } from "./render.ts";

const desired = (): KernelState => render(viewOf(scenario(), ID.n1), { gwAddresses: GW });
const kinds = (p: Plan) => p.steps.map((s) => s.kind);
const count = (p: Plan, kind: Step["kind"]) => p.steps.filter((s) => s.kind === kind).length;
const clone = (s: KernelState): KernelState => structuredClone(s);
const nsOf = (s: KernelState, name: string): Namespace =>
  s.namespaces.find((n) => n.name === name)!;
const linkOf = (n: Namespace, name: string): Link => n.links.find((l) => l.name === name)!;

describe("diff", () => {
  it("is empty between a state and itself", () => {
    const s = desired();
    assert.deepEqual(diff(s, clone(s)), { steps: [] });
    assert.deepEqual(diff(emptyState(""), emptyState("")), { steps: [] });
  });

  it("builds everything from nothing, in phase order", () => {
    const plan = diff(emptyState(""), desired());
    const order = plan.steps.map((s) => PHASES.indexOf(s.phase));
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
    );
    assert.equal(count(plan, "ns-add"), 5);
    // br0 + vxlan0 per network, one veth pair per attachment (4), one per gateway leg (2), the gwbridge
    assert.equal(count(plan, "link-add"), 2 * 2 + 4 + 2 + 1);
    const vxlan = plan.steps.find((s) => s.kind === "link-add" && s.link.kind === "vxlan");
    assert.ok(vxlan && vxlan.kind === "link-add" && vxlan.link.vxlan?.underlay === "");
    // veth pairs are created once, from the bridge-port end
    for (const s of plan.steps) {
      if (s.kind === "link-add" && s.link.kind === "veth") assert.ok(s.link.master, s.reason);
    }
    assert.equal(count(plan, "fdb-replace"), 2); // b on ov1, d on ov2: the remote ones only
    assert.equal(count(plan, "neigh-replace"), 2);
    assert.equal(count(plan, "route-replace"), 2); // a and e; c is internal-only
    // On in the host namespace, off in each of the 3 sandboxes (tasks never route).
    assert.equal(count(plan, "forwarding"), 4);
    assert.deepEqual(
      plan.steps
        .filter((s) => s.phase === "firewall" && s.kind !== "forwarding")
        .map((s) => s.kind),
      ["nft-table-add", "nft-chain-add", "nft-chain-add", "nft-chain-rules", "nft-chain-rules"],
    );
    assert.equal(plan.steps.filter((s) => s.phase.startsWith("remove")).length, 0);
    for (const s of plan.steps) assert.match(s.reason, /^ensure\w+: /);
  });

  it("configures devices before they come up, and routes after", () => {
    const plan = diff(emptyState(""), desired());
    const sb = plan.steps.filter((s) => s.phase === "configure" && s.ns === "sn-sb-taskaaaaaaaa");
    assert.deepEqual(
      sb.map((s) => s.kind),
      [
        "link-mtu",
        "link-mac",
        "addr-add",
        "addr-add",
        "link-up",
        "link-up",
        "link-up",
        "route-replace",
      ],
    );
  });

  it("removes everything, each veth pair and VXLAN device once, before its namespace", () => {
    const plan = diff(desired(), emptyState(""));
    assert.equal(count(plan, "ns-del"), 5);
    const dels = plan.steps.filter((s) => s.kind === "link-del");
    // 2 VXLAN devices, 4 overlay veth pairs, 2 gateway legs, the gateway bridge
    assert.equal(dels.length, 2 + 4 + 2 + 1);
    assert.ok(dels.every((s) => s.phase === "remove-links"));
    assert.equal(count(plan, "nft-table-del"), 1);
    assert.equal(count(plan, "fdb-del") + count(plan, "neigh-del") + count(plan, "route-del"), 0);
    assert.equal(count(plan, "forwarding"), 0); // ip_forward is never turned back off
  });

  it("drops FDB and neighbour entries of an endpoint that left", () => {
    const c = scenario();
    const before = render(viewOf(c, ID.n1), { gwAddresses: GW });
    c.tasks = c.tasks.filter((t) => t.id !== ID.b);
    const plan = diff(before, render(viewOf(c, ID.n1), { gwAddresses: GW }));
    assert.deepEqual(kinds(plan), ["neigh-del", "fdb-del"]);
    assert.ok(
      plan.steps.every((s) => s.ns === "sn-net-ov1aaaaaaaaa" && s.phase === "remove-entries"),
    );
  });

  it("removes a sandbox and its network when the last local endpoint leaves", () => {
    const c = scenario();
    const before = render(viewOf(c, ID.n2), { gwAddresses: GW });
    c.tasks = c.tasks.filter((t) => t.id !== ID.b);
    const plan = diff(before, render(viewOf(c, ID.n2), { gwAddresses: GW }));
    assert.deepEqual(
      plan.steps.filter((s) => s.kind === "ns-del").map((s) => s.ns),
      ["sn-net-ov1aaaaaaaaa", "sn-sb-taskbbbbbbbb"],
    );
    // d (ov2, internal) still lives; nothing needs a gateway bridge any more
    assert.deepEqual(
      plan.steps.filter((s) => s.kind === "link-del").map((s) => [s.ns, s.name]),
      [
        ["sn-net-ov1aaaaaaaaa", overlayPeerName(ID.b, ID.ov1)],
        ["sn-net-ov1aaaaaaaaa", "vxlan0"],
        ["sn-sb-taskbbbbbbbb", "gw0"], // its eth0 went with the peer above
        ["", "docker_gwbridge"],
      ],
    );
    assert.equal(count(plan, "nft-table-del"), 1);
  });

  it("deletes a removed network first when its VNI is reused by a new one", () => {
    const c = scenario();
    const before = render(viewOf(c, ID.n1), { gwAddresses: GW });
    // ov2 removed (with its tasks), ov3 created with ov2's VNI
    c.networks = [c.networks[0]!, overlay("ov3ccccccccccccccccccccc", "10.0.3.0/24", 4098)];
    c.tasks = c.tasks
      .filter((t) => t.id !== ID.c && t.id !== ID.d && t.id !== ID.e)
      .concat(task(ID.c, ID.n1, [["ov3ccccccccccccccccccccc", "10.0.3.2/24"]]));
    const plan = diff(before, render(viewOf(c, ID.n1), { gwAddresses: GW }));
    const old = "sn-net-ov2bbbbbbbbb";
    const prune = plan.steps
      .filter((s) => s.phase === "prune")
      .map((s) => s.kind === "link-del" && [s.ns, s.name]);
    assert.deepEqual(prune, [
      ["sn-sb-taskcccccccc", "eth0"], // c moves to ov3: re-created (takes its ov2 peer along)
      [old, "vxlan0"], // before ov3's vxlan0 with the same VNI is created
    ]);
    assert.match(plan.steps[1]!.reason, /VNI is reused/);
    assert.equal(
      plan.steps.find((s) => s.kind === "ns-del" && s.ns === old)?.phase,
      "remove-namespaces",
    );
  });

  it("moves a remote endpoint to its new node in place", () => {
    const s = desired();
    const obs = clone(s);
    nsOf(obs, "sn-net-ov1aaaaaaaaa").fdb[0]!.dst = "198.18.0.9";
    assert.deepEqual(kinds(diff(obs, s)), ["fdb-replace"]);
  });

  it("re-creates a VXLAN device whose VNI differs, and re-adds its entries", () => {
    const s = desired();
    const obs = clone(s);
    linkOf(nsOf(obs, "sn-net-ov1aaaaaaaaa"), "vxlan0").vxlan!.vni = 5000;
    const plan = diff(obs, s);
    assert.deepEqual(kinds(plan), [
      "link-del",
      "link-add",
      "link-mtu",
      "link-master",
      "link-up",
      "neigh-replace",
      "fdb-replace",
    ]);
    assert.equal(plan.steps[0]?.phase, "prune");
    assert.match(plan.steps[0]!.reason, /vni 5000, want 4097/);
  });

  it("re-creates a veth pair whose peer is not the wanted one", () => {
    const s = desired();
    const obs = clone(s);
    // eth0 of a observed on ov2's bridge instead of ov1's
    const wrongPeer = { ns: "sn-net-ov2bbbbbbbbb", name: overlayPeerName(ID.a, ID.ov2) };
    linkOf(nsOf(obs, "sn-sb-taskaaaaaaaa"), "eth0").peer = wrongPeer;
    nsOf(obs, "sn-net-ov1aaaaaaaaa").links = nsOf(obs, "sn-net-ov1aaaaaaaaa").links.filter(
      (l) => l.name !== overlayPeerName(ID.a, ID.ov1),
    );
    nsOf(obs, "sn-net-ov2bbbbbbbbb").links.push({
      name: wrongPeer.name,
      kind: "veth",
      mtu: 1400,
      up: true,
      master: "br0",
      peer: { ns: "sn-sb-taskaaaaaaaa", name: "eth0" },
    });
    const plan = diff(obs, s);
    const dels = plan.steps.filter((st) => st.kind === "link-del");
    assert.equal(dels.length, 1, "one delete takes both ends");
    assert.equal(dels[0]?.phase, "prune");
    const add = plan.steps.find((st) => st.kind === "link-add");
    assert.ok(add?.kind === "link-add" && add.link.name === overlayPeerName(ID.a, ID.ov1));
    assert.ok(plan.steps.some((st) => st.kind === "addr-add" && st.ns === "sn-sb-taskaaaaaaaa"));
  });

  it("changes an MTU in place", () => {
    const s = desired();
    const obs = clone(s);
    linkOf(nsOf(obs, "sn-net-ov1aaaaaaaaa"), "br0").mtu = 1500;
    assert.deepEqual(kinds(diff(obs, s)), ["link-mtu"]);
  });

  it("takes a MAC change on a running device down first and up again", () => {
    const s = desired();
    const obs = clone(s);
    linkOf(nsOf(obs, "sn-sb-taskaaaaaaaa"), "eth0").mac = "02:00:00:00:00:01";
    const plan = diff(obs, s);
    assert.deepEqual(kinds(plan), ["link-mac", "link-up"]);
    assert.ok(plan.steps[0]?.kind === "link-mac" && plan.steps[0].down);
  });

  it("removes strays in its namespaces but leaves a docker_gwbridge it did not make", () => {
    const s = desired();
    const obs = clone(s);
    nsOf(obs, "sn-sb-taskaaaaaaaa").links.push({ name: "tap9", kind: "other", up: false });
    nsOf(obs, "sn-sb-taskaaaaaaaa").routes.push({
      dst: "10.9.0.0/16",
      via: "172.18.0.1",
      dev: "gw0",
    });
    assert.deepEqual(kinds(diff(obs, s)), ["route-del", "link-del"]);

    const foreign = clone(s);
    delete foreign.host.links[0]!.alias;
    const empty = emptyState("");
    assert.ok(
      !diff(foreign, empty).steps.some(
        (st) => st.kind === "link-del" && st.name === "docker_gwbridge",
      ),
    );
    assert.ok(
      diff(s, empty).steps.some((st) => st.kind === "link-del" && st.name === "docker_gwbridge"),
    );
  });

  it("rewrites only the nft chain whose rules differ", () => {
    const s = desired();
    const obs = clone(s);
    obs.host.nft!.chains[0]!.rules.pop();
    const plan = diff(obs, s);
    assert.deepEqual(kinds(plan), ["nft-chain-rules"]);
    assert.ok(plan.steps[0]?.kind === "nft-chain-rules" && plan.steps[0].chain.name === "forward");
  });

  it("turns forwarding on when needed", () => {
    const s = desired();
    const obs = clone(s);
    obs.host.forwarding = false;
    assert.deepEqual(kinds(diff(obs, s)), ["forwarding"]);
  });

  it("re-creates a gateway leg whose host end is gone", () => {
    const s = desired();
    const obs = clone(s);
    const g = gatewayPeerName(ID.a);
    obs.host.links = obs.host.links.filter((l) => l.name !== g);
    delete linkOf(nsOf(obs, "sn-sb-taskaaaaaaaa"), "gw0").peer;
    const plan = diff(obs, s);
    // each namespace's steps, in the order its batch runs them
    const of = (ns: string) =>
      plan.steps.filter((st) => st.ns === ns).map((st) => [st.phase, st.kind]);
    assert.deepEqual(of(""), [
      ["create-links", "link-add"],
      ["configure", "link-master"],
      ["configure", "link-isolated"],
      ["configure", "link-up"],
    ]);
    assert.deepEqual(of("sn-sb-taskaaaaaaaa"), [
      ["prune", "link-del"],
      ["configure", "addr-add"],
      ["configure", "link-up"],
      ["configure", "route-replace"],
    ]);
  });

  it("keys routes by table, rules by all they hold, and sets rp_filter only when wanted", () => {
    const want = clone(desired());
    const sb = nsOf(want, "sn-sb-taskaaaaaaaa");
    sb.routes.push({ dst: "default", via: "10.0.1.9", dev: "eth0", table: 1009 });
    sb.rules.push({ priority: 100, fwmark: 9, table: 1009 });
    sb.rpFilter = 2;
    const have = clone(want);
    const h = nsOf(have, "sn-sb-taskaaaaaaaa");
    h.rpFilter = 1;
    // The same rule pointing elsewhere, a stray, and the table's route on another gateway.
    h.rules = [
      { priority: 100, fwmark: 9, table: 1010 },
      { priority: 7, table: 254 },
    ];
    h.routes = h.routes.map((r) => (r.table === 1009 ? { ...r, via: "10.0.1.8" } : r));
    for (const n of have.namespaces) if (n.rpFilter === undefined) n.rpFilter = 0;
    const plan = diff(have, want);
    assert.deepEqual(
      plan.steps.map((s) => `${s.phase} ${s.reason}`),
      [
        "configure ensureRoute: sn-sb-taskaaaaaaaa default via 10.0.1.9 dev eth0 table 1009",
        "configure ensureRule: sn-sb-taskaaaaaaaa priority 100 fwmark 9 lookup 1009 missing",
        "firewall ensureRpFilter: net.ipv4.conf.all.rp_filter=2 in sn-sb-taskaaaaaaaa",
        "remove-entries ensureNoRule: sn-sb-taskaaaaaaaa priority 100 fwmark 9 lookup 1010 not wanted",
        "remove-entries ensureNoRule: sn-sb-taskaaaaaaaa priority 7 lookup 254 not wanted",
      ],
    );
    // The table's route goes with its device, like the main table's.
    const gone = clone(want);
    const g = nsOf(gone, "sn-sb-taskaaaaaaaa");
    g.links = g.links.filter((l) => l.name !== "eth0");
    g.routes = g.routes.filter((r) => r.dev !== "eth0");
    assert.ok(
      !diff(want, gone).steps.some((s) => s.kind === "route-del"),
      "no route-del for a device that goes",
    );
  });
});
