// The store contract as a test suite, run against every backend (embedded.test.ts,
// and the etcd backend's test). It tests only the Store interface, and assumes
// nothing about absolute revision numbers, only how they move.

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type OpenStore, rejectsWith, withStore } from "./store.suite-util.ts";
import { leaseSuite, watchSuite } from "./store.suite-watch.ts";
import type { Compare, Store } from "./store.ts";

export type { OpenStore, StoreFixture } from "./store.suite-util.ts";

export function storeSuite(name: string, open: OpenStore): void {
  describe(`store contract: ${name}`, () => {
    kvSuite(open);
    txnSuite(open);
    watchSuite(open);
    leaseSuite(open);
    lifecycleSuite(open);
  });
}

function kvSuite(open: OpenStore): void {
  it("get, put and delete track createRevision, modRevision and version", () =>
    withStore(open, async ({ store }) => {
      assert.equal(await store.get("k"), undefined);
      const r1 = await store.put("k", "v1");
      assert.deepEqual(await store.get("k"), {
        key: "k",
        value: "v1",
        createRevision: r1,
        modRevision: r1,
        version: 1,
        lease: 0,
      });
      const r2 = await store.put("k", "v2");
      assert.equal(r2, r1 + 1);
      const kv = await store.get("k");
      assert.deepEqual(
        [kv?.value, kv?.createRevision, kv?.modRevision, kv?.version],
        ["v2", r1, r2, 2],
      );
      assert.equal(await store.delete("k"), true);
      assert.equal(await store.get("k"), undefined);
      assert.equal(await store.delete("k"), false);
      const r4 = await store.put("k", "v3");
      const again = await store.get("k");
      assert.deepEqual([again?.createRevision, again?.version], [r4, 1]);
    }));

  it("range returns the keys under a prefix, sorted", () =>
    withStore(open, async ({ store }) => {
      for (const k of ["a/b", "b", "a/a", "a0", "a/", "a/a/x", "a"]) await store.put(k, `v-${k}`);
      const rev = await store.revision();
      const r = await store.range("a/");
      assert.equal(r.revision, rev);
      assert.deepEqual(
        r.kvs.map((kv) => [kv.key, kv.value]),
        ["a/", "a/a", "a/a/x", "a/b"].map((k) => [k, `v-${k}`]),
      );
      const all = await store.range("");
      assert.deepEqual(
        all.kvs.map((kv) => kv.key),
        ["a", "a/", "a/a", "a/a/x", "a/b", "a0", "b"],
      );
      assert.deepEqual((await store.range("zz")).kvs, []);
    }));

  it("bumps the revision once per writing transaction, never for one writing nothing", () =>
    withStore(open, async ({ store }) => {
      const r0 = await store.revision();
      assert.ok(Number.isInteger(r0) && r0 >= 1);
      assert.equal(await store.put("x", "1"), r0 + 1);
      const t = await store.txn({
        compare: [],
        success: [
          { type: "put", key: "y", value: "1" },
          { type: "put", key: "z", value: "1" },
          { type: "delete", key: "x" },
        ],
      });
      assert.deepEqual(t, { succeeded: true, revision: r0 + 2 });
      assert.equal((await store.get("y"))?.modRevision, r0 + 2);
      assert.equal((await store.get("z"))?.modRevision, r0 + 2);
      assert.equal(await store.delete("absent"), false);
      const none = await store.txn({
        compare: [],
        success: [{ type: "deletePrefix", prefix: "q/" }],
      });
      assert.deepEqual(none, { succeeded: true, revision: r0 + 2 });
      const failed = await store.txn({
        compare: [{ key: "y", target: "value", op: "==", value: "no" }],
        success: [{ type: "put", key: "y", value: "2" }],
      });
      assert.deepEqual(failed, { succeeded: false, revision: r0 + 2 });
      assert.equal(await store.revision(), r0 + 2);
    }));

  it("deletePrefix deletes exactly the keys under the prefix, in one revision", () =>
    withStore(open, async ({ store }) => {
      for (const k of ["p/a", "p/b", "p/c/d", "pa", "q"]) await store.put(k, "v");
      const r0 = await store.revision();
      const t = await store.txn({ compare: [], success: [{ type: "deletePrefix", prefix: "p/" }] });
      assert.equal(t.revision, r0 + 1);
      assert.deepEqual(
        (await store.range("")).kvs.map((kv) => kv.key),
        ["pa", "q"],
      );
      await store.txn({ compare: [], success: [{ type: "deletePrefix", prefix: "" }] });
      assert.deepEqual((await store.range("")).kvs, []);
    }));

  it("rejects invalid input with STORE_INVALID and changes nothing", () =>
    withStore(open, async ({ store }) => {
      await store.put("a", "1");
      const r0 = await store.revision();
      await rejectsWith(store.put("", "v"), "STORE_INVALID");
      await rejectsWith(store.get(""), "STORE_INVALID");
      await rejectsWith(store.delete(""), "STORE_INVALID");
      await rejectsWith(store.put("k", 5 as unknown as string), "STORE_INVALID");
      await rejectsWith(store.grantLease(0), "STORE_INVALID");
      await rejectsWith(store.grantLease(-1), "STORE_INVALID");
      // etcd's "duplicate key given in txn request": a key changes once per txn.
      const dup = (success: Parameters<Store["txn"]>[0]["success"]) =>
        rejectsWith(store.txn({ compare: [], success }), "STORE_INVALID");
      await dup([
        { type: "put", key: "k", value: "1" },
        { type: "put", key: "k", value: "2" },
      ]);
      await dup([
        { type: "put", key: "k", value: "1" },
        { type: "delete", key: "k" },
      ]);
      await dup([
        { type: "deletePrefix", prefix: "k" },
        { type: "put", key: "k/1", value: "1" },
      ]);
      assert.equal(await store.revision(), r0);
      assert.deepEqual(
        (await store.range("")).kvs.map((kv) => kv.key),
        ["a"],
      );
    }));
}

