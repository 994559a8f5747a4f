// nftables tables for data-plane tests: a sandbox's VIP table (a verdict map
// from VIP to one chain per service) at any size, and one table with every
// rule form render writes, each in the text nft prints back. Used by the unit
// tests and the root tests in linux/.
import { byName, type NftChain, type NftTable } from "./kernel-state.ts";
import { NFT_TABLE } from "./names.ts";

export interface VipService {
  /** 12 hex characters: the chain is `svc-<id>`. */
  id: string;
  vip: string;
  backends: string[];
}

/** A service chain's rule, as nft prints it. */
export function serviceRule(backends: string[]): string {
  if (backends.length === 0) return "reject";
  if (backends.length === 1) return `dnat to ${backends[0]}`;
  const map = backends.map((b, i) => `${i} : ${b}`).join(", ");
  return `dnat to numgen random mod ${backends.length} map { ${map} }`;
}

/** A sandbox's table: nat output (priority -100: nft refuses "dstnat" for
 * output) → `vips` → `svc-<id>`. */
export function vipTable(services: VipService[]): NftTable {
  const chains: NftChain[] = [
    {
      name: "output",
      type: "nat",
      hook: "output",
      priority: "-100",
      policy: "accept",
      rules: ["ip daddr vmap @vips"],
    },
    ...services.map((s) => ({ name: `svc-${s.id}`, rules: [serviceRule(s.backends)] })),
  ];
  return {
    family: "ip",
    name: NFT_TABLE,
    chains: chains.sort(byName),
    maps: [
      {
        name: "vips",
        type: "ipv4_addr",
        map: "verdict",
        elements: Object.fromEntries(services.map((s) => [s.vip, `goto svc-${s.id}`])),
      },
    ],
  };
}

/** n services with ids from their index: VIP 10.<i>, two backends each. */
export function manyServices(n: number): VipService[] {
  return Array.from({ length: n }, (_, i) => {
    const hi = 1 + (i >> 8);
    const lo = i & 255;
    return {
      id: i.toString(16).padStart(12, "0"),
      vip: `10.0.${hi}.${lo}`,
      backends: [`10.1.${hi}.${lo}`, `10.2.${hi}.${lo}`],
    };
  });
}

/** Every rule form, in nft's canonical text: what render writes and what
 * `nft list` prints back, verified on nftables 1.0.6 (linux/nft.test.ts). */
export const CANONICAL_RULES = {
  vipMap: "ip daddr vmap @vips",
  dnatMany: "dnat to numgen random mod 2 map { 0 : 10.0.1.5, 1 : 10.0.1.6 }",
  dnatOne: "dnat to 10.0.1.5",
  dnatPortMany:
    "meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.0.0.5 . 80, 1 : 10.0.0.6 . 80 }",
  // Not "dnat ip to 10.0.0.5 . 80": nft 1.0.6 refuses that; it takes
  // "dnat ip addr . port to 10.0.0.5 . 80" and prints it like this.
  dnatPortOne: "meta l4proto tcp dnat to 10.0.0.5:80",
  reject: "reject",
  // Not "meta l4proto tcp reject with tcp reset": nft adds the protocol match
  // itself and leaves it out when printing.
  rejectTcp: "reject with tcp reset",
  published: "fib daddr type local meta l4proto . th dport vmap @published",
  publishedFromGw: 'iifname "gw0" meta l4proto . th dport vmap @published',
  masquerade: 'ip saddr 172.18.0.0/16 oifname != "docker_gwbridge" masquerade',
  dnatReplies: 'oifname "docker_gwbridge" ct status dnat accept',
  // The routing mesh in a task sandbox (render-mesh.ts). Written as nft prints
  // them: marks as eight hex digits (`0x2` and `2` come back as 0x00000002),
  // the anonymous map's elements sorted.
  meshMark:
    'iifname "eth0" ct state new ct mark set ether saddr map { 02:42:0a:ff:00:02 : 0x00000002, 02:42:0a:ff:00:03 : 0x00000003 }',
  meshDnat: 'iifname "eth0" meta l4proto udp ct mark != 0x00000000 dnat to 172.18.0.2',
  meshRoute: "ct mark != 0x00000000 meta mark set ct mark",
} as const;

