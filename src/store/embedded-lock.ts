// An exclusive lock on a store directory: `dir/lock` holds the owner's pid.
// Node has no flock(), so the lock is a file created atomically with link(2)
// (never seen empty or half-written) and considered stale once its pid is dead.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { link, readFile, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { StoreError } from "./store.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // exists, not ours to signal
  }
  return !zombie(pid);
}

/** A killed daemon stays a zombie until its parent reaps it (a container's pid 1
 * may take seconds, or never): it is dead and must not keep the store locked. */
function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false; // no /proc (not Linux), or it just went: kill(0) decides
  }
}

/** Takes the lock on dir and returns its release function. */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const lock = join(dir, "lock");
  const tmp = join(dir, `lock.${process.pid}.${randomUUID()}`);
  await writeFile(tmp, `${process.pid}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, lock);
        return () => unlink(lock).catch(() => {});
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 5) throw err;
      }
      const content = await readFile(lock, "utf8").catch(() => undefined);
      if (content === undefined) continue; // released meanwhile: try again
      const owner = Number.parseInt(content, 10);
      if (owner > 0 && alive(owner)) {
        throw new StoreError(
          "STORE_UNAVAILABLE",
          `the store in ${dir} is in use by process ${owner}`,
        );
      }
      // Stale: its owner died without closing the store.
      await unlink(lock).catch(() => {});
    }
  } finally {
    await unlink(tmp).catch(() => {});
  }
}
