// Integer ids from a fixed range, lowest free first: VXLAN network ids for
// overlay networks (Swarm hands them out from 4096 up, below 2^24) and
// anything else that wants small, reused numbers.
//
// Unlike addresses, ids are reused as soon as they are freed: the lowest free
// one is always returned, which keeps ids small and predictable, as Swarm does.
// The bitmap search starts at a hint below which every id is known to be taken,
// so allocating a run of ids is O(1) each; a release below the hint moves it back.

import { Bitmap } from "./bitmap.ts";
import { IpamError } from "./errors.ts";

/** Swarm's VXLAN id range for overlay networks. */
export const VXLAN_ID_MIN = 4096;
export const VXLAN_ID_MAX = 2 ** 24 - 1;

export interface IdAllocatorOptions {
  /** Lowest id (inclusive, integer >= 0). */
  min: number;
  /** Highest id (inclusive, integer <= 2^32 - 1). */
  max: number;
  /** What the ids are, in messages (singular), e.g. "VXLAN ID". Default "ID". */
  label?: string;
}

export class IdAllocator {
  readonly min: number;
  readonly max: number;
  readonly label: string;
  readonly #bitmap: Bitmap;
  /** Every bit below this is set. */
  #low = 0;

  constructor(opts: IdAllocatorOptions);
  constructor(min: number, max: number, label?: string);
  constructor(optsOrMin: IdAllocatorOptions | number, maxArg?: number, labelArg?: string) {
    const opts =
      typeof optsOrMin === "number"
        ? { min: optsOrMin, max: maxArg ?? Number.NaN, label: labelArg }
        : optsOrMin;
    const { min, max } = opts;
    this.label = opts.label ?? "ID";
    if (!(isUint32(min) && isUint32(max) && min <= max)) {
      throw new IpamError(
        "IPAM_INVALID_POOL",
        `invalid ${this.label} range ${min}-${max}: bounds must be integers, 0 <= min <= max <= 4294967295`,
      );
    }
    this.min = min;
    this.max = max;
    this.#bitmap = new Bitmap(max - min + 1);
  }

  /** How many ids the range holds. */
  get size(): number {
    return this.#bitmap.size;
  }

  get inUse(): number {
    return this.#bitmap.count;
  }

  /** Allocates the lowest free id. */
  allocate(): number {
    const bitmap = this.#bitmap;
    const i = bitmap.count === bitmap.size ? -1 : bitmap.findZero(this.#low, bitmap.size - 1);
    if (i < 0) {
      throw new IpamError(
        "IPAM_EXHAUSTED",
        `no available ${this.label}s (range ${this.min}-${this.max}, all ${this.size} in use)`,
        { label: this.label, min: this.min, max: this.max },
      );
    }
    this.#bitmap.set(i);
    this.#low = i + 1;
    return this.min + i;
  }

  /** Allocates a given id; IPAM_ID_IN_USE if it is taken. */
  allocateSpecific(id: number): void {
    if (!this.#bitmap.set(this.#index(id))) {
      throw new IpamError("IPAM_ID_IN_USE", `${this.label} ${id} is already in use`);
    }
  }

  /** Marks an id as allocated when rebuilding from persisted state; idempotent. */
  reserve(id: number): void {
    this.#bitmap.set(this.#index(id));
  }

  /** Frees an allocated id; IPAM_NOT_ALLOCATED if it is not allocated. */
  release(id: number): void {
    const i = this.#index(id);
    if (!this.#bitmap.clear(i)) {
      throw new IpamError(
        "IPAM_NOT_ALLOCATED",
        `cannot release ${this.label} ${id}: it is not allocated`,
      );
    }
    if (i < this.#low) this.#low = i;
  }

  /** True if the id is allocated (false for ids outside the range). */
  isAllocated(id: number): boolean {
    return (
      Number.isInteger(id) && id >= this.min && id <= this.max && this.#bitmap.get(id - this.min)
    );
  }

  #index(id: number): number {
    if (!(Number.isInteger(id) && id >= this.min && id <= this.max)) {
      throw new IpamError(
        "IPAM_INVALID_ID",
        `invalid ${this.label} ${id}: must be an integer between ${this.min} and ${this.max}`,
      );
    }
    return id - this.min;
  }
}

function isUint32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}
