import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkCounterReport, PolicyCounterBook, splitRule, totalsFor } from "./policy-counters.ts";

describe("policy counters on the manager", () => {
  it("sums one policy's rules over nodes, in rule order, with the oldest report's time", () => {
    const a = {
      at: "2026-01-01T00:00:10.000Z",
      rules: [
        { rule: "back/big ingress[10]", packets: 1, bytes: 60 },
        { rule: "back/big ingress[2]", packets: 2, bytes: 120 },
        { rule: "other ingress[0]", packets: 9, bytes: 9 },
      ],
      endOfTier: [],
    };
    const b = {
      at: "2026-01-01T00:00:05.000Z",
      rules: [
        { rule: "back/big ingress[2]", packets: 3, bytes: 180 },
        { rule: "back/big egress[0]", packets: 1, bytes: 40 },
      ],
      endOfTier: [{ owner: "t1", direction: "ingress" as const, packets: 4, bytes: 4 }],
    };
    assert.deepEqual(totalsFor("back/big", [a, b]), {
      counters: [
        { rule: "egress[0]", packets: 1, bytes: 40 },
        { rule: "ingress[2]", packets: 5, bytes: 300 },
        { rule: "ingress[10]", packets: 1, bytes: 60 },
      ],
      countersAt: "2026-01-01T00:00:05.000Z",
    });
    assert.deepEqual(totalsFor("back/big", []), { counters: [] });
    assert.deepEqual(splitRule("ns/a b ingress[1]"), ["ns/a b", "ingress[1]"]);
    const book = new PolicyCounterBook();
    book.record("n1", a);
    book.record("n2", b);
    book.record("n1", { ...a, rules: [] }); // the latest replaces
    assert.deepEqual(book.totals("back/big").counters.length, 2);
    assert.deepEqual(
      book.totals("back/big", (id) => id !== "n2"),
      {
        counters: [],
        countersAt: a.at,
      },
    );
    assert.equal(book.endOfTier()[0]!.packets, 4);
  });

  it("checks what agents send", () => {
    assert.throws(() => checkCounterReport({ rules: [] }), /must be/);
    assert.deepEqual(
      checkCounterReport({
        at: "t",
        rules: [{ rule: "p ingress[0]", packets: -1, bytes: "x" }, { nope: 1 }],
        endOfTier: [],
      }),
      { at: "t", rules: [{ rule: "p ingress[0]", packets: 0, bytes: 0 }], endOfTier: [] },
    );
  });
});
