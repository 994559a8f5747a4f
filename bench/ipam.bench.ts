// IPAM throughput. The allocators run on the manager's hot path (every task
// start allocates an address and every task stop releases one), so they must
// stay far from being the bottleneck even on /12-sized overlays.
//
// - ipam-allocate-release-/16 and -/12: fill every usable address of a
//   network, release them all, a few rounds; plus churn on a 99.9% full pool
//   (release one random address, allocate one), where a naive scan is slowest.
//   Baseline (/16 only, same run): a naive allocator keeping a Set<string> of
//   addresses and scanning linearly from the same serial cursor.
// - ipam-subnet-allocate: 10,000 /24s from 10.0.0.0/8, each chosen given the
//   growing list of subnets in use. Baseline: a brute-force check of every
//   candidate against every subnet in use, on the first 1,000 only (it is
//   cubic overall).
import {
  AddressPool,
  type Cidr,
  cidrSize,
  formatCidr,
  formatIp,
  overlaps,
  parseCidr,
  parseIp,
  SubnetPools,
} from "../src/core/ipam/index.ts";
import type { Benchmark, BenchResult } from "./types.ts";

const MiB = 2 ** 20;

/** Deterministic PRNG (mulberry32), so runs are comparable. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** What the benchmark needs from an allocator; AddressPool already fits. */
interface Allocator {
  allocate(): string;
  release(ip: string): void;
}

/**
 * The obvious implementation: a Set of allocated address strings, and a
 * linear scan from a serial cursor formatting each candidate address.
 */
class NaiveAllocator implements Allocator {
  readonly #used = new Set<string>();
  readonly #base: number;
  readonly #size: number;
  #cursor = 2;

