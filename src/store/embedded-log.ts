// The embedded store's single file: an append-only log, one line per committed
// transaction, each line `<crc32 as 8 hex digits> <json>\n`. The checksum lets
// a reader tell a torn tail (crash during append: ignored, truncated away) from
// damage in the middle (STORE_CORRUPT). Compaction replaces the whole file by a
// one-line snapshot through a temp file and an atomic rename.

import { type FileHandle, open, readFile, rename, rm, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import { crc32 } from "node:zlib";
import type { Mutation, Snapshot } from "./embedded-state.ts";
import { StoreError } from "./store.ts";

/** One line of the log. A txn has rev+ev; grant/revoke are lease changes (revoke may carry deletes). */
export interface LogRecord {
  rev?: number;
  ev?: Mutation[];
  grant?: [number, number];
  revoke?: number;
  snapshot?: Snapshot;
}

export function encodeRecord(rec: LogRecord): string {
  const json = JSON.stringify(rec);
  return crc32(json).toString(16).padStart(8, "0") + " " + json + "\n";
}

function decodeLine(line: Buffer): LogRecord | undefined {
  if (line.length < 10 || line[8] !== 0x20) return undefined;
  const body = line.subarray(9);
  if (Number.parseInt(line.toString("latin1", 0, 8), 16) !== crc32(body)) return undefined;
  try {
    const rec: unknown = JSON.parse(body.toString("utf8"));
    return rec !== null && typeof rec === "object" && !Array.isArray(rec)
      ? (rec as LogRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

export interface LoadedLog {
  records: LogRecord[];
  /** Bytes of valid records; anything after them was a torn write and has been cut off. */
  bytes: number;
  tornBytes: number;
  /** Size of the leading snapshot line, 0 if none. */
  snapshotBytes: number;
}

/**
 * Reads the log, creating it if missing. Bad lines are tolerated only at the
 * end: a crash can leave an unacknowledged, partly written batch there, but a
 * bad line followed by good ones means the file itself was damaged.
 */
export async function loadLog(path: string): Promise<LoadedLog> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    const fh = await open(path, "a");
    await fh.close();
    await fsyncDir(dirname(path));
    return { records: [], bytes: 0, tornBytes: 0, snapshotBytes: 0 };
  }
  await rm(path + ".tmp", { force: true }); // a compaction interrupted before its rename
  const records: LogRecord[] = [];
  let pos = 0;
  let validEnd = 0;
  let badAt = -1;
  let snapshotBytes = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) break; // no newline: torn tail
    const rec = decodeLine(buf.subarray(pos, nl));
    if (rec === undefined) {
      if (badAt < 0) badAt = pos;
    } else if (badAt >= 0) {
      throw new StoreError("STORE_CORRUPT", `${path} is damaged at byte ${badAt}`);
    } else {
      if (rec.snapshot !== undefined) {
        if (records.length > 0) {
          throw new StoreError("STORE_CORRUPT", `${path} has a snapshot after byte 0`);
        }
        snapshotBytes = nl + 1;
      }
      records.push(rec);
      validEnd = nl + 1;
    }
    pos = nl + 1;
  }
  const tornBytes = buf.length - validEnd;
  if (tornBytes > 0) {
    // Cut the torn tail so new records are not appended after garbage.
    await truncate(path, validEnd);
    const fh = await open(path, "r+");
    await fh.sync().finally(() => fh.close());
  }
  return { records, bytes: validEnd, tornBytes, snapshotBytes };
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  await fh.sync().finally(() => fh.close());
}

