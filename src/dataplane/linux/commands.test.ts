import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diff } from "../diff.ts";
import { GW, ID, MESH, MESH_GW, meshScenario, scenario, viewOf } from "../fixtures.ts";
import { emptyNamespace, emptyState, type KernelState, type NftTable } from "../kernel-state.ts";
import { gatewayPeerName, overlayPeerName } from "../names.ts";
import { everyRuleTable, manyServices, serviceRule, vipTable } from "../nft-fixtures.ts";
import { render } from "../render.ts";
import { compile } from "./commands.ts";

const desired = render(viewOf(scenario(), ID.n1), {
  gwAddresses: GW,
  hostNs: "node1",
  prefix: "sn-node1-",
});
const phases = compile(diff(emptyState("node1"), desired));
const batch = (phase: string, tool: string, ns: string) =>
  phases.flat().find((b) => b.phase === phase && b.tool === tool && b.ns === ns);

describe("compile", () => {
  it("gives one process per tool and namespace in each phase", () => {
    for (const phase of phases) {
      const keys = phase.map((b) => `${b.tool} ${b.ns}`);
      assert.equal(new Set(keys).size, keys.length);
    }
    assert.deepEqual(
      phases.map((p) => p[0]!.phase),
      ["create-namespaces", "create-links", "configure", "firewall"],
    );
  });

  it("adds every namespace in one ip -batch", () => {
    assert.deepEqual(batch("create-namespaces", "netns", "")?.lines, [
      "netns add sn-node1-net-ov1aaaaaaaaa",
      "netns add sn-node1-net-ov2bbbbbbbbb",
      "netns add sn-node1-sb-taskaaaaaaaa",
      "netns add sn-node1-sb-taskcccccccc",
      "netns add sn-node1-sb-taskeeeeeeee",
    ]);
  });

  it("creates VXLAN devices from the host namespace, straight into the network namespace", () => {
    const host = batch("create-links", "ip", "node1")!;
    assert.deepEqual(
      [...host.lines].sort(),
      [
        "link add name docker_gwbridge type bridge",
        `link add name ${gatewayPeerName(ID.a)} type veth peer name gw0 netns sn-node1-sb-taskaaaaaaaa`,
        `link add name ${gatewayPeerName(ID.e)} type veth peer name gw0 netns sn-node1-sb-taskeeeeeeee`,
        "link add name vxlan0 netns sn-node1-net-ov1aaaaaaaaa type vxlan id 4097 dstport 4789 local 198.18.0.1 nolearning proxy",
        "link add name vxlan0 netns sn-node1-net-ov2bbbbbbbbb type vxlan id 4098 dstport 4789 local 198.18.0.1 nolearning proxy",
      ].sort(),
    );
  });

  it("configures a network namespace in one batch and its FDB in one bridge batch", () => {
    const ns = "sn-node1-net-ov1aaaaaaaaa";
    const pa = overlayPeerName(ID.a, ID.ov1);
    const lines = batch("configure", "ip", ns)!.lines;
    assert.ok(
      lines.indexOf(`link set dev ${pa} mtu 1450`) < lines.indexOf(`link set dev ${pa} master br0`),
    );
    assert.ok(lines.indexOf("addr add 10.0.1.1/24 dev br0") < lines.indexOf("link set dev br0 up"));
    assert.ok(
      lines.includes("neigh replace 10.0.1.3 lladdr 02:42:0a:00:01:03 dev vxlan0 nud permanent"),
    );
    assert.deepEqual(batch("configure", "bridge", ns)?.lines, [
      "fdb replace 02:42:0a:00:01:03 dev vxlan0 dst 198.18.0.2 self permanent",
    ]);
  });

  it("isolates gateway legs and routes the sandbox through the gateway", () => {
    const host = batch("configure", "ip", "node1")!.lines;
    assert.ok(host.includes(`link set dev ${gatewayPeerName(ID.a)} type bridge_slave isolated on`));
    assert.ok(host.includes("link set dev docker_gwbridge alias swarmnet"));
    const sb = batch("configure", "ip", "sn-node1-sb-taskaaaaaaaa")!.lines;
    assert.equal(sb.at(-1), "route replace default via 172.18.0.1 dev gw0");
  });

  it("writes the nft table as one transaction", () => {
    assert.deepEqual(batch("firewall", "nft", "node1")?.lines, [
      "add table ip swarmnet",
      "add chain ip swarmnet forward { type filter hook forward priority filter; policy accept; }",
      "add chain ip swarmnet postrouting { type nat hook postrouting priority srcnat; policy accept; }",
      'add rule ip swarmnet forward iifname "docker_gwbridge" oifname "docker_gwbridge" drop',
      'add rule ip swarmnet forward oifname "docker_gwbridge" ct state established,related accept',
      'add rule ip swarmnet forward oifname "docker_gwbridge" drop',
      'add rule ip swarmnet postrouting ip saddr 172.18.0.0/16 oifname != "docker_gwbridge" masquerade',
    ]);
    assert.deepEqual(batch("firewall", "sysctl", "node1")?.lines, ["net/ipv4/ip_forward=1"]);
  });

  it("keeps, for every line, the step it came from", () => {
    for (const b of phases.flat()) {
      assert.equal(b.from.length, b.lines.length);
      for (const s of b.from) assert.equal(s.phase, b.phase);
    }
  });
});

