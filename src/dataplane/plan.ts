// A plan: the ordered steps that turn observed kernel state into desired
// state. Steps are data (linux/commands.ts turns them into command lines), each
// with the phase it belongs to and a human reason, flannel's "ensure*" way.
//
// Phases run one after the other; inside a phase, the steps of different
// namespaces do not depend on each other, so linux/apply.ts runs one process
// per (tool, namespace) per phase, in parallel.
import type {
  FdbEntry,
  Link,
  NeighEntry,
  NftChain,
  NftMap,
  NsRef,
  Route,
  Rule,
} from "./kernel-state.ts";

export const PHASES = [
  /** Devices whose immutable attributes differ (kind, VNI, veth peer): deleted before re-creation. */
  "prune",
  "create-namespaces",
  "create-links",
  /** MTU, MAC, master, isolation, addresses, up, then routes, rules, neighbours, FDB. */
  "configure",
  /** swarmnet's nftables tables (one transaction per namespace), ip_forward and rp_filter. */
  "firewall",
  "remove-entries",
  "remove-links",
  "remove-namespaces",
] as const;
export type Phase = (typeof PHASES)[number];

export type Op =
  | { kind: "ns-add"; ns: NsRef }
  | { kind: "ns-del"; ns: NsRef }
  /** veth pairs are created from their bridge-port end (`link.peer` says where the
   * other end goes); a VXLAN device is created in `link.vxlan.underlay` straight
   * into `ns`, so its UDP socket stays in the underlay namespace. */
  | { kind: "link-add"; ns: NsRef; link: Link }
  | { kind: "link-del"; ns: NsRef; name: string }
  | { kind: "link-mtu"; ns: NsRef; name: string; mtu: number }
  /** `down`: the device is up and must be down while its MAC changes. */
  | { kind: "link-mac"; ns: NsRef; name: string; mac: string; down: boolean }
  | { kind: "link-alias"; ns: NsRef; name: string; alias: string }
  /** master null: leave the bridge. */
  | { kind: "link-master"; ns: NsRef; name: string; master: string | null }
  | { kind: "link-isolated"; ns: NsRef; name: string; isolated: boolean }
  | { kind: "link-up"; ns: NsRef; name: string; up: boolean }
  | { kind: "addr-add"; ns: NsRef; dev: string; cidr: string }
  | { kind: "addr-del"; ns: NsRef; dev: string; cidr: string }
  | { kind: "route-replace"; ns: NsRef; route: Route }
  | { kind: "route-del"; ns: NsRef; route: Route }
  | { kind: "rule-add"; ns: NsRef; rule: Rule }
  | { kind: "rule-del"; ns: NsRef; rule: Rule }
  | { kind: "neigh-replace"; ns: NsRef; entry: NeighEntry }
  | { kind: "neigh-del"; ns: NsRef; entry: NeighEntry }
  | { kind: "fdb-replace"; ns: NsRef; entry: FdbEntry }
  | { kind: "fdb-del"; ns: NsRef; entry: FdbEntry }
  | ({ kind: "nft-table-add" } & NftRef)
  | ({ kind: "nft-table-del" } & NftRef)
  /** An empty chain (with its hook, if a base chain); its rules follow as nft-chain-rules. */
  | ({ kind: "nft-chain-add"; chain: NftChain } & NftRef)
  /** Drops a chain's rules, so what they reference can be deleted (or re-created) next. */
  | ({ kind: "nft-chain-flush"; chain: string } & NftRef)
  /** The chain's rules, after a flush when it had others. */
  | ({ kind: "nft-chain-rules"; chain: NftChain; flush: boolean } & NftRef)
  /** `delete chain`: diff puts an nft-chain-flush before it when the chain has rules. */
  | ({ kind: "nft-chain-del"; chain: string } & NftRef)
  /** An empty map or set; its elements follow as nft-element-add. */
  | ({ kind: "nft-map-add"; map: NftMapType } & NftRef)
  | ({ kind: "nft-map-del"; map: NftMapType } & NftRef)
  /** value "": an element of a set. */
  | ({ kind: "nft-element-add"; map: string; key: string; value: string } & NftRef)
  | ({ kind: "nft-element-del"; map: string; key: string } & NftRef)
  | { kind: "forwarding"; ns: NsRef; on: boolean }
  /** net.ipv4.conf.all.rp_filter. */
  | { kind: "rp-filter"; ns: NsRef; value: 0 | 1 | 2 };

/** The table an nft step works on. Every nft step of one namespace and phase
 * runs in one `nft -f -` transaction, in plan order. */
export interface NftRef {
  ns: NsRef;
  family: "ip";
  table: string;
}

export type NftMapType = Omit<NftMap, "elements">;

export type Step = Op & { phase: Phase; reason: string };

export interface Plan {
  /** In phase order. Empty when observed already is desired. */
  steps: Step[];
}

/** Collects steps per phase and returns them in phase order. */
export class PlanBuilder {
  private readonly byPhase = new Map<Phase, Step[]>(PHASES.map((p) => [p, []]));
  add(phase: Phase, reason: string, op: Op): void {
    this.byPhase.get(phase)!.push({ ...op, phase, reason });
  }
  build(): Plan {
    return { steps: PHASES.flatMap((p) => this.byPhase.get(p)!) };
  }
}

/** One line per step, for logs and test failures. */
export function describePlan(plan: Plan, limit = 50): string {
  // A policy change can be 10,000 element steps: the log keeps the first
  // ones and says how many more, not a line per element.
  const lines = plan.steps.slice(0, limit).map((s) => `${s.phase}: ${s.reason}`);
  if (plan.steps.length > limit) lines.push(`… and ${plan.steps.length - limit} more`);
  return lines.join("\n");
}
