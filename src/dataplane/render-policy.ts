// Network policy in a task or container sandbox: a filter chain per direction
// whose decisions are a verdict map with a counter per element, so a policy
// change is a few element steps (diff-nft.ts), never a rewritten chain, and
// every element counts the packets and bytes it decided. Pure.
//
// Stateful by decision: `ct state established,related accept` comes first, so
// replies to allowed connections pass without a reverse rule, ICMP errors
// about allowed flows (related) pass, and a connection established before a
// policy started denying it keeps working until it ends. Only new connections
// are judged by the maps (and counted: an element counts the first packet of
// each connection it decided, not the connection's later traffic). Cutting
// established connections would need conntrack flushing per peer on every
// policy change; swarmnet does not do that.
//
// Egress runs at filter output (priority 0), after the VIP DNAT of
// render-services.ts (nat output, -100): `ip daddr` is the chosen backend's
// address, not the VIP.
//
// Logging. An element whose outcome needs no log maps straight to `accept` or
// `drop`; otherwise to `jump p{in,out}-log-<outcome index>`, a chain that logs
// (one statement per Calico Log rule matched before the deciding rule, and
// the deciding rule itself when it denies and denied packets are logged) and
// then accepts or drops. Each log statement is rate limited: Calico logs
// every packet, but a sandbox under a flood (or a scan of a denied port)
// would then write the kernel log as fast as packets arrive, through printk,
// for the whole machine. `limit rate 10/second burst 20 packets` per
// statement keeps evidence of every kind of packet while bounding the cost;
// the element counters still count every packet, logged or not.
import type { PolicyDirectionSets, PolicyOutcome, SandboxPolicySets } from "../core/node-view.ts";
import { DataplaneError } from "./errors.ts";
import type { Counter, NftChain, NftCounters, NftMap } from "./kernel-state.ts";

export type { PolicyDirectionSets, PolicyOutcome, SandboxPolicySets };

/** Map names per direction; the base chains are `ingress` and `egress`. */
export const POLICY_SETS = {
  ingress: { ports: "policy-in", other: "policy-in-other", log: "pin-log-" },
  egress: { ports: "policy-out", other: "policy-out-other", log: "pout-log-" },
} as const;

/** Every log statement's rate limit (see the top of this file). */
export const POLICY_LOG_LIMIT = "limit rate 10/second burst 20 packets";

/** nft refuses a log prefix over 127 bytes (verified on nft 1.0.6). */
export const LOG_PREFIX_MAX = 127;

/** What starts every log prefix swarmnet writes. */
export const LOG_PREFIX_TAG = "swarmnet";

/** The rule named in the end-of-tier log line. */
export const END_OF_TIER = "end-of-tier";

export interface PolicyRenderOptions {
  /** Task or container id: its first 12 characters name the sandbox in log lines. */
  owner: string;
  /** Log denied packets with the rule that denied them. */
  logDenied?: boolean;
}

const PORT_PROTOS = new Set(["tcp", "udp", "6", "17"]);

/** Log verdicts: `D`/`A` the deciding rule dropped/accepted the packet;
 * `LD`/`LA` a Log rule matched it, and it was then dropped/accepted. */
export type LogVerdict = "A" | "D" | "LA" | "LD";

/** A log prefix, as nft prints it inside its quotes: `swarmnet D 0123456789ab
 * back/big ingress[3]: `. The policy name is cut (ending in `~`) when the
 * whole would pass 127 bytes; quotes, backslashes and control characters
 * become `_` (nft cannot carry a `"` in a prefix). */
