// Contract tests for watches and leases (part of storeSuite in store.suite.ts).

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type OpenStore, record, rejectsWith, waitUntil, withStore } from "./store.suite-util.ts";

export function watchSuite(open: OpenStore): void {
  it("watch from a past revision replays history grouped per revision, then goes live", () =>
    withStore(open, async ({ store }) => {
      const r1 = await store.put("a/1", "x");
      const r2 = await store.put("a/2", "y");
      await store.delete("a/1");
      const r3 = r2 + 1;
      await store.put("b/1", "other prefix");
      const r5 = (
        await store.txn({
          compare: [],
          success: [
            { type: "put", key: "a/3", value: "z" },
            { type: "put", key: "a/2", value: "y2" },
          ],
        })
      ).revision;
      const w = record(store, "a/", r1);
      await w.waitFor(r5);
      const r6 = await store.put("a/4", "live");
      await w.waitFor(r6);
      w.watcher.cancel();
      assert.deepEqual(w.errors, []);
      const shape = w.groups.map((g) => [g.revision, g.events.map((e) => [e.type, e.kv.key])]);
      assert.deepEqual(shape, [
        [r1, [["put", "a/1"]]],
        [r2, [["put", "a/2"]]],
        [r3, [["delete", "a/1"]]],
        [
          r5,
          [
            ["put", "a/3"],
            ["put", "a/2"],
          ],
        ],
        [r6, [["put", "a/4"]]],
      ]);
      const del = w.groups[2]!.events[0]!;
      assert.equal(del.kv.value, "");
      assert.equal(del.kv.modRevision, r3);
      if (del.prevKv) assert.equal(del.prevKv.value, "x");
      const upd = w.groups[3]!.events[1]!.kv;
      assert.deepEqual(
        [upd.value, upd.createRevision, upd.modRevision, upd.version],
        ["y2", r2, r5, 2],
      );
    }));

  it("watch without fromRevision sees only later changes", () =>
    withStore(open, async ({ store }) => {
      await store.put("k/old", "1");
      const w = record(store, "k/");
      const r = await store.put("k/new", "2");
      await w.waitFor(r);
      w.watcher.cancel();
      assert.deepEqual(
        w.events().map((e) => e.kv.key),
        ["k/new"],
      );
    }));

  it("delivers concurrent writes in revision order, each exactly once", () =>
    withStore(open, async ({ store }) => {
      const r0 = await store.revision();
      const w = record(store, "c/", r0 + 1);
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 200; i++) {
        const key = `c/${i % 7}`;
        writes.push(
          i % 5 === 0
            ? store.txn({ compare: [], success: [{ type: "put", key: `c/t${i}`, value: "t" }] })
            : store.put(key, String(i)),
        );
      }
      await Promise.all(writes);
      await w.waitFor(r0 + 200);
      w.watcher.cancel();
      assert.deepEqual(
        w.groups.map((g) => g.revision),
        Array.from({ length: 200 }, (_, i) => r0 + 1 + i),
      );
      for (const g of w.groups)
        for (const e of g.events) assert.equal(e.kv.modRevision, g.revision);
      const versions = new Map<string, number>();
      for (const e of w.events()) {
        assert.equal(e.kv.version, (versions.get(e.kv.key) ?? 0) + 1, e.kv.key);
        versions.set(e.kv.key, e.kv.version);
      }
    }));

  it("a callback may write to the store without being re-entered", () =>
    withStore(open, async ({ store }) => {
      const seen: string[] = [];
      let depth = 0;
      const w = store.watch("e/", {
        onEvents: (events) => {
          depth++;
          assert.equal(depth, 1);
          for (const e of events) {
            seen.push(e.kv.key);
            if (e.kv.key.length < 6) void store.put(e.kv.key + "x", "echo");
          }
          depth--;
        },
      });
      await store.put("e/a", "1");
      await waitUntil(() => seen.length === 4, "echo chain");
      w.cancel();
      assert.deepEqual(seen, ["e/a", "e/ax", "e/axx", "e/axxx"]);
    }));

  it("resuming from the last seen revision + 1 misses nothing", () =>
    withStore(open, async ({ store }) => {
      const r0 = await store.revision();
      const first = record(store, "r/", r0 + 1);
      for (let i = 0; i < 10; i++) await store.put(`r/${i % 3}`, String(i));
      await first.waitFor(r0 + 10);
      first.watcher.cancel();
      const seen = first.last();
      const writes = Array.from({ length: 10 }, (_, i) => store.put(`r/${i % 4}`, `b${i}`));
      await Promise.all(writes);
      const second = record(store, "r/", seen + 1);
      await second.waitFor(r0 + 20);
      second.watcher.cancel();
      assert.equal(first.last(), seen, "no callback after cancel");
      const revs = [...first.groups, ...second.groups].map((g) => g.revision);
      assert.deepEqual(
        revs,
        Array.from({ length: 20 }, (_, i) => r0 + 1 + i),
      );
    }));

  it("reports STORE_COMPACTED for a revision older than the retained history", (t) =>
    withStore(open, async (f) => {
      if (!f.compact) return t.skip("backend has no compaction hook");
      const r1 = await f.store.put("h/1", "1");
      await f.store.put("h/1", "2");
      await f.compact(f.store);
      const old = record(f.store, "h/", r1);
      await waitUntil(() => old.errors.length > 0, "STORE_COMPACTED");
      assert.equal(old.errors[0]!.code, "STORE_COMPACTED");
      assert.deepEqual(old.groups, []);
      const fresh = record(f.store, "h/");
      const r3 = await f.store.put("h/1", "3");
      await fresh.waitFor(r3);
      fresh.watcher.cancel();
      assert.deepEqual(fresh.errors, []);
    }));
}

