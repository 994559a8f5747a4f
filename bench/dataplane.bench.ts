// Data-plane benchmarks (root; iperf3 installed). Each brings up its own lab
// (lab-driver.ts: `withLab`, a unique `b-<hex>-` prefix and temporary
// directories) and builds its baseline by hand in namespaces of its own
// (raw-baselines.ts), in the same run, interleaved with the swarmnet
// measurement so that the machine's load hits both alike. Everything is
// removed in `finally` (and on SIGINT/SIGTERM).
//
// overlay-throughput   iperf3 TCP and a 1-byte TCP ping-pong between tasks
//                      on node1 and node2, vs. a raw VXLAN pair (rawOverlay:
//                      the same devices, made by the same `ip` lines, as the
//                      agent makes, minus gw0).
// same-node-throughput the same between two tasks on node1, vs. two
//                      namespaces on a veth each into one bridge (rawBridge).
// service-create-30    `POST /v1/services` with 30 responder replicas on three
//                      nodes until every task answers HTTP on its address,
//                      split into manager, agent and kernel time.
import type { ChildProcess } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { observe } from "../src/dataplane/linux/observe.ts";
import { sandboxNsName } from "../src/dataplane/names.ts";
import { netnsPids, run } from "../src/lab/kernel.ts";
import {
  guarded,
  killAll,
  type Lab,
  NODE,
  nsArgv,
  oneTask,
  startIn,
  stopped,
  type TaskInfo,
  taskAddr,
  uniquePrefix,
  withLab,
} from "./lab-driver.ts";
import { type Path, type RawPlan, rawBridge, rawOverlay } from "./raw-baselines.ts";
import { median, r2, r3 } from "./stats.ts";
import { ECHO_SERVER, type IperfResult, iperf } from "./traffic.ts";
import type { Benchmark, BenchResult } from "./types.ts";

const IPERF_SECONDS = 5;
/** Rounds of (swarmnet, raw) measurements, alternating which goes first.
 * One round's ratio varies by ~8% on a shared 2-core machine; BENCH_ROUNDS=N
 * narrows the median (each round costs ~12 s). */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS) || 5);
const RR_COUNT = 2000;
const RR_WARMUP = 200;
const RR_PORT = 7777;
const IPERF_PORT = 5201;
const REPLICAS = 30;
const RESPONDER_PORT = 80;

/** 1-byte request/response over one TCP connection; prints the round trips' median and p99 (µs). */
const PING_PONG = `const net = require("node:net");
const [addr, port, n, warm] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
const one = Buffer.from([1]);
const rtts = [];
let i = 0, t = 0n;
function go() { t = process.hrtime.bigint(); s.write(one); }
const s = net.connect(port, addr, () => { s.setNoDelay(true); go(); });
s.setTimeout(5000, () => { console.log(JSON.stringify({ error: "timeout" })); process.exit(1); });
s.on("error", (e) => { console.log(JSON.stringify({ error: e.code })); process.exit(1); });
s.on("data", () => {
  const now = process.hrtime.bigint();
  if (i++ >= warm) rtts.push(Number(now - t) / 1000);
  if (i < n + warm) return go();
  s.destroy();
  rtts.sort((a, b) => a - b);
  const at = (p) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))];
  console.log(JSON.stringify({ median: at(0.5), p99: at(0.99) }));
});`;

interface RrResult {
  median: number;
  p99: number;
}

async function pingPong(clientNs: string, addr: string): Promise<RrResult> {
  let last = "";
  for (let attempt = 0; attempt < 40; attempt++) {
    const r = await run(
      nsArgv(clientNs, [
        NODE,
        "-e",
        PING_PONG,
        addr,
        String(RR_PORT),
        String(RR_COUNT),
        String(RR_WARMUP),
      ]),
      { timeoutMs: 60_000, ...stopped },
    );
    try {
      const j = JSON.parse(r.stdout) as RrResult & { error?: string };
      if (!j.error) return j;
      last = j.error;
    } catch {
      last = r.stderr || r.stdout;
    }
    await sleep(250);
  }
  throw new Error(`ping-pong from ${clientNs} to ${addr} failed: ${last.trim()}`);
}

// ---------------------------------------------------------------- throughput benchmarks

