// The in-memory state of the embedded store: keys with etcd's bookkeeping, the
// lease table and the revision counter. Pure and synchronous, so the live write
// path and log replay on open go through exactly the same code.

import type { Compare, KeyValue, Op, TxnRequest, WatchEvent } from "./store.ts";
import { StoreError } from "./store.ts";

/** A resolved change, as logged: put (key, value, lease or 0) or delete of an existing key. */
export type Mutation = ["p", string, string, number] | ["d", string];

/** Everything needed to rebuild the state; leases keep only their TTL (see README). */
export interface Snapshot {
  rev: number;
  nextLease: number;
  /** [key, value, createRevision, modRevision, version, lease], sorted by key. */
  kvs: [string, string, number, number, number, number][];
  /** [id, ttlSeconds] */
  leases: [number, number][];
}

export interface LeaseEntry {
  id: number;
  ttlSeconds: number;
  /** performance.now() after which the lease is expired; not persisted. */
  deadline: number;
  keys: Set<string>;
}

/**
 * Byte order of the UTF-8 encodings, which is how etcd sorts keys and compares
 * values. UTF-16 code-unit order (JS `<`) differs only between surrogates and
 * U+E000..U+FFFF, so those are shifted to put surrogates (astral chars) last.
 */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x !== y) {
      if (x >= 0xd800 && y >= 0xd800) {
        x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
        y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
      }
      return x - y;
    }
  }
  return a.length - b.length;
}

export class KvState {
  revision = 1;
  nextLease = 1;
  readonly leases = new Map<number, LeaseEntry>();
  private readonly kvs = new Map<string, KeyValue>();
  /** All keys in byte order, so range(prefix) is a binary search plus a scan. */
  private readonly sorted: string[] = [];

  get(key: string): KeyValue | undefined {
    return this.kvs.get(key);
  }

  get size(): number {
    return this.kvs.size;
  }

  range(prefix: string): KeyValue[] {
    const out: KeyValue[] = [];
    for (let i = this.lowerBound(prefix); i < this.sorted.length; i++) {
      const key = this.sorted[i]!;
      if (!key.startsWith(prefix)) break;
      out.push(this.kvs.get(key)!);
    }
    return out;
  }

  compare(c: Compare): boolean {
    const kv = this.kvs.get(c.key);
    if (c.target === "value") {
      // As in etcd, a value comparison with an absent key is false whatever the op.
      if (kv === undefined) return false;
      return holds(compareBytes(kv.value, c.value as string), c.op);
    }
    const actual = kv === undefined ? 0 : kv[c.target];
    return holds(actual - (c.value as number), c.op);
  }

  /** Turns validated ops into concrete mutations; deletes of absent keys vanish. */
  resolve(ops: Op[]): Mutation[] {
    const out: Mutation[] = [];
    const deleted = new Set<string>();
    const del = (key: string) => {
      if (this.kvs.has(key) && !deleted.has(key)) {
        deleted.add(key);
        out.push(["d", key]);
      }
    };
    for (const op of ops) {
      if (op.type === "put") out.push(["p", op.key, op.value, op.lease ?? 0]);
      else if (op.type === "delete") del(op.key);
      else for (const kv of this.range(op.prefix)) del(kv.key);
    }
    return out;
  }

  /** Applies the mutations of one transaction as revision `rev` and returns its events. */
  apply(rev: number, mutations: Mutation[]): WatchEvent[] {
    if (rev !== this.revision + 1 || mutations.length === 0) {
      throw new StoreError("STORE_CORRUPT", `unexpected transaction at revision ${rev}`);
    }
    const events: WatchEvent[] = [];
    for (const m of mutations) {
      const key = m[1];
      const prev = this.kvs.get(key);
      if (m[0] === "p") {
        const lease = m[3];
        const kv: KeyValue = Object.freeze({
          key,
          value: m[2],
          createRevision: prev ? prev.createRevision : rev,
          modRevision: rev,
          version: prev ? prev.version + 1 : 1,
          lease,
        });
        if (prev === undefined) this.sorted.splice(this.lowerBound(key), 0, key);
        this.detach(prev);
        if (lease !== 0) this.lease(lease).keys.add(key);
        this.kvs.set(key, kv);
        events.push(prev ? { type: "put", kv, prevKv: prev } : { type: "put", kv });
      } else {
        if (prev === undefined) throw new StoreError("STORE_CORRUPT", `delete of absent ${key}`);
        this.sorted.splice(this.lowerBound(key), 1);
        this.detach(prev);
        this.kvs.delete(key);
        const kv = { key, value: "", createRevision: 0, modRevision: rev, version: 0, lease: 0 };
        events.push({ type: "delete", kv: Object.freeze(kv), prevKv: prev });
      }
    }
    this.revision = rev;
    return events;
  }