export function leaseSuite(open: OpenStore): void {
  // Lease tests wait for real expiry, so they run side by side.
  describe("leases", { concurrency: true }, () => {
    it("expiry deletes the lease's keys with delete events", () =>
      withStore(open, async ({ store }) => {
        const lease = await store.grantLease(1);
        assert.ok(lease.ttlSeconds >= 1);
        const r = await store.put("l/a", "1", { lease: lease.id });
        await store.put("l/b", "2");
        assert.equal((await store.get("l/a"))?.lease, lease.id);
        const w = record(store, "l/", r + 2);
        const limit = (lease.ttlSeconds + 10) * 1000;
        await waitUntil(async () => (await store.get("l/a")) === undefined, "lease expiry", limit);
        await waitUntil(() => w.events().length > 0, "delete event");
        w.watcher.cancel();
        assert.deepEqual(
          w.events().map((e) => [e.type, e.kv.key]),
          [["delete", "l/a"]],
        );
        assert.equal((await store.get("l/b"))?.value, "2");
        await rejectsWith(store.keepAlive(lease.id), "STORE_LEASE_NOT_FOUND");
        await rejectsWith(store.put("l/c", "3", { lease: lease.id }), "STORE_LEASE_NOT_FOUND");
      }));

    it("keepAlive keeps the keys past the TTL", () =>
      withStore(open, async ({ store }) => {
        const lease = await store.grantLease(1);
        await store.put("k/a", "1", { lease: lease.id });
        const ttlMs = lease.ttlSeconds * 1000;
        for (let waited = 0; waited < 2.5 * ttlMs; waited += ttlMs / 4) {
          await store.keepAlive(lease.id);
          await new Promise((r) => setTimeout(r, ttlMs / 4));
        }
        assert.equal((await store.get("k/a"))?.value, "1");
        const limit = (lease.ttlSeconds + 10) * 1000;
        await waitUntil(async () => (await store.get("k/a")) === undefined, "lease expiry", limit);
      }));

    it("revoke deletes the keys at once, in one revision", () =>
      withStore(open, async ({ store }) => {
        const lease = await store.grantLease(60);
        await store.put("v/a", "1", { lease: lease.id });
        const r = await store.put("v/b", "2", { lease: lease.id });
        await store.put("v/c", "3");
        const w = record(store, "v/", r + 2);
        await store.revokeLease(lease.id);
        assert.equal(await store.revision(), r + 2);
        assert.deepEqual(
          (await store.range("v/")).kvs.map((kv) => kv.key),
          ["v/c"],
        );
        await w.waitFor(r + 2);
        w.watcher.cancel();
        assert.deepEqual(
          w.groups.map((g) => [g.revision, g.events.map((e) => `${e.type} ${e.kv.key}`)]),
          [[r + 2, ["delete v/a", "delete v/b"]]],
        );
        await rejectsWith(store.revokeLease(lease.id), "STORE_LEASE_NOT_FOUND");
        await rejectsWith(store.keepAlive(lease.id), "STORE_LEASE_NOT_FOUND");
      }));

    it("a put with an unknown lease is rejected and changes nothing", () =>
      withStore(open, async ({ store }) => {
        const lease = await store.grantLease(60);
        await store.revokeLease(lease.id);
        const r0 = await store.revision();
        await rejectsWith(store.put("u", "1", { lease: lease.id }), "STORE_LEASE_NOT_FOUND");
        const txn = store.txn({
          compare: [],
          success: [
            { type: "put", key: "u/1", value: "1" },
            { type: "put", key: "u/2", value: "1", lease: lease.id },
          ],
        });
        await rejectsWith(txn, "STORE_LEASE_NOT_FOUND");
        assert.equal(await store.revision(), r0);
        assert.deepEqual((await store.range("u")).kvs, []);
      }));

    it("a put without lease detaches the key from its lease", () =>
      withStore(open, async ({ store }) => {
        const lease = await store.grantLease(60);
        await store.put("d/a", "1", { lease: lease.id });
        await store.put("d/a", "2");
        assert.equal((await store.get("d/a"))?.lease, 0);
        await store.revokeLease(lease.id);
        assert.equal((await store.get("d/a"))?.value, "2");
      }));
  });
}
