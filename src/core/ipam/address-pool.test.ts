import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AddressPool, type AddressPoolOptions } from "./address-pool.ts";
import { isIpamError } from "./errors.ts";
import { cidrSize, formatCidr, formatIp, networkAddress, parseIp } from "./ipv4.ts";

function allocateAll(pool: AddressPool): string[] {
  const out: string[] = [];
  for (;;) {
    try {
      out.push(pool.allocate());
    } catch (e) {
      if (isIpamError(e, "IPAM_EXHAUSTED")) return out;
      throw e;
    }
  }
}

describe("AddressPool: Docker defaults", () => {
  it("reserves network, gateway (.1) and broadcast; hands out .2, .3, ...", () => {
    const pool = new AddressPool({ subnet: "10.0.1.0/24", label: "ov1" });
    assert.equal(pool.subnet, "10.0.1.0/24");
    assert.equal(pool.gateway, "10.0.1.1");
    assert.equal(pool.ipRange, undefined);
    assert.equal(pool.usable, 253);
    assert.equal(pool.allocate(), "10.0.1.2");
    assert.equal(pool.allocate(), "10.0.1.3");
    assert.equal(pool.inUse, 2);
    assert.equal(pool.available, 251);
    assert.ok(pool.isReserved("10.0.1.0") && pool.isReserved("10.0.1.1"));
    assert.ok(pool.isReserved("10.0.1.255") && !pool.isReserved("10.0.1.2"));
    assert.ok(pool.isAllocated("10.0.1.2") && !pool.isAllocated("10.0.1.1"));
    assert.ok(!pool.isAllocated("192.168.0.1"));
  });

  it("exhausts after every usable address, naming the network and its size", () => {
    const pool = new AddressPool({ subnet: "10.0.1.0/24", label: "ov1" });
    const all = allocateAll(pool);
    assert.equal(all.length, 253);
    assert.equal(all.at(-1), "10.0.1.254");
    assert.throws(() => pool.allocate(), {
      code: "IPAM_EXHAUSTED",
      message:
        'no available IP addresses on network "ov1" (10.0.1.0/24, 253 usable addresses, all in use)',
    });
  });

  it("words exhaustion without a label, with an ip-range, and with nothing usable", () => {
    const a = new AddressPool({ subnet: "10.0.0.0/30" });
    a.allocate();
    assert.throws(() => a.allocate(), {
      message: "no available IP addresses (10.0.0.0/30, 1 usable address, all in use)",
    });
    const b = new AddressPool({ subnet: "10.0.1.0/24", ipRange: "10.0.1.252/30", label: "n" });
    assert.deepEqual(allocateAll(b), ["10.0.1.252", "10.0.1.253", "10.0.1.254"]);
    assert.throws(() => b.allocate(), {
      message:
        'no available IP addresses on network "n" (10.0.1.0/24, ip-range 10.0.1.252/30, 3 usable addresses, all in use)',
    });
    const c = new AddressPool({ subnet: "10.0.0.7/32" });
    assert.throws(() => c.allocate(), {
      code: "IPAM_EXHAUSTED",
      message: "no available IP addresses (10.0.0.7/32, no usable addresses)",
    });
  });

  it("/31 has no network or broadcast address; /32 is all gateway", () => {
    const p31 = new AddressPool({ subnet: "10.0.0.4/31" });
    assert.equal(p31.gateway, "10.0.0.4");
    assert.equal(p31.usable, 1);
    assert.equal(p31.allocate(), "10.0.0.5");
    const p31gw = new AddressPool({ subnet: "10.0.0.4/31", gateway: "10.0.0.5" });
    assert.equal(p31gw.allocate(), "10.0.0.4");
    const p32 = new AddressPool({ subnet: "10.0.0.7/32" });
    assert.equal(p32.gateway, "10.0.0.7");
    assert.equal(p32.usable, 0);
    const p30 = new AddressPool({ subnet: "10.0.0.4/30" });
    assert.deepEqual(allocateAll(p30), ["10.0.0.6"]);
  });

  it("handles huge subnets lazily (/8 and /0)", () => {
    const p8 = new AddressPool({ subnet: "10.0.0.0/8" });
    assert.equal(p8.usable, 2 ** 24 - 3);
    assert.equal(p8.allocate(), "10.0.0.2");
    p8.allocateSpecific("10.255.255.254");
    assert.throws(() => p8.allocateSpecific("10.255.255.255"), { code: "IPAM_ADDRESS_IN_USE" });
    const p0 = new AddressPool({ subnet: "0.0.0.0/0" });
    assert.equal(p0.gateway, "0.0.0.1");
    assert.equal(p0.usable, 2 ** 32 - 3);
    assert.equal(p0.allocate(), "0.0.0.2");
    assert.ok(p0.isReserved("255.255.255.255"));
  });
});

