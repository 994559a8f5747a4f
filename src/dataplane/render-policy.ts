// Network policy in a task or container sandbox: a filter chain per direction
// whose allow list is an interval set, so a policy change is a few element
// steps (diff-nft.ts), never a rewritten chain. Pure.
//
// Stateful by decision: `ct state established,related accept` comes first, so
// replies to allowed connections pass without a reverse rule, ICMP errors
// about allowed flows (related) pass, and a connection established before a
// policy started denying it keeps working until it ends. Only new connections
// are judged by the sets. Cutting established connections would need conntrack
// flushing per peer on every policy change; swarmnet does not do that.
//
// Egress runs at filter output (priority 0), after the VIP DNAT of
// render-services.ts (nat output, -100): `ip daddr` is the chosen backend's
// address, not the VIP.
import { DataplaneError } from "./errors.ts";
import type { NftChain, NftMap } from "./kernel-state.ts";

/** One direction's allow list, as set elements in nft's printed form
 * (nft-fixtures.ts, POLICY_ELEMENTS). */
export interface PolicyDirection {
  /** `ipv4_addr . inet_proto . inet_service` elements for TCP and UDP:
   * "10.0.1.5 . tcp . 80", "10.0.1.0/24 . udp . 0-65535". */
  ports: string[];
  /** `ipv4_addr . inet_proto` elements for protocols without ports:
   * "10.0.1.5 . icmp". Never tcp or udp: such an element would let every port
   * of that peer through, bypassing `ports`. */
  other: string[];
}

export interface SandboxPolicy {
  /** undefined: inbound traffic is not filtered. */
  ingress?: PolicyDirection;
  /** undefined: outbound traffic is not filtered. */
  egress?: PolicyDirection;
}

/** Set names per direction; the base chains are `ingress` and `egress`. */
export const POLICY_SETS = {
  ingress: { ports: "policy-in", other: "policy-in-other" },
  egress: { ports: "policy-out", other: "policy-out-other" },
} as const;

const PORT_PROTOS = new Set(["tcp", "udp", "6", "17"]);

/** The base chain's rules, as nft prints them (verified in linux/policy.test.ts). */
export function policyRules(dir: "ingress" | "egress"): string[] {
  const sets = POLICY_SETS[dir];
  const addr = dir === "ingress" ? "ip saddr" : "ip daddr";
  const lo = dir === "ingress" ? 'iifname "lo" accept' : 'oifname "lo" accept';
  return [
    "ct state established,related accept",
    "ct state invalid drop",
    // The sandbox's own loopback, including Docker's DNS at 127.0.0.11.
    lo,
    // th dport is only meaningful for TCP/UDP; the protocol is part of the
    // key, so an ICMP packet never matches a tcp/udp element by its bytes.
    `${addr} . meta l4proto . th dport @${sets.ports} accept`,
    `${addr} . meta l4proto @${sets.other} accept`,
    "drop",
  ];
}

function directionObjects(
  dir: "ingress" | "egress",
  d: PolicyDirection,
): { chain: NftChain; maps: NftMap[] } {
  const sets = POLICY_SETS[dir];
  for (const e of d.other) {
    const proto = e.split(" . ")[1]?.trim();
    if (proto === undefined || PORT_PROTOS.has(proto)) {
      throw new DataplaneError(
        "DP_RENDER_INPUT",
        `policy ${dir}: "${e}" in the other set must name a protocol other than tcp/udp`,
      );
    }
  }
  const set = (name: string, type: string, elements: string[]): NftMap => ({
    name,
    type,
    flags: ["interval"],
    elements: Object.fromEntries(elements.map((e) => [e, ""])),
  });
  return {
    chain: {
      name: dir,
      type: "filter",
      hook: dir === "ingress" ? "input" : "output",
      priority: "filter",
      policy: "accept",
      rules: policyRules(dir),
    },
    maps: [
      set(sets.ports, "ipv4_addr . inet_proto . inet_service", d.ports),
      set(sets.other, "ipv4_addr . inet_proto", d.other),
    ],
  };
}

/** Chains and sets enforcing `p` in one sandbox; nothing for an absent direction. */
export function policyChains(p: SandboxPolicy): { chains: NftChain[]; maps: NftMap[] } {
  const chains: NftChain[] = [];
  const maps: NftMap[] = [];
  for (const dir of ["egress", "ingress"] as const) {
    const d = p[dir];
    if (!d) continue;
    const o = directionObjects(dir, d);
    chains.push(o.chain);
    maps.push(...o.maps);
  }
  return { chains, maps };
}
