import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { diff } from "./diff.ts";
import { REMAKE_AFTER_DELETIONS } from "./diff-nft.ts";
import { emptyNamespace, type KernelState, type NftTable } from "./kernel-state.ts";
import { everyRuleTable, manyServices, serviceRule, vipTable } from "./nft-fixtures.ts";
import type { Plan } from "./plan.ts";

const SB = "sn-sb-taskaaaaaaaa";

/** A node with one sandbox holding `nft` (undefined: no table). */
function node(nft?: NftTable, forwarding?: boolean): KernelState {
  const sb = emptyNamespace(SB, "sandbox");
  if (nft) sb.nft = nft;
  if (forwarding !== undefined) sb.forwarding = forwarding;
  return { host: emptyNamespace("", "host"), namespaces: [sb] };
}

/** "kind name[ key]" per step, to read plans at a glance. */
const ops = (p: Plan) =>
  p.steps.map((s) => {
    switch (s.kind) {
      case "nft-chain-add":
      case "nft-chain-rules":
        return `${s.kind} ${s.chain.name}`;
      case "nft-chain-flush":
      case "nft-chain-del":
        return `${s.kind} ${s.chain}`;
      case "nft-map-add":
      case "nft-map-del":
        return `${s.kind} ${s.map.name}`;
      case "nft-element-add":
      case "nft-element-del":
        return `${s.kind} ${s.map} ${s.key}`;
      default:
        return s.kind;
    }
  });

const services = manyServices(3);
const svc = (i: number) => `svc-${services[i]!.id}`;

