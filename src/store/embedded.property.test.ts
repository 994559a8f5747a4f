// Property test: random sequences of operations (with reopens and aggressive
// compaction) applied to the embedded store agree with a naive model, and a
// watcher replaying the events rebuilds the same state.

import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import fc from "fast-check";
import { type EmbeddedStoreOptions, openEmbeddedStore } from "./embedded.ts";
import { waitUntil } from "./store.suite-util.ts";
import type { Compare, KeyValue, Op, Store, TxnRequest, TxnResult, Watcher } from "./store.ts";
import { isStoreError } from "./store.ts";

/** Byte order of UTF-8, computed independently of the store's own comparison. */
const byteCmp = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

class Model {
  rev = 1;
  kvs = new Map<string, KeyValue>();

  txn(req: TxnRequest): TxnResult | "invalid" {
    if (!valid(req.success) || !valid(req.failure ?? [])) return "invalid";
    const succeeded = req.compare.every((c) => this.holds(c));
    const rev = this.rev + 1;
    let changed = false;
    const del = (key: string) => {
      changed = this.kvs.delete(key) || changed;
    };
    for (const op of succeeded ? req.success : (req.failure ?? [])) {
      if (op.type === "put") {
        const prev = this.kvs.get(op.key);
        this.kvs.set(op.key, {
          key: op.key,
          value: op.value,
          createRevision: prev?.createRevision ?? rev,
          modRevision: rev,
          version: (prev?.version ?? 0) + 1,
          lease: 0,
        });
        changed = true;
      } else if (op.type === "delete") del(op.key);
      else for (const key of [...this.kvs.keys()]) if (key.startsWith(op.prefix)) del(key);
    }
    if (changed) this.rev = rev;
    return { succeeded, revision: this.rev };
  }

  sorted(): KeyValue[] {
    return [...this.kvs.values()].sort((a, b) => byteCmp(a.key, b.key));
  }

  private holds(c: Compare): boolean {
    const kv = this.kvs.get(c.key);
    if (c.target === "value" && kv === undefined) return false;
    const d =
      c.target === "value"
        ? byteCmp(kv!.value, c.value as string)
        : (kv?.[c.target] ?? 0) - (c.value as number);
    return c.op === "==" ? d === 0 : c.op === "!=" ? d !== 0 : c.op === "<" ? d < 0 : d > 0;
  }
}

function valid(ops: Op[]): boolean {
  const puts = ops.flatMap((o) => (o.type === "put" ? [o.key] : []));
  if (new Set(puts).size !== puts.length) return false;
  return !ops.some(
    (o) =>
      (o.type === "delete" && puts.includes(o.key)) ||
      (o.type === "deletePrefix" && puts.some((k) => k.startsWith(o.prefix))),
  );
}

const key = fc.constantFrom("a", "a/b", "a/c", "ab", "b", "b/a", "é", "\uffff", "😀", "😀/x");
const value = fc.string({ unit: "binary", maxLength: 4 });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ type: fc.constant("put" as const), key, value }),
  fc.record({ type: fc.constant("delete" as const), key }),
  fc.record({
    type: fc.constant("deletePrefix" as const),
    prefix: fc.constantFrom("", "a", "a/", "b", "😀", "z"),
  }),
);
const compare: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({
    key,
    target: fc.constantFrom("modRevision" as const, "createRevision" as const, "version" as const),
    op: fc.constantFrom("==" as const, "!=" as const, "<" as const, ">" as const),
    value: fc.integer({ min: 0, max: 12 }),
  }),
  fc.record({
    key,
    target: fc.constant("value" as const),
    op: fc.constantFrom("==" as const, "!=" as const, "<" as const, ">" as const),
    value,
  }),
);
type Cmd = { t: "txn"; req: TxnRequest } | { t: "reopen" };
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 10, arbitrary: op.map((o): Cmd => ({ t: "txn", req: { compare: [], success: [o] } })) },
  {
    weight: 6,
    arbitrary: fc
      .record({
        compare: fc.array(compare, { maxLength: 2 }),
        success: fc.array(op, { maxLength: 3 }),
        failure: fc.array(op, { maxLength: 2 }),
      })
      .map((req): Cmd => ({ t: "txn", req })),
  },
  { weight: 1, arbitrary: fc.constant<Cmd>({ t: "reopen" }) },
);

/** Follows the store through a watch, falling back to a range after STORE_COMPACTED. */
class Replica {
  kvs = new Map<string, KeyValue>();
  rev = 1;
  private watcher: Watcher | undefined;
  private lost = false;
  /** Recorded, not thrown: a throw in a callback would escape the test. */
  private error: string | undefined;

  async follow(store: Store): Promise<void> {
    if (this.lost) {
      const r = await store.range("");
      this.kvs = new Map(r.kvs.map((kv) => [kv.key, kv]));
      this.rev = r.revision;
      this.lost = false;
    }
    this.watcher = store.watch("", {
      fromRevision: this.rev + 1,
      onEvents: (events, revision) => {
        if (revision !== this.rev + 1) this.error ??= `got revision ${revision} after ${this.rev}`;
        for (const e of events) {
          if (e.type === "put") this.kvs.set(e.kv.key, e.kv);
          else this.kvs.delete(e.kv.key);
        }
        this.rev = revision;
      },
      onError: (err) => {
        if (!isStoreError(err, "STORE_COMPACTED")) this.error ??= String(err);
        this.lost = true;
      },
    });
  }

  /** Waits until caught up with the model (or lost), then compares. */
  async check(store: Store, model: Model): Promise<void> {
    await waitUntil(() => this.rev >= model.rev || this.lost, "watch to catch up");
    assert.equal(this.error, undefined);
    if (this.lost) {
      this.watcher?.cancel();
      await this.follow(store);
    }
    assert.deepEqual(
      [...this.kvs.values()].sort((a, b) => byteCmp(a.key, b.key)),
      model.sorted(),
    );
  }
}

it("embedded store matches a naive model across random ops, reopens and compactions", async () => {
  const opts = fc.record({
    compactAfterRecords: fc.integer({ min: 1, max: 30 }),
    historyLimit: fc.integer({ min: 1, max: 100 }),
  });
  await fc.assert(
    fc.asyncProperty(opts, fc.array(cmd, { maxLength: 60, size: "medium" }), async (o, cmds) => {
      const options: EmbeddedStoreOptions = { ...o, leaseCheckIntervalMs: 1000 };
      const dir = await mkdtemp(join(tmpdir(), "swarmnet-store-"));
      let store = await openEmbeddedStore(dir, options);
      try {
        const model = new Model();
        const replica = new Replica();
        await replica.follow(store);
        const reopen = async () => {
          await replica.check(store, model);
          await store.close();
          store = await openEmbeddedStore(dir, options);
          await replica.follow(store);
        };
        for (const c of cmds) {
          if (c.t === "reopen") {
            await reopen();
            continue;
          }
          const expected = model.txn(c.req);
          const actual = await store.txn(c.req).catch((err) => {
            if (isStoreError(err, "STORE_INVALID")) return "invalid" as const;
            throw err;
          });
          assert.deepEqual(actual, expected, JSON.stringify(c.req));
        }
        for (let round = 0; round < 2; round++) {
          assert.deepEqual((await store.range("")).kvs, model.sorted());
          assert.equal(await store.revision(), model.rev);
          if (round === 0) await reopen();
        }
        await replica.check(store, model);
      } finally {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: 100 },
  );
});
