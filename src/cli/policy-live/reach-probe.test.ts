import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { LiveProbe, LiveProbeResult } from "./live-probe.ts";
import {
  classifyProbe,
  formatProbeReport,
  judgeCell,
  planCells,
  probeReach,
  type ReachAnswer,
} from "./reach-probe.ts";

const tcp = (extra: Partial<LiveProbeResult>): LiveProbeResult => ({
  kind: "tcp",
  addr: "10.0.1.2",
  port: 80,
  ok: false,
  ...extra,
});
const udp = (extra: Partial<LiveProbeResult>): LiveProbeResult => ({
  ...tcp(extra),
  kind: "udp",
});

// a and b share net1; c is on net2 only; d runs on another host.
const ANSWER: Required<ReachAnswer> = {
  port: "80/tcp",
  ids: ["x/a", "y/b", "y/c", "y/d"],
  cells: [
    [true, true, false, true],
    [true, true, false, true],
    [false, false, true, false],
    [true, false, false, true],
  ],
  workloads: [
    {
      id: "x/a",
      owner: "aaaaaaaaaaaa1",
      node: "node1",
      addresses: [{ network: "net1", networkId: "n1", address: "10.0.1.2" }],
    },
    {
      id: "y/b",
      owner: "bbbbbbbbbbbb1",
      node: "node2",
      addresses: [{ network: "net1", networkId: "n1", address: "10.0.1.3" }],
    },
    {
      id: "y/c",
      owner: "cccccccccccc1",
      node: "node3",
      addresses: [{ network: "net2", networkId: "n2", address: "10.0.2.2" }],
    },
    {
      id: "y/d",
      owner: "dddddddddddd1",
      node: "far",
      addresses: [{ network: "net1", networkId: "n1", address: "10.0.1.4" }],
    },
  ],
};
const sandboxOf = (owner: string) => (owner.startsWith("d") ? undefined : `sb-${owner}`);

