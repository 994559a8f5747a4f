import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diff } from "../diff.ts";
import { GW, ID, scenario, viewOf } from "../fixtures.ts";
import { emptyState } from "../kernel-state.ts";
import { gatewayPeerName, overlayPeerName } from "../names.ts";
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
      'add rule ip swarmnet forward iifname "docker_gwbridge" oifname "docker_gwbridge" drop',
      'add rule ip swarmnet forward oifname "docker_gwbridge" ct state established,related accept',
      'add rule ip swarmnet forward oifname "docker_gwbridge" drop',
      "add chain ip swarmnet postrouting { type nat hook postrouting priority srcnat; policy accept; }",
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
