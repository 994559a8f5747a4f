import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Network } from "../core/model.ts";
import { diff } from "./diff.ts";
import { ID, MESH, MESH_GW, meshScenario, node, overlay, task, viewOf } from "./fixtures.ts";
import type { KernelState, Namespace } from "./kernel-state.ts";
import { CANONICAL_RULES } from "./nft-fixtures.ts";
import { render } from "./render.ts";
import { meshNodeNumber, nftMark } from "./render-mesh.ts";

const scope = { hostNs: "node1", prefix: "sn-node1-" };
const nsOf = (s: KernelState, name: string): Namespace =>
  s.namespaces.find((n) => n.name === name)!;
const t1 = `sn-node1-sb-${MESH.t1.slice(0, 12)}`;

describe("render: the routing mesh keeps the client's address", () => {
  const state = render(viewOf(meshScenario(), ID.n1), { gwAddresses: MESH_GW, ...scope });

  it("only translates the destination in the ingress sandbox: no masquerade", () => {
    const ingress = nsOf(state, "sn-node1-sb-ingress");
    assert.deepEqual(
      ingress.nft!.chains.map((c) => [c.name, c.hook]),
      [
        ["prerouting", "prerouting"],
        ["pub-tcp-8080", undefined],
        ["pub-udp-8080", undefined],
      ],
    );
    assert.deepEqual(ingress.rules, []);
  });

  it("marks a task's mesh connections by ingress node and routes their replies back to it", () => {
    const sb = nsOf(state, t1);
    assert.deepEqual(
      sb.nft!.chains.map((c) => ({
        name: c.name,
        head: [c.type, c.hook, c.priority],
        rules: c.rules,
      })),
      [
        {
          name: "mesh-dnat",
          head: ["nat", "prerouting", "dstnat"],
          rules: [CANONICAL_RULES.meshDnat],
        },
        {
          name: "mesh-mark",
          head: ["filter", "prerouting", "mangle"],
          rules: [CANONICAL_RULES.meshMark],
        },
        {
          name: "mesh-route",
          head: ["route", "output", "mangle"],
          rules: [CANONICAL_RULES.meshRoute],
        },
      ],
    );
    // Node numbers are the ingress addresses' offsets: 10.255.0.2 → 2, 10.255.0.3 → 3.
    assert.deepEqual(sb.rules, [
      { priority: 100, fwmark: 2, table: 1002 },
      { priority: 100, fwmark: 3, table: 1003 },
    ]);
    assert.deepEqual(sb.routes, [
      { dst: "default", via: "172.18.0.1", dev: "gw0" },
      { dst: "default", via: "10.255.0.2", dev: "eth0", table: 1002 },
      { dst: "default", via: "10.255.0.3", dev: "eth0", table: 1003 },
    ]);
    assert.equal(sb.rpFilter, 2);
    assert.equal(sb.forwarding, false);
  });

  it("uses the interface the ingress network is attached as, next to a VIP table", () => {
    const c = meshScenario();
    const front = overlay("frontaaaaaaaaaaaaaaaaaaaa", "10.0.1.0/24", 4097);
    c.networks.push(front);
    c.services![0]!.endpoint.virtualIps = [{ networkId: front.id, addr: "10.0.1.2/24" }];
    c.tasks[0] = {
      ...task(MESH.t1, ID.n1, [
        [front.id, "10.0.1.5/24"],
        [MESH.ingress, "10.255.0.10/16"],
      ]),
      serviceId: MESH.svc,
    };
    const sb = nsOf(render(viewOf(c, ID.n1), { gwAddresses: MESH_GW, ...scope }), t1);
    assert.deepEqual(
      sb.nft!.chains.map((c) => c.name),
      ["mesh-dnat", "mesh-mark", "mesh-route", "output", `svc-${MESH.svc}-frontaaaaaaa`],
    );
    assert.deepEqual(Object.keys(sb.nft!.maps[0]!.elements), ["10.0.1.2"]);
    assert.match(sb.nft!.chains[1]!.rules[0]!, /^iifname "eth1" /);
    assert.match(sb.nft!.chains[0]!.rules[0]!, /^iifname "eth1" .* dnat to 172\.18\.0\.2$/);
    assert.deepEqual(
      sb.routes.filter((r) => r.table !== undefined).map((r) => r.dev),
      ["eth1", "eth1"],
    );
  });

  it("keeps every node's number when a node with a lower address joins", () => {
    const c = meshScenario();
    c.nodes[0]!.ingressAddr = "10.255.0.20/16";
    c.nodes[1]!.ingressAddr = "10.255.0.30/16";
    const before = render(viewOf(c, ID.n1), { gwAddresses: MESH_GW, ...scope });
    c.nodes.push({ ...node("node0", "198.18.0.9"), ingressAddr: "10.255.0.10/16" });
    const after = render(viewOf(c, ID.n1), { gwAddresses: MESH_GW, ...scope });
    assert.deepEqual(
      nsOf(after, t1).rules.map((r) => r.fwmark),
      [10, 20, 30],
    );
    assert.match(nsOf(after, t1).nft!.chains[1]!.rules[0]!, /02:42:0a:ff:00:14 : 0x00000014,/);
    // Established connections keep their marks: the change is one more rule,
    // one more route and one rewritten chain, nothing renumbered.
    assert.deepEqual(
      diff(before, after)
        .steps.filter((s) => s.ns === t1)
        .map((s) => s.reason.replace(/ \S+sb-\S+/, "")),
      [
        "ensureRoute: default via 10.255.0.10 dev eth0 table 1010",
        "ensureRule: priority 100 fwmark 10 lookup 1010 missing",
        "ensureChain: swarmnet/mesh-mark rules differ: rewrite",
      ],
    );
  });

  it("leaves tasks off the ingress network alone, and everything once nothing is published", () => {
    const c = meshScenario();
    c.networks.push(overlay("frontaaaaaaaaaaaaaaaaaaaa", "10.0.1.0/24", 4097));
    c.tasks.push(task("otherxxxxxxx", ID.n1, [["frontaaaaaaaaaaaaaaaaaaaa", "10.0.1.5/24"]]));
    const gw = new Map([...MESH_GW, ["otherxxxxxxx", "172.18.0.9"]]);
    const other = nsOf(
      render(viewOf(c, ID.n1), { gwAddresses: gw, ...scope }),
      "sn-node1-sb-otherxxxxxxx",
    );
    assert.deepEqual([other.rules, other.nft, other.rpFilter], [[], undefined, undefined]);
    c.services = [];
    const quiet = nsOf(render(viewOf(c, ID.n1), { gwAddresses: gw, ...scope }), t1);
    assert.deepEqual([quiet.rules, quiet.nft, quiet.rpFilter], [[], undefined, undefined]);
    assert.deepEqual(quiet.routes, [{ dst: "default", via: "172.18.0.1", dev: "gw0" }]);
  });

  it("numbers nodes by their offset across the ingress network's subnets", () => {
    const net: Network = {
      ...overlay("ingress", "10.255.0.0/24", 4096),
      ipam: [
        { subnet: "10.255.0.0/24", gateway: "10.255.0.1", auxAddresses: {} },
        { subnet: "10.254.0.0/16", gateway: "10.254.0.1", auxAddresses: {} },
      ],
    };
    assert.equal(meshNodeNumber(net, "10.255.0.7"), 7);
    assert.equal(meshNodeNumber(net, "10.254.1.2"), 256 + 258);
    assert.equal(meshNodeNumber(net, "10.9.9.9"), undefined);
    assert.equal(nftMark(258), "0x00000102");
  });

  it("diffs to nothing against itself", () => {
    assert.deepEqual(diff(state, structuredClone(state)), { steps: [] });
  });
});