/** ROUNDS rounds of iperf3 then ping-pong on both paths, alternating which goes first. */
async function compare(swarm: Path, raw: Path): Promise<BenchResult> {
  const rounds: {
    swarm: IperfResult & RrResult;
    raw: IperfResult & RrResult;
  }[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order: ("swarm" | "raw")[] = r % 2 === 0 ? ["swarm", "raw"] : ["raw", "swarm"];
    const got: Partial<Record<"swarm" | "raw", IperfResult & RrResult>> = {};
    for (const which of order) {
      const p = which === "swarm" ? swarm : raw;
      const t = await iperf(p.clientNs, p.serverAddr, IPERF_PORT, IPERF_SECONDS);
      got[which] = { ...t, median: 0, p99: 0 };
    }
    for (const which of order) {
      const p = which === "swarm" ? swarm : raw;
      Object.assign(got[which]!, await pingPong(p.clientNs, p.serverAddr));
    }
    rounds.push({ swarm: got.swarm!, raw: got.raw! });
    process.stderr.write(
      `  round ${r + 1}: swarmnet ${got.swarm!.gbps.toFixed(2)} Gbit/s rr ${got.swarm!.median.toFixed(0)} µs; raw ${got.raw!.gbps.toFixed(2)} Gbit/s rr ${got.raw!.median.toFixed(0)} µs\n`,
    );
  }
  const s = (k: keyof (IperfResult & RrResult), w: "swarm" | "raw") =>
    median(rounds.map((x) => x[w][k]));
  // Paired per round (same load on both), then the median of the pairs.
  const pairs = rounds.map((x) => x.swarm.gbps / x.raw.gbps);
  const ratio = median(pairs);
  const rrRatio = median(rounds.map((x) => x.raw.median / x.swarm.median));
  const list = (w: "swarm" | "raw", k: "gbps" | "median") =>
    rounds.map((x) => (k === "gbps" ? x[w].gbps.toFixed(2) : x[w].median.toFixed(0))).join("/");
  return {
    metrics: {
      gbps: r3(s("gbps", "swarm")),
      ratio: r3(ratio),
      ratio_min: r3(Math.min(...pairs)),
      ratio_max: r3(Math.max(...pairs)),
      rr_median_us: r2(s("median", "swarm")),
      rr_p99_us: r2(s("p99", "swarm")),
      rr_ratio: r3(rrRatio),
      retransmits: s("retransmits", "swarm"),
    },
    units: { gbps: "Gbit/s", rr_median_us: "µs", rr_p99_us: "µs" },
    baseline: {
      gbps: r3(s("gbps", "raw")),
      rr_median_us: r2(s("median", "raw")),
      rr_p99_us: r2(s("p99", "raw")),
      retransmits: s("retransmits", "raw"),
    },
    target: { metric: "ratio", min: 0.95 },
    notes:
      `medians of ${ROUNDS} interleaved rounds; iperf3 -t ${IPERF_SECONDS} 1 TCP stream; ` +
      `ratio = median of per-round swarmnet/raw Gbit/s; rr = 1-byte TCP ping-pong between two Node processes, ` +
      `${RR_COUNT} round trips after ${RR_WARMUP} warm-up; rr_ratio = raw median / swarmnet median (1 = as fast as raw). ` +
      `Per round Gbit/s swarmnet ${list("swarm", "gbps")} raw ${list("raw", "gbps")}; ` +
      `rr median µs swarmnet ${list("swarm", "median")} raw ${list("raw", "median")}`,
  };
}

/** An iperf3 server task on `serverNode` and a client task (sleep) on `clientNode`, both on one overlay network. */
async function taskPair(lab: Lab, serverNode: string, clientNode: string): Promise<Path> {
  await lab.cli(["network", "create", "-d", "overlay", "bnet"]);
  await lab.cli([
    "service",
    "create",
    "-q",
    "--name",
    "bsrv",
    "--network",
    "bnet",
    "--constraint",
    `node.hostname==${serverNode}`,
    "--",
    "iperf3",
    "-s",
    "-p",
    String(IPERF_PORT),
  ]);
  await lab.cli([
    "service",
    "create",
    "-q",
    "--name",
    "bcli",
    "--network",
    "bnet",
    "--constraint",
    `node.hostname==${clientNode}`,
    "--",
    "sleep",
    "infinity",
  ]);
  const server = await oneTask(lab, "bsrv");
  const client = await oneTask(lab, "bcli");
  return { clientNs: client.ns, serverNs: server.ns, serverAddr: server.addr };
}

