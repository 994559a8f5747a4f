import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diff } from "./diff.ts";
import { GW, ID, scenario, viewOf } from "./fixtures.ts";
import { emptyNamespace, emptyState, type KernelState, type NftTable } from "./kernel-state.ts";
import { compile } from "./linux/commands.ts";
import { parseNftTable } from "./linux/parse.ts";
import { NFT_TABLE } from "./names.ts";
import { render } from "./render.ts";
import { policyChains, type SandboxPolicy } from "./render-policy.ts";

const SB = "sn-sb-taskaaaaaaaa";

function node(nft?: NftTable): KernelState {
  const sb = emptyNamespace(SB, "sandbox");
  if (nft) sb.nft = nft;
  return { host: emptyNamespace("", "host"), namespaces: [sb] };
}

const policy: SandboxPolicy = {
  ingress: { ports: ["10.0.1.3 . tcp . 80-81"], other: ["10.0.1.3 . icmp"] },
};

function table(p: SandboxPolicy): NftTable {
  const { chains, maps } = policyChains(p);
  return { family: "ip", name: NFT_TABLE, chains, maps };
}

describe("policyChains", () => {
  it("gives a base chain and two interval sets per present direction", () => {
    const { chains, maps } = policyChains(policy);
    assert.deepEqual(chains, [
      {
        name: "ingress",
        type: "filter",
        hook: "input",
        priority: "filter",
        policy: "accept",
        rules: [
          "ct state established,related accept",
          "ct state invalid drop",
          'iifname "lo" accept',
          "ip saddr . meta l4proto . th dport @policy-in accept",
          "ip saddr . meta l4proto @policy-in-other accept",
          "drop",
        ],
      },
    ]);
    assert.deepEqual(maps, [
      {
        name: "policy-in",
        type: "ipv4_addr . inet_proto . inet_service",
        flags: ["interval"],
        elements: { "10.0.1.3 . tcp . 80-81": "" },
      },
      {
        name: "policy-in-other",
        type: "ipv4_addr . inet_proto",
        flags: ["interval"],
        elements: { "10.0.1.3 . icmp": "" },
      },
    ]);
    const both = policyChains({ ...policy, egress: { ports: [], other: [] } });
    assert.deepEqual(
      both.chains.map((c) => [c.name, c.hook, c.rules[2], c.rules[3]]),
      [
        [
          "egress",
          "output",
          'oifname "lo" accept',
          "ip daddr . meta l4proto . th dport @policy-out accept",
        ],
        [
          "ingress",
          "input",
          'iifname "lo" accept',
          "ip saddr . meta l4proto . th dport @policy-in accept",
        ],
      ],
    );
    assert.deepEqual(
      both.maps.map((m) => m.name),
      ["policy-out", "policy-out-other", "policy-in", "policy-in-other"],
    );
    assert.deepEqual(policyChains({}), { chains: [], maps: [] });
  });

  it("refuses tcp or udp in the other set: it would open every port", () => {
    assert.throws(
      () => policyChains({ ingress: { ports: [], other: ["10.0.1.3 . tcp"] } }),
      /other than tcp\/udp/,
    );
  });

  it("writes interval sets with their flags and elements one per command", () => {
    const lines = compile(diff(node(), node(table(policy)))).flatMap((p) =>
      p.flatMap((b) => b.lines),
    );
    assert.ok(
      lines.includes(
        "add set ip swarmnet policy-in { type ipv4_addr . inet_proto . inet_service; flags interval; }",
      ),
    );
    assert.ok(
      lines.includes(
        "add set ip swarmnet policy-in-other { type ipv4_addr . inet_proto; flags interval; }",
      ),
    );
    assert.ok(lines.includes("add element ip swarmnet policy-in { 10.0.1.3 . tcp . 80-81 }"));
    assert.ok(
      lines.includes(
        "add chain ip swarmnet ingress { type filter hook input priority filter; policy accept; }",
      ),
    );
  });

  it("reads flags and wrapped elements back (nft 1.0.6 output)", () => {
    const text = [
      "table ip swarmnet {",
      "\tset policy-in {",
      "\t\ttype ipv4_addr . inet_proto . inet_service",
      "\t\tflags interval",
      "\t\telements = { 10.0.1.5 . tcp . 80,",
      "\t\t\t     10.0.0.8/30 . tcp . 443,",
      "\t\t\t     10.0.1.0/24 . udp . 0-65535,",
      "\t\t\t     10.0.1.6 . tcp . 80-82 }",
      "\t}",
      "",
      "\tset policy-in-other {",
      "\t\ttype ipv4_addr . inet_proto",
      "\t\tflags interval",
      "\t}",
      "}",
      "",
    ].join("\n");
    assert.deepEqual(parseNftTable(text).maps, [
      {
        name: "policy-in",
        type: "ipv4_addr . inet_proto . inet_service",
        flags: ["interval"],
        elements: {
          "10.0.1.5 . tcp . 80": "",
          "10.0.0.8/30 . tcp . 443": "",
          "10.0.1.0/24 . udp . 0-65535": "",
          "10.0.1.6 . tcp . 80-82": "",
        },
      },
      {
        name: "policy-in-other",
        type: "ipv4_addr . inet_proto",
        flags: ["interval"],
        elements: {},
      },
    ]);
  });

  it("changes elements one by one and re-creates a set whose flags changed", () => {
    const before = table(policy);
    const after = table({
      ingress: {
        ports: ["10.0.1.3 . tcp . 80", "10.0.1.9 . udp . 53"],
        other: policy.ingress!.other,
      },
    });
    assert.deepEqual(
      diff(node(before), node(after)).steps.map((s) => `${s.kind} ${"key" in s ? s.key : ""}`),
      [
        "nft-element-add 10.0.1.3 . tcp . 80",
        "nft-element-add 10.0.1.9 . udp . 53",
        "nft-element-del 10.0.1.3 . tcp . 80-81",
      ],
    );
    const plain = structuredClone(before);
    delete plain.maps[1]!.flags;
    const steps = diff(node(plain), node(before)).steps;
    assert.deepEqual(
      steps.map((s) => s.kind),
      ["nft-chain-flush", "nft-map-del", "nft-map-add", "nft-chain-rules", "nft-element-add"],
    );
    assert.equal(diff(node(before), node(before)).steps.length, 0);
  });

  it("render merges a sandbox's policy into its table, making one when needed", () => {
    const s = render(viewOf(scenario(), ID.n1), {
      gwAddresses: GW,
      policies: new Map([[ID.a, policy]]),
    });
    const plainRender = render(viewOf(scenario(), ID.n1), { gwAddresses: GW });
    const a = s.namespaces.find((n) => n.name === SB)!;
    assert.deepEqual(a.nft, table(policy));
    // Others are unchanged.
    assert.deepEqual(
      s.namespaces.filter((n) => n.name !== SB),
      plainRender.namespaces.filter((n) => n.name !== SB),
    );
    assert.ok(diff(emptyState(""), s).steps.length > 0);
  });
});
