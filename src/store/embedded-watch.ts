// Watches for the embedded store: an in-memory history of events grouped by
// revision, and per-watcher cursors. Delivery is driven by the durable revision
// (a watcher never sees a change that a crash could still undo) and always runs
// from setImmediate, so a callback that writes to the store can't recurse.

import type { WatchEvent, Watcher, WatchOptions } from "./store.ts";
import { StoreError } from "./store.ts";

interface Group {
  rev: number;
  events: WatchEvent[];
}

interface WatchState {
  prefix: string;
  opts: WatchOptions;
  /** Next revision to look at. */
  next: number;
  scheduled: boolean;
  done: boolean;
}

export class WatchHub {
  /** Groups for consecutive revisions; groups[head] is the oldest retained. */
  private groups: Group[] = [];
  private head = 0;
  private events = 0;
  /** Oldest revision a watch may start from; older ones are STORE_COMPACTED. */
  private start: number;
  private durable: number;
  private readonly limit: number;
  private readonly watchers = new Set<WatchState>();
  private closed = false;

  constructor(start: number, durable: number, limit: number) {
    this.start = start;
    this.durable = durable;
    this.limit = limit;
  }

  get historyStart(): number {
    return this.start;
  }

  /** Records the events of a newly applied revision (not yet durable). */
  record(rev: number, events: WatchEvent[]): void {
    this.groups.push({ rev, events });
    this.events += events.length;
    while (this.events > this.limit && this.head < this.groups.length) this.dropOldest();
    if (this.head > 1024 && this.head * 2 > this.groups.length) {
      this.groups = this.groups.slice(this.head);
      this.head = 0;
    }
  }

  /** Forgets the history before rev (explicit compaction; as in etcd, rev itself stays). */
  forget(rev: number): void {
    while (this.head < this.groups.length && this.groups[this.head]!.rev < rev) this.dropOldest();
    this.start = Math.max(this.start, rev);
  }

  /** Everything up to rev is on disk: let the watchers see it. */
  markDurable(rev: number): void {
    if (rev <= this.durable) return;
    this.durable = rev;
    for (const w of this.watchers) this.schedule(w);
  }

  watch(prefix: string, opts: WatchOptions, current: number): Watcher {
    const from = opts.fromRevision ?? 0;
    const w: WatchState = {
      prefix,
      opts,
      next: from || current + 1,
      scheduled: false,
      done: false,
    };
    const cancel = () => {
      w.done = true;
      this.watchers.delete(w);
    };
    if (this.closed) {
      this.failLater(w, new StoreError("STORE_CLOSED", "the store is closed"));
    } else if (!Number.isSafeInteger(from) || from < 0) {
      this.failLater(w, new StoreError("STORE_INVALID", `invalid fromRevision ${from}`));
    } else {
      this.watchers.add(w);
      this.schedule(w);
    }
    return { cancel };
  }

  /** Ends every watch silently (store closing). */
  close(): void {
    this.closed = true;
    for (const w of this.watchers) w.done = true;
    this.watchers.clear();
  }

  private dropOldest(): void {
    const g = this.groups[this.head]!;
    this.groups[this.head++] = undefined as unknown as Group; // let it be collected
    this.events -= g.events.length;
    this.start = g.rev + 1;
  }

  private schedule(w: WatchState): void {
    if (w.scheduled || w.done) return;
    w.scheduled = true;
    setImmediate(() => this.deliver(w));
  }

  private deliver(w: WatchState): void {
    w.scheduled = false;
    try {
      while (!w.done && w.next <= this.durable) {
        if (w.next < this.start) {
          const msg = `revision ${w.next} is compacted (oldest available: ${this.start})`;
          this.fail(w, new StoreError("STORE_COMPACTED", msg));
          return;
        }
        const first = this.groups[this.head]?.rev ?? this.durable + 1;
        if (w.next < first) w.next = first; // revisions before the first write of a new store
        const g = this.groups[this.head + (w.next - first)];
        if (g === undefined) {
          // Can't happen (groups are contiguous up to durable); if it does, make the client resync.
          this.fail(w, new StoreError("STORE_COMPACTED", `revision ${w.next} is not retained`));
          return;
        }
        w.next = g.rev + 1;
        const events =
          w.prefix === "" ? g.events : g.events.filter((e) => e.kv.key.startsWith(w.prefix));
        if (events.length > 0) w.opts.onEvents(events, g.rev);
      }
    } finally {
      // If onEvents threw, the exception goes on up (uncaught); delivery resumes next tick.
      if (!w.done && w.next <= this.durable) this.schedule(w);
    }
  }

  private failLater(w: WatchState, err: StoreError): void {
    setImmediate(() => this.fail(w, err));
  }

  private fail(w: WatchState, err: StoreError): void {
    if (w.done) return;
    w.done = true;
    this.watchers.delete(w);
    w.opts.onError?.(err);
  }
}