export function logPrefix(verdict: LogVerdict, owner: string, rule: string): string {
  const clean = rule.replace(/["\\\p{Cc}]/gu, "_");
  const head = `${LOG_PREFIX_TAG} ${verdict} ${owner.slice(0, 12)} `;
  const fits = (r: string) => Buffer.byteLength(`${head}${r}: `) <= LOG_PREFIX_MAX;
  if (fits(clean)) return `${head}${clean}: `;
  // "policy dir[n]": keep the rule part whole, shorten the policy name.
  const at = clean.lastIndexOf(" ");
  const tail = at < 0 ? "" : clean.slice(at);
  let name = at < 0 ? clean : clean.slice(0, at);
  while (name.length > 0 && !fits(`${name}~${tail}`)) name = name.slice(0, -1);
  return `${head}${name}~${tail}: `;
}

function logRule(verdict: LogVerdict, owner: string, rule: string): string {
  return `${POLICY_LOG_LIMIT} log prefix "${logPrefix(verdict, owner, rule)}"`;
}

/** Does this outcome need a chain of its own (a log statement)? */
function logs(o: PolicyOutcome, logDenied: boolean): boolean {
  return o.logs.length > 0 || (o.action === "drop" && logDenied);
}

/** The base chain's rules, as nft prints them (verified in linux/policy.test.ts). */
export function policyRules(dir: "ingress" | "egress", opts: PolicyRenderOptions): string[] {
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
    `${addr} . meta l4proto . th dport vmap @${sets.ports}`,
    `${addr} . meta l4proto vmap @${sets.other}`,
    // End of the tier: selected, no rule matched. The log is its own rule:
    // a limit that is over stops its rule, which must never skip the drop.
    ...(opts.logDenied ? [logRule("D", opts.owner, `${END_OF_TIER} ${dir}`)] : []),
    "counter drop",
  ];
}

function directionObjects(
  dir: "ingress" | "egress",
  d: PolicyDirectionSets,
  opts: PolicyRenderOptions,
): { chains: NftChain[]; maps: NftMap[] } {
  const sets = POLICY_SETS[dir];
  const logDenied = opts.logDenied === true;
  const bad = (msg: string) => new DataplaneError("DP_RENDER_INPUT", `policy ${dir}: ${msg}`);
  for (const e of Object.keys(d.other)) {
    const proto = e.split(" . ")[1]?.trim();
    if (proto === undefined || PORT_PROTOS.has(proto)) {
      throw bad(`"${e}" in the other set must name a protocol other than tcp/udp`);
    }
  }
  const verdict = (i: number, e: string): string => {
    const o = d.outcomes[i];
    if (!Number.isInteger(i) || o === undefined) throw bad(`"${e}" names no outcome (${i})`);
    return logs(o, logDenied) ? `jump ${sets.log}${i}` : o.action;
  };
  const map = (name: string, type: string, elements: Record<string, number>): NftMap => ({
    name,
    type,
    map: "verdict",
    flags: ["interval"],
    counter: true,
    elements: Object.fromEntries(Object.entries(elements).map(([e, i]) => [e, verdict(i, e)])),
  });
  const chains: NftChain[] = [
    {
      name: dir,
      type: "filter",
      hook: dir === "ingress" ? "input" : "output",
      priority: "filter",
      policy: "accept",
      rules: policyRules(dir, opts),
    },
  ];
  // Only outcomes some element uses get a chain: an unused chain would be harmless,
  // but every chain is a kernel object the diff has to carry.
  const used = new Set([...Object.values(d.ports), ...Object.values(d.other)]);
  d.outcomes.forEach((o, i) => {
    if (!used.has(i) || !logs(o, logDenied)) return;
    const after = o.action === "drop" ? "D" : "A";
    chains.push({
      name: `${sets.log}${i}`,
      rules: [
        ...o.logs.map((l) => logRule(`L${after}`, opts.owner, l)),
        ...(o.action === "drop" && logDenied ? [logRule("D", opts.owner, o.rule)] : []),
        o.action,
      ],
    });
  });
  return {
    chains,
    maps: [
      map(sets.ports, "ipv4_addr . inet_proto . inet_service", d.ports),
      map(sets.other, "ipv4_addr . inet_proto", d.other),
    ],
  };
}

/** Chains and maps enforcing `p` in one sandbox; nothing for an absent direction. */
export function policyChains(
  p: SandboxPolicySets,
  opts: PolicyRenderOptions,
): { chains: NftChain[]; maps: NftMap[] } {
  const chains: NftChain[] = [];
  const maps: NftMap[] = [];
  for (const dir of ["egress", "ingress"] as const) {
    const d = p[dir];
    if (!d) continue;
    const o = directionObjects(dir, d, opts);
    chains.push(...o.chains);
    maps.push(...o.maps);
  }
  return { chains, maps };
}

/** Packets and bytes per rule, summed over sandboxes (and, on the manager, over nodes). */
export interface RuleCounter extends Counter {
  /** As `explain` names it: "back/big ingress[3]". */
  rule: string;
}

/** A sandbox's end-of-tier drops in one direction. */
export interface EndOfTierCounter extends Counter {
  owner: string;
  direction: "ingress" | "egress";
}

export interface PolicyCounters {
  rules: RuleCounter[];
  endOfTier: EndOfTierCounter[];
}

/** Sums the observed element counters of every sandbox per rule. A rule's
 * count is the sum over the elements whose outcome it decided, plus, for a
 * Log rule, over the elements whose outcome it logged (it matched them too).
 * Elements the kernel does not hold (yet) count nothing. Pure. */
export function sumPolicyCounters(
  policies: Record<string, SandboxPolicySets>,
  counters: (owner: string) => NftCounters | undefined,
): PolicyCounters {
  const rules = new Map<string, Counter>();
  const add = (rule: string, c: Counter) => {
    const r = rules.get(rule) ?? { packets: 0, bytes: 0 };
    r.packets += c.packets;
    r.bytes += c.bytes;
    rules.set(rule, r);
  };
  const endOfTier: EndOfTierCounter[] = [];
  for (const owner of Object.keys(policies).sort()) {
    const seen = counters(owner);
    if (!seen) continue;
    for (const dir of ["ingress", "egress"] as const) {
      const d = policies[owner]![dir];
      if (!d) continue;
      const sets = POLICY_SETS[dir];
      for (const [name, elements] of [
        [sets.ports, d.ports],
        [sets.other, d.other],
      ] as const) {
        const got = seen.elements[name] ?? {};
        for (const [key, i] of Object.entries(elements)) {
          const c = Object.hasOwn(got, key) ? got[key] : undefined;
          const o = d.outcomes[i];
          if (!c || !o) continue;
          add(o.rule, c);
          for (const l of new Set(o.logs)) add(l, c);
        }
      }
      const drop = (seen.rules[dir] ?? []).find((r) => r.rule === "counter drop");
      if (drop) endOfTier.push({ owner, direction: dir, ...drop.counter });
    }
  }
  return {
    rules: [...rules]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([rule, c]) => ({ rule, ...c })),
    endOfTier,
  };
}
