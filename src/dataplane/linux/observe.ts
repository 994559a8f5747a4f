// observe(scope) → what swarmnet owns on one node, read from the kernel:
// every namespace with the node's prefix, and in the host namespace the
// gateway bridge and its legs; in each of them swarmnet's nftables table and
// ip_forward (and, in the namespaces it creates, policy-routing rules and
// rp_filter). One process per namespace, all in parallel.
import { DataplaneError, isNotFound } from "../errors.ts";
import {
  byName,
  type KernelState,
  type Namespace,
  type NftCounters,
  type NftTable,
  type NsRole,
  sortNamespace,
} from "../kernel-state.ts";
import {
  checkNsName,
  checkPrefix,
  GATEWAY_PEER,
  GW_BRIDGE,
  NFT_TABLE,
  type OwnedNsRole,
  parseNsName,
  type Scope,
} from "../names.ts";
import { classify, inNs, run, splitJson } from "./exec.ts";
import {
  NFT_MARK,
  parseFdb,
  parseForwarding,
  parseLinks,
  parseNeigh,
  parseNftTable,
  parseNsids,
  parseRoutes,
  parseRpFilter,
  parseRules,
  type RawLink,
  splitNsRead,
} from "./parse.ts";

interface RawNs {
  name: string;
  role: NsRole;
  links: RawLink[];
  nsids: Map<number, string>;
  ns: Namespace;
  counters?: NftCounters;
}

/** Namespaces under /run/netns that this prefix owns (see parseNsName). */
export async function ownedNamespaces(
  prefix: string,
): Promise<{ name: string; role: OwnedNsRole }[]> {
  checkPrefix(prefix);
  const { stdout } = await run(["ip", "-j", "netns", "list"]);
  const docs = splitJson(stdout);
  const entries = (docs[0] ?? []) as { name: string }[];
  const owned: { name: string; role: OwnedNsRole }[] = [];
  for (const { name } of entries) {
    const role = parseNsName(prefix, name);
    if (role) owned.push({ name, role });
  }
  return owned.sort(byName);
}

// One process per namespace reads all of it: spawning is what observe spends
// its time on (~10 ms a process on a small VM, serialised in node's main
// thread), so one `sh` in the namespace runs `ip -batch` (devices, routes of
// every table, rules, neighbours, netns ids, netconf for ip_forward and
// rp_filter), `bridge fdb` where asked,
// and `nft list table`, whose exit status is the last line: a missing table
// is normal, any other nft failure is not.
const READ_NS = [
  "ip -j -d -batch - || exit",
  '[ "$1" = fdb ] && { bridge -j fdb show || exit; }',
  `printf '\\n${NFT_MARK}\\n'`,
  `nft list table ip ${NFT_TABLE}`,
  'echo "$?"',
].join("\n");

interface NsRead {
  /** The JSON documents of the ip batch, then the FDB's if asked for. */
  docs: unknown[];
  nft?: NftTable;
  /** Its counters' values (never part of the state). */
  counters?: NftCounters;
}

async function readNamespace(ns: string, batch: string[], fdb: boolean): Promise<NsRead> {
  const argv = inNs(ns, ["sh", "-c", READ_NS, "sh", fdb ? "fdb" : ""]);
  const { stdout, stderr } = await run(argv, batch.map((l) => `${l}\n`).join(""));
  const out = splitNsRead(stdout);
  const docs = splitJson(out.json);
  if (out.nftStatus === 0) {
    const counters: NftCounters = { elements: {}, rules: {} };
    return { docs, nft: parseNftTable(out.nft, counters), counters };
  }
  const code = classify(stderr);
  if (code === "DP_NOT_FOUND") return { docs };
  const first = stderr.trim().split("\n")[0] ?? "";
  throw new DataplaneError(code, `nft list table ip ${NFT_TABLE} in ${ns || "host"}: ${first}`, {
    argv,
    exitCode: out.nftStatus,
    stderr,
  });
}

