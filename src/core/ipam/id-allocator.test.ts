import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isIpamError } from "./errors.ts";
import { IdAllocator, VXLAN_ID_MAX, VXLAN_ID_MIN } from "./id-allocator.ts";

const vxlan = () => new IdAllocator({ min: VXLAN_ID_MIN, max: VXLAN_ID_MAX, label: "VXLAN ID" });

describe("IdAllocator", () => {
  it("hands out VXLAN ids from 4096, lowest free first, reusing released ids", () => {
    const ids = vxlan();
    assert.equal(VXLAN_ID_MAX, 16777215);
    assert.equal(ids.size, 16777215 - 4096 + 1);
    assert.equal(ids.allocate(), 4096);
    assert.equal(ids.allocate(), 4097);
    assert.equal(ids.allocate(), 4098);
    ids.release(4096);
    assert.equal(ids.allocate(), 4096);
    assert.equal(ids.allocate(), 4099);
    assert.equal(ids.inUse, 4);
  });

  it("accepts positional arguments", () => {
    const ids = new IdAllocator(10, 12);
    assert.equal(ids.label, "ID");
    assert.deepEqual([ids.allocate(), ids.allocate(), ids.allocate()], [10, 11, 12]);
  });

  it("allocates around specific and reserved ids", () => {
    const ids = vxlan();
    ids.allocateSpecific(4096);
    ids.reserve(4098);
    ids.reserve(4098);
    assert.equal(ids.allocate(), 4097);
    assert.equal(ids.allocate(), 4099);
    assert.ok(ids.isAllocated(4098) && !ids.isAllocated(4100));
    assert.ok(!ids.isAllocated(12) && !ids.isAllocated(4096.5) && !ids.isAllocated(2 ** 24));
  });

  it("finds the lowest free id across pages", () => {
    const ids = vxlan();
    for (let i = 0; i < 200_000; i++) ids.allocate();
    ids.release(4096 + 5);
    ids.release(4096 + 150_000);
    assert.equal(ids.allocate(), 4096 + 5);
    assert.equal(ids.allocate(), 4096 + 150_000);
    assert.equal(ids.allocate(), 4096 + 200_000);
  });

  it("errors", () => {
    const ids = vxlan();
    ids.allocateSpecific(5000);
    assert.throws(() => ids.allocateSpecific(5000), {
      code: "IPAM_ID_IN_USE",
      message: "VXLAN ID 5000 is already in use",
    });
    assert.throws(() => ids.allocateSpecific(100), {
      code: "IPAM_INVALID_ID",
      message: "invalid VXLAN ID 100: must be an integer between 4096 and 16777215",
    });
    assert.throws(() => ids.reserve(4096.5), { code: "IPAM_INVALID_ID" });
    assert.throws(() => ids.release(5001), {
      code: "IPAM_NOT_ALLOCATED",
      message: "cannot release VXLAN ID 5001: it is not allocated",
    });
    ids.release(5000);
    assert.throws(() => ids.release(5000), { code: "IPAM_NOT_ALLOCATED" });
    assert.throws(() => ids.release(2 ** 24), { code: "IPAM_INVALID_ID" });
  });

  it("reports exhaustion", () => {
    const ids = new IdAllocator({ min: 1, max: 3, label: "VXLAN ID" });
    ids.allocate();
    ids.allocate();
    ids.allocate();
    assert.throws(() => ids.allocate(), {
      code: "IPAM_EXHAUSTED",
      message: "no available VXLAN IDs (range 1-3, all 3 in use)",
    });
    ids.release(2);
    assert.equal(ids.allocate(), 2);
  });

  it("rejects invalid ranges", () => {
    for (const [min, max] of [
      [5, 4],
      [-1, 4],
      [0, 2 ** 32],
      [1.5, 4],
      [0, Number.NaN],
    ]) {
      assert.throws(() => new IdAllocator({ min: min!, max: max! }), { code: "IPAM_INVALID_POOL" });
    }
    assert.throws(() => new IdAllocator(5, 4), {
      message: "invalid ID range 5-4: bounds must be integers, 0 <= min <= max <= 4294967295",
    });
    new IdAllocator(0, 2 ** 32 - 1).allocate();
  });

  it("always returns the lowest free id (property, vs a model)", () => {
    const op = fc.oneof(
      { weight: 4, arbitrary: fc.constant({ t: "alloc" as const }) },
      { weight: 2, arbitrary: fc.record({ t: fc.constant("release" as const), n: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("specific" as const), n: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("reserve" as const), n: fc.nat() }) },
    );
    fc.assert(
      fc.property(
        fc.nat({ max: 100_000 }),
        fc.integer({ min: 1, max: 300 }),
        fc.array(op, { maxLength: 400 }),
        (min, size, ops) => {
          const max = min + size - 1;
          const ids = new IdAllocator({ min, max });
          const live = new Set<number>();
          for (const o of ops) {
            if (o.t === "alloc") {
              let expect = -1;
              for (let id = min; id <= max && expect < 0; id++) if (!live.has(id)) expect = id;
              if (expect < 0) {
                assert.throws(
                  () => ids.allocate(),
                  (e) => isIpamError(e, "IPAM_EXHAUSTED"),
                );
              } else {
                assert.equal(ids.allocate(), expect);
                live.add(expect);
              }
            } else {
              const id = min + (o.n % size);
              let code: string | undefined;
              try {
                if (o.t === "release") ids.release(id);
                else if (o.t === "specific") ids.allocateSpecific(id);
                else ids.reserve(id);
              } catch (e) {
                assert.ok(isIpamError(e));
                code = e.code;
              }
              if (o.t === "release") {
                assert.equal(code, live.has(id) ? undefined : "IPAM_NOT_ALLOCATED");
                live.delete(id);
              } else {
                const taken = live.has(id) && o.t === "specific";
                assert.equal(code, taken ? "IPAM_ID_IN_USE" : undefined);
                live.add(id);
              }
            }
            assert.equal(ids.inUse, live.size);
          }
          for (let id = min; id <= max; id++) assert.equal(ids.isAllocated(id), live.has(id));
        },
      ),
      { numRuns: 300 },
    );
  });
});
