// The addresses of one network's subnet: which are reserved, which are
// allocated to endpoints, and which one to hand out next.
//
// Docker Swarm rules honoured here:
//  - The gateway defaults to the first usable address (10.0.1.1 in
//    10.0.1.0/24), and is never handed to an endpoint.
//  - The network and broadcast addresses are reserved for blocks that have
//    them (/30 and larger). A /31 has none (RFC 3021 point-to-point: both
//    addresses usable) and a /32 is its single address. There the default
//    gateway is the first address, so a /31 has one allocatable address and a
//    /32 none: its only address is the gateway.
//  - Aux addresses are reserved (never allocated), like the gateway.
//  - With an ip-range, `allocate()` only picks addresses inside the range, but
//    a specific address may be requested anywhere in the subnet, so static
//    addresses can live outside the dynamic range (Docker's --ip / --ip-range).
//  - Allocation is serial, like Swarm's (libnetwork's "serial" bitmap mode): a
//    cursor moves forward past each address handed out and wraps at the end,
//    so an address just released is the last to be reused. A DNS cache or a
//    peer's ARP/FDB entry pointing at the old holder of an address then has
//    the longest possible time to expire before the address means someone else.
//
// Storage is a two-level bitmap (see bitmap.ts): allocate and release are O(1)
// in the common case, and the count of allocatable addresses left is kept
// incrementally so exhaustion is detected without scanning.

import { Bitmap } from "./bitmap.ts";
import { IpamError } from "./errors.ts";
import {
  type Cidr,
  cidrContainsCidr,
  cidrSize,
  contains,
  formatCidr,
  formatIp,
  parseCidr,
  parseIp,
} from "./ipv4.ts";

export interface AddressPoolOptions {
  /** The network's subnet, e.g. "10.0.1.0/24" (host bits must be zero). */
  subnet: string;
  /** Gateway address inside the subnet; default (or ""): the first usable address. */
  gateway?: string;
  /** Sub-block of the subnet that `allocate()` picks from; default (or ""): the whole subnet. */
  ipRange?: string;
  /** Named addresses to keep out of allocation (Docker's --aux-address host=ip). */
  auxAddresses?: Readonly<Record<string, string>>;
  /** The network's name, used in error messages. */
  label?: string;
}

export class AddressPool {
  /** The subnet, normalized, e.g. "10.0.1.0/24". */
  readonly subnet: string;
  /** The gateway address. */
  readonly gateway: string;
  /** The ip-range, if one was given. */
  readonly ipRange: string | undefined;
  readonly label: string | undefined;
  /** How many addresses `allocate()` can hand out when nothing is allocated. */
  readonly usable: number;

  readonly #base: number;
  readonly #size: number;
  /** Allocation range, as offsets from #base (inclusive). */
  readonly #lo: number;
  readonly #hi: number;
  readonly #bitmap: Bitmap;
  /** Reserved offsets and what they are, for error messages. */
  readonly #reserved = new Map<number, string>();
  #cursor: number;
  #inUse = 0;
  /** Allocated addresses inside [#lo, #hi]; exhausted when it reaches `usable`. */
  #rangeUsed = 0;

