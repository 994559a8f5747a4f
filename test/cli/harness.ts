// End-to-end harness: runs the real `./bin/swarmnet` against a real daemon in
// a private temp dir (its own socket, its own data dir), so test files can run
// in parallel and leave nothing behind. `cleanup()` stops every daemon the
// harness knows of and removes the dir, whatever the tests did.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:http";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = path.join(ROOT, "bin", "swarmnet");

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** What `network inspect` prints (Docker's NetworkResource), as far as the tests read it. */
export interface DockerNetwork {
  Name: string;
  Id: string;
  Scope: string;
  Driver: string;
  IPAM: {
    Config: {
      Subnet: string;
      Gateway: string;
      IPRange?: string;
      AuxiliaryAddresses?: Record<string, string>;
    }[];
  };
  Attachable: boolean;
  Internal: boolean;
  Ingress: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

/** What `service inspect` prints (Docker's swarm.Service), as far as the tests read it. */
export interface DockerService {
  ID: string;
  Version: { Index: number };
  Spec: {
    Name: string;
    Labels: Record<string, string>;
    Mode: { Replicated?: { Replicas: number }; Global?: object };
    TaskTemplate: { Networks: { Target: string }[] };
    EndpointSpec: { Mode: string };
  };
  Endpoint: {
    Ports: { PublishedPort: number; TargetPort: number; Protocol: string; PublishMode: string }[];
    VirtualIPs: { NetworkID: string; Addr: string }[];
  };
  ServiceStatus?: { RunningTasks: number; DesiredTasks: number };
}

/** What `node inspect` prints (Docker's swarm.Node), as far as the tests read it. */
export interface DockerNode {
  ID: string;
  Spec: { Role: string; Availability: string; Labels: Record<string, string> };
  Description: { Hostname: string };
  Status: { State: string };
  ManagerStatus?: { Leader: boolean };
}

/** An overlay's VXLAN id, which Docker shows as a driver option (a string). */
export function vxlanId(net: DockerNetwork): number | undefined {
  const text = net.Options["com.docker.network.driver.overlay.vxlanid_list"];
  return text === undefined ? undefined : Number(text);
}

/** One JSON object per line, as `ls --format json` prints them. */
export function jsonLines<T = Record<string, unknown>>(text: string): T[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as T);
}

/** Whether pid is gone, or a zombie its parent has not reaped yet (dead all the same). */
function exited(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false; // it just went (the next kill(0) says so), or no /proc: kill(0) decides
  }
}

export class Env {
  #dir: string | undefined;
  /** Daemons this harness spawned itself (restarts); init's daemon is found by its pid file. */
  private readonly spawned: ChildProcess[] = [];

  /** Made on first use, so a suite whose tests are all filtered out (no hooks run) leaves no dir. */
  get dir(): string {
    this.#dir ??= mkdtempSync(path.join(os.tmpdir(), "swarmnet-e2e-"));
    return this.#dir;
  }
  get dataDir(): string {
    return path.join(this.dir, "data");
  }
  get sock(): string {
    return path.join(this.dir, "sock");
  }
  get host(): string {
    return `unix://${this.sock}`;
  }

  /**
   * The CLI's environment: this env's socket, a compile cache that halves each
   * run's start-up, and no agent — these tests are about the control plane
   * (tasks stop at "assigned"); the kernel side has its own suites.
   */
  private childEnv(): NodeJS.ProcessEnv {
    const { NODE_TEST_CONTEXT: _runner, ...inherited } = process.env;
    return {
      ...inherited,
      SWARMNET_HOST: this.host,
      SWARMNET_AGENT: "0",
      NODE_COMPILE_CACHE: path.join(this.dir, "compile-cache"),
    };
  }

