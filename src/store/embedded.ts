// The embedded store backend: etcd v3 semantics in-process, persisted to a
// single append-only file (see README.md for the format and the crash-safety
// argument). Every write is applied to memory synchronously, in call order, so
// reads and compares see it at once and revisions follow call order; its
// promise resolves once the log line is fsync'ed (group commit).

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { acquireLock } from "./embedded-lock.ts";
import { encodeRecord, type LogRecord, type LogStats, LogWriter, loadLog } from "./embedded-log.ts";
import {
  checkKey,
  checkLeaseId,
  checkPrefix,
  checkTxn,
  compareBytes,
  KvState,
  type LeaseEntry,
  type Mutation,
} from "./embedded-state.ts";
import { WatchHub } from "./embedded-watch.ts";
import type {
  KeyValue,
  Lease,
  Op,
  RangeResult,
  Store,
  TxnRequest,
  TxnResult,
  Watcher,
  WatchOptions,
} from "./store.ts";
import { StoreError } from "./store.ts";

export interface EmbeddedStoreOptions {
  /** Rewrite the log as a snapshot after this many records (default 10,000). */
  compactAfterRecords?: number;
  /** ... or once the log file is this large (default 16 MiB). */
  compactAfterBytes?: number;
  /** Events kept in memory for watches from past revisions (default 100,000). */
  historyLimit?: number;
  /** How often lease deadlines are checked, in ms (default 250). */
  leaseCheckIntervalMs?: number;
}

export const STORE_FILE = "store.db";

/** Opens (creating if needed) the store in dir, taking an exclusive lock on it. */
export async function openEmbeddedStore(
  dir: string,
  opts: EmbeddedStoreOptions = {},
): Promise<EmbeddedStore> {
  await mkdir(dir, { recursive: true });
  const release = await acquireLock(dir);
  try {
    const path = join(dir, STORE_FILE);
    const loaded = await loadLog(path);
    const now = performance.now();
    const snap = loaded.records[0]?.snapshot;
    const state = snap ? KvState.restore(snap, now) : new KvState();
    // History starts after the snapshot: a new store (no snapshot) has it all.
    const hub = new WatchHub(snap ? snap.rev + 1 : 1, 0, opts.historyLimit ?? 100_000);
    for (const rec of loaded.records) {
      if (rec.snapshot !== undefined) continue;
      if (rec.grant !== undefined) state.grantLease(rec.grant[0], rec.grant[1], now);
      if (rec.ev !== undefined) hub.record(rec.rev!, state.apply(rec.rev!, rec.ev));
      if (rec.revoke !== undefined) state.dropLease(rec.revoke);
    }
    hub.markDurable(state.revision);
    const writer = await LogWriter.open(path, loaded, {
      compactAfterRecords: opts.compactAfterRecords ?? 10_000,
      compactAfterBytes: opts.compactAfterBytes ?? 16 << 20,
      snapshot: () => encodeRecord({ snapshot: state.snapshot() }),
    });
    return new EmbeddedStore(state, hub, writer, release, opts.leaseCheckIntervalMs ?? 250);
  } catch (err) {
    await release();
    if (err instanceof StoreError || !(err instanceof Error)) throw err;
    // I/O errors carry an errno code; anything else came from replaying bad records.
    const code = (err as NodeJS.ErrnoException).code ? "STORE_UNAVAILABLE" : "STORE_CORRUPT";
    throw new StoreError(code, `cannot open the store in ${dir}: ${err.message}`);
  }
}

export class EmbeddedStore implements Store {
  private readonly state: KvState;
  private readonly hub: WatchHub;
  private readonly writer: LogWriter;
  private readonly release: () => Promise<void>;
  private readonly timer: NodeJS.Timeout;
  private closing: Promise<void> | undefined;

  constructor(
    state: KvState,
    hub: WatchHub,
    writer: LogWriter,
    release: () => Promise<void>,
    leaseCheckMs: number,
  ) {
    this.state = state;
    this.hub = hub;
    this.writer = writer;
    this.release = release;
    this.timer = setInterval(() => this.expireLeases(), leaseCheckMs);
    this.timer.unref(); // lease expiry alone must not keep the process alive
  }

  get(key: string): Promise<KeyValue | undefined> {
    return this.run(() => {
      checkKey(key);
      return this.state.get(key);
    });
  }

  range(prefix: string): Promise<RangeResult> {
    return this.run(() => {
      checkPrefix(prefix);
      return { kvs: this.state.range(prefix), revision: this.state.revision };
    });
  }

  put(key: string, value: string, opts?: { lease?: number }): Promise<number> {
    const op: Op = { type: "put", key, value, lease: opts?.lease };
    return this.txn({ compare: [], success: [op] }).then((r) => r.revision);
  }