describe("AddressPool: serial allocation", () => {
  it("does not hand a just-released address out again", () => {
    const pool = new AddressPool({ subnet: "10.0.1.0/24" });
    assert.equal(pool.allocate(), "10.0.1.2");
    assert.equal(pool.allocate(), "10.0.1.3");
    pool.release("10.0.1.2");
    assert.equal(pool.allocate(), "10.0.1.4");
  });

  it("wraps to the lowest free address after reaching the end", () => {
    const pool = new AddressPool({ subnet: "10.0.1.0/29" });
    assert.deepEqual(allocateAll(pool), [
      "10.0.1.2",
      "10.0.1.3",
      "10.0.1.4",
      "10.0.1.5",
      "10.0.1.6",
    ]);
    pool.release("10.0.1.5");
    pool.release("10.0.1.3");
    assert.equal(pool.allocate(), "10.0.1.3");
    assert.equal(pool.allocate(), "10.0.1.5");
  });

  it("specific allocations do not move the cursor", () => {
    const pool = new AddressPool({ subnet: "10.0.1.0/24" });
    pool.allocateSpecific("10.0.1.100");
    assert.equal(pool.allocate(), "10.0.1.2");
    pool.allocateSpecific("10.0.1.3");
    assert.equal(pool.allocate(), "10.0.1.4");
  });
});

describe("AddressPool: ip-range, gateway, aux-addresses", () => {
  it("allocates only from the ip-range, but specific addresses anywhere in the subnet", () => {
    const pool = new AddressPool({ subnet: "10.0.1.0/24", ipRange: "10.0.1.128/25", label: "n" });
    assert.equal(pool.ipRange, "10.0.1.128/25");
    assert.equal(pool.gateway, "10.0.1.1"); // still the subnet's first address
    assert.equal(pool.usable, 127); // .128 - .254 (.255 is the broadcast)
    assert.equal(pool.allocate(), "10.0.1.128");
    pool.allocateSpecific("10.0.1.10");
    assert.equal(pool.inUse, 2);
    assert.equal(pool.available, 126);
    pool.release("10.0.1.10");
    assert.equal(pool.available, 126);
  });

  it("honours an explicit gateway and aux addresses", () => {
    const pool = new AddressPool({
      subnet: "10.0.1.0/29",
      gateway: "10.0.1.6",
      auxAddresses: { host1: "10.0.1.2", host2: "10.0.1.3" },
      label: "n",
    });
    assert.equal(pool.gateway, "10.0.1.6");
    assert.equal(pool.usable, 3);
    assert.deepEqual(allocateAll(pool), ["10.0.1.1", "10.0.1.4", "10.0.1.5"]);
    assert.throws(() => pool.allocateSpecific("10.0.1.2"), {
      code: "IPAM_ADDRESS_IN_USE",
      message: 'Address already in use: 10.0.1.2 on network "n" (aux-address "host1")',
    });
  });

  it('treats "" as unset for gateway and ip-range (Docker API zero values)', () => {
    const pool = new AddressPool({ subnet: "10.0.1.0/24", gateway: "", ipRange: "" });
    assert.equal(pool.gateway, "10.0.1.1");
    assert.equal(pool.ipRange, undefined);
    assert.equal(pool.usable, 253);
  });
});