  /** Runs the CLI; never rejects (the exit code is part of the result). */
  run(...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        BIN,
        args,
        { cwd: ROOT, env: this.childEnv(), timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  /** Runs the CLI and insists it succeeds; returns stdout. */
  async ok(...args: string[]): Promise<string> {
    const r = await this.run(...args);
    assert.equal(r.code, 0, `swarmnet ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  /** Runs the CLI expecting failure: non-zero exit, nothing on stdout, one line on stderr. */
  async fails(...args: string[]): Promise<string> {
    const r = await this.run(...args);
    assert.notEqual(
      r.code,
      0,
      `swarmnet ${args.join(" ")} should have failed; stdout: ${r.stdout}`,
    );
    assert.equal(r.stdout, "", `swarmnet ${args.join(" ")} printed on stdout: ${r.stdout}`);
    const message = r.stderr.replace(/\n$/, "");
    assert.ok(message.length > 0, `swarmnet ${args.join(" ")} failed silently`);
    assert.ok(
      !message.includes("\n"),
      `swarmnet ${args.join(" ")}: more than one line:\n${r.stderr}`,
    );
    assert.ok(!/\bat .+:\d+:\d+\)?$/m.test(message), `stack trace leaked: ${r.stderr}`);
    return message;
  }

  /** `ls --format json` output, parsed. */
  async lines<T = Record<string, unknown>>(...args: string[]): Promise<T[]> {
    return jsonLines<T>(await this.ok(...args, "--format", "json"));
  }

  /** `inspect --format json` output, parsed (an array). */
  async inspect<T = Record<string, unknown>>(...args: string[]): Promise<T[]> {
    return JSON.parse(await this.ok(...args, "--format", "json")) as T[];
  }

  async init(...flags: string[]): Promise<void> {
    await this.ok("init", "--data-dir", this.dataDir, ...flags);
  }

  /** GET on the daemon's API, straight over the socket: a cheap, complete view of the state. */
  api<T = unknown>(urlPath: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.sock, path: urlPath }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if ((res.statusCode ?? 500) >= 400)
            reject(new Error(`GET ${urlPath}: ${res.statusCode} ${text}`));
          else resolve(JSON.parse(text) as T);
        });
      });
      req.on("error", reject);
      req.end();
    });
  }

  /** Every stored object, as the API returns it; equal snapshots mean untouched state. */
  async apiState(): Promise<unknown> {
    const [networks, services, tasks, nodes] = await Promise.all(
      ["/v1/networks", "/v1/services", "/v1/tasks", "/v1/nodes"].map((p) => this.api(p)),
    );
    return { networks, services, tasks, nodes };
  }

  /** The pid the running daemon wrote, if that process is still alive. */
  daemonPid(): number | undefined {
    const file = path.join(this.dataDir, "daemon.pid");
    if (!existsSync(file)) return undefined;
    const pid = Number.parseInt(readFileSync(file, "utf8"), 10);
    return pid > 0 && this.isOurDaemon(pid) ? pid : undefined;
  }

  /** Guards against a stale pid file naming a pid the system has since reused. */
  private isOurDaemon(pid: number): boolean {
    if (exited(pid)) return false;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return cmdline.includes("daemon") && cmdline.includes(this.dataDir);
    } catch {
      return false;
    }
  }

  /** Signals the daemon by its pid file and waits until it is gone. */
  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const pid = this.daemonPid();
    assert.ok(pid, "no daemon is running");
    await stop(pid, signal);
  }

  /** Starts `swarmnet daemon` in the background, as an init system would, and waits until it answers. */
  async startDaemon(...extra: string[]): Promise<void> {
    const log = openSync(path.join(this.dir, "daemon.log"), "a");
    const argv = ["daemon", "--data-dir", this.dataDir, "--host", this.host, ...extra];
    const child = spawn(BIN, argv, {
      cwd: ROOT,
      env: this.childEnv(),
      detached: true,
      stdio: ["ignore", log, log],
    });
    closeSync(log); // the child has its own copy
    child.unref();
    this.spawned.push(child);
    for (let i = 0; i < 200; i++) {
      if (child.exitCode !== null || child.signalCode !== null) break;
      const r = await this.run("network", "ls", "-q");
      if (!r.stderr.includes("Cannot connect")) return;
      await sleep(50);
    }
    const text = readFileSync(path.join(this.dir, "daemon.log"), "utf8");
    throw new Error(`the daemon did not come up:\n${text}`);
  }

  /** Stops every daemon this env started (SIGTERM, then SIGKILL) and removes the temp dir. */
  async cleanup(): Promise<void> {
    if (this.#dir === undefined) return;
    const pids = new Set<number>();
    const fromFile = this.daemonPid();
    if (fromFile) pids.add(fromFile);
    for (const c of this.spawned)
      if (c.pid && c.exitCode === null && c.signalCode === null) pids.add(c.pid);
    await Promise.all([...pids].map((pid) => stop(pid, "SIGTERM")));
    rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = undefined;
  }
}

/** Sends signal and waits for the process to exit; escalates to SIGKILL after 10 s. */
async function stop(pid: number, signal: NodeJS.Signals): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  for (let i = 0; i < 400; i++) {
    if (exited(pid)) return;
    if (i === 200) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        return;
      }
    }
    await sleep(50);
  }
  throw new Error(`process ${pid} did not exit`);
}