  delete(key: string): Promise<boolean> {
    return this.run(() => {
      checkKey(key);
      const existed = this.state.get(key) !== undefined;
      return this.txn({ compare: [], success: [{ type: "delete", key }] }).then(() => existed);
    });
  }

  txn(req: TxnRequest): Promise<TxnResult> {
    return this.run(() => {
      checkTxn(req);
      const succeeded = req.compare.every((c) => this.state.compare(c));
      const ops = succeeded ? req.success : (req.failure ?? []);
      for (const op of ops) if (op.type === "put" && op.lease) this.liveLease(op.lease);
      const durable = this.commit(this.state.resolve(ops), {});
      const revision = this.state.revision;
      return durable.then(() => ({ succeeded, revision }));
    });
  }

  watch(prefix: string, opts: WatchOptions): Watcher {
    checkPrefix(prefix);
    return this.hub.watch(prefix, opts, this.state.revision);
  }

  grantLease(ttlSeconds: number): Promise<Lease> {
    return this.run(() => {
      if (typeof ttlSeconds !== "number" || !(ttlSeconds > 0) || !Number.isFinite(ttlSeconds)) {
        throw new StoreError("STORE_INVALID", `invalid lease TTL ${ttlSeconds}`);
      }
      const id = this.state.nextLease;
      this.state.grantLease(id, ttlSeconds, performance.now());
      return this.commit([], { grant: [id, ttlSeconds] }).then(() => ({ id, ttlSeconds }));
    });
  }

  keepAlive(leaseId: number): Promise<void> {
    return this.run(() => {
      const lease = this.liveLease(leaseId);
      lease.deadline = performance.now() + lease.ttlSeconds * 1000;
    });
  }

  revokeLease(leaseId: number): Promise<void> {
    return this.run(() => this.dropLease(this.liveLease(leaseId)));
  }

  revision(): Promise<number> {
    return this.run(() => this.state.revision);
  }

  /**
   * etcd's Compact at the current revision: rewrites the file as a snapshot
   * now and forgets the watch history before it (older watches get
   * STORE_COMPACTED; after a reopen, only revisions after the snapshot remain).
   */
  compact(): Promise<void> {
    return this.run(() => {
      this.hub.forget(this.state.revision);
      return this.writer.compact();
    });
  }

  /** Counters of the log file, for tests and diagnostics. */
  stats(): LogStats & { revision: number; keys: number; leases: number } {
    const { revision, size, leases } = this.state;
    return { ...this.writer.stats, revision, keys: size, leases: leases.size };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.timer);
      this.hub.close();
      try {
        await this.writer.close();
      } finally {
        await this.release();
      }
    })();
    return this.closing;
  }

  /** Runs fn unless closed, turning a synchronous throw into a rejection. */
  private run<T>(fn: () => T | Promise<T>): Promise<T> {
    if (this.closing) return Promise.reject(new StoreError("STORE_CLOSED", "the store is closed"));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Applies mutations as the next revision (if any) and logs them with the
   * lease change in rec; resolves once durable. A txn that changes nothing
   * bumps no revision and logs nothing, but still waits for earlier writes,
   * since what it observed may depend on them.
   */
  private commit(mutations: Mutation[], rec: LogRecord): Promise<void> {
    let rev = this.state.revision;
    if (mutations.length > 0) {
      rev++;
      this.hub.record(rev, this.state.apply(rev, mutations));
      rec.rev = rev;
      rec.ev = mutations;
    }
    if (rec.ev === undefined && rec.grant === undefined && rec.revoke === undefined) {
      return this.writer.barrier();
    }
    return this.writer.append(encodeRecord(rec)).then(() => this.hub.markDurable(rev));
  }

  /** The lease, if it exists and has not run out (expiring it now if it has). */
  private liveLease(id: number): LeaseEntry {
    checkLeaseId(id);
    const lease = this.state.leases.get(id);
    if (lease !== undefined && lease.deadline <= performance.now()) {
      this.dropLease(lease).catch(() => {}); // a failed write is already reported to writers
    } else if (lease !== undefined) return lease;
    throw new StoreError("STORE_LEASE_NOT_FOUND", `lease ${id} not found`);
  }

  /** Deletes the lease's keys (one revision) and the lease, as one log record. */
  private dropLease(lease: LeaseEntry): Promise<void> {
    const keys = [...lease.keys].sort(compareBytes);
    const durable = this.commit(this.state.resolve(keys.map((key) => ({ type: "delete", key }))), {
      revoke: lease.id,
    });
    this.state.dropLease(lease.id);
    return durable;
  }

  private expireLeases(): void {
    const now = performance.now();
    for (const lease of [...this.state.leases.values()]) {
      // A failed write is already reported to writers; nothing more to do here.
      if (lease.deadline <= now) this.dropLease(lease).catch(() => {});
    }
  }
}
