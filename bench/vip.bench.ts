// VIP load balancing: new-connection latency through a service's VIP (root;
// nft installed). Brings up its own three-node lab (lab-driver.ts) and measures
// from inside a task sandbox, with processes the benchmark starts in that
// namespace (nsenter), never the tasks themselves.
//
// vip-connect-latency
//                   new-connection latency (TCP connect, then close) from a
//                   sandbox on node1 to a responder on node2, through its VIP
//                   and straight to its task address, alternating, in one
//                   Node process; with 10 and then 5,000 services on the
//                   network (0-replica services: a VIP each, no tasks).
import { run } from "../src/lab/kernel.ts";
import { createNetwork, createService, SLEEP, until, vipOf } from "./discovery-kit.ts";
import {
  type Lab,
  NODE,
  nsArgv,
  sandboxOf,
  stopped,
  taskAddr,
  uniquePrefix,
  waitRunning,
  withLab,
} from "./lab-driver.ts";
import { r2, r3 } from "./stats.ts";
import type { Benchmark, BenchResult } from "./types.ts";

const VIP_CONNECTS = 2000;
const VIP_WARMUP = 200;
const VIP_FEW = 10;
const VIP_MANY = Math.max(VIP_FEW + 1, Number(process.env.BENCH_VIP_SERVICES) || 5000);
const CREATE_CONCURRENCY = 8;
const RESPONDER_PORT = 80;

/** Sequential TCP connects (then close), alternating VIP and direct in the
 * order V D D V V D D V …; prints each path's connect-time median, p99 and
 * mean (µs). One process: its start-up is not in the figures. */
export const CONNECT_CLIENT = `const net = require("node:net");
const [vip, direct, port, n, warm] = process.argv.slice(1).map((x, i) => (i < 2 ? x : Number(x)));
const addrs = [vip, direct];
const lat = [[], []];
const total = 2 * (n + warm);
const which = (k) => (k ^ (k >> 1)) & 1;
let i = 0;
function fail(what) { console.log(JSON.stringify({ error: what + " (" + addrs[which(i)] + ":" + port + ", connection " + i + ")" })); process.exit(1); }
function one() {
  if (i === total) return done();
  const w = which(i);
  const timer = setTimeout(() => fail("timeout 3 s"), 3000);
  const t0 = process.hrtime.bigint();
  const s = net.connect({ port, host: addrs[w] });
  s.once("error", (e) => fail(e.code || e.message));
  s.once("connect", () => {
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    clearTimeout(timer);
    s.removeAllListeners("error");
    s.on("error", () => {});
    s.destroy();
    if (i >= 2 * warm) lat[w].push(us);
    i++;
    setImmediate(one);
  });
}
function stats(xs) {
  xs.sort((a, b) => a - b);
  const at = (p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
  return { median: at(0.5), p99: at(0.99), mean: xs.reduce((a, b) => a + b, 0) / xs.length, n: xs.length };
}
function done() { console.log(JSON.stringify({ vip: stats(lat[0]), direct: stats(lat[1]) })); }
one();`;

interface ConnectStats {
  median: number;
  p99: number;
  mean: number;
  n: number;
}

export async function connectLatency(
  ns: string,
  vip: string,
  direct: string,
  port: number,
  count = VIP_CONNECTS,
  warmup = VIP_WARMUP,
): Promise<{ vip: ConnectStats; direct: ConnectStats }> {
  const r = await run(
    nsArgv(ns, [
      NODE,
      "-e",
      CONNECT_CLIENT,
      vip,
      direct,
      String(port),
      String(count),
      String(warmup),
    ]),
    { timeoutMs: 300_000, ...stopped },
  );
  let j: { vip: ConnectStats; direct: ConnectStats; error?: string };
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`connect client in ${ns}: ${r.stderr.trim() || r.stdout.trim()}`);
  }
  if (j.error) throw new Error(`connect client in ${ns}: ${j.error}`);
  return j;
}

/** Elements of the sandbox's VIP map (`nft list map ip swarmnet vips`); -1 when there is none. */
export async function vipMapSize(ns: string): Promise<number> {
  const r = await run(nsArgv(ns, ["nft", "list", "map", "ip", "swarmnet", "vips"]), {
    timeoutMs: 60_000,
    ...stopped,
  });
  if (r.code !== 0) return -1;
  return r.stdout.match(/\d+\.\d+\.\d+\.\d+ : (?:jump|goto) /g)?.length ?? 0;
}

/** Creates services `${stem}${from}` .. `${stem}${to - 1}` (0 replicas) on the network, CREATE_CONCURRENCY at a time. */
async function createMany(lab: Lab, stem: string, from: number, to: number, network: string) {
  let next = from;
  await Promise.all(
    Array.from({ length: CREATE_CONCURRENCY }, async () => {
      while (next < to) {
        const i = next++;
        await createService(lab, `${stem}${i}`, network, { replicas: 0 });
      }
    }),
  );
}

