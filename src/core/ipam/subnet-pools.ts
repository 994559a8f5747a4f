// Picks subnets for networks created without --subnet, from Docker Swarm's
// default address pools (`docker swarm init --default-addr-pool 10.0.0.0/8
// --default-addr-pool-mask-length 24`, which are also the defaults).
//
// The choice is stateless: the lowest block of `maskLength` bits, in pool
// order and then address order, that overlaps none of the subnets currently
// in use (including subnets users chose for other networks). That is what
// makes Swarm's behaviour reproducible: the ingress network created at init
// gets 10.0.0.0/24, the first user overlay 10.0.1.0/24, the next 10.0.2.0/24,
// and once the 10.0.1.0/24 network is removed the next overlay gets it again.
//
// Cost per call is linear in the n subnets in use: they are parsed without
// allocating, radix-sorted (skipped when already in order) and merged into
// disjoint ranges, then each pool is walked by jumping from a candidate block
// straight past the range that blocks it, so no block is tested twice.

import { IpamError } from "./errors.ts";
import { type Cidr, cidrSize, formatCidr, overlaps, packCidr, parseCidr, toCidr } from "./ipv4.ts";

export const DEFAULT_ADDRESS_POOLS: readonly string[] = ["10.0.0.0/8"];
export const DEFAULT_MASK_LENGTH = 24;
/** Smallest subnets handed out: a /29 still has 5 addresses after network, broadcast and gateway. */
export const MAX_MASK_LENGTH = 29;

export interface SubnetPoolsOptions {
  /** Pools to carve subnets from, in preference order. Default ["10.0.0.0/8"]. */
  pools?: readonly string[];
  /** Prefix length of the subnets handed out. Default 24. */
  maskLength?: number;
}

export class SubnetPools {
  /** The pools, normalized. */
  readonly pools: readonly string[];
  readonly maskLength: number;
  readonly #pools: readonly Cidr[];

  constructor(opts: SubnetPoolsOptions = {}) {
    const poolStrings = opts.pools ?? DEFAULT_ADDRESS_POOLS;
    const maskLength = opts.maskLength ?? DEFAULT_MASK_LENGTH;
    if (poolStrings.length === 0) {
      throw new IpamError("IPAM_INVALID_POOL", "no default address pools given");
    }
    if (!(Number.isInteger(maskLength) && maskLength >= 0 && maskLength <= MAX_MASK_LENGTH)) {
      throw new IpamError(
        "IPAM_INVALID_POOL",
        `invalid subnet size: ${maskLength} (the default address pool mask length must be an integer between 0 and ${MAX_MASK_LENGTH})`,
      );
    }
    const pools = poolStrings.map((p) => parseCidr(p, "default address pool"));
    for (const pool of pools) {
      if (pool.prefix > maskLength) {
        throw new IpamError(
          "IPAM_INVALID_POOL",
          `invalid subnet size: /${maskLength} subnets do not fit in default address pool ${formatCidr(pool)}`,
        );
      }
    }
    // Overlapping pools would hand out the same subnet twice from two "different" pools.
    for (let i = 0; i < pools.length; i++) {
      for (let j = i + 1; j < pools.length; j++) {
        if (overlaps(pools[i]!, pools[j]!)) {
          throw new IpamError(
            "IPAM_INVALID_POOL",
            `invalid default address pools: ${formatCidr(pools[i]!)} overlaps ${formatCidr(pools[j]!)}`,
          );
        }
      }
    }
    this.#pools = pools;
    this.pools = pools.map(formatCidr);
    this.maskLength = maskLength;
  }