async function readNs(name: string, role: OwnedNsRole): Promise<RawNs | undefined> {
  try {
    const fdb = role === "network";
    const { docs, nft, counters } = await readNamespace(
      name,
      [
        "addr show",
        "route show table all",
        "rule show",
        "neigh show",
        "netns list-id",
        "netconf show",
      ],
      fdb,
    );
    const [addr, routes, rules, neigh, ids, netconf, fdbDoc] = docs;
    const links = parseLinks(addr);
    const ns: Namespace = {
      name,
      role,
      links,
      routes: parseRoutes(routes),
      rules: parseRules(rules),
      fdb: fdb ? parseFdb(fdbDoc ?? []) : [],
      neigh: parseNeigh(neigh),
      forwarding: parseForwarding(netconf),
      rpFilter: parseRpFilter(netconf),
    };
    if (nft) ns.nft = nft;
    return { name, role, links, nsids: parseNsids(ids), ns, ...(counters ? { counters } : {}) };
  } catch (err) {
    if (isNotFound(err)) return undefined; // deleted while we looked: absent
    throw err;
  }
}

async function readHost(hostNs: string): Promise<RawNs> {
  const { docs, nft } = await readNamespace(
    hostNs,
    ["addr show", "netns list-id", "netconf show"],
    false,
  );
  const [addr, ids, netconf] = docs;
  // Only what swarmnet made or uses here: the gateway bridge and legs named
  // the way gatewayPeerName() names them.
  const links = parseLinks(addr).filter(
    (l) => l.name === GW_BRIDGE || (l.kind === "veth" && GATEWAY_PEER.test(l.name)),
  );
  const ns: Namespace = {
    name: hostNs,
    role: "host",
    links,
    routes: [],
    rules: [],
    fdb: [],
    neigh: [],
    forwarding: parseForwarding(netconf),
  };
  if (nft) ns.nft = nft;
  return { name: hostNs, role: "host", links, nsids: parseNsids(ids), ns };
}

/** Names each veth's other end. A peer is found through the namespace id the
 * kernel reports; the caller's own namespace may have no name, so a peer seen
 * only from one side is filled in from the other. */
function pairPeers(all: RawNs[]): void {
  const byNs = new Map(all.map((r) => [r.name, r] as const));
  const find = (ns: string, index: number) => byNs.get(ns)?.links.find((l) => l.ifindex === index);
  for (const r of all) {
    for (const l of r.links) {
      if (l.peerIndex === undefined) continue;
      const ns = l.peerNsid === undefined ? r.name : r.nsids.get(l.peerNsid);
      const p = ns === undefined ? undefined : find(ns, l.peerIndex);
      if (ns !== undefined && p) l.peer = { ns, name: p.name };
    }
  }
  for (const r of all) {
    for (const l of r.links) {
      if (!l.peer) continue;
      const p = byNs.get(l.peer.ns)?.links.find((x) => x.name === l.peer!.name);
      if (p && !p.peer) p.peer = { ns: r.name, name: l.name };
    }
  }
}

function strip(l: RawLink, hostNs: string): RawLink {
  const { ifindex: _i, peerIndex: _p, peerNsid: _n, ...link } = l;
  if (link.vxlan) link.vxlan = { ...link.vxlan, underlay: hostNs };
  return link as RawLink;
}

/** What swarmnet owns on the node. `counters`, when given, receives the
 * counter values of each namespace's table (by namespace name; not the host
 * namespace's): kernel facts that change with every packet, so they are kept
 * out of the state diff compares. */
export async function observe(
  scope: Scope,
  counters?: Map<string, NftCounters>,
): Promise<KernelState> {
  const hostNs = checkNsName(scope.hostNs);
  const owned = await ownedNamespaces(scope.prefix);
  const [host, ...found] = await Promise.all([
    readHost(hostNs),
    ...owned.map((o) => readNs(o.name, o.role)),
  ]);
  const raws = found.filter((r): r is RawNs => r !== undefined);
  pairPeers([host, ...raws]);
  if (counters) {
    for (const r of raws) if (r.counters) counters.set(r.name, r.counters);
  }
  const finish = (r: RawNs): Namespace =>
    sortNamespace({ ...r.ns, links: r.links.map((l) => strip(l, hostNs)) });
  return { host: finish(host), namespaces: raws.map(finish).sort(byName) };
}
