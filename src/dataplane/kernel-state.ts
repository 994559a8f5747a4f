// The kernel state of one node, as plain data: what render() wants and what
// observe() finds, in the same shape so diff() can compare them. It holds only
// what swarmnet owns — its namespaces, and in the node's own namespace the
// gateway bridge and its ports, and in any of them swarmnet's nftables table
// and ip_forward — never anything else on the host.
//
// Fields marked "undefined: unmanaged" are left as the kernel has them when
// desired; observed state always fills them.

/** A network namespace: a name under /run/netns, or "" for the namespace the
 * calling process runs in. */
export type NsRef = string;

export type NsRole = "host" | "network" | "sandbox";

/** "other": observed devices of a kind swarmnet never makes (removed as strays). */
export type LinkKind = "bridge" | "vxlan" | "veth" | "loopback" | "other";

export interface VxlanAttrs {
  vni: number;
  /** UDP destination port (the cluster's data-path port). */
  port: number;
  /** This node's data-path address, the source of encapsulated packets. */
  local: string;
  /** Namespace of the device's UDP socket: the node's host namespace, where the
   * underlay is. Not observable reliably (the root namespace has no name), so
   * diff does not compare it. */
  underlay: NsRef;
  /** Always false/true when desired: static FDB, ARP answered from the neighbour table. */
  learning: boolean;
  proxy: boolean;
}

export interface Link {
  name: string;
  kind: LinkKind;
  /** undefined: unmanaged. */
  mtu?: number;
  /** lower-case hex; undefined: unmanaged. */
  mac?: string;
  up: boolean;
  /** IPv4 addresses in CIDR notation, sorted; undefined: unmanaged (lo). */
  addresses?: string[];
  /** Bridge this device is a port of (same namespace). */
  master?: string;
  /** Bridge port isolation (`bridge link set dev X isolated on`). undefined: unmanaged. */
  isolated?: boolean;
  /** ifalias; set only when swarmnet creates the device. */
  alias?: string;
  vxlan?: VxlanAttrs;
  /** veth only: the other end. Observed undefined when it cannot be resolved. */
  peer?: { ns: NsRef; name: string };
}

export interface Route {
  /** "default" or a CIDR. */
  dst: string;
  via: string;
  dev: string;
  /** Routing table number; undefined: the main table. */
  table?: number;
}

/** A policy-routing rule (`ip rule`): packets whose fwmark is `fwmark` look
 * up `table`. The kernel's own rules (local, main, default) are not listed. */
export interface Rule {
  priority: number;
  /** undefined: no fwmark selector (never rendered; an observed stray). */
  fwmark?: number;
  table: number;
}

/** Remote endpoint MAC → remote VTEP, `self permanent` on the VXLAN device. */
export interface FdbEntry {
  dev: string;
  mac: string;
  dst: string;
}

/** Remote endpoint IP → MAC, `nud permanent` on the VXLAN device (answered by `proxy`). */
export interface NeighEntry {
  dev: string;
  ip: string;
  mac: string;
}

export interface Namespace {
  name: NsRef;
  role: NsRole;
  /** Sorted by name. */
  links: Link[];
  /** Routes swarmnet adds, in any table (connected routes are the kernel's and not listed). */
  routes: Route[];
  /** Policy-routing rules swarmnet adds. Not read in the host namespace
   * (swarmnet adds none there): always empty for it. */
  rules: Rule[];
  fdb: FdbEntry[];
  neigh: NeighEntry[];
  /** swarmnet's table (`table ip swarmnet`) in this namespace; undefined:
   * absent. A namespace swarmnet deletes takes its table along. */
  nft?: NftTable;
  /** net.ipv4.ip_forward in this namespace. Desired undefined: unmanaged;
   * observed always set. */
  forwarding?: boolean;
  /** net.ipv4.conf.all.rp_filter in this namespace (0 off, 1 strict, 2 loose).
   * Desired undefined: unmanaged; observed always set (not in the host namespace). */
  rpFilter?: 0 | 1 | 2;
}

/** A base chain has all four of type, hook, priority and policy; a regular
 * chain (a jump/goto target) has none of them. */