describe("diff of nft tables", () => {
  it("is empty between a table and itself, in any namespace", () => {
    const s = node(everyRuleTable(), true);
    assert.deepEqual(diff(s, structuredClone(s)), { steps: [] });
  });

  it("builds a table in order: chains, maps, rules, then elements that goto the chains", () => {
    const plan = diff(node(), node(vipTable(services)));
    assert.ok(plan.steps.every((s) => s.phase === "firewall" && s.ns === SB));
    assert.deepEqual(ops(plan), [
      "nft-table-add",
      "nft-chain-add output",
      `nft-chain-add ${svc(0)}`,
      `nft-chain-add ${svc(1)}`,
      `nft-chain-add ${svc(2)}`,
      "nft-map-add vips",
      "nft-chain-rules output",
      `nft-chain-rules ${svc(0)}`,
      `nft-chain-rules ${svc(1)}`,
      `nft-chain-rules ${svc(2)}`,
      "nft-element-add vips 10.0.1.0",
      "nft-element-add vips 10.0.1.1",
      "nft-element-add vips 10.0.1.2",
    ]);
  });

  it("changes one backend with one chain rewrite, and one VIP with one element", () => {
    const want = vipTable(services);
    const have = structuredClone(want);
    have.chains.find((c) => c.name === svc(1))!.rules = [serviceRule(["10.9.9.9"])];
    have.maps[0]!.elements["10.0.1.2"] = `goto ${svc(0)}`;
    const plan = diff(node(have), node(want));
    assert.deepEqual(ops(plan), [
      `nft-chain-rules ${svc(1)}`,
      "nft-element-del vips 10.0.1.2",
      "nft-element-add vips 10.0.1.2",
    ]);
    const rules = plan.steps[0]!;
    assert.ok(rules.kind === "nft-chain-rules" && rules.flush);
    assert.match(plan.steps[1]!.reason, /10\.0\.1\.2 is goto svc-0+, want goto svc-0+2$/);
  });

  it("adds and removes a service among many with element and chain steps only", () => {
    const all = manyServices(5000);
    const before = node(vipTable(all.slice(0, 4999)));
    const after = node(vipTable([...all.slice(0, 10), ...all.slice(11)]));
    const added = `svc-${all[4999]!.id}`;
    const gone = `svc-${all[10]!.id}`;
    assert.deepEqual(ops(diff(before, after)), [
      `nft-chain-add ${added}`,
      `nft-chain-rules ${added}`,
      `nft-element-add vips ${all[4999]!.vip}`,
      `nft-element-del vips ${all[10]!.vip}`, // before its chain: the element jumps to it
      `nft-chain-flush ${gone}`,
      `nft-chain-del ${gone}`,
    ]);
  });

  it("flushes every doomed chain before deleting any (they may jump to each other)", () => {
    const want = vipTable([]);
    const have = vipTable([]);
    have.chains.push({ name: "a", rules: ["jump b"] }, { name: "b", rules: ["accept"] });
    assert.deepEqual(ops(diff(node(have), node(want))), [
      "nft-chain-flush a",
      "nft-chain-flush b",
      "nft-chain-del a",
      "nft-chain-del b",
    ]);
  });

  it("re-creates a map whose type changed, after flushing the chains that use it", () => {
    const want = vipTable(services.slice(0, 1));
    const have = structuredClone(want);
    have.maps[0]!.map = "ipv4_addr";
    have.maps[0]!.elements = { "10.0.1.0": "10.1.1.0" };
    assert.deepEqual(ops(diff(node(have), node(want))), [
      "nft-chain-flush output",
      "nft-map-del vips",
      "nft-map-add vips",
      "nft-chain-rules output",
      "nft-element-add vips 10.0.1.0",
    ]);
  });

  it("re-creates a map rather than deleting many of its elements one by one", () => {
    const withElements = (n: number, from: number) => {
      const t = vipTable(services.slice(0, 1));
      const m = t.maps[0]!;
      m.elements = {};
      for (let i = 0; i < n; i++)
        m.elements[`10.2.${(from + i) >> 8}.${(from + i) & 255}`] = `goto ${svc(0)}`;
      return t;
    };
    // A few deletions: element by element.
    const few = ops(diff(node(withElements(300, 0)), node(withElements(300, 10))));
    assert.equal(few.filter((o) => o.startsWith("nft-element-del")).length, 10);
    assert.ok(!few.some((o) => o.startsWith("nft-map")));
    // REMAKE_AFTER_DELETIONS or more: the map is deleted and added whole, in one plan.
    const many = ops(
      diff(node(withElements(300, 0)), node(withElements(300, REMAKE_AFTER_DELETIONS))),
    );
    assert.deepEqual(many.slice(0, 4), [
      "nft-chain-flush output",
      "nft-map-del vips",
      "nft-map-add vips",
      "nft-chain-rules output",
    ]);
    assert.equal(many.filter((o) => o.startsWith("nft-element-add")).length, 300);
    assert.ok(!many.some((o) => o.startsWith("nft-element-del")));
  });

  it("re-creates a base chain whose hook changed, keeping the rest", () => {
    const want = everyRuleTable();
    const have = structuredClone(want);
    have.chains.find((c) => c.name === "output")!.priority = "dstnat";
    const plan = diff(node(have), node(want));
    assert.deepEqual(ops(plan), [
      "nft-chain-flush output",
      "nft-chain-del output",
      "nft-chain-add output",
      "nft-chain-rules output",
    ]);
    assert.match(
      plan.steps[1]!.reason,
      /is "type nat hook output priority dstnat; policy accept;"/,
    );
  });

  it("deletes and re-adds elements that jump to a re-created chain", () => {
    const want = vipTable(services.slice(0, 1));
    const have = structuredClone(want);
    Object.assign(have.chains.find((c) => c.name === svc(0))!, {
      type: "filter",
      hook: "input",
      priority: "filter",
      policy: "accept",
    });
    assert.deepEqual(ops(diff(node(have), node(want))), [
      `nft-chain-flush ${svc(0)}`,
      "nft-element-del vips 10.0.1.0",
      `nft-chain-del ${svc(0)}`,
      `nft-chain-add ${svc(0)}`,
      `nft-chain-rules ${svc(0)}`,
      "nft-element-add vips 10.0.1.0",
    ]);
  });

  it("changes set elements and removes a map no longer wanted", () => {
    const want = everyRuleTable();
    want.maps = want.maps.filter((m) => m.name !== "published");
    want.maps[0]!.elements = { "10.0.1.2": "", "10.0.1.9": "" };
    want.chains = want.chains.filter((c) => !c.name.startsWith("pub-") && c.name !== "prerouting");
    assert.deepEqual(ops(diff(node(everyRuleTable()), node(want))), [
      "nft-element-add locals 10.0.1.9",
      "nft-element-del locals 10.0.1.3",
      "nft-chain-flush prerouting", // its rule uses @published: flushed before the map goes
      "nft-chain-flush pub-tcp-8080",
      "nft-chain-flush pub-tcp-8081",
      "nft-map-del published",
      "nft-chain-del prerouting",
      "nft-chain-del pub-tcp-8080",
      "nft-chain-del pub-tcp-8081",
    ]);
  });

  it("removes a table with its namespace: no steps of its own", () => {
    const plan = diff(node(vipTable(services), true), node());
    assert.deepEqual(
      plan.steps.map((s) => s.kind),
      ["nft-table-del"],
    );
    const gone = diff(node(vipTable(services)), {
      host: emptyNamespace("", "host"),
      namespaces: [],
    });
    assert.deepEqual(
      gone.steps.map((s) => s.kind),
      ["ns-del"],
    );
  });

  it("sets ip_forward per namespace, only where desired says", () => {
    assert.deepEqual(diff(node(undefined, false), node()).steps, []);
    const plan = diff(node(undefined, false), node(undefined, true));
    assert.deepEqual(
      plan.steps.map((s) => [s.kind, s.ns, s.kind === "forwarding" && s.on]),
      [["forwarding", SB, true]],
    );
  });
});