describe("AddressPool: configuration errors", () => {
  const cases: [string, AddressPoolOptions, string, string][] = [
    [
      "malformed subnet",
      { subnet: "10.0.300.0/24" },
      "IPAM_INVALID_CIDR",
      "invalid CIDR address: 10.0.300.0/24",
    ],
    [
      "subnet with host bits",
      { subnet: "10.0.1.5/24" },
      "IPAM_INVALID_CIDR",
      "invalid subnet 10.0.1.5/24 : it should be 10.0.1.0/24",
    ],
    [
      "gateway outside",
      { subnet: "10.0.1.0/24", gateway: "192.168.1.1" },
      "IPAM_GATEWAY_OUTSIDE",
      "no matching subnet for gateway 192.168.1.1",
    ],
    [
      "malformed gateway",
      { subnet: "10.0.1.0/24", gateway: "x" },
      "IPAM_INVALID_ADDRESS",
      "invalid IP address: x",
    ],
    [
      "gateway on the network address",
      { subnet: "10.0.1.0/24", gateway: "10.0.1.0" },
      "IPAM_ADDRESS_IN_USE",
      "failed to allocate gateway (10.0.1.0): Address already in use (the network address)",
    ],
    [
      "gateway on the broadcast address",
      { subnet: "10.0.1.0/24", gateway: "10.0.1.255" },
      "IPAM_ADDRESS_IN_USE",
      "failed to allocate gateway (10.0.1.255): Address already in use (the broadcast address)",
    ],
    [
      "ip-range outside",
      { subnet: "10.0.1.0/24", ipRange: "10.9.0.0/24" },
      "IPAM_RANGE_OUTSIDE",
      "no matching subnet for range 10.9.0.0/24",
    ],
    [
      "ip-range larger than the subnet",
      { subnet: "10.0.1.0/24", ipRange: "10.0.0.0/16" },
      "IPAM_RANGE_OUTSIDE",
      "no matching subnet for range 10.0.0.0/16",
    ],
    [
      "ip-range with host bits",
      { subnet: "10.0.1.0/24", ipRange: "10.0.1.5/25" },
      "IPAM_INVALID_CIDR",
      "invalid ip-range 10.0.1.5/25 : it should be 10.0.1.0/25",
    ],
    [
      "aux-address outside",
      { subnet: "10.0.1.0/24", auxAddresses: { h: "10.9.0.5" } },
      "IPAM_AUX_OUTSIDE",
      "no matching subnet for aux-address 10.9.0.5",
    ],
    [
      "malformed aux-address",
      { subnet: "10.0.1.0/24", auxAddresses: { h: "10.0.1.256" } },
      "IPAM_INVALID_ADDRESS",
      "invalid IP address: 10.0.1.256",
    ],
    [
      "aux-address on the gateway",
      { subnet: "10.0.1.0/24", auxAddresses: { host1: "10.0.1.1" } },
      "IPAM_ADDRESS_IN_USE",
      "failed to allocate secondary ip address (host1:10.0.1.1): Address already in use (the gateway)",
    ],
    [
      "two aux-addresses on one address",
      { subnet: "10.0.1.0/24", auxAddresses: { a: "10.0.1.9", b: "10.0.1.9" } },
      "IPAM_ADDRESS_IN_USE",
      'failed to allocate secondary ip address (b:10.0.1.9): Address already in use (aux-address "a")',
    ],
  ];
  for (const [name, opts, code, message] of cases) {
    it(name, () => assert.throws(() => new AddressPool(opts), { code, message }));
  }
});

