// Helpers for the end-to-end lab suites: one lab per test file under a unique
// name prefix (src/lab/testkit.ts), the real CLI against its manager, real
// traffic from inside task sandboxes (a small node script run with nsenter),
// kernel snapshots of a node, and the check that `lab down` left nothing.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { onNodeArgv } from "../../src/lab/commands.ts";
import {
  alive,
  listNetns,
  mustRun,
  netnsPids,
  type RunResult,
  readPidFile,
  run,
} from "../../src/lab/kernel.ts";
import { cliArgv, labDown, labUp } from "../../src/lab/lab.ts";
import type { LabConfig, NodePlan } from "../../src/lab/plan.ts";
import type { LabNodeState, LabState } from "../../src/lab/state.ts";
import { IS_ROOT, leftovers, testConfig } from "../../src/lab/testkit.ts";

export { IS_ROOT };

/** The project's Node (the one running the tests): what runs inside sandboxes. */
export const NODE = process.execPath;

/** A row of `service ps S --format json`. */
export interface TaskRow {
  ID: string;
  Name: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  Error: string;
  Addresses: string[];
}

/** What one probe from inside a sandbox found. */
export interface ProbeResult {
  kind: "tcp" | "udp";
  addr: string;
  port: number;
  ok: boolean;
  /** The first line the peer answered. */
  answer: string;
  error?: string;
  /** Bytes written / read on the connection (TCP). */
  sent: number;
  received: number;
  /** Answer lines read. */
  lines: number;
  /** Answer lines that differ from the first one. */
  odd: number;
}

export interface Probe {
  kind: "tcp" | "udp";
  addr: string;
  port: number;
  /** TCP: lines to send, each `size` bytes with its newline; the probe waits for as many answers. */
  lines?: number;
  size?: number;
  timeoutMs?: number;
}

// Runs in a sandbox: `node -e PROBE_SCRIPT '<probes json>'`; prints one JSON array.
const PROBE_SCRIPT = `const net = require("node:net"), dgram = require("node:dgram");
const probes = JSON.parse(process.argv[1]);
function tcp(p) {
  return new Promise((resolve) => {
    const want = p.lines ?? 1, size = p.size ?? 6;
    let buf = "", lines = 0, odd = 0, received = 0, sent = 0, answer = "", over = false;
    const s = net.connect(p.port, p.addr);
    const done = (ok, error) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ kind: "tcp", addr: p.addr, port: p.port, ok, answer, error, sent, received, lines, odd });
    };
    const timer = setTimeout(() => done(false, "TIMEOUT"), p.timeoutMs ?? 3000);
    s.setEncoding("utf8");
    s.on("connect", () => {
      const payload = ("x".repeat(size - 1) + "\\n").repeat(want);
      sent = Buffer.byteLength(payload);
      s.write(payload);
    });
    s.on("data", (c) => {
      received += Buffer.byteLength(c);
      buf += c;
      for (let i = buf.indexOf("\\n"); i >= 0; i = buf.indexOf("\\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (lines === 0) answer = line;
        else if (line !== answer) odd++;
        if (++lines >= want) return done(true);
      }
    });
    s.on("error", (e) => done(false, e.code || e.message));
    s.on("end", () => done(lines >= want, "EOF after " + lines + " line(s)"));
  });
}
function udp(p) {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    let over = false, sent = 0;
    const done = (ok, answer, error) => {
      if (over) return;
      over = true;
      clearTimeout(timer);
      clearInterval(again);
      s.close();
      resolve({ kind: "udp", addr: p.addr, port: p.port, ok, answer, error, sent, received: Buffer.byteLength(answer), lines: ok ? 1 : 0, odd: 0 });
    };
    const timer = setTimeout(() => done(false, "", "TIMEOUT"), p.timeoutMs ?? 3000);
    // Connected, as real clients are: a reply from any other address is not an answer.
    const send = () => {
      try {
        s.send("hello\\n", (e) => (e ? done(false, "", e.code || e.message) : (sent += 6)));
      } catch (e) {
        done(false, "", e.code || e.message);
      }
    };
    s.on("message", (m) => done(true, m.toString("utf8").trim()));
    s.on("error", (e) => done(false, "", e.code || e.message));
    let again;
    s.connect(p.port, p.addr, () => {
      again = setInterval(send, 500);
      send();
    });
  });
}
Promise.all(probes.map((p) => (p.kind === "udp" ? udp(p) : tcp(p)))).then((r) => console.log(JSON.stringify(r)));`;

