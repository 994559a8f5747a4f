// The lab's calls to the machine: running ip/nsenter/unshare/umount, finding
// namespaces and the processes in them, and stopping processes by pid. Every
// kill goes through here and is checked first (the pid must still be in a
// namespace the lab made), so a reused pid is never signalled.
import { spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { netnsPath, parseNetnsList } from "./commands.ts";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs argv to completion, collecting its output; never throws for a non-zero exit. */
export function run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      env: opts.env,
      cwd: opts.cwd,
      signal: opts.signal,
      timeout: opts.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    child.once("error", (e: NodeJS.ErrnoException) => {
      if (e.name === "AbortError") reject(new Error("interrupted"));
      else reject(new Error(`cannot run ${argv[0]}: ${e.message}`));
    });
    child.once("close", (code, sig) => {
      if (opts.signal?.aborted) return reject(new Error("interrupted"));
      resolve({
        code: code ?? 128,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr:
          Buffer.concat(err).toString("utf8") +
          (sig && code === null
            ? `\n(killed by ${sig}${opts.timeoutMs ? ", timed out" : ""})`
            : ""),
      });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

export class CommandFailed extends Error {
  override name = "CommandFailed";
  readonly result: RunResult;
  constructor(what: string, result: RunResult) {
    super(`${what} failed (exit ${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
    this.result = result;
  }
}

export async function mustRun(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(argv, opts);
  if (r.code !== 0) throw new CommandFailed(argv.slice(0, 4).join(" "), r);
  return r.stdout;
}

/** `ip [-n NS] [-force] -batch -` with the given lines. */
export async function ipBatch(
  text: string,
  opts: { netns?: string; force?: boolean; signal?: AbortSignal } = {},
): Promise<RunResult> {
  const argv = ["ip"];
  if (opts.netns) argv.push("-n", opts.netns);
  if (opts.force) argv.push("-force");
  argv.push("-batch", "-");
  const r = await run(argv, { input: text, signal: opts.signal, timeoutMs: 30_000 });
  if (r.code !== 0 && !opts.force) {
    throw new CommandFailed(`ip${opts.netns ? ` -n ${opts.netns}` : ""} -batch`, r);
  }
  return r;
}

export async function listNetns(): Promise<string[]> {
  return parseNetnsList(await mustRun(["ip", "netns", "list"]));
}

/** Pids of every process whose network namespace is /run/netns/NAME. */
export async function netnsPids(netns: string): Promise<number[]> {
  const r = await run(["ip", "netns", "pids", netns]);
  if (r.code !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** Inode of a namespace file (/run/netns/X or /proc/PID/ns/net), or undefined. */
export function nsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

export function netnsInode(netns: string): number | undefined {
  return nsInode(netnsPath(netns));
}

/** A process that exists and has not exited (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Whether the pid is a live process in one of these network namespaces (by inode). */
export function inNetns(pid: number, inodes: ReadonlySet<number>): boolean {
  const ino = nsInode(`/proc/${pid}/ns/net`);
  return ino !== undefined && inodes.has(ino) && alive(pid);
}

export function readPidFile(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, "utf8").trim());
    return Number.isInteger(pid) && pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL what is left and wait for it.
 * Returns the pids still alive at the end (normally none). */
export async function stopProcesses(pids: readonly number[], graceMs = 5000): Promise<number[]> {
  const targets = [...new Set(pids)].filter((p) => p > 1 && p !== process.pid);
  const signal = (sig: NodeJS.Signals) => {
    for (const p of targets) {
      try {
        process.kill(p, sig);
      } catch {
        // already gone
      }
    }
  };
  const waitGone = async (ms: number) => {
    for (let t = 0; t < ms; t += 50) {
      if (!targets.some(alive)) return;
      await sleep(50);
    }
  };
  signal("SIGTERM");
  await waitGone(graceMs);
  if (targets.some(alive)) {
    signal("SIGKILL");
    await waitGone(3000);
  }
  return targets.filter(alive);
}

/** Whether `path` is a mount point in this mount namespace. */
export function isMountPoint(path: string): boolean {
  const text = readFileSync("/proc/self/mountinfo", "utf8");
  return text.split("\n").some((line) => line.split(" ")[4] === escapeMountPath(path));
}

/** mountinfo octal-escapes space, tab, newline and backslash. */
function escapeMountPath(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/** Unmounts the bind mount on `path` until none is left (it may be stacked). */
export async function unmountAll(path: string): Promise<void> {
  for (let i = 0; i < 8 && isMountPoint(path); i++) {
    await mustRun(["umount", path]);
  }
}
