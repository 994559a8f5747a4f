// Convergence of service discovery and VIP load balancing after a scale-up
// (root; nft installed). Brings up its own three-node lab (lab-driver.ts) and
// measures from inside task sandboxes, with processes the benchmark starts in
// those namespaces (nsenter), never the tasks themselves.
//
// convergence-scale-50
//                   `service scale S=50` (from 1) on three nodes: time from
//                   the last task's running timestamp until every node's DNS
//                   (tasks.S from one sandbox per node, 50 addresses) and load
//                   balancer (the service's chain in that sandbox's nftables,
//                   `mod 50`) list all 50. Baseline: scale to last running.
import type { ChildProcess } from "node:child_process";
import { createNetwork, createService, type ServiceView, SLEEP, until } from "./discovery-kit.ts";
import {
  guarded,
  killAll,
  type Lab,
  mustApi,
  NODE,
  sandboxOf,
  startIn,
  uniquePrefix,
  waitRunning,
  withLab,
} from "./lab-driver.ts";
import { median } from "./stats.ts";
import type { Benchmark, BenchResult } from "./types.ts";

const SCALE_TO = 50;
const CONVERGENCE_ROUNDS = Math.max(1, Number(process.env.BENCH_CONVERGENCE_ROUNDS) || 3);
const POLL_MS = 20;

async function scale(lab: Lab, service: string, replicas: number): Promise<void> {
  const s = await mustApi<ServiceView>(lab, "GET", `/v1/services/${service}`);
  await mustApi(lab, "POST", `/v1/services/${s.id}/update?version=${s.version}`, {
    ...s.spec,
    mode: { replicated: { replicas } },
  });
}

/** Inside one sandbox per node: asks the embedded DNS for `name` (A, over TCP:
 * 50 answers do not fit a 512-byte UDP reply) every POLL_MS after the last
 * answer, and follows the service's chain with `nft monitor rules` (no
 * polling: the kernel reports each commit). Prints a JSON line whenever the
 * number of addresses in DNS (k: "dns") or of backends in the chain
 * (k: "lb": the rule's `mod N`, 1 for a single dnat, 0 for reject) changes,
 * with the wall-clock time it saw it; {k: "ready"} once both are followed. */
export const WATCHER = `const net = require("node:net");
const { spawn, execFileSync } = require("node:child_process");
const [name, chain, every] = process.argv.slice(1);
const emit = (o) => process.stdout.write(JSON.stringify({ ...o, at: Date.now() }) + "\\n");
function query() {
  const id = Math.floor(Math.random() * 65535);
  const parts = [Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0])];
  for (const l of name.split(".")) parts.push(Buffer.from([l.length]), Buffer.from(l));
  parts.push(Buffer.from([0, 0, 1, 0, 1]));
  const q = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]);
}
function answers(m) {
  let o = 12;
  const skip = () => { for (;;) { const l = m[o]; if (l === 0) { o += 1; return; } if ((l & 0xc0) === 0xc0) { o += 2; return; } o += l + 1; } };
  skip(); o += 4;
  const out = new Set();
  for (let k = 0, an = m.readUInt16BE(6); k < an; k++) {
    skip();
    const type = m.readUInt16BE(o), len = m.readUInt16BE(o + 8);
    o += 10;
    if (type === 1 && len === 4) out.add(m.subarray(o, o + 4).join("."));
    o += len;
  }
  return { rcode: m[3] & 15, n: out.size };
}
let dns, dnsErr, first = true;
function poll() {
  const s = net.connect(53, "127.0.0.11");
  let buf = Buffer.alloc(0), done = false;
  const finish = (n, err) => {
    if (done) return;
    done = true;
    s.destroy();
    if (err !== undefined) { if (err !== dnsErr) { dnsErr = err; dns = undefined; emit({ k: "dns", n: -1, err }); } }
    else if (n !== dns) { dns = n; dnsErr = undefined; emit({ k: "dns", n }); }
    if (first) { first = false; ready(); }
    setTimeout(poll, Number(every));
  };
  s.setTimeout(1000, () => finish(0, "timeout"));
  s.on("error", (e) => finish(0, e.code || e.message));
  s.on("connect", () => s.write(query()));
  s.on("data", (d) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
    try {
      const a = answers(buf.subarray(2));
      if (a.rcode === 0 || a.rcode === 3) finish(a.n);
      else finish(0, "rcode " + a.rcode);
    } catch (e) { finish(0, "unparsable answer: " + e.message); }
  });
}
const lbOf = (text) => {
  const m = / mod (\\d+) /.exec(text);
  if (m) return Number(m[1]);
  if (/\\bdnat\\b/.test(text)) return 1;
  if (/\\breject\\b/.test(text)) return 0;
  return undefined;
};
const mon = spawn("nft", ["monitor", "rules"], { stdio: ["ignore", "pipe", "pipe"] });
mon.on("exit", (c) => emit({ k: "error", err: "nft monitor exited " + c }));
process.on("SIGTERM", () => { mon.kill(); process.exit(0); });
mon.stderr.on("data", (d) => emit({ k: "error", err: "nft monitor: " + String(d).trim() }));
let rest = "";
mon.stdout.on("data", (d) => {
  rest += d;
  const lines = rest.split("\\n");
  rest = lines.pop();
  for (const l of lines) {
    if (!l.startsWith("add rule ip swarmnet " + chain + " ")) continue;
    const n = lbOf(l);
    if (n !== undefined) emit({ k: "lb", n });
  }
});
let readyParts = 0;
function ready() { if (++readyParts === 2) emit({ k: "ready" }); }
setTimeout(() => {
  let n = -1;
  try { n = lbOf(execFileSync("nft", ["list", "chain", "ip", "swarmnet", chain], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })) ?? -1; } catch {}
  emit({ k: "lb", n });
  ready();
}, 300);
poll();`;