// Runs in a sandbox: one TCP connection that sends a 1 KiB line every 5 ms and
// prints how many answers arrived, every 100 ms; it exits when the connection ends.
const STREAM_SCRIPT = `const s = require("node:net").connect(Number(process.argv[2]), process.argv[1]);
let n = 0, buf = "";
s.setEncoding("utf8");
s.on("connect", () => {
  console.log("connected");
  setInterval(() => s.write("y".repeat(1023) + "\\n"), 5);
  setInterval(() => console.log("answers " + n), 100);
});
s.on("data", (c) => {
  buf += c;
  for (let i = buf.indexOf("\\n"); i >= 0; i = buf.indexOf("\\n")) { buf = buf.slice(i + 1); n++; }
});
s.on("error", (e) => { console.log("ERR " + (e.code || e.message)); process.exit(1); });
s.on("close", () => { console.log("CLOSED"); process.exit(1); });`;

// Runs on a node: answers each connection with "<hostname> <peer address>" and closes.
const WHO_SERVER = `const net = require("node:net"), os = require("node:os");
net.createServer((c) => c.end(os.hostname() + " " + c.remoteAddress.replace(/^::ffff:/, "") + "\\n"))
  .listen(Number(process.argv[1]), "0.0.0.0", () => console.log("ready"));`;

/** argv of a command in a namespace's network only (no mount namespace, unlike `ip netns exec`). */
export function inNs(netns: string, argv: readonly string[]): string[] {
  return ["nsenter", `--net=/run/netns/${netns}`, "--", ...argv];
}