async function vipRun(): Promise<BenchResult> {
  return withLab(uniquePrefix(), async (lab) => {
    // A /16: 5,000 VIPs and the tasks fit.
    const net = await createNetwork(lab, "bnet", "10.10.0.0/16");
    await createService(lab, "target", "bnet", { node: "node2" }); // the built-in responder, port 80
    await createService(lab, "client", "bnet", { command: SLEEP, node: "node1" });
    await createMany(lab, "filler-", 2, VIP_FEW, "bnet");
    const [server] = await waitRunning(lab, "target", 1);
    const [client] = await waitRunning(lab, "client", 1);
    const ns = sandboxOf(lab, client!);
    const vip = await vipOf(lab, "target", net);
    const direct = taskAddr(server!);
    let seen = -1;
    const mapFew = await until(
      () =>
        `${VIP_FEW} VIPs in ${ns}'s nftables map (${seen < 0 ? "no map ip swarmnet vips" : `${seen} elements`})`,
      60_000,
      200,
      async () => {
        seen = await vipMapSize(ns);
        return seen >= VIP_FEW ? seen : undefined;
      },
    );
    // "running" means its process started: wait until the responder listens and the VIP leads to it.
    let refused = "";
    await until(
      () => `the responder answers through the VIP and directly (${refused})`,
      30_000,
      250,
      () =>
        connectLatency(ns, vip, direct, RESPONDER_PORT, 1, 0).then(
          () => true,
          (err: Error) => {
            refused = err.message;
            return undefined;
          },
        ),
    );
    const few = await connectLatency(ns, vip, direct, RESPONDER_PORT);
    process.stderr.write(
      `  ${VIP_FEW} services: VIP median ${few.vip.median.toFixed(0)} µs, direct ${few.direct.median.toFixed(0)} µs\n`,
    );

    const t0 = Date.now();
    await createMany(lab, "filler-", VIP_FEW, VIP_MANY, "bnet");
    const createdS = (Date.now() - t0) / 1000;
    let lastReport = Date.now();
    const mapMany = await until(
      () => `${VIP_MANY} VIPs in ${ns}'s nftables map (${seen} elements)`,
      900_000,
      2000,
      async () => {
        seen = await vipMapSize(ns);
        if (Date.now() - lastReport > 15_000) {
          lastReport = Date.now();
          process.stderr.write(
            `  ${seen} VIPs in the client sandbox's map after ${Math.round((Date.now() - t0) / 1000)} s\n`,
          );
        }
        return seen >= VIP_MANY ? seen : undefined;
      },
    );
    const syncedS = (Date.now() - t0) / 1000;
    const many = await connectLatency(ns, vip, direct, RESPONDER_PORT);
    process.stderr.write(
      `  ${VIP_MANY} services: VIP median ${many.vip.median.toFixed(0)} µs, direct ${many.direct.median.toFixed(0)} µs\n`,
    );
    const ratioFew = few.vip.median / few.direct.median;
    const ratioMany = many.vip.median / many.direct.median;
    const nF = VIP_FEW;
    const nM = VIP_MANY;
    return {
      metrics: {
        ratio_worst: r3(Math.max(ratioFew, ratioMany)),
        [`ratio_${nF}`]: r3(ratioFew),
        [`ratio_${nM}`]: r3(ratioMany),
        growth: r3(many.vip.median / few.vip.median),
        direct_growth: r3(many.direct.median / few.direct.median),
        ratio_growth: r3(ratioMany / ratioFew),
        [`median_us_${nF}`]: r2(few.vip.median),
        [`p99_us_${nF}`]: r2(few.vip.p99),
        [`median_us_${nM}`]: r2(many.vip.median),
        [`p99_us_${nM}`]: r2(many.vip.p99),
        vips_in_map: mapMany,
        create_s: r2(createdS),
        map_synced_s: r2(syncedS),
      },
      units: {
        [`median_us_${nF}`]: "µs",
        [`p99_us_${nF}`]: "µs",
        [`median_us_${nM}`]: "µs",
        [`p99_us_${nM}`]: "µs",
        create_s: "s",
        map_synced_s: "s",
      },
      baseline: {
        [`median_us_${nF}`]: r2(few.direct.median),
        [`p99_us_${nF}`]: r2(few.direct.p99),
        [`median_us_${nM}`]: r2(many.direct.median),
        [`p99_us_${nM}`]: r2(many.direct.p99),
      },
      target: { metric: "ratio_worst", max: 1.05 },
      notes:
        `TCP connect time (SYN sent until the connection is established, then close) from a sandbox on node1 to the ` +
        `built-in responder's task on node2 (port ${RESPONDER_PORT}), ${VIP_CONNECTS} per path after ${VIP_WARMUP} ` +
        `warm-up, VIP and direct alternating (V D D V ...) in one Node process; metrics are the VIP path, baseline ` +
        `the direct path (the task's address). ratio = VIP median / direct median, with ${nF} and with ${nM} ` +
        `services on the network (the others have 0 replicas: a VIP each); target ratio_worst = the larger of the ` +
        `two <= 1.05, which also covers "no growth". growth = VIP median at ${nM} / at ${nF} (includes the ` +
        `machine's drift between the phases: direct_growth is the same for the direct path, which also crosses the ` +
        `VIP map lookup, as a miss). The client sandbox's VIP map held ${mapFew} then ${mapMany} elements; ` +
        `creating ${nM - nF} services through the API took ${r2(createdS)} s and the map had them all ` +
        `${r2(syncedS)} s after the first. VIP p99 ${r2(few.vip.p99)} / ${r2(many.vip.p99)} µs, direct p99 ` +
        `${r2(few.direct.p99)} / ${r2(many.direct.p99)} µs.`,
    };
  });
}

export const benchmarks: Benchmark[] = [{ name: "vip-connect-latency", run: vipRun }];