async function throughputRun(
  serverNode: string,
  makeRaw: (prefix: string) => RawPlan,
  what: string,
): Promise<BenchResult> {
  const prefix = uniquePrefix();
  return withLab(prefix, async (lab) => {
    const swarm = await taskPair(lab, serverNode, "node1");
    const plan = makeRaw(prefix);
    const children = new Set<ChildProcess>();
    return guarded(
      async () => {
        await killAll(children);
        await plan.remove();
      },
      async () => {
        const raw = await plan.build();
        // The iperf3 server of the swarmnet path is the task itself.
        startIn(raw.serverNs, ["iperf3", "-s", "-p", String(IPERF_PORT)], children);
        startIn(raw.serverNs, [NODE, "-e", ECHO_SERVER, String(RR_PORT)], children);
        startIn(swarm.serverNs, [NODE, "-e", ECHO_SERVER, String(RR_PORT)], children);
        const result = await compare(swarm, raw);
        result.notes = `${what}; ${result.notes}`;
        return result;
      },
    );
  });
}

// ---------------------------------------------------------------- service create

/** Inside a node1 sandbox: reads the addresses as one JSON line on stdin, then
 * sends HTTP GETs to each (connect timeout 200 ms, retry 50 ms after a failure)
 * until it answers; prints {addr: epoch ms} when all have answered. */
const PROBER = `const net = require("node:net");
let input = "";
process.stdin.on("data", (c) => { input += c; if (input.includes("\\n")) start(JSON.parse(input)); });
function start({ addrs, port }) {
  const answered = {};
  let left = addrs.length;
  const tryOne = (addr) => {
    const s = net.connect(port, addr);
    let got = "";
    const retry = () => { s.destroy(); setTimeout(() => tryOne(addr), 50); };
    s.setTimeout(200, retry);
    s.on("error", retry);
    s.on("connect", () => { s.setTimeout(2000); s.write("GET / HTTP/1.0\\r\\n\\r\\n"); });
    s.on("data", (d) => {
      got += d;
      if (!got.includes("HTTP/1.")) return;
      s.removeAllListeners("error"); s.on("error", () => {}); s.destroy();
      if (answered[addr] === undefined) { answered[addr] = Date.now(); if (--left === 0) { console.log(JSON.stringify(answered)); process.exit(0); } }
    });
  };
  addrs.forEach(tryOne);
}`;

/** Wall-clock ms at which a process started (/proc/PID/stat starttime, 10 ms ticks since boot). */
function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ticks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const uptimeS = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    return Date.now() - uptimeS * 1000 + ticks * 10;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a process has used so far, in ms. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** When the agent spawned each task's process (the oldest process in its
 * sandbox), and the CPU time the tasks' processes have used. */
async function taskProcesses(
  lab: Lab,
  tasks: TaskInfo[],
): Promise<{ spawned: Map<string, number>; cpuMs: number }> {
  const spawned = new Map<string, number>();
  let cpuMs = 0;
  for (const t of tasks) {
    const ns = sandboxNsName(lab.node(t.nodeHostname).nsPrefix, t.id);
    const pids = await netnsPids(ns);
    const starts = pids.map(processStart).filter((x): x is number => x !== undefined);
    if (starts.length) spawned.set(t.id, Math.min(...starts));
    cpuMs += pids.reduce((sum, p) => sum + processCpuMs(p), 0);
  }
  return { spawned, cpuMs };
}

interface ApplyLine {
  node: string;
  at: number;
  changes: number;
}

/** "<ISO> agent: applying N kernel change(s)" lines written after byte `from` of each node's log. */
function applyLines(lab: Lab, from: Map<string, number>): ApplyLine[] {
  const out: ApplyLine[] = [];
  for (const n of lab.state.nodes) {
    const text = readFileSync(n.log)
      .subarray(from.get(n.name) ?? 0)
      .toString("utf8");
    for (const m of text.matchAll(/^(\S+Z) agent: applying (\d+) kernel change/gm)) {
      out.push({ node: n.name, at: Date.parse(m[1]!), changes: Number(m[2]) });
    }
  }
  return out.sort((a, b) => a.at - b.at);
}

