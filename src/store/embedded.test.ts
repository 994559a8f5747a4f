import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  type EmbeddedStore,
  type EmbeddedStoreOptions,
  openEmbeddedStore,
  STORE_FILE,
} from "./embedded.ts";
import { storeSuite } from "./store.suite.ts";
import { record, rejectsWith, type StoreFixture, waitUntil } from "./store.suite-util.ts";
import { isStoreError } from "./store.ts";

interface EmbeddedFixture extends StoreFixture {
  dir: string;
  store: EmbeddedStore;
  reopen: () => Promise<EmbeddedStore>;
}

async function embeddedFixture(opts: EmbeddedStoreOptions = {}): Promise<EmbeddedFixture> {
  const dir = await mkdtemp(join(tmpdir(), "swarmnet-store-"));
  const options = { leaseCheckIntervalMs: 50, ...opts };
  const f: EmbeddedFixture = {
    dir,
    store: await openEmbeddedStore(dir, options),
    reopen: async () => {
      await f.store.close();
      f.store = await openEmbeddedStore(dir, options);
      return f.store;
    },
    compact: (store) => (store as EmbeddedStore).compact(),
    cleanup: async () => {
      await f.store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return f;
}

async function withEmbedded(
  opts: EmbeddedStoreOptions,
  fn: (f: EmbeddedFixture) => Promise<void>,
): Promise<void> {
  const f = await embeddedFixture(opts);
  try {
    await fn(f);
  } finally {
    await f.cleanup();
  }
}

const lines = async (f: EmbeddedFixture) =>
  (await readFile(join(f.dir, STORE_FILE), "utf8")).split("\n").filter((l) => l !== "");

storeSuite("embedded", () => embeddedFixture());

describe("embedded store", () => {
  it("starts at revision 1 like etcd, so the first write is revision 2", () =>
    withEmbedded({}, async (f) => {
      assert.equal(await f.store.revision(), 1);
      assert.equal(await f.store.put("a", "1"), 2);
      assert.equal((await lines(f)).length, 1);
    }));

  it("replays the whole log on reopen, watch history included", () =>
    withEmbedded({}, async (f) => {
      await f.store.put("a", "1");
      await f.store.put("a", "2");
      await f.store.delete("a");
      const store = await f.reopen();
      assert.equal(await store.revision(), 4);
      const w = record(store, "", 1);
      await w.waitFor(4);
      assert.deepEqual(
        w.events().map((e) => [e.type, e.kv.value, e.kv.modRevision]),
        [
          ["put", "1", 2],
          ["put", "2", 3],
          ["delete", "", 4],
        ],
      );
    }));

  it("ignores a torn last line and keeps appending after the good ones", () =>
    withEmbedded({}, async (f) => {
      await f.store.put("a", "1");
      await f.store.put("b", "2");
      await f.store.close();
      const file = join(f.dir, STORE_FILE);
      await appendFile(file, '00000000 {"rev":4,"ev":[["p","c"');
      let store = await f.reopen();
      assert.equal(await store.revision(), 3);
      assert.equal(await store.put("c", "3"), 4);
      // A complete line with a bad checksum at the end is a torn batch too.
      await store.close();
      await appendFile(file, '12345678 {"rev":5,"ev":[["p","d","4",0]]}\n');
      store = await f.reopen();
      assert.deepEqual(
        (await store.range("")).kvs.map((kv) => [kv.key, kv.value, kv.modRevision]),
        [
          ["a", "1", 2],
          ["b", "2", 3],
          ["c", "3", 4],
        ],
      );
      assert.equal((await lines(f)).length, 3);
    }));

  it("refuses a log damaged before its last line with STORE_CORRUPT", () =>
    withEmbedded({}, async (f) => {
      await f.store.put("a", "hello");
      await f.store.put("b", "2");
      await f.store.close();
      const file = join(f.dir, STORE_FILE);
      await writeFile(file, (await readFile(file, "utf8")).replace("hello", "jello"));
      await rejectsWith(f.reopen(), "STORE_CORRUPT");
      // The failed open released its lock: the same error again, not STORE_UNAVAILABLE.
      await rejectsWith(f.reopen(), "STORE_CORRUPT");
      await writeFile(file, "");
      await f.reopen();
    }));

  it("group-commits concurrent writes: all resolve, fewer fsyncs, all durable", () =>
    withEmbedded({}, async (f) => {
      const revs = await Promise.all(
        Array.from({ length: 500 }, (_, i) => f.store.put(`g/${i}`, String(i))),
      );
      assert.deepEqual(
        revs,
        Array.from({ length: 500 }, (_, i) => i + 2),
      );
      const { syncs } = f.store.stats();
      assert.ok(syncs < 50, `${syncs} fsyncs for 500 concurrent puts`);
      const store = await f.reopen();
      const { kvs } = await store.range("g/");
      assert.equal(kvs.length, 500);
      for (const kv of kvs) assert.equal(kv.modRevision, Number(kv.value) + 2);
    }));

  it("compacts the log into a snapshot, keeping data, revisions and leases", () =>
    withEmbedded({ compactAfterRecords: 10 }, async (f) => {
      const lease = await f.store.grantLease(60);
      for (let i = 0; i < 40; i++) {
        if (i % 7 === 3) await f.store.delete(`c/${i - 1}`);
        else await f.store.put(`c/${i % 13}`, String(i), i % 5 === 0 ? { lease: lease.id } : {});
      }
      assert.ok(f.store.stats().compactions > 0);
      assert.ok((await lines(f)).length <= 11);
      const before = await f.store.range("");
      const store = await f.reopen();
      assert.deepEqual(await store.range(""), before);
      const w = record(store, "", 2);
      await waitUntil(() => w.errors.length > 0, "STORE_COMPACTED");
      assert.equal(w.errors[0]!.code, "STORE_COMPACTED");
      await store.revokeLease(lease.id);
      assert.ok((await store.range("")).kvs.every((kv) => kv.lease === 0));
    }));

  it("reports STORE_COMPACTED once the in-memory history limit drops a revision", () =>
    withEmbedded({ historyLimit: 5 }, async (f) => {
      for (let i = 0; i < 10; i++) await f.store.put("h", String(i));
      const old = record(f.store, "", 2);
      const recent = record(f.store, "", 7);
      await recent.waitFor(11);
      await waitUntil(() => old.errors.length > 0, "STORE_COMPACTED");
      assert.equal(old.errors[0]!.code, "STORE_COMPACTED");
      assert.equal(recent.groups.length, 5);
    }));

  it("locks its directory against a second open, and breaks a dead owner's lock", () =>
    withEmbedded({}, async (f) => {
      await assert.rejects(openEmbeddedStore(f.dir), (err) => {
        assert.ok(isStoreError(err, "STORE_UNAVAILABLE"));
        assert.equal(err.message, `the store in ${f.dir} is in use by process ${process.pid}`);
        return true;
      });
      await f.store.close();
      const dead = spawnSync(process.execPath, ["-e", ""]).pid!;
      await writeFile(join(f.dir, "lock"), `${dead}\n`);
      const store = await f.reopen();
      assert.equal(await store.revision(), 1);
    }));

  it("gives leases a fresh full TTL after a restart", () =>
    withEmbedded({}, async (f) => {
      const lease = await f.store.grantLease(2);
      await f.store.put("l", "1", { lease: lease.id });
      await f.store.close();
      await new Promise((r) => setTimeout(r, 2500)); // longer than the TTL, while closed
      const store = await f.reopen();
      assert.equal((await store.get("l"))?.lease, lease.id);
      await waitUntil(async () => (await store.get("l")) === undefined, "lease expiry");
      await rejectsWith(store.keepAlive(lease.id), "STORE_LEASE_NOT_FOUND");
      const again = await f.reopen();
      assert.equal(await again.get("l"), undefined);
      assert.equal(again.stats().leases, 0);
    }));
});
