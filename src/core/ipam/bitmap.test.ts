import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Bitmap } from "./bitmap.ts";

const PAGE = 65536;

/** Lowest clear bit of the model in [from, to], or -1. */
function modelFindZero(model: Uint8Array, from: number, to: number): number {
  for (let i = from; i <= Math.min(to, model.length - 1); i++) if (model[i] === 0) return i;
  return -1;
}

describe("Bitmap", () => {
  it("sets, clears and counts", () => {
    const b = new Bitmap(100);
    assert.equal(b.set(5), true);
    assert.equal(b.set(5), false);
    assert.equal(b.get(5), true);
    assert.equal(b.count, 1);
    assert.equal(b.clear(5), true);
    assert.equal(b.clear(5), false);
    assert.equal(b.clear(99), false);
    assert.equal(b.count, 0);
  });

  it("finds zeros within bounds, never past the end", () => {
    const b = new Bitmap(3);
    b.set(0);
    b.set(1);
    assert.equal(b.findZero(0, 2), 2);
    b.set(2);
    assert.equal(b.findZero(0, 2), -1);
    assert.equal(b.findZero(0, 100), -1); // bits 3..31 of the word do not exist
    const c = new Bitmap(40);
    for (let i = 0; i < 40; i++) c.set(i);
    assert.equal(c.findZero(0, 39), -1);
    c.clear(33);
    assert.equal(c.findZero(0, 39), 33);
    assert.equal(c.findZero(34, 39), -1);
    assert.equal(c.findZero(0, 32), -1);
  });

  it("skips full words and full pages, across page boundaries", () => {
    const b = new Bitmap(3 * PAGE + 100);
    for (let i = 0; i < 2 * PAGE + 77; i++) b.set(i);
    assert.equal(b.findZero(0, b.size - 1), 2 * PAGE + 77);
    assert.equal(b.findZero(10, 2 * PAGE + 76), -1);
    b.clear(PAGE - 1);
    assert.equal(b.findZero(0, b.size - 1), PAGE - 1);
    assert.equal(b.findZero(PAGE, b.size - 1), 2 * PAGE + 77);
    b.clear(PAGE + 1000);
    assert.equal(b.findZero(PAGE, b.size - 1), PAGE + 1000);
    // An untouched page is all clear.
    assert.equal(b.findZero(3 * PAGE, b.size - 1), 3 * PAGE);
    assert.equal(b.count, 2 * PAGE + 77 - 2);
  });

  it("handles a 2^32-bit bitmap without allocating it", () => {
    const b = new Bitmap(2 ** 32);
    assert.equal(b.findZero(0, 2 ** 32 - 1), 0);
    b.set(2 ** 32 - 1);
    assert.equal(b.get(2 ** 32 - 1), true);
    assert.equal(b.findZero(2 ** 32 - 1, 2 ** 32 - 1), -1);
    assert.equal(b.findZero(2 ** 32 - 2, 2 ** 32 - 1), 2 ** 32 - 2);
  });

  it("rejects invalid sizes", () => {
    for (const n of [0, -1, 1.5, 2 ** 32 + 1]) assert.throws(() => new Bitmap(n), RangeError);
  });

  it("agrees with a byte-array model under random operations (property)", () => {
    const sizes = [1, 31, 32, 33, 1000, PAGE, PAGE + 1, 2 * PAGE + 40];
    // Indices cluster around word, summary and page boundaries, where bugs live.
    const index = fc.oneof(
      fc.nat(),
      fc
        .tuple(
          fc.constantFrom(0, 31, 32, 1023, 1024, PAGE - 1, PAGE, 2 * PAGE),
          fc.integer({ min: -3, max: 3 }),
        )
        .map(([a, d]) => Math.max(0, a + d)),
    );
    const op = fc.oneof(
      fc.record({ t: fc.constant("set" as const), i: index }),
      fc.record({ t: fc.constant("clear" as const), i: index }),
      fc.record({
        t: fc.constant("fill" as const),
        i: index,
        n: fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constant(PAGE + 5)),
      }),
      fc.record({ t: fc.constant("find" as const), i: index, n: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...sizes), fc.array(op, { maxLength: 60 }), (size, ops) => {
        const b = new Bitmap(size);
        const model = new Uint8Array(size);
        let count = 0;
        for (const o of ops) {
          const i = o.i % size;
          if (o.t === "set") {
            assert.equal(b.set(i), model[i] === 0);
            if (model[i] === 0) count++;
            model[i] = 1;
          } else if (o.t === "clear") {
            assert.equal(b.clear(i), model[i] === 1);
            if (model[i] === 1) count--;
            model[i] = 0;
          } else if (o.t === "fill") {
            for (let j = i; j < Math.min(size, i + o.n); j++) {
              if (model[j] === 0) count++;
              model[j] = 1;
              b.set(j);
            }
          } else {
            const to = i + (o.n % (size - i));
            assert.equal(b.findZero(i, to), modelFindZero(model, i, to));
            assert.equal(b.findZero(i, size - 1), modelFindZero(model, i, size - 1));
          }
          assert.equal(b.count, count);
          assert.equal(b.get(i), model[i] === 1);
        }
      }),
      { numRuns: 300 },
    );
  });
});