/** Environment for the processes the tests start: not a test-runner child. */
function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _runner, ...inherited } = process.env;
  return { ...inherited, ...extra };
}

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`,
      );
    }
    await sleep(everyMs);
  }
}

/** A started process (a stream client, a server) the test stops itself. */
export interface Background {
  child: ChildProcess;
  output: string[];
  stop(): void;
}

export function background(argv: readonly string[], ready?: string): Promise<Background> {
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    env: childEnv(),
  });
  const output: string[] = [];
  let partial = "";
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (c: string) => {
    const parts = (partial + c).split("\n");
    partial = parts.pop()!;
    output.push(...parts);
  });
  const errors: string[] = [];
  child.stderr!.on("data", (c: Buffer) => errors.push(c.toString()));
  const bg: Background = {
    child,
    output,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
  if (!ready) return Promise.resolve(bg);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      bg.stop();
      reject(new Error(`${argv.join(" ").slice(0, 120)}: not ready in 10 s`));
    }, 10_000);
    const onData = () => {
      if (output.some((l) => l.includes(ready))) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        resolve(bg);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`exited (${code}) before it was ready: ${errors.join("").trim()}`));
    });
  });
}

export class TestLab {
  readonly config: LabConfig;
  readonly dir: string;
  state: LabState | undefined;
  private readonly started: Background[] = [];

  constructor() {
    const { config, dir } = testConfig();
    this.config = config;
    this.dir = dir;
  }

  /** dnsUpstreams: what the nodes' DNS forwards other names to (default none). */
  async up(nodes = 3, opts: { dnsUpstreams?: string[] } = {}): Promise<LabState> {
    this.state = await labUp({ config: this.config, nodes, ...opts });
    return this.state;
  }

  /** Removes the lab and its directory, whatever state the tests left it in. */
  async cleanup(): Promise<void> {
    for (const bg of this.started) bg.stop();
    await labDown(this.config).catch((err: Error) => console.error(err.message));
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** `lab down`, strictly: true when a lab was removed, throws when something stayed. */
  async down(): Promise<boolean> {
    for (const bg of this.started) bg.stop();
    return labDown(this.config);
  }

  node(name: string): LabNodeState {
    const n = this.state?.nodes.find((x) => x.name === name);
    assert.ok(n, `no lab node ${name}`);
    return n;
  }

  /** node1's socket, as `swarmnet lab env` would export it. */
  get host(): string {
    return this.node("node1").host;
  }

  /** The real CLI against the lab's manager; never rejects. */
  cliRun(args: readonly string[]): Promise<RunResult> {
    return run(cliArgv(args), {
      env: childEnv({
        SWARMNET_HOST: this.host,
        NODE_COMPILE_CACHE: join(this.dir, "compile-cache"),
      }),
      timeoutMs: 60_000,
    });
  }

  async cli(args: readonly string[]): Promise<string> {
    const r = await this.cliRun(args);
    assert.equal(r.code, 0, `swarmnet ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  }

  async ps(service: string): Promise<TaskRow[]> {
    const out = await this.cli(["service", "ps", "--no-trunc", service, "--format", "json"]);
    return out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as TaskRow);
  }

  /** Tasks meant to run, once `count` of them run with an address (when on a network). */
  async running(
    service: string,
    count: number,
    timeoutMs = 30_000,
    onNetwork = true,
  ): Promise<TaskRow[]> {
    return waitFor(
      `${count} running tasks of ${service}`,
      async () => {
        const rows = (await this.ps(service)).filter((t) => t.DesiredState === "Running");
        const up = rows.filter(
          (t) => t.CurrentState.startsWith("Running") && (!onNetwork || t.Addresses.length),
        );
        return rows.length === count && up.length === count ? rows : undefined;
      },
      timeoutMs,
    );
  }

  async nodes(): Promise<{ Hostname: string; Status: string }[]> {
    const out = await this.cli(["node", "ls", "--format", "json"]);
    return out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as { Hostname: string; Status: string });
  }

  /** The network namespace of a task (its sandbox), named by its node's agent prefix. */
  sandbox(task: TaskRow): string {
    return `${this.node(task.Node).nsPrefix}sb-${task.ID.slice(0, 12)}`;
  }

  /** Probes from inside a sandbox, all at once; one result per probe, in order. */
  async probe(sandbox: string, probes: Probe[]): Promise<ProbeResult[]> {
    const longest = Math.max(...probes.map((p) => p.timeoutMs ?? 3000));
    const r = await run(inNs(sandbox, [NODE, "-e", PROBE_SCRIPT, JSON.stringify(probes)]), {
      env: childEnv(),
      timeoutMs: longest + 10_000,
    });
    assert.equal(r.code, 0, `probe from ${sandbox} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as ProbeResult[];
  }

  /** Probes again until every one succeeds (tasks need a moment to listen); the last results. */
  async probeUntilOk(sandbox: string, probes: Probe[], timeoutMs = 20_000): Promise<ProbeResult[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const results = await this.probe(sandbox, probes);
      if (results.every((r) => r.ok) || Date.now() > deadline) return results;
      await sleep(300);
    }
  }

  /** A TCP stream from a sandbox to addr:port that runs until stopped (see STREAM_SCRIPT). */
  async stream(sandbox: string, addr: string, port: number): Promise<Stream> {
    const bg = await background(inNs(sandbox, [NODE, "-e", STREAM_SCRIPT, addr, String(port)]));
    this.started.push(bg);
    const stream = new Stream(bg);
    await waitFor(
      `a stream from ${sandbox} to ${addr}:${port}`,
      () => stream.answers() > 10,
      10_000,
    );
    return stream;
  }

  /** A TCP server on a node answering "<hostname> <peer address>"; stopped with the lab. */
  async whoServer(node: NodePlan, port: number): Promise<Background> {
    const bg = await background(onNodeArgv(node, [NODE, "-e", WHO_SERVER, String(port)]), "ready");
    this.started.push(bg);
    return bg;
  }

  /** Starts a node's daemon again, exactly as `init`/`join` did: in the node's
   * namespaces, with its agent prefix, its data dir and socket, logging to daemon.log. */
  restartDaemon(node: LabNodeState): void {
    const log = openSync(node.log, "a");
    const argv = onNodeArgv(
      node,
      cliArgv(["daemon", "--data-dir", node.dataDir, "--host", node.host]),
    );
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: node.dataDir,
      env: childEnv({ SWARMNET_NETNS_PREFIX: node.nsPrefix }),
      detached: true,
      stdio: ["ignore", log, log],
    });
    closeSync(log);
    child.unref();
  }

  /** The pid of a node's daemon now (daemon.pid), checked to be that daemon. */
  daemonPid(node: LabNodeState): number {
    const pid = readPidFile(node.pidFile);
    assert.ok(pid !== null && alive(pid), `${node.name}: no live daemon (${node.pidFile})`);
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    assert.ok(
      cmd.includes("daemon") && cmd.includes(node.dataDir),
      `pid ${pid} is not ${node.name}'s daemon`,
    );
    return pid;
  }

  /** Namespaces the lab and its agents made, as they are now. */
  async namespaces(): Promise<string[]> {
    const agents = `sn-${this.config.namePrefix}`;
    return (await listNetns()).filter(
      (ns) => ns.startsWith(this.config.namePrefix) || ns.startsWith(agents),
    );
  }

  /** Every process in the lab's namespaces, with its start time (a reused pid is not ours). */
  async processes(): Promise<Map<number, string>> {
    const found = new Map<number, string>();
    for (const ns of await this.namespaces()) {
      for (const pid of await netnsPids(ns)) found.set(pid, startTime(pid));
    }
    return found;
  }

  /** After `lab down`: nothing of the lab anywhere. `before` is what processes() said while up. */
  async assertGone(before: Map<number, string>, rootLinksBefore: Set<string>): Promise<void> {
    assert.deepEqual(await this.namespaces(), [], "namespaces left");
    const survivors = [...before].filter(([pid, t]) => alive(pid) && startTime(pid) === t);
    assert.deepEqual(survivors, [], "processes of the lab still running");
    assert.deepEqual(await leftovers(this.config, this.dir), [], "left behind");
    const newLinks = [...(await rootLinks())].filter(
      (l) => !rootLinksBefore.has(l) && isSwarmnetLinkName(l, this.config.namePrefix),
    );
    assert.deepEqual(newLinks, [], "links left in the root namespace");
  }
}

