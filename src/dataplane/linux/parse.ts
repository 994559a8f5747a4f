// Readers for what `ip -j`, `bridge -j` and `nft list` print. Pure, so they
// are tested on captured output without root. Only the fields swarmnet
// manages are kept; everything else the kernel reports is ignored.
import { DataplaneError } from "../errors.ts";
import type {
  FdbEntry,
  Link,
  LinkKind,
  NeighEntry,
  NftChain,
  NftTable,
  Route,
} from "../kernel-state.ts";

/** A device as observed, with what is needed to find its veth peer. */
export interface RawLink extends Link {
  ifindex: number;
  /** veth only: the peer's ifindex, and its namespace id as seen from here
   * (undefined: same namespace). */
  peerIndex?: number;
  peerNsid?: number;
}

type Json = Record<string, unknown>;

function list(doc: unknown, what: string): Json[] {
  if (!Array.isArray(doc))
    throw new DataplaneError("DP_PARSE_FAILED", `${what}: expected a JSON list`);
  return doc as Json[];
}

const KINDS: Record<string, LinkKind> = { bridge: "bridge", vxlan: "vxlan", veth: "veth" };

/** `ip -j -d addr show`: devices with their IPv4 addresses. */
export function parseLinks(doc: unknown): RawLink[] {
  return list(doc, "ip addr").map((d) => {
    const info = (d.linkinfo ?? {}) as Json;
    const kindName = typeof info.info_kind === "string" ? info.info_kind : "";
    const kind: LinkKind = d.link_type === "loopback" ? "loopback" : (KINDS[kindName] ?? "other");
    const flags = Array.isArray(d.flags) ? (d.flags as string[]) : [];
    const link: RawLink = {
      name: String(d.ifname),
      kind,
      ifindex: Number(d.ifindex),
      mtu: Number(d.mtu),
      mac: String(d.address ?? ""),
      up: flags.includes("UP"),
      addresses: (Array.isArray(d.addr_info) ? (d.addr_info as Json[]) : [])
        .filter((a) => a.family === "inet")
        .map((a) => `${a.local}/${a.prefixlen}`)
        .sort(),
    };
    if (typeof d.master === "string") link.master = d.master;
    if (typeof d.ifalias === "string") link.alias = d.ifalias;
    const slave = info.info_slave_data as Json | undefined;
    if (info.info_slave_kind === "bridge" && slave) link.isolated = slave.isolated === true;
    if (kind === "vxlan") {
      const v = (info.info_data ?? {}) as Json;
      link.vxlan = {
        vni: Number(v.id),
        port: Number(v.port),
        local: String(v.local ?? ""),
        underlay: "",
        learning: v.learning === true,
        proxy: v.proxy === true,
      };
    }
    if (kind === "veth" && typeof d.link_index === "number") {
      link.peerIndex = d.link_index;
      if (typeof d.link_netnsid === "number") link.peerNsid = d.link_netnsid;
    }
    return link;
  });
}

/** `ip -j netns list-id`: namespace id → name, for the named ones. */
export function parseNsids(doc: unknown): Map<number, string> {
  const ids = new Map<number, string>();
  for (const e of list(doc, "ip netns list-id")) {
    if (typeof e.nsid === "number" && typeof e.name === "string") ids.set(e.nsid, e.name);
  }
  return ids;
}

/** `ip -j route show`: routes someone added (connected routes are the kernel's). */
export function parseRoutes(doc: unknown): Route[] {
  return list(doc, "ip route")
    .filter((r) => r.protocol !== "kernel" && typeof r.gateway === "string")
    .map((r) => ({ dst: String(r.dst), via: String(r.gateway), dev: String(r.dev) }));
}

/** `ip -j neigh show`: permanent entries only; learned ones come and go. */
export function parseNeigh(doc: unknown): NeighEntry[] {
  return list(doc, "ip neigh")
    .filter((n) => Array.isArray(n.state) && n.state.includes("PERMANENT") && n.lladdr)
    .map((n) => ({ dev: String(n.dev), ip: String(n.dst), mac: String(n.lladdr) }));
}

/** `bridge -j fdb show`: the VTEP entries (`self`, with a dst); the bridge's own
 * learned and multicast entries are not swarmnet's. */
export function parseFdb(doc: unknown): FdbEntry[] {
  return list(doc, "bridge fdb")
    .filter((f) => typeof f.dst === "string" && Array.isArray(f.flags) && f.flags.includes("self"))
    .map((f) => ({ dev: String(f.ifname), mac: String(f.mac), dst: String(f.dst) }));
}

/** `ip -j netconf show`: IPv4 forwarding of "all" (what net.ipv4.ip_forward sets). */
export function parseForwarding(doc: unknown): boolean {
  return list(doc, "ip netconf").some(
    (e) => e.family === "inet" && e.interface === "all" && e.forwarding === true,
  );
}

/** `nft list table ip NAME`: the chains with their hook line and rules as text.
 * Sets and maps (none yet) are skipped. */
export function parseNftTable(text: string): NftTable {
  const lines = text.split("\n").map((l) => l.trim());
  const head = /^table (ip) (\S+) \{$/.exec(lines[0] ?? "");
  if (!head) throw new DataplaneError("DP_PARSE_FAILED", `nft: unexpected output: ${lines[0]}`);
  const table: NftTable = { family: "ip", name: head[2]!, chains: [] };
  let chain: NftChain | undefined;
  let depth = 1;
  for (const line of lines.slice(1)) {
    if (line === "" || line.startsWith("comment ")) continue;
    if (line === "}") {
      depth--;
      if (chain) table.chains.push(chain);
      chain = undefined;
      continue;
    }
    const open = /^chain (\S+) \{$/.exec(line);
    if (open && depth === 1) {
      depth++;
      chain = {
        name: open[1]!,
        type: "filter",
        hook: "forward",
        priority: "",
        policy: "accept",
        rules: [],
      };
      continue;
    }
    if (line.endsWith("{")) {
      depth++; // a set or map: not read
      continue;
    }
    if (!chain) continue;
    const hook = /^type (\w+) hook (\w+) priority ([^;]+); policy (\w+);$/.exec(line);
    if (hook) {
      chain.type = hook[1] as NftChain["type"];
      chain.hook = hook[2] as NftChain["hook"];
      chain.priority = hook[3]!;
      chain.policy = hook[4] as NftChain["policy"];
    } else chain.rules.push(line);
  }
  table.chains.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return table;
}