export interface LogWriterOptions {
  /** Rewrite as a snapshot once this many records were appended since the last one. */
  compactAfterRecords: number;
  /** ... or once the file is this big (and at least twice the last snapshot). */
  compactAfterBytes: number;
  /** Encoded snapshot of the state after every record appended so far. */
  snapshot: () => string;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface LogStats {
  records: number;
  bytes: number;
  syncs: number;
  compactions: number;
}

/**
 * Appends records with group commit: every line appended while a write+fsync
 * is in flight goes into the next single write+fsync, so N concurrent writers
 * cost about two fsyncs instead of N.
 */
export class LogWriter {
  readonly stats: LogStats;
  private readonly path: string;
  private readonly opts: LogWriterOptions;
  private fh: FileHandle;
  private pending: string[] = [];
  private waiters: Waiter[] = [];
  private running = false;
  private forceCompaction = false;
  private failure: StoreError | undefined;
  private snapshotBytes = 0;

  private constructor(path: string, fh: FileHandle, opts: LogWriterOptions, loaded: LoadedLog) {
    this.path = path;
    this.fh = fh;
    this.opts = opts;
    this.stats = { records: loaded.records.length, bytes: loaded.bytes, syncs: 0, compactions: 0 };
    this.snapshotBytes = loaded.snapshotBytes;
  }

  static async open(path: string, loaded: LoadedLog, opts: LogWriterOptions): Promise<LogWriter> {
    return new LogWriter(path, await open(path, "a"), opts, loaded);
  }

  /** Resolves once the line (and everything appended before it) is on disk. */
  append(line: string): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.pending.push(line);
    return this.enqueue();
  }

  /** Resolves once everything appended so far is on disk. */
  barrier(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (!this.running && this.pending.length === 0) return Promise.resolve();
    return this.enqueue();
  }

  /** Rewrites the file as a snapshot now (after whatever is pending). */
  compact(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.forceCompaction = true;
    return this.enqueue();
  }

  async close(): Promise<void> {
    await this.barrier().catch(() => {});
    await this.fh.close();
  }

  private enqueue(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.running) {
      this.running = true;
      // A microtask, not now: appends made in the same tick join the first batch.
      queueMicrotask(() => void this.run());
    }
    return p;
  }

  private async run(): Promise<void> {
    while (this.waiters.length > 0) {
      const lines = this.pending;
      const waiters = this.waiters;
      this.pending = [];
      this.waiters = [];
      const data = lines.join("");
      try {
        // Decided and serialized synchronously, while the in-memory state is
        // exactly "file + this batch": the snapshot then replaces both.
        if (this.shouldCompact(lines.length, Buffer.byteLength(data))) {
          await this.rewrite(this.opts.snapshot());
        } else if (data.length > 0) {
          await this.fh.appendFile(data);
          await this.fh.datasync();
          this.stats.syncs++;
          this.stats.records += lines.length;
          this.stats.bytes += Buffer.byteLength(data);
        }
      } catch (err) {
        // Memory is now ahead of the disk and can't be trusted to match it any
        // more: fail this batch and every later write (reopen to recover).
        const msg = `cannot write ${this.path}: ${(err as Error).message}`;
        this.failure = new StoreError("STORE_UNAVAILABLE", msg);
        for (const w of [...waiters, ...this.waiters]) w.reject(this.failure);
        this.pending = [];
        this.waiters = [];
        break;
      }
      for (const w of waiters) w.resolve();
    }
    this.running = false;
  }

  private shouldCompact(lines: number, bytes: number): boolean {
    if (this.forceCompaction) return true;
    if (lines === 0) return false;
    const records = this.stats.records + lines;
    const size = this.stats.bytes + bytes;
    return (
      records > this.opts.compactAfterRecords ||
      size > Math.max(this.opts.compactAfterBytes, 2 * this.snapshotBytes)
    );
  }

  private async rewrite(snapshot: string): Promise<void> {
    this.forceCompaction = false;
    const tmp = this.path + ".tmp";
    const fh = await open(tmp, "w");
    try {
      await fh.writeFile(snapshot);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.path);
    await fsyncDir(dirname(this.path));
    await this.fh.close();
    this.fh = await open(this.path, "a");
    this.snapshotBytes = Buffer.byteLength(snapshot);
    this.stats.records = 1;
    this.stats.bytes = this.snapshotBytes;
    this.stats.syncs += 2;
    this.stats.compactions++;
  }
}