  constructor(opts: AddressPoolOptions) {
    const subnet = parseCidr(opts.subnet, "subnet");
    this.subnet = formatCidr(subnet);
    this.label = opts.label;
    this.#base = subnet.base;
    this.#size = cidrSize(subnet);

    // "" means unset, as in Docker's API (Go zero values), for ipRange and gateway.
    let range: Cidr = subnet;
    if (opts.ipRange !== undefined && opts.ipRange !== "") {
      range = parseCidr(opts.ipRange, "ip-range");
      if (!cidrContainsCidr(subnet, range)) {
        throw new IpamError("IPAM_RANGE_OUTSIDE", `no matching subnet for range ${opts.ipRange}`);
      }
      this.ipRange = formatCidr(range);
    }
    this.#lo = range.base - subnet.base;
    this.#hi = this.#lo + cidrSize(range) - 1;

    // Blocks of 4 or more addresses lose their first and last.
    const hasNetworkAndBroadcast = subnet.prefix <= 30;
    if (hasNetworkAndBroadcast) {
      this.#reserved.set(0, "the network address");
      this.#reserved.set(this.#size - 1, "the broadcast address");
    }

    let gateway = subnet.base + (hasNetworkAndBroadcast ? 1 : 0);
    if (opts.gateway !== undefined && opts.gateway !== "") {
      gateway = parseIp(opts.gateway);
      if (!contains(subnet, gateway)) {
        throw new IpamError(
          "IPAM_GATEWAY_OUTSIDE",
          `no matching subnet for gateway ${opts.gateway}`,
        );
      }
    }
    this.gateway = formatIp(gateway);
    const gwTaken = this.#reserved.get(gateway - subnet.base);
    if (gwTaken !== undefined) {
      throw new IpamError(
        "IPAM_ADDRESS_IN_USE",
        `failed to allocate gateway (${this.gateway}): Address already in use (${gwTaken})`,
      );
    }
    this.#reserved.set(gateway - subnet.base, "the gateway");

    for (const [name, value] of Object.entries(opts.auxAddresses ?? {})) {
      const ip = parseIp(value);
      if (!contains(subnet, ip)) {
        throw new IpamError("IPAM_AUX_OUTSIDE", `no matching subnet for aux-address ${value}`);
      }
      const taken = this.#reserved.get(ip - subnet.base);
      if (taken !== undefined) {
        throw new IpamError(
          "IPAM_ADDRESS_IN_USE",
          `failed to allocate secondary ip address (${name}:${value}): Address already in use (${taken})`,
        );
      }
      this.#reserved.set(ip - subnet.base, `aux-address "${name}"`);
    }

    this.#bitmap = new Bitmap(this.#size);
    let reservedInRange = 0;
    for (const off of this.#reserved.keys()) {
      this.#bitmap.set(off);
      if (off >= this.#lo && off <= this.#hi) reservedInRange++;
    }
    this.usable = this.#hi - this.#lo + 1 - reservedInRange;
    this.#cursor = this.#lo;
  }

  /** Addresses allocated to endpoints (reserved ones not counted), in or out of the ip-range. */
  get inUse(): number {
    return this.#inUse;
  }

  /** How many more addresses `allocate()` can hand out. */
  get available(): number {
    return this.usable - this.#rangeUsed;
  }

  /** Allocates the next free address after the previous one (wrapping). */
  allocate(): string {
    if (this.#rangeUsed >= this.usable) throw this.#exhausted();
    const bitmap = this.#bitmap;
    let off = bitmap.findZero(this.#cursor, this.#hi);
    if (off < 0) off = bitmap.findZero(this.#lo, this.#cursor - 1);
    // A free address exists (the counts say so), so `off` is valid here.
    bitmap.set(off);
    this.#inUse++;
    this.#rangeUsed++;
    this.#cursor = off === this.#hi ? this.#lo : off + 1;
    return formatIp(this.#base + off);
  }

  /** Allocates a given address anywhere in the subnet (it need not be in the ip-range). */
  allocateSpecific(ip: string): void {
    const off = this.#offset(ip);
    if (off < 0) {
      throw new IpamError("IPAM_ADDRESS_OUTSIDE", `no configured subnet contains IP address ${ip}`);
    }
    const why = this.#reserved.get(off);
    if (why !== undefined || !this.#bitmap.set(off)) {
      throw new IpamError(
        "IPAM_ADDRESS_IN_USE",
        `Address already in use: ${ip}${this.#onNetwork()}${why === undefined ? "" : ` (${why})`}`,
      );
    }
    this.#count(off, 1);
  }

  /**
   * Marks an address as allocated when rebuilding from persisted state.
   * Idempotent for an address already allocated; still an error for a
   * reserved address or one outside the subnet, which would mean the
   * persisted state does not match this configuration.
   */
  reserve(ip: string): void {
    const off = this.#offset(ip);
    if (off < 0) {
      throw new IpamError("IPAM_ADDRESS_OUTSIDE", `no configured subnet contains IP address ${ip}`);
    }
    const why = this.#reserved.get(off);
    if (why !== undefined) {
      throw new IpamError(
        "IPAM_ADDRESS_IN_USE",
        `Address already in use: ${ip}${this.#onNetwork()} (${why})`,
      );
    }
    if (this.#bitmap.set(off)) this.#count(off, 1);
  }

  /** Frees an allocated address. Releasing anything else is an error, never a silent no-op. */
  release(ip: string): void {
    const off = this.#offset(ip);
    if (off < 0) throw this.#notAllocated(ip, `it is outside ${this.subnet}`);
    const why = this.#reserved.get(off);
    if (why !== undefined) throw this.#notAllocated(ip, `it is ${why}, not an allocated address`);
    if (!this.#bitmap.clear(off)) throw this.#notAllocated(ip, "it is not allocated");
    this.#count(off, -1);
  }

  /** True if the address is allocated to an endpoint (false for reserved addresses). */
  isAllocated(ip: string): boolean {
    const off = this.#offset(ip);
    return off >= 0 && !this.#reserved.has(off) && this.#bitmap.get(off);
  }

  /** True if the address is the network, broadcast, gateway or an aux address. */
  isReserved(ip: string): boolean {
    return this.#reserved.has(this.#offset(ip));
  }

  /** Offset of `ip` in the subnet, -1 if outside; throws if `ip` is not an address. */
  #offset(ip: string): number {
    const off = parseIp(ip) - this.#base;
    return off >= 0 && off < this.#size ? off : -1;
  }

  #count(off: number, delta: number): void {
    this.#inUse += delta;
    if (off >= this.#lo && off <= this.#hi) this.#rangeUsed += delta;
  }

  #onNetwork(): string {
    return this.label === undefined ? "" : ` on network "${this.label}"`;
  }

  #notAllocated(ip: string, reason: string): IpamError {
    return new IpamError(
      "IPAM_NOT_ALLOCATED",
      `cannot release ${ip}${this.#onNetwork()}: ${reason}`,
    );
  }

  #exhausted(): IpamError {
    const n = this.usable;
    const range = this.ipRange === undefined ? "" : `, ip-range ${this.ipRange}`;
    const state =
      n === 0 ? "no usable addresses" : `${n} usable address${n === 1 ? "" : "es"}, all in use`;
    const details: Record<string, string | number> = { subnet: this.subnet, usable: n };
    if (this.label !== undefined) details["network"] = this.label;
    if (this.ipRange !== undefined) details["ipRange"] = this.ipRange;
    return new IpamError(
      "IPAM_EXHAUSTED",
      `no available IP addresses${this.#onNetwork()} (${this.subnet}${range}, ${state})`,
      details,
    );
  }
}