describe("AddressPool: operation errors", () => {
  const make = () => new AddressPool({ subnet: "10.0.1.0/24", label: "ov1" });

  it("allocateSpecific", () => {
    const pool = make();
    pool.allocateSpecific("10.0.1.50");
    assert.ok(pool.isAllocated("10.0.1.50"));
    assert.throws(() => pool.allocateSpecific("10.0.1.50"), {
      code: "IPAM_ADDRESS_IN_USE",
      message: 'Address already in use: 10.0.1.50 on network "ov1"',
    });
    assert.throws(() => pool.allocateSpecific("10.0.1.1"), {
      code: "IPAM_ADDRESS_IN_USE",
      message: 'Address already in use: 10.0.1.1 on network "ov1" (the gateway)',
    });
    assert.throws(() => pool.allocateSpecific("10.0.1.255"), {
      message: 'Address already in use: 10.0.1.255 on network "ov1" (the broadcast address)',
    });
    assert.throws(() => pool.allocateSpecific("10.9.0.5"), {
      code: "IPAM_ADDRESS_OUTSIDE",
      message: "no configured subnet contains IP address 10.9.0.5",
    });
    assert.throws(() => pool.allocateSpecific("10.0.1.x"), {
      code: "IPAM_INVALID_ADDRESS",
      message: "invalid IP address: 10.0.1.x",
    });
    assert.equal(pool.inUse, 1);
  });

  it("release never double-frees", () => {
    const pool = make();
    const ip = pool.allocate();
    pool.release(ip);
    assert.throws(() => pool.release(ip), {
      code: "IPAM_NOT_ALLOCATED",
      message: `cannot release ${ip} on network "ov1": it is not allocated`,
    });
    assert.throws(() => pool.release("10.0.1.1"), {
      code: "IPAM_NOT_ALLOCATED",
      message:
        'cannot release 10.0.1.1 on network "ov1": it is the gateway, not an allocated address',
    });
    assert.throws(() => pool.release("10.0.2.1"), {
      code: "IPAM_NOT_ALLOCATED",
      message: 'cannot release 10.0.2.1 on network "ov1": it is outside 10.0.1.0/24',
    });
    assert.throws(() => pool.release("nope"), { code: "IPAM_INVALID_ADDRESS" });
    assert.equal(pool.inUse, 0);
  });

  it("reserve is idempotent but refuses reserved and outside addresses", () => {
    const pool = make();
    pool.reserve("10.0.1.7");
    pool.reserve("10.0.1.7");
    assert.equal(pool.inUse, 1);
    assert.ok(pool.isAllocated("10.0.1.7"));
    assert.throws(() => pool.reserve("10.0.1.1"), {
      code: "IPAM_ADDRESS_IN_USE",
      message: 'Address already in use: 10.0.1.1 on network "ov1" (the gateway)',
    });
    assert.throws(() => pool.reserve("10.0.2.1"), { code: "IPAM_ADDRESS_OUTSIDE" });
    pool.release("10.0.1.7");
    assert.equal(pool.inUse, 0);
  });

  it("refills a /16 completely after releasing everything", () => {
    const pool = new AddressPool({ subnet: "10.1.0.0/16" });
    const first = allocateAll(pool);
    assert.equal(first.length, 65533);
    assert.equal(new Set(first).size, 65533);
    for (const ip of first) pool.release(ip);
    assert.equal(pool.inUse, 0);
    assert.equal(allocateAll(pool).length, 65533);
  });
});

// ---------------------------------------------------------------------------
// Property tests against a model.

interface Config {
  opts: AddressPoolOptions;
  base: number;
  size: number;
  /** Allocation range as offsets from base, inclusive. */
  lo: number;
  hi: number;
  /** Gateway offset. */
  gw: number;
  reserved: Set<number>;
}

/** Random valid configurations, built so that the reserved set is known independently. */
const config: fc.Arbitrary<Config> = fc
  .record({
    prefix: fc.integer({ min: 20, max: 32 }),
    ip: fc.nat({ max: 0xffffffff }),
    gateway: fc.option(fc.nat()),
    range: fc.option(fc.record({ extra: fc.nat({ max: 8 }), k: fc.nat() })),
    aux: fc.array(fc.nat(), { maxLength: 4 }),
  })
  .map(({ prefix, ip, gateway, range, aux }) => {
    const base = networkAddress({ base: ip, prefix });
    const size = cidrSize({ base, prefix });
    const reserved = new Set<number>();
    const nb = prefix <= 30;
    if (nb) reserved.add(0).add(size - 1);
    let gw = nb ? 1 : 0;
    const opts: AddressPoolOptions = { subnet: formatCidr({ base, prefix }), label: "p" };
    if (gateway !== null && !reserved.has(gateway % size)) {
      gw = gateway % size;
      opts.gateway = formatIp(base + gw);
    }
    reserved.add(gw);
    let lo = 0;
    let hi = size - 1;
    if (range !== null) {
      const rPrefix = Math.min(32, prefix + range.extra);
      const rSize = 2 ** (32 - rPrefix);
      lo = (range.k % (size / rSize)) * rSize;
      hi = lo + rSize - 1;
      opts.ipRange = formatCidr({ base: base + lo, prefix: rPrefix });
    }
    const auxAddresses: Record<string, string> = {};
    aux.forEach((a, i) => {
      if (reserved.has(a % size)) return;
      reserved.add(a % size);
      auxAddresses[`h${i}`] = formatIp(base + (a % size));
    });
    opts.auxAddresses = auxAddresses;
    return { opts, base, size, lo, hi, gw, reserved };
  });

