// observe(scope) → what swarmnet owns on one node, read from the kernel:
// every namespace with the node's prefix, and in the host namespace the
// gateway bridge, its legs, swarmnet's nftables table and ip_forward. One
// `ip -j -d -batch -` per namespace (plus `bridge -j fdb` in network
// namespaces), all in parallel.
import { isNotFound } from "../errors.ts";
import {
  byName,
  type KernelState,
  type Namespace,
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
import { bridge, inNs, ip, run, splitJson } from "./exec.ts";
import {
  parseFdb,
  parseForwarding,
  parseLinks,
  parseNeigh,
  parseNftTable,
  parseNsids,
  parseRoutes,
  type RawLink,
} from "./parse.ts";

interface RawNs {
  name: string;
  role: NsRole;
  links: RawLink[];
  nsids: Map<number, string>;
  ns: Namespace;
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

async function readNs(name: string, role: OwnedNsRole): Promise<RawNs | undefined> {
  try {
    const [out, fdb] = await Promise.all([
      run(
        ip(name, "-j", "-d", "-batch", "-"),
        "addr show\nroute show\nneigh show\nnetns list-id\n",
      ),
      role === "network" ? run(bridge(name, "-j", "fdb", "show")) : undefined,
    ]);
    const [addr, routes, neigh, ids] = splitJson(out.stdout);
    const links = parseLinks(addr);
    const ns: Namespace = {
      name,
      role,
      links,
      routes: parseRoutes(routes),
      fdb: fdb ? parseFdb(splitJson(fdb.stdout)[0] ?? []) : [],
      neigh: parseNeigh(neigh),
    };
    return { name, role, links, nsids: parseNsids(ids), ns };
  } catch (err) {
    if (isNotFound(err)) return undefined; // deleted while we looked: absent
    throw err;
  }
}

async function readHost(hostNs: string): Promise<{ raw: RawNs; forwarding: boolean }> {
  const out = await run(
    ip(hostNs, "-j", "-d", "-batch", "-"),
    "addr show\nnetns list-id\nnetconf show\n",
  );
  const [addr, ids, netconf] = splitJson(out.stdout);
  // Only what swarmnet made or uses here: the gateway bridge and legs named
  // the way gatewayPeerName() names them.
  const links = parseLinks(addr).filter(
    (l) => l.name === GW_BRIDGE || (l.kind === "veth" && GATEWAY_PEER.test(l.name)),
  );
  const ns: Namespace = { name: hostNs, role: "host", links, routes: [], fdb: [], neigh: [] };
  return {
    raw: { name: hostNs, role: "host", links, nsids: parseNsids(ids), ns },
    forwarding: parseForwarding(netconf),
  };
}

async function readNft(hostNs: string): Promise<NftTable | undefined> {
  try {
    const { stdout } = await run(inNs(hostNs, ["nft", "list", "table", "ip", NFT_TABLE]));
    return parseNftTable(stdout);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
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

export async function observe(scope: Scope): Promise<KernelState> {
  const hostNs = checkNsName(scope.hostNs);
  const owned = await ownedNamespaces(scope.prefix);
  const [host, nft, ...found] = await Promise.all([
    readHost(hostNs),
    readNft(hostNs),
    ...owned.map((o) => readNs(o.name, o.role)),
  ]);
  const raws = found.filter((r): r is RawNs => r !== undefined);
  pairPeers([host.raw, ...raws]);
  const finish = (r: RawNs): Namespace =>
    sortNamespace({ ...r.ns, links: r.links.map((l) => strip(l, hostNs)) });
  const state: KernelState = {
    host: finish(host.raw),
    namespaces: raws.map(finish).sort(byName),
    forwarding: host.forwarding,
  };
  if (nft) state.nft = nft;
  return state;
}
