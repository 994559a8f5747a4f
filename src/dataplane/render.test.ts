import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDataplaneError } from "./errors.ts";
import { GW, ID, scenario, task, viewOf } from "./fixtures.ts";
import type { KernelState, Namespace } from "./kernel-state.ts";
import { gatewayPeerName, IFNAME_MAX, macFromIp, overlayPeerName } from "./names.ts";
import { render } from "./render.ts";

const ns = (s: KernelState, name: string): Namespace => {
  const found = s.namespaces.find((n) => n.name === name);
  assert.ok(found, `namespace ${name} in ${s.namespaces.map((n) => n.name).join(", ")}`);
  return found;
};
const link = (n: Namespace, name: string) => n.links.find((l) => l.name === name);

describe("render", () => {
  const c = scenario();
  const s = render(viewOf(c, ID.n1), { gwAddresses: GW });

  it("makes a namespace per overlay network with local endpoints and per local task", () => {
    assert.deepEqual(
      s.namespaces.map((n) => [n.name, n.role]),
      [
        ["sn-net-ov1aaaaaaaaa", "network"],
        ["sn-net-ov2bbbbbbbbb", "network"],
        ["sn-sb-taskaaaaaaaa", "sandbox"],
        ["sn-sb-taskcccccccc", "sandbox"],
        ["sn-sb-taskeeeeeeee", "sandbox"],
      ],
    );
  });

  it("gives each network namespace br0 with the gateway and a proxying vxlan0", () => {
    const net = ns(s, "sn-net-ov1aaaaaaaaa");
    assert.deepEqual(link(net, "br0"), {
      name: "br0",
      kind: "bridge",
      mtu: 1450,
      up: true,
      addresses: ["10.0.1.1/24"],
    });
    assert.deepEqual(link(net, "vxlan0"), {
      name: "vxlan0",
      kind: "vxlan",
      mtu: 1450,
      up: true,
      master: "br0",
      vxlan: {
        vni: 4097,
        port: 4789,
        local: "198.18.0.1",
        underlay: "",
        learning: false,
        proxy: true,
      },
    });
    // one bridge port per local task on the network (a and e), peered with their eth
    const ports = net.links.filter((l) => l.kind === "veth");
    assert.deepEqual(
      ports.map((p) => [p.name, p.master, p.peer]).sort(),
      [
        [overlayPeerName(ID.a, ID.ov1), "br0", { ns: "sn-sb-taskaaaaaaaa", name: "eth0" }],
        [overlayPeerName(ID.e, ID.ov1), "br0", { ns: "sn-sb-taskeeeeeeee", name: "eth0" }],
      ].sort(),
    );
  });

  it("has FDB and neighbour entries only for endpoints on other nodes", () => {
    const net1 = ns(s, "sn-net-ov1aaaaaaaaa");
    assert.deepEqual(net1.fdb, [{ dev: "vxlan0", mac: "02:42:0a:00:01:03", dst: "198.18.0.2" }]);
    assert.deepEqual(net1.neigh, [{ dev: "vxlan0", ip: "10.0.1.3", mac: "02:42:0a:00:01:03" }]);
    const net2 = ns(s, "sn-net-ov2bbbbbbbbb");
    assert.deepEqual(net2.neigh, [{ dev: "vxlan0", ip: "10.0.2.3", mac: macFromIp("10.0.2.3") }]);
  });

  it("honours the MTU option on every device of the network", () => {
    const net2 = ns(s, "sn-net-ov2bbbbbbbbb");
    for (const l of net2.links) assert.equal(l.mtu, 1400, l.name);
    assert.equal(link(ns(s, "sn-sb-taskcccccccc"), "eth0")?.mtu, 1400);
  });

  it("wires a task's networks as eth0, eth1 in attachment order, with MACs from the IP", () => {
    const e = ns(s, "sn-sb-taskeeeeeeee");
    assert.deepEqual(
      e.links.map((l) => l.name),
      ["eth0", "eth1", "gw0", "lo"],
    );
    const eth1 = link(e, "eth1")!;
    assert.deepEqual(eth1.addresses, ["10.0.2.4/24"]);
    assert.equal(eth1.mac, "02:42:0a:00:02:04");
    assert.deepEqual(eth1.peer, { ns: "sn-net-ov2bbbbbbbbb", name: overlayPeerName(ID.e, ID.ov2) });
    assert.deepEqual(link(e, "lo"), { name: "lo", kind: "loopback", up: true });
  });

  it("gives a gateway leg and default route unless every network is internal", () => {
    const a = ns(s, "sn-sb-taskaaaaaaaa");
    assert.deepEqual(link(a, "gw0"), {
      name: "gw0",
      kind: "veth",
      up: true,
      addresses: ["172.18.0.2/16"],
      peer: { ns: "", name: gatewayPeerName(ID.a) },
    });
    assert.deepEqual(a.routes, [{ dst: "default", via: "172.18.0.1", dev: "gw0" }]);
    const cInternal = ns(s, "sn-sb-taskcccccccc");
    assert.equal(link(cInternal, "gw0"), undefined);
    assert.deepEqual(cInternal.routes, []);
    // e has one internal and one non-internal network: it gets a leg
    assert.ok(link(ns(s, "sn-sb-taskeeeeeeee"), "gw0"));
  });

  it("puts the gateway bridge, its isolated legs and the nft table in the host namespace", () => {
    assert.deepEqual(
      s.host.links.map((l) => [l.name, l.kind, l.master, l.isolated]),
      [
        ["docker_gwbridge", "bridge", undefined, undefined],
        ...[ID.a, ID.e]
          .map((id) => [gatewayPeerName(id), "veth", "docker_gwbridge", true])
          .sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      ],
    );
    assert.deepEqual(s.host.links[0]?.addresses, ["172.18.0.1/16"]);
    assert.equal(s.host.forwarding, true);
    assert.deepEqual(
      s.host.nft?.chains.map((ch) => [ch.name, ch.hook, ch.priority]),
      [
        ["forward", "forward", "filter"],
        ["postrouting", "postrouting", "srcnat"],
      ],
    );
    assert.deepEqual(s.host.nft?.chains[1]?.rules, [
      'ip saddr 172.18.0.0/16 oifname != "docker_gwbridge" masquerade',
    ]);
  });

  it("keeps every interface name within IFNAMSIZ", () => {
    for (const n of [s.host, ...s.namespaces]) {
      for (const l of n.links) assert.ok(l.name.length <= IFNAME_MAX, l.name);
    }
  });

  it("is deterministic whatever the input order", () => {
    const shuffled = { ...c, tasks: [...c.tasks].reverse(), networks: [...c.networks].reverse() };
    assert.deepEqual(render(viewOf(shuffled, ID.n1), { gwAddresses: GW }), s);
  });

  it("uses the node's prefix, host namespace and gateway subnet", () => {
    const lab = render(viewOf(c, ID.n2), {
      gwAddresses: new Map([[ID.b, "10.99.0.7"]]),
      gwSubnet: "10.99.0.0/24",
      hostNs: "node2",
      prefix: "sn-node2-",
    });
    assert.deepEqual(
      lab.namespaces.map((n) => n.name),
      [
        "sn-node2-net-ov1aaaaaaaaa",
        "sn-node2-net-ov2bbbbbbbbb",
        "sn-node2-sb-taskbbbbbbbb",
        "sn-node2-sb-taskdddddddd",
      ],
    );
    assert.equal(lab.host.name, "node2");
    const b = lab.namespaces.find((n) => n.name === "sn-node2-sb-taskbbbbbbbb")!;
    assert.deepEqual(link(b, "gw0")?.peer, { ns: "node2", name: gatewayPeerName(ID.b) });
    assert.deepEqual(b.routes, [{ dst: "default", via: "10.99.0.1", dev: "gw0" }]);
    const net = lab.namespaces[0]!;
    assert.equal(link(net, "vxlan0")?.vxlan?.underlay, "node2");
    assert.equal(link(net, "vxlan0")?.vxlan?.local, "198.18.0.2");
  });

  it("leaves out finished tasks and tasks meant to stop", () => {
    const stopped = task(ID.a, ID.n1, [[ID.ov1, "10.0.1.2/24"]]);
    stopped.status.state = "failed";
    const going = task(ID.e, ID.n1, [[ID.ov1, "10.0.1.4/24"]]);
    going.desiredState = "shutdown";
    const view = viewOf({ ...c, tasks: [stopped, going] }, ID.n1);
    const empty = render(view, { gwAddresses: GW });
    assert.deepEqual(empty.namespaces, []);
    assert.deepEqual(empty.host.links, []);
    assert.equal(empty.host.nft, undefined);
    assert.equal(empty.host.forwarding, undefined);
  });

  it("refuses a sandbox that needs a gateway leg but has no address for it", () => {
    assert.throws(
      () => render(viewOf(c, ID.n1), { gwAddresses: new Map() }),
      (e) => isDataplaneError(e, "DP_RENDER_INPUT"),
    );
    assert.throws(
      () => render(viewOf(c, ID.n1), { gwAddresses: new Map([...GW, [ID.a, "172.19.0.2"]]) }),
      (e) => isDataplaneError(e, "DP_RENDER_INPUT"),
    );
    assert.throws(
      () => render(viewOf(c, ID.n1), { gwAddresses: new Map([...GW, [ID.e, "172.18.0.2"]]) }),
      (e) => isDataplaneError(e, "DP_RENDER_INPUT") && /two sandboxes/.test(e.message),
    );
  });

  it("refuses prefixes that could not name a namespace", () => {
    assert.throws(
      () => render(viewOf(c, ID.n1), { gwAddresses: GW, prefix: "../x" }),
      (e) => isDataplaneError(e, "DP_INVALID_NAME"),
    );
  });
});