/** Names swarmnet and the lab give links (gateway legs, overlay peers, the gateway bridge, lab veths). */
function isSwarmnetLinkName(name: string, prefix: string): boolean {
  return (
    name === "docker_gwbridge" ||
    /^[gv][0-9a-f]{10}$/.test(name) ||
    /^node\d$/.test(name) ||
    name.startsWith(prefix)
  );
}

export async function rootLinks(): Promise<Set<string>> {
  const links = JSON.parse(await mustRun(["ip", "-j", "link", "show"])) as { ifname: string }[];
  return new Set(links.map((l) => l.ifname));
}

export function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}

export class Stream {
  private readonly bg: Background;
  constructor(bg: Background) {
    this.bg = bg;
  }
  /** Answers received so far on the one connection. */
  answers(): number {
    for (let i = this.bg.output.length - 1; i >= 0; i--) {
      const m = /^answers (\d+)$/.exec(this.bg.output[i]!);
      if (m) return Number(m[1]);
    }
    return 0;
  }
  /** "ERR …" or "CLOSED" when the connection broke, else undefined. */
  broken(): string | undefined {
    return this.bg.output.find((l) => l.startsWith("ERR") || l === "CLOSED");
  }
  /** Waits until `more` further answers arrived; fails at once if the connection breaks. */
  async flows(more: number, what: string, timeoutMs = 10_000): Promise<number> {
    const from = this.answers();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const broke = this.broken();
      if (broke) throw new Error(`the stream broke ${what}: ${broke}`);
      if (this.answers() >= from + more) return this.answers();
      if (Date.now() > deadline) {
        throw new Error(
          `the stream stalled ${what}: ${this.answers() - from} answers in ${timeoutMs / 1000} s`,
        );
      }
      await sleep(50);
    }
  }
  stop(): void {
    this.bg.stop();
  }
}