interface WatchEvent {
  k: "dns" | "lb" | "ready" | "error";
  n?: number;
  err?: string;
  at: number;
}

class Watcher {
  readonly events: WatchEvent[] = [];
  readonly node: string;
  constructor(node: string, child: ChildProcess) {
    this.node = node;
    let rest = "";
    child.stdout!.removeAllListeners("data");
    child.stdout!.on("data", (c: Buffer) => {
      rest += c.toString("utf8");
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const l of lines) if (l.trim()) this.events.push(JSON.parse(l) as WatchEvent);
    });
  }
  now(k: "dns" | "lb"): WatchEvent | undefined {
    return this.events.findLast((e) => e.k === k);
  }
  /** The first time at or after `since` it saw exactly `n`. */
  firstAt(k: "dns" | "lb", n: number, since: number): number | undefined {
    return this.events.find((e) => e.k === k && e.n === n && e.at >= since)?.at;
  }
  describe(): string {
    const d = this.now("dns");
    const l = this.now("lb");
    const errs = this.events.filter((e) => e.k === "error").map((e) => e.err);
    const lb = l === undefined ? "?" : l.n === -1 ? "no such chain" : `${l.n} backends`;
    return (
      `${this.node}: DNS ${d ? (d.err ?? `${d.n} addresses`) : "?"}, load balancer ${lb}` +
      (errs.length ? ` (${errs.at(-1)})` : "")
    );
  }
}

interface Round {
  orchestratorMs: number;
  convergenceMs: number;
  dnsMs: number;
  lbMs: number;
  totalMs: number;
  perNode: string;
}