describe("compile the routing mesh's policy routing", () => {
  const mesh = render(viewOf(meshScenario(), ID.n1), {
    gwAddresses: MESH_GW,
    hostNs: "node1",
    prefix: "sn-node1-",
  });
  const sb = `sn-node1-sb-${MESH.t1.slice(0, 12)}`;
  const built = compile(diff(emptyState("node1"), mesh)).flat();
  const lines = (tool: string) =>
    built.filter((b) => b.tool === tool && b.ns === sb).flatMap((b) => b.lines);

  it("adds rules and per-node tables after the main table's route, in the sandbox's batch", () => {
    assert.deepEqual(lines("ip").slice(-5), [
      "route replace default via 172.18.0.1 dev gw0",
      "route replace default via 10.255.0.2 dev eth0 table 1002",
      "route replace default via 10.255.0.3 dev eth0 table 1003",
      "rule add priority 100 fwmark 0x2 table 1002",
      "rule add priority 100 fwmark 0x3 table 1003",
    ]);
  });

  it("sets loose reverse-path filtering with ip_forward, and nothing in the ingress sandbox", () => {
    assert.deepEqual(lines("sysctl"), ["net/ipv4/ip_forward=0", "net/ipv4/conf/all/rp_filter=2"]);
    assert.deepEqual(
      built
        .filter((b) => b.tool === "sysctl" && b.ns === "sn-node1-sb-ingress")
        .flatMap((b) => b.lines),
      ["net/ipv4/ip_forward=1"],
    );
  });

  it("deletes exactly what it finds: a stray rule by priority and table, a route with its table", () => {
    const drifted = structuredClone(mesh);
    const ns = drifted.namespaces.find((n) => n.name === sb)!;
    ns.rules.push({ priority: 5, table: 7 });
    ns.routes.push({ dst: "10.9.0.0/16", via: "10.255.0.3", dev: "eth0", table: 1003 });
    const removed = compile(diff(drifted, mesh)).flat();
    assert.deepEqual(
      removed.map((b) => [b.phase, b.tool, b.ns, b.lines]),
      [
        [
          "remove-entries",
          "ip",
          sb,
          [
            "route del 10.9.0.0/16 via 10.255.0.3 dev eth0 table 1003",
            "rule del priority 5 table 7",
          ],
        ],
      ],
    );
  });
});

