// Runs task processes in their sandboxes and keeps track of them across agent
// restarts. A task's process starts detached, in its own session and process
// group, inside the sandbox's network namespace and a fresh UTS namespace with
// its task name as hostname. Its pid and start time are written to disk, so a
// restarted agent (even after kill -9) adopts it instead of starting another:
// tasks and their connections never depend on the agent being alive.
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/** What a task's /etc/resolv.conf says: only the embedded DNS, which answers
 * cluster names and forwards the rest (Docker writes the same). */
export const RESOLV_CONF = "nameserver 127.0.0.11\noptions ndots:0\n";

/** Runs in the task's namespaces: `$0` hostname, `$1` resolv.conf, then the command. */
const TASK_SHELL = [
  'hostname "$0"',
  'mount --bind "$1" /etc/resolv.conf || echo "swarmnet: cannot point /etc/resolv.conf at 127.0.0.11" >&2',
  "shift",
  'exec "$@"',
].join("\n");

export interface TaskProcessSpec {
  id: string;
  /** Hostname inside the task (its task name). */
  hostname: string;
  /** Path of the sandbox's network namespace, e.g. /run/netns/sn-…. */
  netnsPath: string;
  command: string[];
  env?: Record<string, string>;
}

export interface TaskProcess {
  id: string;
  pid: number;
  /** Kernel start time of the process (clock ticks since boot), to tell it from a reused pid. */
  startTime: number;
  logPath: string;
}

export type ExitListener = (id: string, exitCode: number | null, signal: string | null) => void;

const ADOPTED_POLL_MS = 1000;

/** Field 22 of /proc/PID/stat: when the process started. Undefined if the pid is gone. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces; fields after it follow the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const value = Number(fields[19]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export class TaskRuntime {
  private readonly dir: string;
  private readonly running = new Map<string, TaskProcess>();
  private readonly listeners: ExitListener[] = [];
  private poller: NodeJS.Timeout | undefined;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
  }

  onExit(listener: ExitListener): void {
    this.listeners.push(listener);
  }

  private emitExit(id: string, code: number | null, signal: string | null): void {
    if (!this.running.delete(id)) return;
    rmSync(join(this.dir, id, "pid.json"), { force: true });
    // A task runs once: its id is never started again, even by a restarted agent.
    writeFileSync(join(this.dir, id, "exit.json"), JSON.stringify({ code, signal }));
    for (const l of this.listeners) l(id, code, signal);
  }

  /** Finds processes a previous agent started that are still alive; forgets dead ones. */
  adopt(): TaskProcess[] {
    const adopted: TaskProcess[] = [];
    for (const id of readdirSync(this.dir)) {
      const file = join(this.dir, id, "pid.json");
      if (!existsSync(file)) continue;
      const proc = JSON.parse(readFileSync(file, "utf8")) as TaskProcess;
      if (processStartTime(proc.pid) === proc.startTime) {
        this.running.set(id, proc);
        adopted.push(proc);
      } else {
        rmSync(file, { force: true });
      }
    }
    this.watchAdopted();
    return adopted;
  }

  /** Adopted processes are not our children: poll /proc to notice when they end. */
  private watchAdopted(): void {
    if (this.poller) return;
    this.poller = setInterval(() => {
      for (const [id, proc] of this.running) {
        if ((proc as TaskProcess & { child?: boolean }).child) continue;
        if (processStartTime(proc.pid) !== proc.startTime) this.emitExit(id, null, null);
      }
    }, ADOPTED_POLL_MS);
    this.poller.unref();
  }

  /** How a task that already ran ended, if it did. */
  exitOf(id: string): { code: number | null; signal: string | null } | undefined {
    const file = join(this.dir, id, "exit.json");
    return existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined;
  }

  /** Every task the runtime has a directory for (running or ended). */
  knownIds(): string[] {
    return readdirSync(this.dir);
  }

  get(id: string): TaskProcess | undefined {
    return this.running.get(id);
  }

  ids(): string[] {
    return [...this.running.keys()];
  }

  logPath(id: string): string {
    return join(this.dir, id, "output.log");
  }

  start(spec: TaskProcessSpec): TaskProcess {
    if (this.running.has(spec.id)) return this.running.get(spec.id)!;
    if (spec.command.length === 0) throw new Error(`task ${spec.id} has no command to run`);
    const taskDir = join(this.dir, spec.id);
    mkdirSync(taskDir, { recursive: true });
    const logPath = this.logPath(spec.id);
    const log = openSync(logPath, "a");
    // Names are looked up by the node's embedded DNS inside the sandbox, as in Docker.
    const resolvConf = join(taskDir, "resolv.conf");
    writeFileSync(resolvConf, RESOLV_CONF);
    // nsenter joins the sandbox's network namespace; unshare gives the task its
    // own hostname and a private mount namespace whose /etc/resolv.conf says
    // 127.0.0.11 (the host's file is untouched).
    const child = spawn(
      "nsenter",
      [
        `--net=${spec.netnsPath}`,
        "unshare",
        "--uts",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        TASK_SHELL,
        spec.hostname,
        resolvConf,
        ...spec.command,
      ],
      { detached: true, stdio: ["ignore", log, log], env: { ...process.env, ...spec.env } },
    );
    closeSync(log);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not start task ${spec.id}`);
    const proc: TaskProcess & { child?: boolean } = {
      id: spec.id,
      pid,
      startTime: processStartTime(pid) ?? 0,
      logPath,
      child: true,
    };
    writeFileSync(
      join(taskDir, "pid.json"),
      JSON.stringify({ id: proc.id, pid, startTime: proc.startTime, logPath }),
    );
    this.running.set(spec.id, proc);
    child.on("exit", (code, signal) => this.emitExit(spec.id, code, signal));
    child.unref();
    return proc;
  }

  /** Stops a task's whole process group: SIGTERM, then SIGKILL after the grace period. */
  async stop(id: string, graceMs = 10_000): Promise<void> {
    const proc = this.running.get(id);
    if (!proc) return;
    const alive = () => processStartTime(proc.pid) === proc.startTime;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-proc.pid, sig);
      } catch {
        // Already gone.
      }
    };
    signal("SIGTERM");
    const deadline = Date.now() + graceMs;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (alive()) signal("SIGKILL");
    while (alive()) await new Promise((r) => setTimeout(r, 20));
    this.emitExit(id, null, "SIGTERM");
  }

  /** Removes what the runtime keeps on disk for a task (its log), once it is gone for good. */
  forget(id: string): void {
    rmSync(join(this.dir, id), { recursive: true, force: true });
  }

  close(): void {
    if (this.poller) clearInterval(this.poller);
  }
}
