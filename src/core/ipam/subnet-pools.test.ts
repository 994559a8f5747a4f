import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { isIpamError } from "./errors.ts";
import { type Cidr, cidrSize, formatCidr, networkAddress, overlaps, parseCidr } from "./ipv4.ts";
import { checkNoOverlap, SubnetPools } from "./subnet-pools.ts";

const EXHAUSTED =
  "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network";

describe("SubnetPools: Docker Swarm behaviour", () => {
  it("ingress gets 10.0.0.0/24, then overlays 10.0.1.0/24, 10.0.2.0/24; a freed subnet comes back", () => {
    const pools = new SubnetPools();
    assert.deepEqual(pools.pools, ["10.0.0.0/8"]);
    assert.equal(pools.maskLength, 24);
    const inUse: string[] = [];
    const ingress = pools.allocate(inUse);
    assert.equal(ingress, "10.0.0.0/24");
    inUse.push(ingress);
    const ov1 = pools.allocate(inUse);
    assert.equal(ov1, "10.0.1.0/24");
    inUse.push(ov1);
    const ov2 = pools.allocate(inUse);
    assert.equal(ov2, "10.0.2.0/24");
    inUse.push(ov2);
    inUse.splice(inUse.indexOf(ov1), 1); // remove ov1's network
    assert.equal(pools.allocate(inUse), "10.0.1.0/24");
  });

  it("skips user-chosen subnets of any size", () => {
    const pools = new SubnetPools();
    assert.equal(pools.allocate(["10.0.0.0/24", "10.0.1.0/24"]), "10.0.2.0/24");
    assert.equal(pools.allocate(["10.0.0.0/16"]), "10.1.0.0/24");
    assert.equal(pools.allocate(["10.0.0.5/32", "10.0.1.128/25"]), "10.0.2.0/24");
    assert.throws(() => pools.allocate(["0.0.0.0/1"]), { code: "IPAM_POOL_EXHAUSTED" });
    assert.equal(pools.allocate(["192.168.0.0/16", "172.16.0.0/12"]), "10.0.0.0/24");
    // Unsorted, nested and duplicated entries, as strings (host bits allowed) or Cidrs.
    assert.equal(
      pools.allocate([
        "10.0.2.0/24",
        "10.0.0.0/23",
        "10.0.0.7/24",
        parseCidr("10.0.3.0/24"),
        "10.0.2.0/24",
      ]),
      "10.0.4.0/24",
    );
  });

  it("walks pools in order, then addresses", () => {
    const pools = new SubnetPools({ pools: ["10.10.0.0/24", "10.20.0.0/16"], maskLength: 24 });
    assert.equal(pools.allocate([]), "10.10.0.0/24");
    assert.equal(pools.allocate(["10.10.0.0/24"]), "10.20.0.0/24");
    assert.equal(pools.allocate(["10.10.0.0/24", "10.20.0.0/24"]), "10.20.1.0/24");
    assert.equal(pools.allocate(["10.20.0.0/24"]), "10.10.0.0/24");
  });

  it("reports exhaustion with Docker's wording", () => {
    const pools = new SubnetPools({ pools: ["10.0.0.0/23"], maskLength: 24 });
    assert.throws(() => pools.allocate(["10.0.0.0/24", "10.0.1.0/24"]), {
      code: "IPAM_POOL_EXHAUSTED",
      message: EXHAUSTED,
    });
  });

  it("handles the /0 pool and the last block of the address space", () => {
    const pools = new SubnetPools({ pools: ["0.0.0.0/0"], maskLength: 1 });
    assert.equal(pools.allocate([]), "0.0.0.0/1");
    assert.equal(pools.allocate(["0.0.0.0/1"]), "128.0.0.0/1");
    assert.throws(() => pools.allocate(["0.0.0.0/1", "255.255.255.255/32"]), {
      code: "IPAM_POOL_EXHAUSTED",
    });
    const top = new SubnetPools({ pools: ["255.255.255.0/24"], maskLength: 29 });
    assert.equal(
      top.allocate([
        "255.255.255.0/25",
        "255.255.255.128/26",
        "255.255.255.192/27",
        "255.255.255.224/28",
        "255.255.255.240/29",
      ]),
      "255.255.255.248/29",
    );
  });

  it("stays correct with 10,000 subnets in use", () => {
    const pools = new SubnetPools();
    const inUse: string[] = [];
    for (let i = 0; i < 10_000; i++) inUse.push(`10.${i >> 8}.${i & 255}.0/24`);
    assert.equal(pools.allocate(inUse), "10.39.16.0/24");
    inUse.splice(5000, 1);
    assert.equal(pools.allocate(inUse.reverse()), "10.19.136.0/24");
  });

  it("rejects invalid in-use entries", () => {
    assert.throws(() => new SubnetPools().allocate(["10.0.0.0/33"]), {
      code: "IPAM_INVALID_CIDR",
      message: "invalid CIDR address: 10.0.0.0/33",
    });
  });
});