  grantLease(id: number, ttlSeconds: number, now: number): LeaseEntry {
    const entry = { id, ttlSeconds, deadline: now + ttlSeconds * 1000, keys: new Set<string>() };
    this.leases.set(id, entry);
    this.nextLease = Math.max(this.nextLease, id + 1);
    return entry;
  }

  /** Forgets a lease; its keys must have been deleted first. */
  dropLease(id: number): void {
    const entry = this.lease(id);
    if (entry.keys.size > 0) throw new StoreError("STORE_CORRUPT", `lease ${id} still has keys`);
    this.leases.delete(id);
  }

  snapshot(): Snapshot {
    return {
      rev: this.revision,
      nextLease: this.nextLease,
      kvs: this.sorted.map((k) => {
        const kv = this.kvs.get(k)!;
        return [k, kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease];
      }),
      leases: [...this.leases.values()].map((l) => [l.id, l.ttlSeconds]),
    };
  }

  static restore(s: Snapshot, now: number): KvState {
    const state = new KvState();
    state.revision = s.rev;
    for (const [id, ttl] of s.leases) state.grantLease(id, ttl, now);
    state.nextLease = Math.max(state.nextLease, s.nextLease);
    for (const [key, value, createRevision, modRevision, version, lease] of s.kvs) {
      state.kvs.set(
        key,
        Object.freeze({ key, value, createRevision, modRevision, version, lease }),
      );
      state.sorted.push(key);
      if (lease !== 0) state.lease(lease).keys.add(key);
    }
    state.sorted.sort(compareBytes);
    return state;
  }

  private lease(id: number): LeaseEntry {
    const entry = this.leases.get(id);
    if (entry === undefined) throw new StoreError("STORE_CORRUPT", `unknown lease ${id}`);
    return entry;
  }

  private detach(kv: KeyValue | undefined): void {
    if (kv !== undefined && kv.lease !== 0) this.leases.get(kv.lease)?.keys.delete(kv.key);
  }

  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.sorted[mid]!, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function holds(diff: number, op: Compare["op"]): boolean {
  switch (op) {
    case "==":
      return diff === 0;
    case "!=":
      return diff !== 0;
    case "<":
      return diff < 0;
    case ">":
      return diff > 0;
  }
}

const invalid = (msg: string) => new StoreError("STORE_INVALID", msg);
const TARGETS = new Set(["modRevision", "createRevision", "version", "value"]);
const OPS = new Set(["==", "!=", "<", ">"]);

export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string" || key === "") throw invalid("key must be a non-empty string");
}

export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== "string") throw invalid("prefix must be a string");
}

export function checkLeaseId(id: unknown): asserts id is number {
  if (!Number.isSafeInteger(id) || (id as number) < 0) throw invalid(`invalid lease id ${id}`);
}

/** Validates a whole request up front, both branches, as etcd does. */
export function checkTxn(req: TxnRequest): void {
  if (req === null || typeof req !== "object") throw invalid("txn request must be an object");
  if (!Array.isArray(req.compare) || !Array.isArray(req.success)) {
    throw invalid("txn request needs compare and success arrays");
  }
  for (const c of req.compare) {
    checkKey(c?.key);
    if (!TARGETS.has(c.target)) throw invalid(`invalid compare target ${c.target}`);
    if (!OPS.has(c.op)) throw invalid(`invalid compare op ${c.op}`);
    const ok = c.target === "value" ? typeof c.value === "string" : Number.isInteger(c.value);
    if (!ok)
      throw invalid(
        `compare on ${c.target} needs a ${c.target === "value" ? "string" : "integer"}`,
      );
  }
  checkOps(req.success);
  if (req.failure !== undefined) {
    if (!Array.isArray(req.failure)) throw invalid("txn failure must be an array");
    checkOps(req.failure);
  }
}

/**
 * etcd rejects a branch that puts the same key twice or puts a key it also
 * deletes ("duplicate key given in txn request"); doing the same here keeps
 * the backends interchangeable and makes every key change once per revision.
 */
function checkOps(ops: Op[]): void {
  const puts = new Set<string>();
  const deletes: string[] = [];
  const prefixes: string[] = [];
  for (const op of ops) {
    if (op?.type === "put") {
      checkKey(op.key);
      if (typeof op.value !== "string") throw invalid(`value for ${op.key} must be a string`);
      if (op.lease !== undefined) checkLeaseId(op.lease);
      if (puts.has(op.key)) throw invalid(`duplicate key ${op.key} in txn`);
      puts.add(op.key);
    } else if (op?.type === "delete") {
      checkKey(op.key);
      deletes.push(op.key);
    } else if (op?.type === "deletePrefix") {
      checkPrefix(op.prefix);
      prefixes.push(op.prefix);
    } else {
      throw invalid(`invalid txn op ${JSON.stringify(op)}`);
    }
  }
  for (const key of puts) {
    if (deletes.includes(key) || prefixes.some((p) => key.startsWith(p))) {
      throw invalid(`key ${key} is both put and deleted in one txn`);
    }
  }
}
