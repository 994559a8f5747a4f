// The lab driver every lab benchmark uses: brings up a three-node lab with a
// unique `b-<hex>-` prefix and temporary directories (`withLab`), calls the
// manager's HTTP API and CLI, finds a task's sandbox namespace and address,
// starts and stops processes inside namespaces, and removes everything a
// benchmark made — in `finally`, and on SIGINT/SIGTERM (`guarded`): every
// command that builds or measures takes `stopped`, whose signal aborts them.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { sandboxNsName } from "../src/dataplane/names.ts";
import { ipBatch, listNetns, mustRun, netnsPids, stopProcesses } from "../src/lab/kernel.ts";
import { cliArgv, labDown, labUp } from "../src/lab/lab.ts";
import type { LabConfig } from "../src/lab/plan.ts";
import type { LabNodeState, LabState } from "../src/lab/state.ts";

/** This process's Node, for helper scripts run inside namespaces. */
export const NODE = process.execPath;

// ---------------------------------------------------------------- cleanup

/** Cleanups of what is being built right now, run on SIGINT/SIGTERM too. */
const pending = new Set<() => Promise<void>>();
let signalled = false;
/** Aborted on SIGINT/SIGTERM: kills the commands in flight and refuses new ones
 * (every command that builds or measures takes it; the cleanups do not). */
const interrupt = new AbortController();
export const stopped = { signal: interrupt.signal };
function onSignal(sig: NodeJS.Signals): void {
  if (signalled) return;
  signalled = true;
  interrupt.abort();
  process.stderr.write(`\n${sig}: removing what the benchmark made...\n`);
  void (async () => {
    for (const c of [...pending].reverse()) await c().catch(() => {});
    process.exit(130);
  })();
}

/** The first call runs f; every later call (the signal handler's, or the
 * normal path's) waits for that same run. */
function once(f: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => {
    p ??= f();
    return p;
  };
}

/** Runs fn, then cleanup — also when fn throws or the process is interrupted.
 * cleanup must work on whatever part fn got to make. */