describe("SubnetPools: configuration errors", () => {
  const cases: [string, () => unknown, string, string][] = [
    [
      "no pools",
      () => new SubnetPools({ pools: [] }),
      "IPAM_INVALID_POOL",
      "no default address pools given",
    ],
    [
      "mask too long",
      () => new SubnetPools({ maskLength: 30 }),
      "IPAM_INVALID_POOL",
      "invalid subnet size: 30 (the default address pool mask length must be an integer between 0 and 29)",
    ],
    [
      "mask not an integer",
      () => new SubnetPools({ maskLength: 24.5 }),
      "IPAM_INVALID_POOL",
      "invalid subnet size: 24.5 (the default address pool mask length must be an integer between 0 and 29)",
    ],
    [
      "mask shorter than a pool's prefix",
      () => new SubnetPools({ pools: ["10.0.0.0/8", "10.20.0.0/16"], maskLength: 12 }),
      "IPAM_INVALID_POOL",
      "invalid subnet size: /12 subnets do not fit in default address pool 10.20.0.0/16",
    ],
    [
      "malformed pool",
      () => new SubnetPools({ pools: ["10.0.0.0/33"] }),
      "IPAM_INVALID_CIDR",
      "invalid CIDR address: 10.0.0.0/33",
    ],
    [
      "pool with host bits",
      () => new SubnetPools({ pools: ["10.0.0.5/8"] }),
      "IPAM_INVALID_CIDR",
      "invalid default address pool 10.0.0.5/8 : it should be 10.0.0.0/8",
    ],
  ];
  for (const [name, fn, code, message] of cases) {
    it(name, () => assert.throws(fn, { code, message }));
  }
});

describe("checkNoOverlap", () => {
  const existing = [
    { name: "ingress", subnet: "10.0.0.0/24" },
    { name: "big", subnet: "172.16.0.0/16" },
  ];

  it("passes a subnet that overlaps nothing", () => {
    checkNoOverlap("10.0.1.0/24", existing);
    checkNoOverlap(parseCidr("192.168.0.0/16"), existing);
    checkNoOverlap("10.0.0.0/8", []);
  });

  it("throws Docker's message and names the conflicting network", () => {
    for (const [candidate, name, subnet] of [
      ["10.0.0.0/24", "ingress", "10.0.0.0/24"],
      ["10.0.0.0/8", "ingress", "10.0.0.0/24"], // candidate contains an existing subnet
      ["172.16.5.0/24", "big", "172.16.0.0/16"], // existing contains the candidate
    ]) {
      assert.throws(
        () => checkNoOverlap(candidate!, existing),
        (e: unknown) => {
          assert.ok(isIpamError(e, "IPAM_OVERLAP"));
          assert.equal(e.message, "Pool overlaps with other one on this address space");
          assert.deepEqual(e.details, { network: name, subnet });
          return true;
        },
      );
    }
  });
});

// ---------------------------------------------------------------------------
// Property (d): the lowest non-overlapping block, against brute force.

function bruteForce(pools: Cidr[], mask: number, inUse: Cidr[]): string | undefined {
  const bs = 2 ** (32 - mask);
  for (const pool of pools) {
    for (let b = pool.base; b + bs - 1 <= pool.base + cidrSize(pool) - 1; b += bs) {
      const cand = { base: b, prefix: mask };
      if (!inUse.some((u) => overlaps(u, cand))) return formatCidr(cand);
    }
  }
  return undefined;
}

const AREA = 0x0a000000; // 10.0.0.0; everything below lives in 10.0.0.0/19
const block = (minPrefix: number, maxPrefix: number) =>
  fc
    .record({
      prefix: fc.integer({ min: minPrefix, max: maxPrefix }),
      off: fc.nat({ max: 2 ** 13 - 1 }),
    })
    .map(({ prefix, off }) => ({ base: networkAddress({ base: AREA + off, prefix }), prefix }));

describe("SubnetPools: properties", () => {
  it("returns the lowest free block overlapping nothing in use (vs brute force)", () => {
    fc.assert(
      fc.property(
        // Pools must not overlap each other (the constructor refuses that).
        fc
          .array(block(20, 27), { minLength: 1, maxLength: 3 })
          .filter((ps) => ps.every((p, i) => ps.slice(i + 1).every((q) => !overlaps(p, q)))),
        fc.integer({ min: 0, max: 2 }),
        fc.array(block(18, 32), { maxLength: 14 }),
        // Blocks anywhere in the address space, so the sort sees every byte vary.
        fc.array(
          fc
            .tuple(fc.nat({ max: 0xffffffff }), fc.integer({ min: 4, max: 32 }))
            .map(([ip, prefix]) => ({ base: networkAddress({ base: ip, prefix }), prefix })),
          { maxLength: 6 },
        ),
        (pools, extra, near, far) => {
          const inUse = [...far.slice(0, 3), ...near, ...far.slice(3)];
          const maxPrefix = Math.max(...pools.map((p) => p.prefix));
          const mask = Math.min(29, maxPrefix + extra);
          const sp = new SubnetPools({ pools: pools.map(formatCidr), maskLength: mask });
          const expected = bruteForce(pools, mask, inUse);
          const run = (list: readonly (Cidr | string)[]) => {
            try {
              return sp.allocate(list);
            } catch (e) {
              if (isIpamError(e, "IPAM_POOL_EXHAUSTED")) return undefined;
              throw e;
            }
          };
          assert.equal(run(inUse), expected);
          assert.equal(run(inUse.map(formatCidr).reverse()), expected);
          if (expected !== undefined) {
            const got = parseCidr(expected);
            assert.ok(!inUse.some((u) => overlaps(u, got)));
            assert.ok(pools.some((p) => overlaps(p, got)));
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe("SubnetPools: pool checks", () => {
  it("refuses default pools that overlap each other", () => {
    assert.throws(() => new SubnetPools({ pools: ["10.0.0.0/8", "10.1.0.0/16"] }), {
      code: "IPAM_INVALID_POOL",
      message: "invalid default address pools: 10.0.0.0/8 overlaps 10.1.0.0/16",
    });
  });
});