describe("compile nft", () => {
  const SB = "sn-sb-taskaaaaaaaa";
  const node = (nft?: NftTable): KernelState => {
    const sb = emptyNamespace(SB, "sandbox");
    if (nft) sb.nft = nft;
    return { host: emptyNamespace("", "host"), namespaces: [sb] };
  };
  const nftLines = (from?: NftTable, to?: NftTable) => {
    const batches = compile(diff(node(from), node(to))).flat();
    assert.ok(batches.every((b) => b.tool === "nft" && b.ns === SB));
    assert.ok(batches.length <= 1, "one transaction");
    return batches[0]?.lines ?? [];
  };
  const [s0, s1] = manyServices(2);

  it("writes a sandbox table with base and regular chains, maps, sets and elements", () => {
    assert.deepEqual(nftLines(undefined, everyRuleTable()), [
      "add table ip swarmnet",
      "add chain ip swarmnet forward { type filter hook forward priority filter; policy accept; }",
      "add chain ip swarmnet mesh-dnat { type nat hook prerouting priority dstnat; policy accept; }",
      "add chain ip swarmnet mesh-mark { type filter hook prerouting priority mangle; policy accept; }",
      "add chain ip swarmnet mesh-route { type route hook output priority mangle; policy accept; }",
      "add chain ip swarmnet output { type nat hook output priority -100; policy accept; }",
      "add chain ip swarmnet postrouting { type nat hook postrouting priority srcnat; policy accept; }",
      "add chain ip swarmnet prerouting { type nat hook prerouting priority dstnat; policy accept; }",
      "add chain ip swarmnet pub-tcp-8080",
      "add chain ip swarmnet pub-tcp-8081",
      "add chain ip swarmnet svc-000000000001",
      "add chain ip swarmnet svc-000000000002",
      "add chain ip swarmnet svc-000000000003",
      "add chain ip swarmnet svc-000000000004",
      "add set ip swarmnet locals { type ipv4_addr; }",
      "add map ip swarmnet published { type inet_proto . inet_service : verdict; }",
      "add map ip swarmnet vips { type ipv4_addr : verdict; }",
      'add rule ip swarmnet forward oifname "docker_gwbridge" ct status dnat accept',
      'add rule ip swarmnet mesh-dnat iifname "eth0" meta l4proto udp ct mark != 0x00000000 dnat to 172.18.0.2',
      'add rule ip swarmnet mesh-mark iifname "eth0" ct state new ct mark set ether saddr map { 02:42:0a:ff:00:02 : 0x00000002, 02:42:0a:ff:00:03 : 0x00000003 }',
      "add rule ip swarmnet mesh-route ct mark != 0x00000000 meta mark set ct mark",
      "add rule ip swarmnet output ip daddr vmap @vips",
      'add rule ip swarmnet postrouting ip saddr 172.18.0.0/16 oifname != "docker_gwbridge" masquerade',
      "add rule ip swarmnet prerouting fib daddr type local meta l4proto . th dport vmap @published",
      'add rule ip swarmnet prerouting iifname "gw0" meta l4proto . th dport vmap @published',
      "add rule ip swarmnet pub-tcp-8080 meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.0.0.5 . 80, 1 : 10.0.0.6 . 80 }",
      "add rule ip swarmnet pub-tcp-8081 meta l4proto tcp dnat to 10.0.0.5:80",
      "add rule ip swarmnet svc-000000000001 dnat to numgen random mod 2 map { 0 : 10.0.1.5, 1 : 10.0.1.6 }",
      "add rule ip swarmnet svc-000000000002 dnat to 10.0.1.5",
      "add rule ip swarmnet svc-000000000003 reject",
      "add rule ip swarmnet svc-000000000004 reject with tcp reset",
      // Consecutive elements of one map: one command.
      "add element ip swarmnet locals { 10.0.1.2, 10.0.1.3 }",
      "add element ip swarmnet published { tcp . 8080 : goto pub-tcp-8080, tcp . 8081 : goto pub-tcp-8081 }",
      "add element ip swarmnet vips { 10.0.1.2 : goto svc-000000000001, 10.0.1.3 : goto svc-000000000002, 10.0.1.4 : goto svc-000000000003, 10.0.1.7 : jump svc-000000000004 }",
    ]);
  });

  it("changes a backend and a VIP in place, and removes a service after its element", () => {
    const before = vipTable([s0!, s1!]);
    const after = vipTable([{ ...s0!, vip: "10.0.9.9", backends: ["10.1.1.7"] }]);
    assert.deepEqual(nftLines(before, after), [
      `flush chain ip swarmnet svc-${s0!.id}`,
      `add rule ip swarmnet svc-${s0!.id} ${serviceRule(["10.1.1.7"])}`,
      `add element ip swarmnet vips { 10.0.9.9 : goto svc-${s0!.id} }`,
      `delete element ip swarmnet vips { ${s0!.vip}, ${s1!.vip} }`,
      `flush chain ip swarmnet svc-${s1!.id}`,
      `delete chain ip swarmnet svc-${s1!.id}`,
    ]);
    const moved = vipTable([
      s0!,
      { ...s1!, vip: s0!.vip },
      { ...s0!, id: "00000000000f", vip: s1!.vip },
    ]);
    assert.deepEqual(
      nftLines(before, moved).filter((l) => l.includes("element")),
      [
        `delete element ip swarmnet vips { ${s0!.vip} }`,
        `add element ip swarmnet vips { ${s0!.vip} : goto svc-${s1!.id} }`,
        `delete element ip swarmnet vips { ${s1!.vip} }`,
        `add element ip swarmnet vips { ${s1!.vip} : goto svc-00000000000f }`,
      ],
    );
  });

  it("re-creates a map whose type changed, and deletes a table with nothing left in it", () => {
    const want = vipTable([]);
    const have = structuredClone(want);
    have.maps[0]!.map = "ipv4_addr";
    assert.deepEqual(nftLines(have, want), [
      "flush chain ip swarmnet output",
      "delete map ip swarmnet vips",
      "add map ip swarmnet vips { type ipv4_addr : verdict; }",
      "add rule ip swarmnet output ip daddr vmap @vips",
    ]);
    assert.deepEqual(nftLines(want, undefined), ["delete table ip swarmnet"]);
  });
});