function txnSuite(open: OpenStore): void {
  it("txn compares every target with every op, on present and absent keys", () =>
    withStore(open, async ({ store }) => {
      const c = await store.put("k", "v1");
      await store.put("other", "x");
      const m = await store.put("k", "v2");
      const cases: [Compare, boolean][] = [];
      const num = (target: Compare["target"], actual: number, key = "k") => {
        const add = (op: Compare["op"], value: number, ok: boolean) =>
          cases.push([{ key, target, op, value }, ok]);
        add("==", actual, true);
        add("==", actual + 1, false);
        add("!=", actual, false);
        add("!=", actual + 1, true);
        add("<", actual + 1, true);
        add("<", actual, false);
        add(">", actual - 1, true);
        add(">", actual, false);
      };
      num("createRevision", c);
      num("modRevision", m);
      num("version", 2);
      num("createRevision", 0, "absent");
      num("modRevision", 0, "absent");
      num("version", 0, "absent");
      const str = (op: Compare["op"], value: string, ok: boolean, key = "k") =>
        cases.push([{ key, target: "value", op, value }, ok]);
      str("==", "v2", true);
      str("==", "v1", false);
      str("!=", "v1", true);
      str("!=", "v2", false);
      str("<", "v3", true);
      str("<", "v2", false);
      str(">", "v1", true);
      str(">", "v2", false);
      // Any value comparison with an absent key is false, even "!=".
      for (const op of ["==", "!=", "<", ">"] as const) str(op, "", false, "absent");
      for (const [compare, expected] of cases) {
        const t = await store.txn({
          compare: [compare],
          success: [{ type: "put", key: "branch", value: "success" }],
          failure: [{ type: "put", key: "branch", value: "failure" }],
        });
        const label = JSON.stringify(compare);
        assert.equal(t.succeeded, expected, label);
        assert.equal((await store.get("branch"))?.value, expected ? "success" : "failure", label);
        assert.equal(t.revision, await store.revision(), label);
      }
    }));

  it("txn needs every compare to hold, and applies all ops of the chosen branch", () =>
    withStore(open, async ({ store }) => {
      const r = await store.put("k", "v");
      await store.put("gone", "x");
      await store.put("p/1", "x");
      const holds: Compare = { key: "k", target: "modRevision", op: "==", value: r };
      const fails: Compare = { key: "k", target: "version", op: ">", value: 5 };
      const ops = [
        { type: "put", key: "new", value: "n" },
        { type: "delete", key: "gone" },
        { type: "deletePrefix", prefix: "p/" },
      ] as const;
      const no = await store.txn({ compare: [holds, fails], success: [...ops] });
      assert.equal(no.succeeded, false);
      assert.equal(await store.get("new"), undefined);
      const yes = await store.txn({ compare: [holds], success: [...ops], failure: [] });
      assert.equal(yes.succeeded, true);
      const keys = (await store.range("")).kvs.map((kv) => [kv.key, kv.modRevision]);
      assert.deepEqual(keys, [
        ["k", r],
        ["new", yes.revision],
      ]);
    }));
}

function lifecycleSuite(open: OpenStore): void {
  it("keeps data, revisions and leases across reopen", (t) =>
    withStore(open, async (f) => {
      if (!f.reopen) return t.skip("backend is not reopenable");
      const lease = await f.store.grantLease(60);
      await f.store.put("a", "1");
      await f.store.put("b", "2", { lease: lease.id });
      await f.store.txn({ compare: [], success: [{ type: "put", key: "a", value: "3" }] });
      await f.store.delete("gone");
      const before = await f.store.range("");
      const store = await f.reopen();
      assert.deepEqual(await store.range(""), before);
      assert.equal(await store.revision(), before.revision);
      await store.keepAlive(lease.id);
      assert.equal(await store.put("c", "4"), before.revision + 1);
      await store.revokeLease(lease.id);
      assert.equal(await store.get("b"), undefined);
    }));

  it("rejects every operation with STORE_CLOSED once closed", () =>
    withStore(open, async ({ store }) => {
      const lease = await store.grantLease(60);
      await store.close();
      await store.close(); // idempotent
      await rejectsWith(store.get("k"), "STORE_CLOSED");
      await rejectsWith(store.range(""), "STORE_CLOSED");
      await rejectsWith(store.put("k", "v"), "STORE_CLOSED");
      await rejectsWith(store.delete("k"), "STORE_CLOSED");
      await rejectsWith(store.txn({ compare: [], success: [] }), "STORE_CLOSED");
      await rejectsWith(store.grantLease(5), "STORE_CLOSED");
      await rejectsWith(store.keepAlive(lease.id), "STORE_CLOSED");
      await rejectsWith(store.revokeLease(lease.id), "STORE_CLOSED");
      await rejectsWith(store.revision(), "STORE_CLOSED");
      const err = await new Promise((resolve) => {
        store.watch("", { onEvents: () => resolve("events"), onError: resolve });
      });
      assert.ok(err instanceof Error && "code" in err && err.code === "STORE_CLOSED");
    }));
}