/** A table using every canonical rule, base chains at each priority render
 * uses, a verdict map with a concatenated key, and a set. */
export function everyRuleTable(): NftTable {
  const r = CANONICAL_RULES;
  const base = (
    name: string,
    type: NftChain["type"],
    hook: NftChain["hook"],
    priority: string,
    rules: string[],
  ): NftChain => ({ name, type, hook, priority, policy: "accept", rules });
  return {
    family: "ip",
    name: NFT_TABLE,
    chains: [
      base("forward", "filter", "forward", "filter", [r.dnatReplies]),
      base("mesh-dnat", "nat", "prerouting", "dstnat", [r.meshDnat]),
      base("mesh-mark", "filter", "prerouting", "mangle", [r.meshMark]),
      base("mesh-route", "route", "output", "mangle", [r.meshRoute]),
      base("output", "nat", "output", "-100", [r.vipMap]),
      base("postrouting", "nat", "postrouting", "srcnat", [r.masquerade]),
      base("prerouting", "nat", "prerouting", "dstnat", [r.published, r.publishedFromGw]),
      { name: "pub-tcp-8080", rules: [r.dnatPortMany] },
      { name: "pub-tcp-8081", rules: [r.dnatPortOne] },
      { name: "svc-000000000001", rules: [r.dnatMany] },
      { name: "svc-000000000002", rules: [r.dnatOne] },
      { name: "svc-000000000003", rules: [r.reject] },
      { name: "svc-000000000004", rules: [r.rejectTcp] },
    ],
    maps: [
      {
        name: "locals",
        type: "ipv4_addr",
        elements: { "10.0.1.2": "", "10.0.1.3": "" },
      },
      {
        name: "published",
        type: "inet_proto . inet_service",
        map: "verdict",
        elements: { "tcp . 8080": "goto pub-tcp-8080", "tcp . 8081": "goto pub-tcp-8081" },
      },
      {
        name: "vips",
        type: "ipv4_addr",
        map: "verdict",
        elements: {
          "10.0.1.2": "goto svc-000000000001",
          "10.0.1.3": "goto svc-000000000002",
          "10.0.1.4": "goto svc-000000000003",
          "10.0.1.7": "jump svc-000000000004",
        },
      },
    ],
  };
}

/** Interval verdict-map keys (render-policy.ts) as written → as nft 1.0.6
 * prints them back (linux/nft.test.ts). The maps count per element (`counter`
 * in the declaration): nft prints `KEY counter packets N bytes M : VERDICT`,
 * and observe reads the key without the counter (parse.ts). Elements must be given in the printed form,
 * or observe never finds them and diff adds them forever: an address range
 * that is exactly a prefix prints as the prefix, a /32 as the bare address,
 * a one-port range "90-90" as "90". Elements of one set must not overlap:
 * "10.0.1.5 . tcp . 80" and "10.0.1.5 . tcp . 80-82" added in one transaction
 * fail with "File exists" (so 80-82 is shown here for 10.0.1.6). */
export const POLICY_ELEMENTS = {
  ports: {
    "10.0.1.5 . tcp . 80": "10.0.1.5 . tcp . 80",
    "10.0.1.6 . tcp . 80-82": "10.0.1.6 . tcp . 80-82",
    "10.0.1.0/24 . udp . 0-65535": "10.0.1.0/24 . udp . 0-65535",
    "10.0.0.8-10.0.0.11 . tcp . 443": "10.0.0.8/30 . tcp . 443",
    "10.0.0.20-10.0.0.22 . tcp . 443": "10.0.0.20-10.0.0.22 . tcp . 443",
    "10.0.3.5/32 . tcp . 91": "10.0.3.5 . tcp . 91",
    "10.0.2.5 . tcp . 90-90": "10.0.2.5 . tcp . 90",
  },
  other: {
    "10.0.1.5 . icmp": "10.0.1.5 . icmp",
    "0.0.0.0/0 . icmp": "0.0.0.0/0 . icmp",
  },
} as const;
