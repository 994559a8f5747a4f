// The store contract: a subset of etcd v3's key-value semantics that both the
// embedded backend (default) and the etcd backend implement. Everything the
// manager persists goes through this interface, so the two backends must be
// indistinguishable to it; `store.suite.ts` is the shared test suite.

/** One key as stored, with etcd's bookkeeping fields. */
export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the transaction that created this key (since its last delete). */
  createRevision: number;
  /** Revision of the transaction that last modified this key. */
  modRevision: number;
  /** Number of modifications since creation (1 after the first put). */
  version: number;
  /** Lease the key is attached to, 0 for none. */
  lease: number;
}

/**
 * A condition on one key, evaluated atomically at the start of a transaction.
 * For an absent key, modRevision, createRevision and version are 0 and value is
 * undefined (any value comparison with an absent key is false, as in etcd).
 */
export interface Compare {
  key: string;
  target: "modRevision" | "createRevision" | "version" | "value";
  op: "==" | "!=" | "<" | ">";
  value: number | string;
}

export type Op =
  | { type: "put"; key: string; value: string; lease?: number }
  | { type: "delete"; key: string }
  | { type: "deletePrefix"; prefix: string };

export interface TxnRequest {
  compare: Compare[];
  success: Op[];
  failure?: Op[];
}

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (unchanged if it wrote nothing). */
  revision: number;
}

export interface WatchEvent {
  type: "put" | "delete";
  /** For a delete: the key with modRevision = the deleting revision and value "". */
  kv: KeyValue;
  prevKv?: KeyValue;
}

export interface Watcher {
  cancel(): void;
}

export interface WatchOptions {
  /** Deliver every event with revision >= fromRevision (then live ones). Default: current revision + 1. */
  fromRevision?: number;
  /** Called with the events of one revision at a time, in revision order, never concurrently. */
  onEvents: (events: WatchEvent[], revision: number) => void;
  /** Called once if the watch cannot continue (for example STORE_COMPACTED); the watch is then over. */
  onError?: (err: StoreError) => void;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Store revision at which the range was read. */
  revision: number;
}

export interface Lease {
  id: number;
  ttlSeconds: number;
}

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key starting with prefix, sorted by key. */
  range(prefix: string): Promise<RangeResult>;
  /** Returns the new revision. */
  put(key: string, value: string, opts?: { lease?: number }): Promise<number>;
  /** Returns whether the key existed. */
  delete(key: string): Promise<boolean>;
  txn(req: TxnRequest): Promise<TxnResult>;
  /** Events for keys starting with prefix. */
  watch(prefix: string, opts: WatchOptions): Watcher;
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** Refreshes the lease; rejects with STORE_LEASE_NOT_FOUND once it expired or was revoked. */
  keepAlive(leaseId: number): Promise<void>;
  /** Deletes the lease and every key attached to it. */
  revokeLease(leaseId: number): Promise<void>;
  /** Current revision. */
  revision(): Promise<number>;
  close(): Promise<void>;
}

export type StoreErrorCode =
  | "STORE_COMPACTED"
  | "STORE_LEASE_NOT_FOUND"
  | "STORE_CLOSED"
  | "STORE_CORRUPT"
  | "STORE_UNAVAILABLE"
  | "STORE_INVALID";

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string) {
    super(message);
    this.name = "StoreError";
    this.code = code;
  }
}

export function isStoreError(err: unknown, code?: StoreErrorCode): err is StoreError {
  return err instanceof StoreError && (code === undefined || err.code === code);
}
