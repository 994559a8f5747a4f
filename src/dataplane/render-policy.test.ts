import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diff } from "./diff.ts";
import { GW, ID, scenario, viewOf } from "./fixtures.ts";
import {
  byName,
  emptyNamespace,
  emptyState,
  type KernelState,
  type NftCounters,
  type NftTable,
} from "./kernel-state.ts";
import { compile } from "./linux/commands.ts";
import { parseNftTable } from "./linux/parse.ts";
import { NFT_TABLE } from "./names.ts";
import { render } from "./render.ts";
import {
  LOG_PREFIX_MAX,
  logPrefix,
  type PolicyOutcome,
  policyChains,
  type SandboxPolicySets,
  sumPolicyCounters,
} from "./render-policy.ts";

const SB = "sn-sb-taskaaaaaaaa";

function node(nft?: NftTable): KernelState {
  const sb = emptyNamespace(SB, "sandbox");
  if (nft) sb.nft = nft;
  return { host: emptyNamespace("", "host"), namespaces: [sb] };
}

const OWNER = "0123456789abcdef";
const ALLOW: PolicyOutcome = { action: "accept", rule: "a/web ingress[0]", logs: [] };
const DENY: PolicyOutcome = { action: "drop", rule: "a/web ingress[1]", logs: [] };
const LOGGED: PolicyOutcome = {
  action: "accept",
  rule: "a/web ingress[2]",
  logs: ["x/audit ingress[0]"],
};

const policy: SandboxPolicySets = {
  ingress: {
    ports: { "10.0.1.3 . tcp . 80-81": 0 },
    other: { "10.0.1.3 . icmp": 0 },
    outcomes: [ALLOW],
  },
};

/** Allow, deny and a Log rule before an allow. */
const mixed: SandboxPolicySets = {
  ingress: {
    ports: { "10.0.1.3 . tcp . 80": 0, "10.0.1.3 . tcp . 81": 1, "10.0.1.4 . udp . 53": 2 },
    other: { "10.0.1.3 . icmp": 1 },
    outcomes: [ALLOW, DENY, LOGGED],
  },
};

function table(p: SandboxPolicySets, logDenied = false): NftTable {
  const { chains, maps } = policyChains(p, { owner: OWNER, logDenied });
  return { family: "ip", name: NFT_TABLE, chains: chains.sort(byName), maps: maps.sort(byName) };
}

const O = { owner: OWNER };
const EMPTY = { ports: {}, other: {}, outcomes: [] };

