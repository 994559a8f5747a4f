// API throughput: 1,000 services of 10 replicas each created through the
// HTTP API of a real daemon (its own process, embedded store on disk), as
// `docker service create` would. Target: all 11,000 objects in under 10 s.
// Baseline, same run: the same number of objects written straight into the
// embedded store in the same number of transactions — the floor the API
// cannot beat, so the gap is the manager's own cost.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { openEmbeddedStore } from "../src/store/embedded.ts";
import type { Benchmark, BenchResult } from "./types.ts";

const SERVICES = 1000;
const REPLICAS = 10;
const CONCURRENCY = 8;

function call(
  agent: Agent,
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<number> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, agent, method, path, headers: { "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(text);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function storeBaseline(dir: string): Promise<number> {
  const store = await openEmbeddedStore(join(dir, "baseline"));
  const value = JSON.stringify({
    spec: { name: "x".repeat(40) },
    networks: [{ addresses: ["10.0.1.2/24"] }],
  });
  const start = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SERVICES) {
        const i = next++;
        const success = Array.from({ length: REPLICAS + 1 }, (_, j) => ({
          type: "put" as const,
          key: `/bench/${i}/${j}`,
          value,
        }));
        await store.txn({ compare: [], success });
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  await store.close();
  return seconds;
}

async function apiRun(): Promise<BenchResult> {
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-bench-api-"));
  const socketPath = join(dir, "sock");
  const bin = join(import.meta.dirname, "..", "bin", "swarmnet");
  const daemon = spawn(
    bin,
    ["daemon", "--data-dir", join(dir, "data"), "--host", `unix://${socketPath}`],
    // Control plane only: without SWARMNET_AGENT=0 a root daemon's agent would
    // build all 10,000 tasks' sandboxes in this machine's own namespace.
    { stdio: "ignore", env: { ...process.env, SWARMNET_AGENT: "0" } },
  );
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await call(agent, socketPath, "GET", "/v1/ping")) === 200) break;
      } catch {
        if (i > 200) throw new Error("daemon did not start");
      }
      await sleep(50);
    }
    await call(agent, socketPath, "POST", "/v1/swarm/init", {});
    // A /16 so 1,000 VIPs and 10,000 task addresses fit in one network.
    await call(agent, socketPath, "POST", "/v1/networks", {
      name: "bench",
      ipam: [{ subnet: "10.10.0.0/16" }],
    });
    const latencies: number[] = [];
    let next = 0;
    let failures = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < SERVICES) {
          const i = next++;
          const t0 = performance.now();
          const status = await call(agent, socketPath, "POST", "/v1/services", {
            name: `svc-${i}`,
            mode: { replicated: { replicas: REPLICAS } },
            networks: [{ target: "bench" }],
          });
          latencies.push(performance.now() - t0);
          if (status !== 201) failures++;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    latencies.sort((a, b) => a - b);
    const baselineSeconds = await storeBaseline(dir);
    return {
      metrics: {
        objects: SERVICES * (REPLICAS + 1),
        seconds,
        requests_per_sec: SERVICES / seconds,
        p50_ms: percentile(latencies, 50),
        p99_ms: percentile(latencies, 99),
        failures,
      },
      units: { seconds: "s", requests_per_sec: "req/s", p50_ms: "ms", p99_ms: "ms" },
      baseline: { seconds: baselineSeconds, requests_per_sec: SERVICES / baselineSeconds },
      target: { metric: "seconds", max: 10 },
      notes: `${SERVICES} services x ${REPLICAS} replicas, ${CONCURRENCY} concurrent clients; baseline = same objects written directly to the embedded store`,
    };
  } finally {
    agent.destroy();
    daemon.kill("SIGTERM");
    await new Promise((r) => daemon.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [{ name: "api-create-1000-services-x10", run: apiRun }];