  /**
   * The first free subnet: the lowest block of `maskLength` bits, in pool
   * order then address order, that overlaps none of `inUse`.
   */
  allocate(inUse: readonly (Cidr | string)[]): string {
    const { starts, ends, count } = mergedRanges(inUse);
    const blockSize = 2 ** (32 - this.maskLength);
    for (const pool of this.#pools) {
      const poolEnd = pool.base + cidrSize(pool) - 1;
      let candidate = pool.base;
      let j = firstEndingAtOrAfter(ends, count, candidate);
      while (candidate + blockSize - 1 <= poolEnd) {
        while (j < count && ends[j] < candidate) j++;
        if (j === count || starts[j] > candidate + blockSize - 1) {
          return formatCidr({ base: candidate, prefix: this.maskLength });
        }
        // Range j blocks the candidate: jump to the first aligned block after it.
        // Blocks are aligned in absolute terms because pools are aligned to a
        // prefix no longer than maskLength.
        candidate = Math.ceil((ends[j] + 1) / blockSize) * blockSize;
        j++;
      }
    }
    throw new IpamError(
      "IPAM_POOL_EXHAUSTED",
      "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network",
    );
  }
}

/** 2^(32 - prefix), by prefix. */
const BLOCK_SIZES = Float64Array.from({ length: 33 }, (_, prefix) => 2 ** (32 - prefix));

/**
 * Sorts the blocks and merges overlapping or adjacent ones into disjoint
 * ranges [starts[i], ends[i]], ascending.
 */
function mergedRanges(inUse: readonly (Cidr | string)[]): {
  starts: Float64Array;
  ends: Float64Array;
  count: number;
} {
  const n = inUse.length;
  let firsts: Uint32Array = new Uint32Array(n);
  let prefixes: Uint8Array = new Uint8Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    // (Math.floor and a table, not % and **: those are slow on doubles.)
    const packed = packCidr(inUse[i]);
    const first = Math.floor(packed / 64);
    firsts[i] = first;
    prefixes[i] = packed - first * 64;
    if (i > 0 && firsts[i] < firsts[i - 1]) sorted = false;
  }
  if (!sorted) [firsts, prefixes] = radixSort(firsts, prefixes);
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const start = firsts[i];
    const end = start + BLOCK_SIZES[prefixes[i]] - 1;
    if (count > 0 && start <= ends[count - 1] + 1) {
      if (end > ends[count - 1]) ends[count - 1] = end;
    } else {
      starts[count] = start;
      ends[count] = end;
      count++;
    }
  }
  return { starts, ends, count };
}

/**
 * Sorts `keys` ascending, carrying `values` along: an LSD radix sort, a byte
 * per pass. Linear time, and several times faster than a comparison sort on
 * the sizes that matter here (thousands). Passes in which every key has the
 * same byte (the "10" of 10.x.y.z) are skipped.
 */
function radixSort(keys: Uint32Array, values: Uint8Array): [Uint32Array, Uint8Array] {
  const n = keys.length;
  let k1 = keys;
  let v1 = values;
  let k2: Uint32Array = new Uint32Array(n);
  let v2: Uint8Array = new Uint8Array(n);
  const counts = new Uint32Array(256);
  for (let shift = 0; shift < 32; shift += 8) {
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(k1[i] >>> shift) & 255]++;
    if (counts[(k1[0] >>> shift) & 255] === n) continue;
    let sum = 0;
    for (let b = 0; b < 256; b++) {
      const c = counts[b];
      counts[b] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = k1[i];
      const d = counts[(k >>> shift) & 255]++;
      k2[d] = k;
      v2[d] = v1[i];
    }
    [k1, k2] = [k2, k1];
    [v1, v2] = [v2, v1];
  }
  return [k1, v1];
}

/** Index of the first range whose end is >= addr (ends ascend: the ranges are disjoint). */
function firstEndingAtOrAfter(ends: Float64Array, count: number, addr: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ends[mid] < addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Checks a user-chosen subnet against the subnets of existing networks.
 * Throws IPAM_OVERLAP with Docker's message; `details` names the first
 * conflicting network so the caller can say which one.
 */
export function checkNoOverlap(
  candidate: string | Cidr,
  existing: readonly { name: string; subnet: string | Cidr }[],
): void {
  const c = toCidr(candidate);
  for (const { name, subnet } of existing) {
    const other = toCidr(subnet);
    if (overlaps(c, other)) {
      throw new IpamError("IPAM_OVERLAP", "Pool overlaps with other one on this address space", {
        network: name,
        subnet: formatCidr(other),
      });
    }
  }
}