export async function guarded<T>(cleanup: () => Promise<void>, fn: () => Promise<T>): Promise<T> {
  if (signalled) throw new Error("interrupted");
  const c = once(cleanup);
  pending.add(c);
  if (pending.size === 1) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  try {
    return await fn();
  } finally {
    try {
      await c();
    } finally {
      pending.delete(c);
      if (pending.size === 0) {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    }
  }
}

export function uniquePrefix(): string {
  return `b-${randomBytes(3).toString("hex")}-`;
}

// ---------------------------------------------------------------- processes

export function nsArgv(ns: string, argv: readonly string[]): string[] {
  return ["nsenter", `--net=/run/netns/${ns}`, ...argv];
}

/** A long-running process in a namespace; nsenter execs it, so its pid is the server's.
 * It gets its own session, as the agent gives every task (`detached`): with
 * the kernel's autogroup scheduling a session is a CPU group of its own, so a
 * server in the benchmark's session would share one CPU share with the client
 * while a task's server does not — on a loaded machine that alone made the
 * raw baselines ~10-30% slower. */
export function startIn(
  ns: string,
  argv: readonly string[],
  children: Set<ChildProcess>,
  stdin: "ignore" | "pipe" = "ignore",
): ChildProcess {
  const full = nsArgv(ns, argv);
  const child = spawn(full[0]!, full.slice(1), {
    stdio: [stdin, "pipe", "pipe"],
    detached: true,
  });
  child.stdout!.resume();
  child.stderr!.resume();
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

export async function killAll(children: Set<ChildProcess>): Promise<void> {
  const pids = [...children].map((c) => c.pid).filter((p): p is number => p !== undefined);
  await stopProcesses(pids, 2000);
}

// ---------------------------------------------------------------- namespaces of our own

/** Removes namespaces of ours: their processes, then the devices that reach
 * outside a namespace (veth peers, VXLAN sockets), then the namespaces. */
export async function removeNamespaces(
  namespaces: readonly string[],
  devices: readonly [ns: string, dev: string][],
): Promise<void> {
  const existing = new Set(await listNetns());
  const ours = namespaces.filter((ns) => existing.has(ns));
  const pids = (await Promise.all(ours.map(netnsPids))).flat();
  await stopProcesses(pids, 2000);
  for (const [ns, dev] of devices) {
    if (existing.has(ns)) await ipBatch(`link del dev ${dev}\n`, { netns: ns, force: true });
  }
  if (ours.length) {
    await ipBatch(ours.map((ns) => `netns del ${ns}\n`).join(""), { force: true });
  }
  const left = (await listNetns()).filter((ns) => ours.includes(ns));
  if (left.length) throw new Error(`namespaces not removed: ${left.join(" ")}`);
}

// ---------------------------------------------------------------- the lab

export interface Lab {
  config: LabConfig;
  state: LabState;
  node(name: string): LabNodeState;
  cli(args: string[]): Promise<string>;
  api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/** Processes whose environment has SWARMNET_NETNS_PREFIX starting with `prefix`. */
function labProcesses(prefix: string): number[] {
  const found: number[] = [];
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${p}/environ`, "utf8").split("\0");
      if (env.some((e) => e.startsWith(`SWARMNET_NETNS_PREFIX=${prefix}`))) found.push(Number(p));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return found;
}

export async function withLab<T>(prefix: string, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-bench-lab-"));
  const config: LabConfig = {
    namePrefix: prefix,
    stateDir: join(dir, "state"),
    labDir: join(dir, "lab"),
  };
  // An interrupted labUp removes what it made itself: let it finish first.
  let upSettled: Promise<void> = Promise.resolve();
  return guarded(
    async () => {
      await upSettled;
      await labDown(config).catch((err: Error) =>
        process.stderr.write(`lab down (${prefix}): ${err.message}\n`),
      );
      // labDown lists the namespaces whose processes it stops before it stops
      // the daemons; a task an agent starts meanwhile (a failure right after
      // `service create`) outlives it. The lab's daemons and tasks all carry
      // SWARMNET_NETNS_PREFIX=sn-<our prefix>node<i>-, so find them by that.
      const stray = labProcesses(`sn-${prefix}`);
      if (stray.length) {
        process.stderr.write(
          `lab down (${prefix}) left ${stray.length} process(es); stopping them\n`,
        );
        await stopProcesses(stray, 2000);
      }
      rmSync(dir, { recursive: true, force: true });
    },
    async () => {
      const up = labUp({ config, nodes: 3, ...stopped });
      upSettled = up.then(
        () => {},
        () => {},
      );
      const state = await up;
      const manager = state.nodes[0]!;
      const socketPath = manager.host.replace(/^unix:\/\//, "");
      const lab: Lab = {
        config,
        state,
        node: (name) => {
          const n = state.nodes.find((x) => x.name === name);
          if (!n) throw new Error(`no lab node ${name}`);
          return n;
        },
        cli: (args) =>
          mustRun(cliArgv(args), {
            env: { ...process.env, SWARMNET_HOST: manager.host },
            timeoutMs: 120_000,
            ...stopped,
          }),
        api: (method, path, body) => apiCall(socketPath, method, path, body),
      };
      return fn(lab);
    },
  );
}

export function apiCall<T>(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, method, path, headers: { "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const raw = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, body: (raw ? JSON.parse(raw) : undefined) as T });
        });
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

export interface TaskInfo {
  id: string;
  serviceId: string;
  createdAt: string;
  desiredState: string;
  nodeId: string;
  nodeHostname: string;
  status: { state: string; timestamp: string };
  networks: { addresses: string[] }[];
}

export function taskAddr(t: TaskInfo): string {
  const a = t.networks[0]?.addresses[0];
  if (!a) throw new Error(`task ${t.id} has no address`);
  return a.split("/")[0]!;
}

/** The network namespace of a task's sandbox. */
export function sandboxOf(lab: Lab, t: TaskInfo): string {
  return sandboxNsName(lab.node(t.nodeHostname).nsPrefix, t.id);
}

export async function oneTask(lab: Lab, service: string): Promise<{ ns: string; addr: string }> {
  const { body } = await lab.api<TaskInfo[]>("GET", `/v1/tasks?service=${service}&live=true`);
  const t = body.find((x) => x.status.state === "running");
  if (!t) throw new Error(`service ${service} has no running task`);
  return { ns: sandboxNsName(lab.node(t.nodeHostname).nsPrefix, t.id), addr: taskAddr(t) };
}

/** An API call that must succeed (2xx); throws with the manager's message otherwise. */
export async function mustApi<T>(
  lab: Lab,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const r = await lab.api<T>(method, path, body);
  if (r.status < 200 || r.status >= 300) {
    const msg = (r.body as { message?: string } | undefined)?.message ?? JSON.stringify(r.body);
    throw new Error(`${method} ${path}: ${r.status} ${msg}`);
  }
  return r.body;
}

/** Polls the service's tasks until exactly `n` are running (and meant to),
 * and no other is live; returns the running ones. Fails fast on a failed task. */
export async function waitRunning(
  lab: Lab,
  service: string,
  n: number,
  timeoutMs = 120_000,
  everyMs = 200,
): Promise<TaskInfo[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const live = await mustApi<TaskInfo[]>(lab, "GET", `/v1/tasks?service=${service}&live=true`);
    const running = live.filter(
      (t) => t.status.state === "running" && t.desiredState === "running",
    );
    if (running.length === n && live.length === n) return running;
    const bad = live.find((t) => ["failed", "rejected"].includes(t.status.state));
    if (bad) throw new Error(`service ${service}: task ${bad.id} ${bad.status.state}`);
    if (Date.now() > deadline) {
      throw new Error(
        `service ${service}: ${running.length} of ${n} tasks running (${live.length} live) after ${timeoutMs / 1000} s`,
      );
    }
    await sleep(everyMs, undefined, stopped);
  }
}
