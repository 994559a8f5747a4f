// Sends what task processes print to the manager (for `service logs`),
// reading each task's log file from where it last stopped.
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import type { TaskRuntime } from "./task-runtime.ts";

const SHIP_MS = 1000;
const MAX_BYTES = 256 * 1024;

export class LogShipper {
  private readonly runtime: TaskRuntime;
  private readonly send: (batch: { taskId: string; lines: string[] }[]) => Promise<unknown>;
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;

  constructor(
    runtime: TaskRuntime,
    send: (batch: { taskId: string; lines: string[] }[]) => Promise<unknown>,
  ) {
    this.runtime = runtime;
    this.send = send;
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), SHIP_MS);
    this.timer.unref();
  }

  /** Ships everything new now; `ended` names tasks that just exited (no longer running, last lines pending). */
  async flush(ended: string[] = []): Promise<void> {
    await this.busy;
    this.busy = this.ship([...this.runtime.ids(), ...ended]).finally(() => (this.busy = undefined));
    return this.busy;
  }

  private async ship(ids: string[]): Promise<void> {
    const batch: { taskId: string; lines: string[] }[] = [];
    for (const id of ids) {
      const path = this.runtime.logPath(id);
      if (!existsSync(path)) continue;
      const size = statSync(path).size;
      const from = this.offsets.get(id) ?? 0;
      if (size <= from) continue;
      const length = Math.min(size - from, MAX_BYTES);
      const buf = Buffer.alloc(length);
      const fd = openSync(path, "r");
      readSync(fd, buf, 0, length, from);
      closeSync(fd);
      this.offsets.set(id, from + length);
      const text = (this.partial.get(id) ?? "") + buf.toString("utf8");
      const lines = text.split("\n");
      this.partial.set(id, lines.pop() ?? "");
      // A task that ended may leave a last line without a newline.
      if (!this.runtime.get(id) && this.partial.get(id)) lines.push(this.partial.get(id)!);
      if (lines.length) batch.push({ taskId: id, lines });
    }
    if (batch.length) await this.send(batch).catch(() => undefined);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