async function convergenceRun(): Promise<BenchResult> {
  return withLab(uniquePrefix(), async (lab) => {
    const net = await createNetwork(lab, "bnet");
    await createService(lab, "probe", "bnet", { global: true, command: SLEEP });
    const svc = await createService(lab, "scaled", "bnet", { replicas: 1, command: SLEEP });
    const probes = await waitRunning(lab, "probe", lab.state.nodes.length);
    await waitRunning(lab, "scaled", 1);
    const chain = `svc-${svc.id.slice(0, 12)}-${net.slice(0, 12)}`;
    const children = new Set<ChildProcess>();
    return guarded(
      () => killAll(children),
      async () => {
        const watchers = probes
          .sort((a, b) => a.nodeHostname.localeCompare(b.nodeHostname))
          .map(
            (t) =>
              new Watcher(
                t.nodeHostname,
                startIn(
                  sandboxOf(lab, t),
                  [NODE, "-e", WATCHER, "tasks.scaled", chain, String(POLL_MS)],
                  children,
                ),
              ),
          );
        const state = () => watchers.map((w) => w.describe()).join("; ");
        await until("watchers ready", 15_000, 50, () =>
          watchers.every((w) => w.events.some((e) => e.k === "ready")) ? true : undefined,
        );
        const settledAt = async (n: number, why: string) =>
          until(
            () => `${why} (${state()})`,
            60_000,
            50,
            () =>
              watchers.every((w) => w.now("dns")?.n === n && w.now("lb")?.n === n)
                ? true
                : undefined,
          );
        await settledAt(1, "every node's DNS and load balancer list the 1 task");

        const rounds: Round[] = [];
        for (let r = 0; r < CONVERGENCE_ROUNDS; r++) {
          const tScale = Date.now();
          await scale(lab, "scaled", SCALE_TO);
          const running = await waitRunning(lab, "scaled", SCALE_TO, 180_000, 100);
          const lastRunning = Math.max(...running.map((t) => Date.parse(t.status.timestamp)));
          await until(
            () => `every node's DNS and load balancer list ${SCALE_TO} tasks (${state()})`,
            60_000,
            POLL_MS,
            () =>
              watchers.every(
                (w) =>
                  w.firstAt("dns", SCALE_TO, tScale) !== undefined &&
                  w.firstAt("lb", SCALE_TO, tScale) !== undefined,
              )
                ? true
                : undefined,
          );
          const nodes = watchers.map((w) => ({
            node: w.node,
            dns: w.firstAt("dns", SCALE_TO, tScale)!,
            lb: w.firstAt("lb", SCALE_TO, tScale)!,
          }));
          const dnsAt = Math.max(...nodes.map((n) => n.dns));
          const lbAt = Math.max(...nodes.map((n) => n.lb));
          const round: Round = {
            orchestratorMs: lastRunning - tScale,
            convergenceMs: Math.max(dnsAt, lbAt) - lastRunning,
            dnsMs: dnsAt - lastRunning,
            lbMs: lbAt - lastRunning,
            totalMs: Math.max(dnsAt, lbAt) - tScale,
            perNode: nodes
              .map((n) => `${n.node} DNS ${n.dns - lastRunning} LB ${n.lb - lastRunning}`)
              .join(", "),
          };
          rounds.push(round);
          process.stderr.write(
            `  round ${r + 1}: last task running ${round.orchestratorMs} ms after scale; all listed ${round.convergenceMs} ms after that (${round.perNode})\n`,
          );
          await scale(lab, "scaled", 1);
          await waitRunning(lab, "scaled", 1, 120_000);
          await settledAt(1, "every node back to 1 task");
        }
        const med = (k: keyof Omit<Round, "perNode">) => median(rounds.map((x) => x[k]));
        return {
          metrics: {
            convergence_ms: med("convergenceMs"),
            convergence_max_ms: Math.max(...rounds.map((x) => x.convergenceMs)),
            dns_ms: med("dnsMs"),
            lb_ms: med("lbMs"),
            orchestrator_ms: med("orchestratorMs"),
            scale_to_listed_ms: med("totalMs"),
          },
          units: {
            convergence_ms: "ms",
            convergence_max_ms: "ms",
            dns_ms: "ms",
            lb_ms: "ms",
            orchestrator_ms: "ms",
            scale_to_listed_ms: "ms",
          },
          baseline: { scale_to_listed_ms: med("orchestratorMs") },
          target: { metric: "convergence_ms", max: 1000 },
          notes:
            `service scaled 1 -> ${SCALE_TO} (sleep tasks) on ${lab.state.nodes.length} nodes, ${CONVERGENCE_ROUNDS} ` +
            `rounds (scaled back to 1 and settled between), medians. convergence = the last node to list all ` +
            `${SCALE_TO} in both DNS and its load balancer, minus the last task's running timestamp (manager's ` +
            `Status.Timestamp); negative means listed before the manager recorded it running. Per node, one ` +
            `sandbox of a global service: DNS = tasks.scaled over TCP to 127.0.0.11 every ${POLL_MS} ms from a ` +
            `resident Node process (the time its answer held ${SCALE_TO} addresses); LB = \`nft monitor rules\` in ` +
            `that sandbox (the time the chain ${chain}'s rule with \`mod ${SCALE_TO}\` was committed). Baseline ` +
            `scale_to_listed_ms = scale call to the last task running (the orchestrator's own time, the floor). ` +
            `Rounds (ms after last running): ${rounds.map((x, i) => `${i + 1}: orchestrator ${x.orchestratorMs}, ${x.perNode}`).join("; ")}`,
        };
      },
    );
  });
}

export const benchmarks: Benchmark[] = [{ name: "convergence-scale-50", run: convergenceRun }];