async function serviceCreateRun(): Promise<BenchResult> {
  const prefix = uniquePrefix();
  return withLab(prefix, async (lab) => {
    await lab.cli(["network", "create", "-d", "overlay", "bnet"]);
    // The prober's sandbox exists before the clock starts.
    await lab.cli([
      "service",
      "create",
      "-q",
      "--name",
      "bprobe",
      "--network",
      "bnet",
      "--constraint",
      "node.hostname==node1",
      "--",
      "sleep",
      "infinity",
    ]);
    const probeNs = (await oneTask(lab, "bprobe")).ns;
    const children = new Set<ChildProcess>();
    return guarded(
      () => killAll(children),
      async () => {
        const prober = startIn(probeNs, [NODE, "-e", PROBER], children, "pipe");
        const probeOut: Buffer[] = [];
        prober.stdout!.removeAllListeners("data");
        prober.stdout!.on("data", (c: Buffer) => probeOut.push(c));
        const probeDone = new Promise<number | null>((r) => prober.once("exit", r));
        await sleep(1500); // prober started, agents idle
        const logFrom = new Map(lab.state.nodes.map((n) => [n.name, statSync(n.log).size]));

        const t0 = Date.now();
        const created = await lab.api<{ id: string; message?: string }>("POST", "/v1/services", {
          name: "bresp",
          mode: { replicated: { replicas: REPLICAS } },
          networks: [{ target: "bnet" }],
        });
        const tPost = Date.now();
        if (created.status !== 201) {
          throw new Error(`service create: ${created.status} ${JSON.stringify(created.body)}`);
        }
        const serviceId = created.body.id;
        const first = await lab.api<TaskInfo[]>("GET", `/v1/tasks?service=${serviceId}`);
        const unassigned = first.body.filter((t) => !t.nodeId);
        const addrs = first.body.map(taskAddr);
        prober.stdin!.end(`${JSON.stringify({ addrs, port: RESPONDER_PORT })}\n`);

        // Watch the tasks until all run (the manager's timestamps are what counts).
        let tasks = first.body;
        const deadline = Date.now() + 180_000;
        while (tasks.some((t) => t.status.state !== "running")) {
          if (Date.now() > deadline) throw new Error("tasks did not all reach running in 180 s");
          const bad = tasks.find((t) => ["failed", "rejected"].includes(t.status.state));
          if (bad) throw new Error(`task ${bad.id} ${bad.status.state}`);
          await sleep(200);
          tasks = (await lab.api<TaskInfo[]>("GET", `/v1/tasks?service=${serviceId}`)).body;
        }
        const exit = await Promise.race([
          probeDone,
          sleep(180_000, "timeout" as const, { ref: false }),
        ]);
        if (exit !== 0) throw new Error(`prober: ${exit}`);
        const answered = JSON.parse(Buffer.concat(probeOut).toString("utf8")) as Record<
          string,
          number
        >;
        // Let late reconcile passes log, then read the logs.
        await sleep(500);
        const applies = applyLines(lab, logFrom);
        const { spawned, cpuMs } = await taskProcesses(lab, tasks);

        const assignedAt = Math.max(...tasks.map((t) => Date.parse(t.createdAt)));
        const runningAt = new Map<string, number>();
        for (const t of tasks) {
          const at = Date.parse(t.status.timestamp);
          runningAt.set(t.nodeHostname, Math.max(runningAt.get(t.nodeHostname) ?? 0, at));
        }
        const perNode = lab.state.nodes.map((n) => {
          const running = runningAt.get(n.name) ?? 0;
          const mine = applies.filter((a) => a.node === n.name && a.at <= running);
          // The pass that started the tasks is the last apply before they were reported running.
          const last = mine.at(-1);
          const tasksHere = tasks.filter((t) => t.nodeHostname === n.name);
          const answeredHere = Math.max(...tasksHere.map((t) => answered[taskAddr(t)]!));
          const spawnedHere = tasksHere
            .map((t) => spawned.get(t.id))
            .filter((x): x is number => x !== undefined);
          return {
            node: n.name,
            tasks: tasksHere.length,
            firstSpawn: spawnedHere.length ? Math.min(...spawnedHere) : Number.NaN,
            lastSpawn: spawnedHere.length ? Math.max(...spawnedHere) : Number.NaN,
            applyStart: last?.at ?? Number.NaN,
            changes: mine.reduce((s, a) => s + a.changes, 0),
            passes: mine.length,
            running,
            answered: answeredHere,
          };
        });
        const tAll = Math.max(...Object.values(answered));
        const critical = perNode.reduce((a, b) => (b.answered > a.answered ? b : a));

        // One observe() of a node with its sandboxes: the read every reconcile pass starts with.
        const observeMs: number[] = [];
        for (let i = 0; i < 3; i++) {
          const n = lab.node("node2");
          const t = performance.now();
          await observe({ hostNs: n.netns, prefix: n.nsPrefix });
          observeMs.push(performance.now() - t);
        }

        const total = tAll - t0;
        const manager = tPost - t0;
        const dispatch = critical.applyStart - tPost;
        // Apply ends where the agent starts spawning the tasks (10 ms clock ticks).
        const kernel = critical.firstSpawn - critical.applyStart;
        const start = tAll - critical.running;
        const share = (x: number) => r3(x / total);
        return {
          metrics: {
            seconds: r3(total / 1000),
            manager_ms: manager,
            agent_ms: critical.running - tPost,
            agent_before_apply_ms: dispatch,
            kernel_apply_ms: kernel,
            spawn_report_ms: critical.running - critical.firstSpawn,
            process_start_ms: start,
            manager_share: share(manager),
            agent_share: share(critical.running - tPost),
            kernel_share: share(kernel),
            process_share: share(start),
            observe_ms: r2(median(observeMs)),
            responder_cpu_ms: cpuMs,
            kernel_changes: perNode.reduce((s, n) => s + n.changes, 0),
          },
          units: {
            seconds: "s",
            manager_ms: "ms",
            agent_ms: "ms",
            agent_before_apply_ms: "ms",
            kernel_apply_ms: "ms",
            spawn_report_ms: "ms",
            process_start_ms: "ms",
            observe_ms: "ms",
            responder_cpu_ms: "ms",
          },
          notes:
            `${REPLICAS} responder tasks (${perNode.map((n) => `${n.node} ${n.tasks}`).join(", ")}), ` +
            `clock from POST /v1/services until the last task answered an HTTP GET from a node1 sandbox. ` +
            `Critical path (${critical.node}): manager = the API call (it assigns every task in its transaction` +
            `${unassigned.length ? `; ${unassigned.length} were NOT assigned on return` : ""}); ` +
            `agent = API return until the manager recorded the node's 'running' report: agent_before_apply ` +
            `(view delivery, render, observe, diff) until its 'applying N kernel change(s)' log line, ` +
            `kernel_apply from there until the first task process started (the log has no end-of-apply line, ` +
            `so the end is the task processes' start time from /proc, 10 ms resolution), spawn_report = spawning ` +
            `the tasks and the running report; process_start = running report until the last ` +
            `task answered (Node responder start-up, probe retry 50 ms). observe_ms = one observe() of node2 ` +
            `(${perNode[1]?.tasks} sandboxes) timed from outside; responder_cpu_ms = CPU time all ${REPLICAS} task ` +
            `processes used (start-up and answering the probes), on a ${cpus().length}-core machine. Per node: ${perNode
              .map(
                (n) =>
                  `${n.node} ${n.passes} apply pass(es) ${n.changes} changes, apply ${n.firstSpawn - n.applyStart} ms, ` +
                  `spawning ${n.lastSpawn - n.firstSpawn} ms, last spawn→running ${n.running - n.lastSpawn} ms, ` +
                  `running at +${n.running - t0} ms, last answer at +${n.answered - t0} ms`,
              )
              .join("; ")}; all assigned at +${assignedAt - t0} ms`,
        };
      },
    );
  });
}

export const benchmarks: Benchmark[] = [
  {
    name: "overlay-throughput",
    run: () => throughputRun("node2", rawOverlay, "task on node1 → task on node2 over VXLAN"),
  },
  {
    name: "same-node-throughput",
    run: () => throughputRun("node1", rawBridge, "task → task on node1 (one bridge)"),
  },
  { name: "service-create-30", run: serviceCreateRun },
];