type Op =
  | { t: "alloc" }
  | { t: "releaseLive"; k: number }
  | { t: "release"; off: number }
  | { t: "specific"; off: number }
  | { t: "reserve"; off: number };

const offset = fc.nat();
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant({ t: "alloc" as const }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("releaseLive" as const), k: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("release" as const), off: offset }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("specific" as const), off: offset }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("reserve" as const), off: offset }) },
);

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    if (isIpamError(e)) return e.code;
    throw e;
  }
}

describe("AddressPool: properties", () => {
  it("matches a serial-allocation model: unique, in range, never reserved, exact counts", () => {
    fc.assert(
      fc.property(config, fc.array(op, { maxLength: 200 }), (cfg, ops) => {
        const pool = new AddressPool(cfg.opts);
        const { base, size, lo, hi, reserved } = cfg;
        let usable = 0;
        for (let o = lo; o <= hi; o++) if (!reserved.has(o)) usable++;
        assert.equal(pool.usable, usable);
        assert.equal(pool.gateway, formatIp(base + cfg.gw));

        const live = new Set<number>();
        let cursor = lo;
        const inRange = (o: number) => o >= lo && o <= hi;
        const liveInRange = () => [...live].filter(inRange).length;

        for (const o of ops) {
          if (o.t === "alloc") {
            // Model: first free offset from the cursor to hi, then from lo.
            let expect = -1;
            for (let i = 0; i <= hi - lo && expect < 0; i++) {
              const cand = lo + ((cursor - lo + i) % (hi - lo + 1));
              if (!reserved.has(cand) && !live.has(cand)) expect = cand;
            }
            if (expect < 0) {
              assert.equal(
                codeOf(() => pool.allocate()),
                "IPAM_EXHAUSTED",
              );
            } else {
              const ip = pool.allocate();
              const off = parseIp(ip) - base;
              // (a) unique, (b) inside the range and never reserved
              assert.ok(!live.has(off), `duplicate ${ip}`);
              assert.ok(inRange(off) && !reserved.has(off), `bad address ${ip}`);
              assert.equal(off, expect, "serial order");
              live.add(off);
              cursor = off === hi ? lo : off + 1;
            }
          } else if (o.t === "releaseLive") {
            if (live.size === 0) continue;
            const off = [...live][o.k % live.size]!;
            pool.release(formatIp(base + off));
            live.delete(off);
          } else {
            // Mostly inside the subnet, sometimes just outside it.
            const off = (o.off % (size + 4)) - 2;
            const outside = off < 0 || off >= size;
            if (base + off < 0 || base + off > 0xffffffff) continue;
            const ip = formatIp(base + off);
            const code = codeOf(() =>
              o.t === "release"
                ? pool.release(ip)
                : o.t === "specific"
                  ? pool.allocateSpecific(ip)
                  : pool.reserve(ip),
            );
            if (o.t === "release") {
              assert.equal(code, live.has(off) ? undefined : "IPAM_NOT_ALLOCATED");
              live.delete(off);
            } else if (outside) {
              assert.equal(code, "IPAM_ADDRESS_OUTSIDE");
            } else if (reserved.has(off)) {
              assert.equal(code, "IPAM_ADDRESS_IN_USE");
            } else if (live.has(off)) {
              assert.equal(code, o.t === "reserve" ? undefined : "IPAM_ADDRESS_IN_USE");
            } else {
              assert.equal(code, undefined);
              live.add(off);
            }
          }
          assert.equal(pool.inUse, live.size);
          assert.equal(pool.available, usable - liveInRange());
        }
        for (const off of live) assert.ok(pool.isAllocated(formatIp(base + off)));
        for (const off of reserved) assert.ok(pool.isReserved(formatIp(base + off)));

        // (c) release everything: nothing leaks, and exactly `usable` addresses come back.
        for (const off of live) pool.release(formatIp(base + off));
        assert.equal(pool.inUse, 0);
        assert.equal(pool.available, usable);
        const again = allocateAll(pool);
        assert.equal(again.length, usable);
        assert.equal(new Set(again).size, usable);
        assert.equal(
          codeOf(() => pool.allocate()),
          "IPAM_EXHAUSTED",
        );
      }),
      { numRuns: 300 },
    );
  });
});
