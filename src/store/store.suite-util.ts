// Helpers shared by the store contract suite (store.suite*.ts).

import assert from "node:assert/strict";
import type { Store, StoreError, StoreErrorCode, WatchEvent, Watcher } from "./store.ts";
import { isStoreError } from "./store.ts";

export interface StoreFixture {
  store: Store;
  /** Closes the current store and opens the same data again (persistent backends only). */
  reopen?: () => Promise<Store>;
  /** Discards watch history up to the current revision, like etcd's Compact. */
  compact?: (store: Store) => Promise<void>;
  /** Closes whatever store is open and deletes its data. */
  cleanup: () => Promise<void>;
}

export type OpenStore = () => Promise<StoreFixture>;

export async function withStore(open: OpenStore, fn: (f: StoreFixture) => Promise<void>) {
  const f = await open();
  try {
    await fn(f);
  } finally {
    await f.cleanup();
  }
}

/** Polls until cond holds; the timeout is only a safety net, never a measurement. */
export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function rejectsWith(p: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  await assert.rejects(p, (err) => {
    assert.ok(isStoreError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

/** Records every callback of one watch. */
export interface Recorder {
  watcher: Watcher;
  groups: { revision: number; events: WatchEvent[] }[];
  errors: StoreError[];
  /** Revision of the last group received, 0 if none. */
  last(): number;
  events(): WatchEvent[];
  waitFor(revision: number, what?: string): Promise<void>;
}

export function record(store: Store, prefix: string, fromRevision?: number): Recorder {
  const groups: Recorder["groups"] = [];
  const errors: StoreError[] = [];
  let inside = false;
  const watcher = store.watch(prefix, {
    fromRevision,
    onEvents: (events, revision) => {
      assert.ok(!inside, "onEvents called re-entrantly");
      inside = true;
      groups.push({ revision, events });
      inside = false;
    },
    onError: (err) => errors.push(err),
  });
  const last = () => groups.at(-1)?.revision ?? 0;
  return {
    watcher,
    groups,
    errors,
    last,
    events: () => groups.flatMap((g) => g.events),
    waitFor: (revision, what = `watch event at revision ${revision}`) =>
      waitUntil(() => last() >= revision || errors.length > 0, what),
  };
}
