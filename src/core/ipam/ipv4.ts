// IPv4 addresses as unsigned 32-bit integers, and CIDR blocks over them.
//
// An address is a plain `number` in [0, 2^32 - 1]. JavaScript's bitwise
// operators work on *signed* 32-bit integers, so every bitwise result that can
// have the top bit set is brought back to the unsigned range with `>>> 0`;
// range arithmetic (sizes, last addresses) is done with ordinary numbers, which
// are exact far beyond 2^32, so /0 (size 2^32) needs no special casing there.

import { IpamError } from "./errors.ts";

/** A CIDR block. `base` is the network address (host bits zero), `prefix` in 0..32. */
export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

const DOT = 46;
const ZERO = 48;
const NINE = 57;

/**
 * Parses `s[start, end)` as a strict dotted quad: exactly four decimal octets
 * 0..255, no signs, no whitespace and no leading zeros ("010" is rejected, as
 * in Go >= 1.17, because some parsers read it as octal). Returns -1 if invalid.
 */
function scanIp(s: string, start: number, end: number): number {
  if (end - start < 7 || end - start > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      dots++;
      octet = 0;
      digits = 0;
    } else if (c >= ZERO && c <= NINE) {
      if (digits > 0 && octet === 0) return -1; // leading zero
      octet = octet * 10 + (c - ZERO);
      if (octet > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

/** Parses a dotted quad, returning -1 instead of throwing (for hot paths). */
export function tryParseIp(s: string): number {
  return scanIp(s, 0, s.length);
}

/** Parses a strict dotted quad into a uint32. */
export function parseIp(s: string): number {
  const ip = scanIp(s, 0, s.length);
  if (ip < 0) throw new IpamError("IPAM_INVALID_ADDRESS", `invalid IP address: ${s}`);
  return ip;
}

const OCTETS: readonly string[] = Array.from({ length: 256 }, (_, i) => String(i));
// The "a.b.c." of the last address formatted. Allocation is serial, so runs of
// consecutive addresses share it, and each address then costs one string
// concatenation instead of seven (which, for the millions of addresses a /12
// churns through, is most of the allocator's time).
let lastHigh = -1;
let lastPrefix = "";

/** Formats a uint32 as a dotted quad. */
export function formatIp(ip: number): string {
  if (!(ip >= 0 && ip <= 0xffffffff && Math.floor(ip) === ip)) {
    throw new IpamError("IPAM_INVALID_ADDRESS", `invalid IP address: ${ip}`);
  }
  const high = ip >>> 8;
  if (high !== lastHigh) {
    lastHigh = high;
    lastPrefix =
      OCTETS[ip >>> 24] + "." + OCTETS[(ip >>> 16) & 255] + "." + OCTETS[high & 255] + ".";
  }
  return lastPrefix + OCTETS[ip & 255];
}

/** The netmask of a prefix length as a uint32 (`<< 32` is a no-op in JS, hence /0). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses "a.b.c.d/n" like Go's net.ParseCIDR: host bits may be set; returns
 * the address as written and the masked block. The prefix is 0..32 without
 * leading zeros.
 */
export function parseCidrHost(s: string): { ip: number; cidr: Cidr } {
  const slash = s.indexOf("/");
  const ip = slash < 0 ? -1 : scanIp(s, 0, slash);
  const prefix = ip < 0 ? -1 : scanPrefix(s, slash + 1);
  if (prefix < 0) throw new IpamError("IPAM_INVALID_CIDR", `invalid CIDR address: ${s}`);
  return { ip, cidr: { base: (ip & prefixMask(prefix)) >>> 0, prefix } };
}

function scanPrefix(s: string, start: number): number {
  const len = s.length - start;
  if (len < 1 || len > 2) return -1;
  const d0 = s.charCodeAt(start) - ZERO;
  if (d0 < 0 || d0 > 9) return -1;
  if (len === 1) return d0;
  const d1 = s.charCodeAt(start + 1) - ZERO;
  if (d0 === 0 || d1 < 0 || d1 > 9) return -1;
  const n = d0 * 10 + d1;
  return n <= 32 ? n : -1;
}

/**
 * Parses a CIDR that must name a network: host bits set is an error, worded
 * like Docker's ("invalid subnet 10.0.1.5/24 : it should be 10.0.1.0/24").
 * `kind` names the field in that message ("subnet", "ip-range", ...).
 */
export function parseCidr(s: string, kind = "subnet"): Cidr {
  const { ip, cidr } = parseCidrHost(s);
  if (ip !== cidr.base) {
    throw new IpamError(
      "IPAM_INVALID_CIDR",
      `invalid ${kind} ${s} : it should be ${formatCidr(cidr)}`,
    );
  }
  return cidr;
}

export function formatCidr(c: Cidr): string {
  return formatIp(c.base) + "/" + c.prefix;
}

/** Number of addresses in the block (2^32 for /0). */
export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** The network (first) address of the block. */
export function networkAddress(c: Cidr): number {
  return (c.base & prefixMask(c.prefix)) >>> 0;
}

/**
 * The broadcast (last) address of the block. For /31 and /32 this is just the
 * last address: those blocks have no broadcast address in use (RFC 3021).
 */
export function broadcast(c: Cidr): number {
  return networkAddress(c) + cidrSize(c) - 1;
}

/** True if `ip` is inside the block. */
export function contains(c: Cidr, ip: number): boolean {
  const first = networkAddress(c);
  return ip >= first && ip <= first + cidrSize(c) - 1;
}

/** True if `inner` lies entirely inside `outer` (equal blocks included). */
export function cidrContainsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, networkAddress(inner));
}

/** True if the blocks share at least one address. CIDR blocks either nest or are disjoint. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return cidrContainsCidr(a, b) || cidrContainsCidr(b, a);
}

/**
 * A CIDR from either form callers hold: a string (host bits allowed and masked
 * off, as for subnets read back from state) or a Cidr (normalized).
 */
export function toCidr(c: string | Cidr): Cidr {
  const packed = packCidr(c);
  const base = Math.floor(packed / 64);
  return { base, prefix: packed - base * 64 };
}

/**
 * toCidr without allocating, for loops over thousands of subnets: the block
 * packed into one number, `networkAddress * 64 + prefix` (exact: < 2^38, and
 * ordered by network address first).
 */
export function packCidr(c: string | Cidr): number {
  let ip: number;
  let prefix: number;
  if (typeof c === "string") {
    const slash = c.indexOf("/");
    ip = slash < 0 ? -1 : scanIp(c, 0, slash);
    prefix = ip < 0 ? -1 : scanPrefix(c, slash + 1);
    if (prefix < 0) throw new IpamError("IPAM_INVALID_CIDR", `invalid CIDR address: ${c}`);
  } else {
    ip = c.base;
    prefix = c.prefix;
    if (
      !(Number.isInteger(prefix) && prefix >= 0 && prefix <= 32) ||
      !(Number.isInteger(ip) && ip >= 0 && ip <= 0xffffffff)
    ) {
      throw new IpamError("IPAM_INVALID_CIDR", `invalid CIDR address: ${ip}/${prefix}`);
    }
  }
  return ((ip & prefixMask(prefix)) >>> 0) * 64 + prefix;
}
