// swarmnet's nftables tables on the real kernel, in a sandbox-like namespace:
// every rule form render writes reads back as the same text, maps change
// element by element, and a large table observes and diffs quickly. Needs
// root; everything it makes has a unique prefix and is removed in after().
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { diff } from "../diff.ts";
import { emptyNamespace, type KernelState, type NftTable } from "../kernel-state.ts";
import type { Scope } from "../names.ts";
import {
  CANONICAL_RULES,
  everyRuleTable,
  manyServices,
  POLICY_ELEMENTS,
  type VipService,
  vipTable,
} from "../nft-fixtures.ts";
import { describePlan } from "../plan.ts";
import { apply } from "./apply.ts";
import { cleanup } from "./cleanup.ts";
import { inNs, run } from "./exec.ts";
import { observe } from "./observe.ts";
import { namespacesStartingWith, removeNamespaces } from "./testbed.ts";

const root = process.getuid?.() === 0;
/** Services in the timing test; SWARMNET_NFT_SERVICES=5000 for the full-size figure. */
const MANY = Number(process.env.SWARMNET_NFT_SERVICES ?? 500);

describe("nftables tables on the kernel", {
  skip: root ? false : "needs root (creates network namespaces)",
}, () => {
  const prefix = `t-nft-${randomBytes(3).toString("hex")}-`;
  const scope: Scope = { hostNs: `${prefix}h`, prefix: `${prefix}h-` };
  const sb = `${scope.prefix}sb-taskaaaaaaaa`;

  /** The host holds nothing; one sandbox holds `nft`. */
  function node(nft: NftTable | undefined, forwarding?: boolean): KernelState {
    const ns = emptyNamespace(sb, "sandbox");
    ns.links.push({ name: "lo", kind: "loopback", up: true });
    if (nft) ns.nft = nft;
    if (forwarding !== undefined) ns.forwarding = forwarding;
    return { host: emptyNamespace(scope.hostNs, "host"), namespaces: [ns] };
  }

  async function sync(desired: KernelState) {
    const plan = diff(await observe(scope), desired);
    await apply(plan);
    return plan;
  }

  async function pending(desired: KernelState): Promise<string> {
    return describePlan(diff(await observe(scope), desired));
  }

  const nft = (script: string) => run(inNs(sb, ["nft", "-f", "-"]), script);

  before(async () => {
    await run(["ip", "netns", "add", scope.hostNs]);
  });

  after(async () => {
    try {
      await cleanup(scope);
    } finally {
      await removeNamespaces(prefix);
    }
    assert.deepEqual(await namespacesStartingWith(prefix), []);
  });

  it("reads back every rule, map and set exactly as render writes them", async () => {
    const desired = node(everyRuleTable(), false);
    const plan = await sync(desired);
    assert.ok(plan.steps.some((s) => s.kind === "nft-element-add"));
    const seen = (await observe(scope)).namespaces[0]!;
    assert.deepEqual(seen.nft, everyRuleTable());
    assert.equal(seen.forwarding, false);
    assert.equal(await pending(desired), "");
    // ip_forward is per namespace: turned on here, the host's left as it was
    assert.deepEqual(
      (await sync(node(everyRuleTable(), true))).steps.map((s) => [s.kind, s.ns]),
      [["forwarding", sb]],
    );
    assert.equal((await observe(scope)).namespaces[0]!.forwarding, true);
  });

  it("prints some texts differently from how they may be written: render writes the printed form", async () => {
    await nft(
      [
        `add chain ip swarmnet scratch`,
        "add rule ip swarmnet scratch meta l4proto tcp reject with tcp reset",
        "add rule ip swarmnet scratch meta l4proto tcp dnat ip addr . port to 10.0.0.5 . 80",
        "add rule ip swarmnet scratch meta l4proto tcp dnat ip addr . port to numgen random mod 2 map { 0 : 10.0.0.5 . 80, 1 : 10.0.0.6 . 80 }",
        "add rule ip swarmnet scratch dnat to numgen random mod 2 map { 1 : 10.0.1.6, 0 : 10.0.1.5 }",
        'add rule ip swarmnet scratch iifname "eth0" ct state new ct mark set ether saddr map { 02:42:0a:ff:00:03 : 3, 02:42:0a:ff:00:02 : 0x2 }',
        "add rule ip swarmnet scratch ct mark != 0 meta mark set ct mark",
        "",
      ].join("\n"),
    );
    const seen = (await observe(scope)).namespaces[0]!.nft!;
    assert.deepEqual(seen.chains.find((c) => c.name === "scratch")?.rules, [
      CANONICAL_RULES.rejectTcp,
      CANONICAL_RULES.dnatPortOne,
      CANONICAL_RULES.dnatPortMany,
      CANONICAL_RULES.dnatMany, // anonymous maps print sorted
      CANONICAL_RULES.meshMark, // and marks as eight hex digits
      CANONICAL_RULES.meshRoute,
    ]);
    // nft 1.0.6 refuses the "ip to ADDR . PORT" form it accepts with numgen
    await assert.rejects(
      nft("add rule ip swarmnet scratch meta l4proto tcp dnat ip to 10.0.0.5 . 80\n"),
      /Can't parse symbolic invalid expressions/,
    );
    const plan = await sync(node(everyRuleTable(), true));
    assert.deepEqual(
      plan.steps.map((s) => s.kind),
      ["nft-chain-flush", "nft-chain-del"],
    );
  });

  it("reads policy verdict-map elements back in nft's printed form", async () => {
    // As render-policy.ts writes them: interval verdict maps counting per element.
    const set = (name: string, type: string, keys: readonly string[]) => ({
      name,
      type,
      map: "verdict",
      flags: ["interval"],
      counter: true,
      elements: Object.fromEntries(keys.map((k, i) => [k, i % 2 ? "drop" : "accept"])),
    });
    const table = (written: boolean): NftTable => {
      const pick = (m: Record<string, string>) => (written ? Object.keys(m) : Object.values(m));
      return {
        family: "ip",
        name: "swarmnet",
        chains: [],
        maps: [
          set("policy-in", "ipv4_addr . inet_proto . inet_service", pick(POLICY_ELEMENTS.ports)),
          set("policy-in-other", "ipv4_addr . inet_proto", pick(POLICY_ELEMENTS.other)),
        ],
      };
    };
    await sync(node(table(true), true));
    assert.deepEqual((await observe(scope)).namespaces[0]!.nft, table(false));
    // Written in the printed form, nothing is left to do; one element less is one step.
    assert.equal(await pending(node(table(false), true)), "");
    const fewer = table(false);
    delete fewer.maps[0]!.elements["10.0.0.8/30 . tcp . 443"];
    const plan = await sync(node(fewer, true));
    assert.deepEqual(
      plan.steps.map((s) => s.kind),
      ["nft-element-del"],
    );
    assert.equal(await pending(node(fewer, true)), "");
  });

  it("changes a backend, a VIP and a service with chain and element steps only", async () => {
    const services: VipService[] = manyServices(50);
    await sync(node(vipTable(services), true));
    const changed = services.map((s, i) => {
      if (i === 7) return { ...s, backends: [...s.backends, "10.3.0.7"] };
      if (i === 8) return { ...s, vip: "10.0.99.8" };
      return s;
    });
    changed.splice(9, 1, { id: "0000000000ff", vip: "10.0.99.9", backends: ["10.3.0.9"] });
    const desired = node(vipTable(changed), true);
    const plan = await sync(desired);
    const svc = (i: number) => `svc-${services[i]!.id}`;
    // Sorted: elements are deleted in the order the kernel lists them.
    assert.deepEqual(
      plan.steps.map((s) => `${s.kind} ${s.reason.split(" ").slice(2).join(" ")}`).sort(),
      [
        "nft-chain-add swarmnet/svc-0000000000ff missing",
        `nft-chain-rules swarmnet/${svc(7)} rules differ: rewrite`,
        "nft-chain-rules swarmnet/svc-0000000000ff rules missing",
        `nft-element-add swarmnet/vips 10.0.99.8 → goto ${svc(8)} missing`,
        "nft-element-add swarmnet/vips 10.0.99.9 → goto svc-0000000000ff missing",
        `nft-element-del swarmnet/vips ${services[8]!.vip} not wanted`,
        `nft-element-del swarmnet/vips ${services[9]!.vip} not wanted`,
        `nft-chain-flush swarmnet/${svc(9)} not wanted: flush`,
        `nft-chain-del swarmnet/${svc(9)} not wanted`,
      ].sort(),
    );
    assert.equal(await pending(desired), "");
    // A VIP moved to another service: delete + add of one element.
    const moved = structuredClone(desired);
    moved.namespaces[0]!.nft!.maps[0]!.elements["10.0.99.9"] = `goto ${svc(0)}`;
    const swap = await sync(moved);
    assert.deepEqual(
      swap.steps.map((s) => s.kind),
      ["nft-element-del", "nft-element-add"],
    );
    assert.equal(await pending(moved), "");
  });

  it(`observes and diffs a ${MANY}-service table`, async (t) => {
    const desired = node(vipTable(manyServices(MANY)), true);
    let at = performance.now();
    const plan = await sync(desired);
    const applied = performance.now() - at;
    at = performance.now();
    const seen = await observe(scope);
    const observed = performance.now() - at;
    at = performance.now();
    const again = diff(seen, desired);
    const diffed = performance.now() - at;
    assert.deepEqual(again.steps, []);
    t.diagnostic(
      `${MANY} services: apply ${plan.steps.length} steps ${applied.toFixed(0)} ms, ` +
        `observe ${observed.toFixed(0)} ms, diff ${diffed.toFixed(1)} ms`,
    );
    // One backend among them: one chain rewrite.
    const one = structuredClone(desired);
    one.namespaces[0]!.nft!.chains[1]!.rules = ["dnat to 10.9.9.9"];
    at = performance.now();
    const step = await sync(one);
    t.diagnostic(
      `one backend changed: observe+diff+apply ${(performance.now() - at).toFixed(0)} ms`,
    );
    assert.deepEqual(
      step.steps.map((s) => s.kind),
      ["nft-chain-rules"],
    );
  });
});