  constructor(subnet: string) {
    const c = parseCidr(subnet);
    this.#base = c.base;
    this.#size = cidrSize(c);
    // network, gateway, broadcast
    for (const off of [0, 1, this.#size - 1]) this.#used.add(formatIp(this.#base + off));
  }

  allocate(): string {
    for (let i = 0; i < this.#size; i++) {
      const off = (this.#cursor + i) % this.#size;
      const ip = formatIp(this.#base + off);
      if (!this.#used.has(ip)) {
        this.#used.add(ip);
        this.#cursor = off + 1;
        return ip;
      }
    }
    throw new Error("exhausted");
  }

  release(ip: string): void {
    if (!this.#used.delete(ip)) throw new Error(`${ip} not allocated`);
  }
}

interface FillResult {
  pairsPerSec: number;
  peakHeapMiB: number;
  peakRssMiB: number;
}

/** Allocates every address then releases every one, `rounds` times after a warm-up round. */
function fillAndDrain(make: () => Allocator, usable: number, rounds: number): FillResult {
  const before = process.memoryUsage();
  let peakHeap = 0;
  let peakRss = 0;
  const pool = make();
  const ips: string[] = new Array(usable);
  let elapsed = 0;
  for (let round = -1; round < rounds; round++) {
    const t0 = performance.now();
    for (let i = 0; i < usable; i++) ips[i] = pool.allocate();
    const t1 = performance.now();
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed - before.heapUsed);
    peakRss = Math.max(peakRss, m.rss - before.rss);
    const t2 = performance.now();
    for (let i = 0; i < usable; i++) pool.release(ips[i]!);
    const t3 = performance.now();
    if (round >= 0) elapsed += t1 - t0 + (t3 - t2); // round -1 warms up the JIT
  }
  return {
    pairsPerSec: (usable * rounds) / (elapsed / 1000),
    peakHeapMiB: peakHeap / MiB,
    peakRssMiB: peakRss / MiB,
  };
}

/**
 * Fills the pool to 99.9%, then repeatedly releases a random allocated
 * address and allocates one: the serial cursor has to travel to the freed
 * address, past long runs of used ones.
 */
function churnNearFull(make: () => Allocator, usable: number, pairs: number): number {
  const pool = make();
  const ips: string[] = [];
  const target = Math.floor(usable * 0.999);
  for (let i = 0; i < target; i++) ips.push(pool.allocate());
  const random = rng(42);
  const t0 = performance.now();
  for (let i = 0; i < pairs; i++) {
    const k = Math.floor(random() * ips.length);
    pool.release(ips[k]!);
    ips[k] = pool.allocate();
  }
  return pairs / ((performance.now() - t0) / 1000);
}

function addressBench(prefix: 16 | 12): Benchmark {
  const subnet = prefix === 16 ? "10.1.0.0/16" : "10.16.0.0/12";
  return {
    name: `ipam-allocate-release-/${prefix}`,
    run(): BenchResult {
      const make = () => new AddressPool({ subnet, label: "bench" });
      const usable = make().usable;
      const fill = fillAndDrain(make, usable, prefix === 16 ? 20 : 3);
      const churn = churnNearFull(make, usable, 200_000);
      const result: BenchResult = {
        metrics: {
          pairs_per_sec: fill.pairsPerSec,
          peak_heap_delta_mib: fill.peakHeapMiB,
          peak_rss_delta_mib: fill.peakRssMiB,
          churn_99pct_full_pairs_per_sec: churn,
          usable_addresses: usable,
        },
        units: {
          pairs_per_sec: "allocate+release/s",
          peak_heap_delta_mib: "MiB",
          peak_rss_delta_mib: "MiB",
          churn_99pct_full_pairs_per_sec: "release+allocate/s",
          usable_addresses: "addresses",
        },
        target: { metric: "pairs_per_sec", min: 1_000_000 },
        notes:
          "Public string API (allocate() returns a dotted quad, release() parses one). " +
          "Memory deltas include the benchmark's own array of every allocated address string; " +
          `the pool's bitmap is ${prefix === 16 ? "8.25 KiB" : "132 KiB"}.`,
      };
      if (prefix === 16) {
        const naiveMake = () => new NaiveAllocator(subnet);
        const naiveFill = fillAndDrain(naiveMake, usable, 5);
        result.baseline = {
          pairs_per_sec: naiveFill.pairsPerSec,
          peak_heap_delta_mib: naiveFill.peakHeapMiB,
          peak_rss_delta_mib: naiveFill.peakRssMiB,
          churn_99pct_full_pairs_per_sec: churnNearFull(naiveMake, usable, 300),
          usable_addresses: usable,
        };
        result.notes +=
          " Baseline: naive Set<string> allocator with the same serial cursor (churn capped at 300 pairs).";
      }
      return result;
    },
  };
}

/**
 * Subnets per second choosing `count` /24s, with the in-use list grown by
 * `insert` (outside the timed part). Checks the last one chosen: with
 * 10.0.0.0/8 and nothing freed, the i-th subnet is 10.(i >> 8).(i & 255).0/24.
 */
function subnetRun(
  count: number,
  allocate: (inUse: readonly (string | Cidr)[]) => string,
  insert: (list: (string | Cidr)[], subnet: string) => void,
): number {
  const inUse: (string | Cidr)[] = [];
  let elapsed = 0;
  let subnet = "";
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    subnet = allocate(inUse);
    elapsed += performance.now() - t0;
    insert(inUse, subnet);
  }
  const last = count - 1;
  if (subnet !== `10.${last >> 8}.${last & 255}.0/24`) throw new Error(`wrong subnet ${subnet}`);
  return count / (elapsed / 1000);
}

/** Brute force: every candidate /24 in order against every subnet in use. */
function naiveSubnetAllocate(inUse: readonly (string | Cidr)[]): string {
  const used = inUse.map((u) => (typeof u === "string" ? parseCidr(u) : u));
  for (let b = parseIp("10.0.0.0"); b < parseIp("11.0.0.0"); b += 256) {
    const cand = { base: b, prefix: 24 };
    if (!used.some((u) => overlaps(u, cand))) return formatCidr(cand);
  }
  throw new Error("exhausted");
}

const subnetBench: Benchmark = {
  name: "ipam-subnet-allocate",
  run(): BenchResult {
    const COUNT = 10_000;
    const pools = new SubnetPools();
    const allocate = (list: readonly (string | Cidr)[]) => pools.allocate(list);
    const append = (list: (string | Cidr)[], s: string) => {
      list.push(s);
    };
    const random = rng(7);
    const insertRandomly = (list: (string | Cidr)[], s: string) => {
      list.splice(Math.floor(random() * (list.length + 1)), 0, s);
    };
    const appendCidr = (list: (string | Cidr)[], s: string) => {
      list.push(parseCidr(s));
    };
    subnetRun(1000, allocate, append); // warm-up
    const inOrder = subnetRun(COUNT, allocate, append);
    const shuffled = subnetRun(COUNT, allocate, insertRandomly);
    const cidrs = subnetRun(COUNT, allocate, appendCidr);
    const NAIVE = 500;
    return {
      metrics: {
        subnets_per_sec: inOrder,
        subnets_per_sec_random_order: shuffled,
        subnets_per_sec_cidr_objects: cidrs,
      },
      units: {
        subnets_per_sec: "subnets/s",
        subnets_per_sec_random_order: "subnets/s",
        subnets_per_sec_cidr_objects: "subnets/s",
      },
      baseline: { subnets_per_sec: subnetRun(NAIVE, naiveSubnetAllocate, append) },
      notes:
        `${COUNT} /24s from 10.0.0.0/8, each given all previously chosen subnets in use ` +
        "(strings in creation order; strings inserted at random positions; Cidr objects). " +
        `Baseline: brute force over the first ${NAIVE} subnets only.`,
    };
  },
};

export const benchmarks: Benchmark[] = [addressBench(16), addressBench(12), subnetBench];