describe("classifyProbe", () => {
  it("counts what got to the task as reached, whatever answered", () => {
    assert.equal(classifyProbe(tcp({ ok: true })).reached, true);
    assert.equal(classifyProbe(tcp({ connected: true, error: "TIMEOUT" })).reached, true);
    assert.match(classifyProbe(tcp({ error: "ECONNREFUSED" })).how, /refused \(RST/);
    assert.equal(classifyProbe(tcp({ error: "ECONNREFUSED" })).reached, true);
    assert.equal(classifyProbe(udp({ error: "ECONNREFUSED" })).reached, true);
    assert.match(classifyProbe(udp({ error: "ECONNREFUSED" })).how, /port unreachable/);
  });
  it("counts silence, local drops and no route as blocked", () => {
    assert.deepEqual(classifyProbe(tcp({ error: "TIMEOUT" })), {
      reached: false,
      how: "timeout (dropped)",
    });
    assert.match(classifyProbe(udp({ error: "TIMEOUT" })).how, /does not answer/);
    assert.equal(classifyProbe(udp({ error: "EPERM" })).reached, false);
    assert.equal(classifyProbe(tcp({ error: "EHOSTUNREACH" })).reached, false);
    assert.equal(classifyProbe(tcp({ error: "EOF" })).reached, false);
  });
});

describe("planCells", () => {
  const plan = planCells(ANSWER, "tcp", 80, sandboxOf);
  it("probes shared networks from the row's sandbox", () => {
    assert.equal(plan[0]![1]!.netns, "sb-aaaaaaaaaaaa1");
    assert.deepEqual(plan[0]![1]!.probes, [
      { network: "net1", probe: { kind: "tcp", addr: "10.0.1.3", port: 80 } },
    ]);
    assert.equal(plan[0]![1]!.sharedNetwork, true);
  });
  it("probes the column's addresses when no network is shared", () => {
    assert.equal(plan[0]![2]!.sharedNetwork, false);
    assert.deepEqual(
      plan[0]![2]!.probes.map((p) => p.probe.addr),
      ["10.0.2.2"],
    );
  });
  it("never probes the diagonal nor a row whose sandbox is elsewhere", () => {
    assert.match(plan[1]![1]!.notProbed!, /itself/);
    assert.equal(plan[3]![0]!.notProbed, "sandbox on another host (far)");
    assert.equal(plan[3]![0]!.probes.length, 0);
    // A column elsewhere is probed: the overlay carries it.
    assert.equal(plan[0]![3]!.probes.length, 1);
  });
});

describe("judgeCell", () => {
  const plan = planCells(ANSWER, "tcp", 80, sandboxOf);
  it("agrees and disagrees both ways", () => {
    const allowedReached = judgeCell(plan[0]![1]!, [tcp({ ok: true })]);
    assert.equal(allowedReached.probed, true);
    assert.equal(allowedReached.disagree, false);
    const allowedBlocked = judgeCell(plan[0]![1]!, [tcp({ error: "TIMEOUT" })]);
    assert.equal(allowedBlocked.disagree, true);
    assert.match(allowedBlocked.why, /net1 10\.0\.1\.3: timeout \(dropped\)/);
    const deniedReached = judgeCell(plan[0]![2]!, [tcp({ error: "ECONNREFUSED" })]);
    assert.equal(deniedReached.probed, true);
    assert.equal(deniedReached.disagree, true);
    assert.match(deniedReached.why, /^no shared network; /);
  });
  it("a split cell always disagrees", () => {
    const cell = {
      ...plan[0]![1]!,
      probes: [
        plan[0]![1]!.probes[0]!,
        { network: "net3", probe: { kind: "tcp", addr: "10.0.3.3", port: 80 } as LiveProbe },
      ],
    };
    for (const model of [true, false]) {
      const j = judgeCell({ ...cell, model }, [tcp({ ok: true }), tcp({ error: "TIMEOUT" })]);
      assert.equal(j.disagree, true);
      assert.equal(j.probed, !model);
      assert.match(j.why, /^split: /);
    }
  });
  it("a cell not probed never disagrees", () => {
    const j = judgeCell(plan[3]![0]!, []);
    assert.equal(j.probed, null);
    assert.equal(j.disagree, false);
  });
});

describe("probeReach", () => {
  it("probes once per sandbox and round, re-probes only disagreeing cells, and reports", async () => {
    const calls: { netns: string; probes: LiveProbe[] }[] = [];
    // b's first packets to a are lost (a flake), a's to b always dropped, c reached from a.
    let lost = 1;
    const probeFrom = async (netns: string, probes: LiveProbe[]) => {
      calls.push({ netns, probes });
      return probes.map((p): LiveProbeResult => {
        if (netns === "sb-bbbbbbbbbbbb1" && p.addr === "10.0.1.2" && lost-- > 0)
          return { ...p, ok: false, error: "TIMEOUT" };
        if (netns === "sb-aaaaaaaaaaaa1" && p.addr === "10.0.1.3")
          return { ...p, ok: false, error: "TIMEOUT" };
        if (p.addr === "10.0.2.2" || netns === "sb-cccccccccccc1")
          return { ...p, ok: false, error: "ENETUNREACH" };
        return { ...p, ok: true };
      });
    };
    const r = await probeReach(ANSWER, { probeFrom, sandboxOf });
    // Round 1: a, b, c (d is elsewhere); round 2: a (a->b) and b (b->a); round 3: a only.
    assert.deepEqual(
      calls.map((c) => `${c.netns}:${c.probes.length}`),
      [
        "sb-aaaaaaaaaaaa1:3",
        "sb-bbbbbbbbbbbb1:3",
        "sb-cccccccccccc1:3",
        "sb-aaaaaaaaaaaa1:1",
        "sb-bbbbbbbbbbbb1:1",
        "sb-aaaaaaaaaaaa1:1",
      ],
    );
    assert.equal(r.probed, 9);
    assert.equal(r.disagree, 1);
    assert.equal(r.cells[0]![1]!.disagree, true);
    assert.equal(r.cells[1]![0]!.disagree, false);
    assert.deepEqual(r.model, ANSWER.cells);
    const text = formatProbeReport(r);
    assert.match(text, /^port 80\/tcp \(rows reach columns/);
    assert.match(text, /^x\/a {2}\?\. {3}!X {3}X {4}\.$/m);
    assert.match(text, /^y\/d {2}\?\. {3}\?X {3}\?X {3}\?\.$/m);
    assert.match(
      text,
      /^ {2}x\/a -> y\/b 80\/tcp: model \., kernel X \(net1 10\.0\.1\.3: timeout/m,
    );
    assert.match(text, /^ {2}y\/d: sandbox on another host \(far\) \(whole row\)$/m);
    assert.match(text, /^9 cells probed, 1 disagree$/m);
    assert.doesNotMatch(text, /udp:/);
  });

  it("notes UDP's ambiguity, and refuses SCTP and an older daemon", async () => {
    const probeFrom = async (_: string, probes: LiveProbe[]) =>
      probes.map((p): LiveProbeResult => ({ ...p, ok: false, error: "TIMEOUT" }));
    const r = await probeReach({ ...ANSWER, port: "53/udp" }, { probeFrom, sandboxOf });
    assert.ok(r.cells.flat().every((c) => c.probed !== true));
    assert.match(formatProbeReport(r), /udp: silence counts as blocked/);
    await assert.rejects(probeReach({ ...ANSWER, port: "80/sctp" }, { probeFrom, sandboxOf }), {
      message: /TCP and UDP only/,
    });
    const { workloads: _, ...old } = ANSWER;
    await assert.rejects(probeReach(old, { probeFrom, sandboxOf }), { message: /older daemon/ });
  });
});