export interface NftChain {
  name: string;
  type?: "filter" | "nat" | "route";
  hook?: "prerouting" | "input" | "forward" | "output" | "postrouting";
  /** As nft prints it: a keyword ("filter", "srcnat", "dstnat") or a number
   * ("-100": nft refuses the keyword dstnat for the output hook). */
  priority?: string;
  policy?: "accept" | "drop";
  /** Rule bodies exactly as `nft list` prints them, so observed and desired compare as text. */
  rules: string[];
}

/** A named map, or a set (no `map`). Changed element by element, so one change
 * among thousands of services is one element. */
export interface NftMap {
  name: string;
  /** Key type as nft prints it: "ipv4_addr", "inet_proto . inet_service". */
  type: string;
  /** Value type for a map ("verdict", "ipv4_addr"); undefined: a set. */
  map?: string;
  /** Set flags as nft prints them, e.g. ["interval"] for a set whose elements
   * may be prefixes and ranges; undefined: none. Cannot change in place: diff
   * re-creates the set. */
  flags?: string[];
  /** true: every element counts its packets and bytes (nft's `counter`
   * line in the map's declaration). Cannot change in place. The counts
   * themselves are never part of the state (observe reads them aside,
   * `NftCounters`): they change with every packet. */
  counter?: boolean;
  /** Elements as nft prints them, key text → value text ("" for a set), e.g.
   * "10.0.1.2" → "goto svc-0123456789ab", "tcp . 8080" → "goto pub-tcp-8080". */
  elements: Record<string, string>;
}

/** Packets and bytes one counter has seen. */
export interface Counter {
  packets: number;
  bytes: number;
}

/** The counters of one observed table, read beside it (never compared):
 * per map, element key → its counter; per chain, the counters of its rules
 * that have one (`counter` statement), in rule order, by rule text. */
export interface NftCounters {
  elements: Record<string, Record<string, Counter>>;
  rules: Record<string, { rule: string; counter: Counter }[]>;
}

export interface NftTable {
  family: "ip";
  name: string;
  /** Sorted by name. */
  chains: NftChain[];
  /** Sorted by name. */
  maps: NftMap[];
}

export interface KernelState {
  /** The node's own namespace: only the objects swarmnet owns in it. */
  host: Namespace;
  /** Namespaces swarmnet creates (overlay networks, sandboxes), sorted by name. */
  namespaces: Namespace[];
}

/** The kernel's main routing table (`ip route` without `table`). */
export const MAIN_TABLE = 254;

export function emptyNamespace(name: NsRef, role: NsRole): Namespace {
  return { name, role, links: [], routes: [], rules: [], fdb: [], neigh: [] };
}

/** What a node holds when swarmnet holds nothing: diff(observed, this) removes everything. */
export function emptyState(hostNs: NsRef): KernelState {
  return { host: emptyNamespace(hostNs, "host"), namespaces: [] };
}

export function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Puts every list in the canonical order, so equal states are deep-equal. */
export function sortNamespace(ns: Namespace): Namespace {
  return {
    ...ns,
    links: ns.links
      .map((l) => (l.addresses ? { ...l, addresses: [...l.addresses].sort(compareStrings) } : l))
      .sort(byName),
    routes: [...ns.routes].sort(
      (a, b) => (a.table ?? MAIN_TABLE) - (b.table ?? MAIN_TABLE) || compareStrings(a.dst, b.dst),
    ),
    rules: [...ns.rules].sort(
      (a, b) => a.priority - b.priority || (a.fwmark ?? 0) - (b.fwmark ?? 0) || a.table - b.table,
    ),
    fdb: [...ns.fdb].sort((a, b) => compareStrings(a.dev + a.mac, b.dev + b.mac)),
    neigh: [...ns.neigh].sort((a, b) => compareStrings(a.dev + a.ip, b.dev + b.ip)),
    ...(ns.nft
      ? {
          nft: {
            ...ns.nft,
            chains: [...ns.nft.chains].sort(byName),
            maps: [...ns.nft.maps].sort(byName),
          },
        }
      : {}),
  };
}