describe("policyChains", () => {
  it("gives a base chain and two counting verdict maps per present direction", () => {
    const { chains, maps } = policyChains(policy, O);
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
          "ip saddr . meta l4proto . th dport vmap @policy-in",
          "ip saddr . meta l4proto vmap @policy-in-other",
          "counter drop",
        ],
      },
    ]);
    assert.deepEqual(maps, [
      {
        name: "policy-in",
        type: "ipv4_addr . inet_proto . inet_service",
        map: "verdict",
        flags: ["interval"],
        counter: true,
        elements: { "10.0.1.3 . tcp . 80-81": "accept" },
      },
      {
        name: "policy-in-other",
        type: "ipv4_addr . inet_proto",
        map: "verdict",
        flags: ["interval"],
        counter: true,
        elements: { "10.0.1.3 . icmp": "accept" },
      },
    ]);
    const both = policyChains({ ...policy, egress: EMPTY }, O);
    assert.deepEqual(
      both.chains.map((c) => [c.name, c.hook, c.rules[2], c.rules[3]]),
      [
        [
          "egress",
          "output",
          'oifname "lo" accept',
          "ip daddr . meta l4proto . th dport vmap @policy-out",
        ],
        [
          "ingress",
          "input",
          'iifname "lo" accept',
          "ip saddr . meta l4proto . th dport vmap @policy-in",
        ],
      ],
    );
    assert.deepEqual(
      both.maps.map((m) => m.name),
      ["policy-out", "policy-out-other", "policy-in", "policy-in-other"],
    );
    assert.deepEqual(policyChains({}, O), { chains: [], maps: [] });
  });

  it("maps plain outcomes to accept/drop and logged ones to a chain per outcome", () => {
    const lim = "limit rate 10/second burst 20 packets";
    const quiet = policyChains(mixed, O);
    assert.deepEqual(quiet.maps[0]!.elements, {
      "10.0.1.3 . tcp . 80": "accept",
      "10.0.1.3 . tcp . 81": "drop",
      "10.0.1.4 . udp . 53": "jump pin-log-2",
    });
    assert.deepEqual(quiet.maps[1]!.elements, { "10.0.1.3 . icmp": "drop" });
    assert.deepEqual(quiet.chains.slice(1), [
      {
        name: "pin-log-2",
        rules: [`${lim} log prefix "swarmnet LA 0123456789ab x/audit ingress[0]: "`, "accept"],
      },
    ]);
    const loud = policyChains(mixed, { ...O, logDenied: true });
    assert.deepEqual(loud.maps[1]!.elements, { "10.0.1.3 . icmp": "jump pin-log-1" });
    assert.deepEqual(
      loud.chains.map((c) => [c.name, ...c.rules.slice(-2)]),
      [
        [
          "ingress",
          `${lim} log prefix "swarmnet D 0123456789ab end-of-tier ingress: "`,
          "counter drop",
        ],
        ["pin-log-1", `${lim} log prefix "swarmnet D 0123456789ab a/web ingress[1]: "`, "drop"],
        [
          "pin-log-2",
          `${lim} log prefix "swarmnet LA 0123456789ab x/audit ingress[0]: "`,
          "accept",
        ],
      ],
    );
    // An outcome no element uses gets no chain.
    const unused = policyChains(
      { egress: { ports: {}, other: {}, outcomes: [LOGGED] } },
      { ...O, logDenied: true },
    );
    assert.deepEqual(
      unused.chains.map((c) => c.name),
      ["egress"],
    );
  });

  it("keeps log prefixes within 127 bytes, without quotes, cutting the policy name", () => {
    assert.equal(
      logPrefix("D", OWNER, "back/big ingress[3]"),
      "swarmnet D 0123456789ab back/big ingress[3]: ",
    );
    assert.equal(
      logPrefix("LD", OWNER, 'a"b ingress[0]'),
      "swarmnet LD 0123456789ab a_b ingress[0]: ",
    );
    const long = logPrefix("LA", OWNER, `${"n".repeat(200)} egress[12]`);
    assert.equal(Buffer.byteLength(long), LOG_PREFIX_MAX);
    assert.match(long, /^swarmnet LA 0123456789ab n+~ egress\[12\]: $/);
  });

  it("refuses tcp or udp in the other set, and elements naming no outcome", () => {
    assert.throws(
      () =>
        policyChains(
          { ingress: { ports: {}, other: { "10.0.1.3 . tcp": 0 }, outcomes: [ALLOW] } },
          O,
        ),
      /other than tcp\/udp/,
    );
    assert.throws(
      () =>
        policyChains(
          { ingress: { ports: { "10.0.1.3 . tcp . 80": 3 }, other: {}, outcomes: [] } },
          O,
        ),
      /names no outcome/,
    );
  });

  it("sums element counters per rule, Log rules included, and end-of-tier per sandbox", () => {
    const c = (packets: number) => ({ packets, bytes: packets * 60 });
    const sums = sumPolicyCounters(
      { [OWNER]: mixed, other: policy, gone: policy },
      (owner): NftCounters | undefined =>
        owner === OWNER
          ? {
              elements: {
                "policy-in": {
                  "10.0.1.3 . tcp . 80": c(1),
                  "10.0.1.3 . tcp . 81": c(2),
                  "10.0.1.4 . udp . 53": c(4),
                },
                "policy-in-other": { "10.0.1.3 . icmp": c(8) },
              },
              rules: { ingress: [{ rule: "counter drop", counter: c(16) }] },
            }
          : owner === "other"
            ? { elements: { "policy-in": { "10.0.1.3 . tcp . 80-81": c(32) } }, rules: {} }
            : undefined,
    );
    assert.deepEqual(sums, {
      rules: [
        { rule: "a/web ingress[0]", ...c(33) },
        { rule: "a/web ingress[1]", ...c(10) },
        { rule: "a/web ingress[2]", ...c(4) },
        { rule: "x/audit ingress[0]", ...c(4) },
      ],
      endOfTier: [{ owner: OWNER, direction: "ingress", ...c(16) }],
    });
  });

  it("writes interval sets with their flags and elements one per command", () => {
    const lines = compile(diff(node(), node(table(policy)))).flatMap((p) =>
      p.flatMap((b) => b.lines),
    );
    assert.ok(
      lines.includes(
        "add map ip swarmnet policy-in { type ipv4_addr . inet_proto . inet_service : verdict; flags interval; counter; }",
      ),
    );
    assert.ok(
      lines.includes(
        "add map ip swarmnet policy-in-other { type ipv4_addr . inet_proto : verdict; flags interval; counter; }",
      ),
    );
    assert.ok(
      lines.includes("add element ip swarmnet policy-in { 10.0.1.3 . tcp . 80-81 : accept }"),
    );
    assert.ok(
      lines.includes(
        "add chain ip swarmnet ingress { type filter hook input priority filter; policy accept; }",
      ),
    );
  });

  it("reads counting maps and rules back without their values (nft 1.0.6 output)", () => {
    const text = [
      "table ip swarmnet {",
      "\tmap policy-in {",
      "\t\ttype ipv4_addr . inet_proto . inet_service : verdict",
      "\t\tflags interval",
      "\t\tcounter",
      "\t\telements = { 127.0.0.1 . tcp . 80-81 counter packets 0 bytes 0 : accept,",
      "\t\t\t     127.0.0.0/8 . udp . 0-65535 counter packets 2 bytes 59 : jump pin-log-0,",
      "\t\t\t     10.0.0.8/30 . tcp . 443 counter packets 0 bytes 0 : drop }",
      "\t}",
      "",
      "\tmap policy-in-other {",
      "\t\ttype ipv4_addr . inet_proto : verdict",
      "\t\tflags interval",
      "\t\tcounter",
      "\t}",
      "",
      "\tchain ingress {",
      "\t\ttype filter hook input priority filter; policy accept;",
      "\t\tip saddr . meta l4proto . th dport vmap @policy-in",
      "\t\tcounter packets 1 bytes 84 drop",
      "\t}",
      "}",
      "",
    ].join("\n");
    const counters = { elements: {}, rules: {} };
    const t = parseNftTable(text, counters);
    assert.deepEqual(t.maps, [
      {
        name: "policy-in",
        type: "ipv4_addr . inet_proto . inet_service",
        map: "verdict",
        flags: ["interval"],
        counter: true,
        elements: {
          "127.0.0.1 . tcp . 80-81": "accept",
          "127.0.0.0/8 . udp . 0-65535": "jump pin-log-0",
          "10.0.0.8/30 . tcp . 443": "drop",
        },
      },
      {
        name: "policy-in-other",
        type: "ipv4_addr . inet_proto : verdict".split(" : ")[0]!,
        map: "verdict",
        flags: ["interval"],
        counter: true,
        elements: {},
      },
    ]);
    assert.deepEqual(t.chains[0]!.rules, [
      "ip saddr . meta l4proto . th dport vmap @policy-in",
      "counter drop",
    ]);
    assert.deepEqual(counters, {
      elements: {
        "policy-in": {
          "127.0.0.1 . tcp . 80-81": { packets: 0, bytes: 0 },
          "127.0.0.0/8 . udp . 0-65535": { packets: 2, bytes: 59 },
          "10.0.0.8/30 . tcp . 443": { packets: 0, bytes: 0 },
        },
      },
      rules: { ingress: [{ rule: "counter drop", counter: { packets: 1, bytes: 84 } }] },
    });
    // Without a sink the table is the same.
    assert.deepEqual(parseNftTable(text), t);
  });

  it("changes elements one by one and re-creates a map that stopped counting", () => {
    const before = table(policy);
    const after = table({
      ingress: {
        ports: { "10.0.1.3 . tcp . 80": 0, "10.0.1.9 . udp . 53": 0 },
        other: policy.ingress!.other,
        outcomes: [ALLOW],
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
    delete plain.maps[1]!.counter;
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
