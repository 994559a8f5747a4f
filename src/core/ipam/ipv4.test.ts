import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  broadcast,
  cidrContainsCidr,
  cidrSize,
  contains,
  formatCidr,
  formatIp,
  networkAddress,
  overlaps,
  parseCidr,
  parseCidrHost,
  parseIp,
  prefixMask,
  toCidr,
  tryParseIp,
} from "./ipv4.ts";

const uint32 = fc.integer({ min: 0, max: 0xffffffff });
const prefix = fc.integer({ min: 0, max: 32 });
const cidr = fc
  .tuple(uint32, prefix)
  .map(([ip, p]) => ({ base: networkAddress({ base: ip, prefix: p }), prefix: p }));

/** Independent model: the first `p` bits of the 32-bit binary string. */
function bits(ip: number, p: number): string {
  return ip.toString(2).padStart(32, "0").slice(0, p);
}

describe("parseIp / formatIp", () => {
  const valid: [string, number][] = [
    ["0.0.0.0", 0],
    ["255.255.255.255", 0xffffffff],
    ["10.0.1.2", 0x0a000102],
    ["192.168.0.1", 0xc0a80001],
    ["128.0.0.0", 0x80000000],
    ["1.2.3.4", 0x01020304],
  ];
  for (const [s, n] of valid) {
    it(`parses ${s}`, () => {
      assert.equal(parseIp(s), n);
      assert.equal(formatIp(n), s);
    });
  }

  const invalid = [
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.0.0.1",
    "1.2.3.256",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3.00",
    "1..2.3",
    "1.2.3.",
    ".1.2.3",
    " 1.2.3.4",
    "1.2.3.4 ",
    "+1.2.3.4",
    "1.2.3.-4",
    "a.b.c.d",
    "1.2.3.4/24",
    "0x1.2.3.4",
    "1000.2.3.4",
    "::1",
    "1.2.3.4\n",
  ];
  for (const s of invalid) {
    it(`rejects ${JSON.stringify(s)}`, () => {
      assert.throws(() => parseIp(s), {
        code: "IPAM_INVALID_ADDRESS",
        message: `invalid IP address: ${s}`,
      });
      assert.equal(tryParseIp(s), -1);
    });
  }

  it("formatIp rejects non-uint32 values", () => {
    for (const n of [-1, 2 ** 32, 1.5, Number.NaN]) {
      assert.throws(() => formatIp(n), { code: "IPAM_INVALID_ADDRESS" });
    }
  });

  it("round-trips every uint32 (property)", () => {
    fc.assert(
      fc.property(uint32, (n) => {
        const s = formatIp(n);
        assert.equal(parseIp(s), n);
        assert.equal(s, [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join("."));
      }),
    );
  });
});

describe("parseCidr", () => {
  it("parses networks, including /0 and /32", () => {
    assert.deepEqual(parseCidr("10.0.0.0/8"), { base: 0x0a000000, prefix: 8 });
    assert.deepEqual(parseCidr("0.0.0.0/0"), { base: 0, prefix: 0 });
    assert.deepEqual(parseCidr("255.255.255.255/32"), { base: 0xffffffff, prefix: 32 });
    assert.deepEqual(parseCidr("10.0.1.0/24"), { base: 0x0a000100, prefix: 24 });
    assert.deepEqual(parseCidr("128.0.0.0/1"), { base: 0x80000000, prefix: 1 });
  });

  const invalid = [
    "10.0.300.0/24",
    "10.0.0.0",
    "10.0.0.0/",
    "10.0.0.0/33",
    "10.0.0.0/024",
    "10.0.0.0/00",
    "10.0.0.0/ 24",
    "10.0.0.0/24/1",
    "10.0.0.0/-1",
    "10.0.0.0/2a",
    "/24",
    "010.0.0.0/8",
    "10.0.0/24",
  ];
  for (const s of invalid) {
    it(`rejects ${JSON.stringify(s)} with Go's wording`, () => {
      assert.throws(() => parseCidr(s), {
        code: "IPAM_INVALID_CIDR",
        message: `invalid CIDR address: ${s}`,
      });
      assert.throws(() => parseCidrHost(s), { code: "IPAM_INVALID_CIDR" });
    });
  }

  it("rejects host bits with Docker's wording", () => {
    assert.throws(() => parseCidr("10.0.1.5/24"), {
      code: "IPAM_INVALID_CIDR",
      message: "invalid subnet 10.0.1.5/24 : it should be 10.0.1.0/24",
    });
    assert.throws(() => parseCidr("10.0.1.130/25", "ip-range"), {
      message: "invalid ip-range 10.0.1.130/25 : it should be 10.0.1.128/25",
    });
    assert.throws(() => parseCidr("1.2.3.4/0"), {
      message: "invalid subnet 1.2.3.4/0 : it should be 0.0.0.0/0",
    });
  });

  it("parseCidrHost keeps the address and masks the block, like net.ParseCIDR", () => {
    assert.deepEqual(parseCidrHost("10.0.1.5/24"), {
      ip: 0x0a000105,
      cidr: { base: 0x0a000100, prefix: 24 },
    });
  });

  it("formatCidr round-trips (property)", () => {
    fc.assert(fc.property(cidr, (c) => assert.deepEqual(parseCidr(formatCidr(c)), c)));
  });
});

describe("block arithmetic", () => {
  it("handles /0 and /32 edges", () => {
    assert.equal(prefixMask(0), 0);
    assert.equal(prefixMask(32), 0xffffffff);
    assert.equal(prefixMask(24), 0xffffff00);
    assert.equal(prefixMask(1), 0x80000000);
    const all = parseCidr("0.0.0.0/0");
    assert.equal(cidrSize(all), 2 ** 32);
    assert.equal(broadcast(all), 0xffffffff);
    assert.ok(contains(all, 0) && contains(all, 0xffffffff));
    const one = parseCidr("255.255.255.255/32");
    assert.equal(cidrSize(one), 1);
    assert.equal(broadcast(one), 0xffffffff);
    assert.ok(contains(one, 0xffffffff) && !contains(one, 0xfffffffe));
    assert.equal(networkAddress({ base: 0x0a000105, prefix: 24 }), 0x0a000100);
  });

  it("contains is exact at the block edges", () => {
    const c = parseCidr("10.0.1.0/24");
    assert.equal(broadcast(c), parseIp("10.0.1.255"));
    assert.ok(contains(c, parseIp("10.0.1.0")));
    assert.ok(contains(c, parseIp("10.0.1.255")));
    assert.ok(!contains(c, parseIp("10.0.0.255")));
    assert.ok(!contains(c, parseIp("10.0.2.0")));
  });

  it("contains, cidrContainsCidr and overlaps agree with a bit-string model (property)", () => {
    fc.assert(
      fc.property(cidr, cidr, uint32, (a, b, ip) => {
        assert.equal(contains(a, ip), bits(ip, a.prefix) === bits(a.base, a.prefix));
        const aInB = a.prefix >= b.prefix && bits(a.base, b.prefix) === bits(b.base, b.prefix);
        const bInA = b.prefix >= a.prefix && bits(b.base, a.prefix) === bits(a.base, a.prefix);
        assert.equal(cidrContainsCidr(b, a), aInB);
        assert.equal(cidrContainsCidr(a, b), bInA);
        assert.equal(overlaps(a, b), aInB || bInA);
        assert.equal(overlaps(a, b), overlaps(b, a));
      }),
    );
  });

  it("toCidr accepts strings (host bits masked) and normalizes objects", () => {
    assert.deepEqual(toCidr("10.0.1.5/24"), { base: 0x0a000100, prefix: 24 });
    assert.deepEqual(toCidr({ base: 0x0a000105, prefix: 24 }), { base: 0x0a000100, prefix: 24 });
    assert.throws(() => toCidr({ base: -1, prefix: 24 }), { code: "IPAM_INVALID_CIDR" });
    assert.throws(() => toCidr({ base: 0, prefix: 33 }), { code: "IPAM_INVALID_CIDR" });
    assert.throws(() => toCidr("nope"), { message: "invalid CIDR address: nope" });
  });
});