/** What the kernel holds for one lab node: its own namespace and every one its
 * agent made, each with its inode, links (by ifindex: a re-created link gets a
 * new one), addresses, routes, static FDB and permanent neighbour entries, and
 * nftables rules with their handles. Equal snapshots mean nothing was touched. */
export async function kernelSnapshot(node: LabNodeState): Promise<Record<string, unknown>> {
  const names = [node.netns, ...(await listNetns()).filter((n) => n.startsWith(node.nsPrefix))];
  const snap: Record<string, unknown> = {};
  for (const ns of names.sort()) {
    const json = async <T>(argv: string[]): Promise<T[]> =>
      JSON.parse((await mustRun(argv)) || "[]") as T[];
    const links = await json<{
      ifname: string;
      ifindex: number;
      address?: string;
      mtu: number;
      master?: string;
      linkinfo?: { info_kind?: string };
    }>(["ip", "-n", ns, "-j", "-d", "link", "show"]);
    const addrs = await json<{ ifname: string; addr_info: { local: string; prefixlen: number }[] }>(
      ["ip", "-n", ns, "-j", "-4", "addr", "show"],
    );
    const fdb = await json<{ state: string }>(["bridge", "-n", ns, "-j", "fdb", "show"]);
    const neigh = await json<{ state?: string[] }>(["ip", "-n", ns, "-j", "neigh", "show"]);
    snap[ns] = {
      inode: statSync(`/run/netns/${ns}`).ino,
      links: links.map((l) => [
        l.ifindex,
        l.ifname,
        l.linkinfo?.info_kind,
        l.address,
        l.mtu,
        l.master,
      ]),
      addrs: addrs.flatMap((a) => a.addr_info.map((i) => `${a.ifname} ${i.local}/${i.prefixlen}`)),
      routes: await json(["ip", "-n", ns, "-j", "-4", "route", "show", "table", "all"]),
      fdb: fdb.filter((f) => f.state === "permanent" || f.state === "static"),
      neigh: neigh.filter((n) => n.state?.includes("PERMANENT")),
      nft: await mustRun(inNs(ns, ["nft", "-a", "list", "ruleset"])),
    };
  }
  return snap;
}

/** The agent's record of its task processes (DATA_DIR/agent/tasks/ID/pid.json), by task id. */
export function taskPids(node: LabNodeState): Map<string, { pid: number; startTime: number }> {
  const dir = join(node.dataDir, "agent", "tasks");
  const found = new Map<string, { pid: number; startTime: number }>();
  for (const id of readdirSync(dir)) {
    try {
      const p = JSON.parse(readFileSync(join(dir, id, "pid.json"), "utf8")) as {
        pid: number;
        startTime: number;
      };
      found.set(id, { pid: p.pid, startTime: p.startTime });
    } catch {
      // a task that ended: no pid.json
    }
  }
  return found;
}

/** The IPv4 address (no prefix) a task shows in `service ps`. */
export function addressOf(task: TaskRow): string {
  return task.Addresses[0]!.split("/")[0]!;
}

/** A short description of probe results, for assertion messages. */
export function summary(results: ProbeResult[]): string {
  return results
    .map(
      (r) =>
        `${r.kind} ${r.addr}:${r.port} ${r.ok ? "ok" : `FAILED ${r.error}`} (${r.lines} line(s), ${r.sent} B out, ${r.received} B in) ${r.answer}`,
    )
    .join("\n");
}
