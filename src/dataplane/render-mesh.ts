// The routing mesh keeps the client's address (moby#25526). Docker's ingress
// sandbox masquerades, so a task's reply finds its way back to the node the
// connection came through — and the task never learns who called. swarmnet's
// ingress sandbox only translates the destination: the task sees the client's
// own address, and must send its replies back through the ingress sandbox
// that translated them (only that one can undo the translation), not out of
// gw0 where its main table sends any outside address. Pure: NodeView in,
// what one task sandbox needs out; render.ts puts it in place.
//
// Every node's ingress sandbox gets a number, and in each task sandbox on the
// ingress network:
//
// - a new connection arriving on the ingress interface is marked (ct mark)
//   with the number of the ingress sandbox that sent it, known by the frame's
//   source MAC (a sandbox's MAC is macFromIp of its ingress address);
// - every packet the task sends for a marked connection carries that mark
//   (meta mark), set in a chain of type route so the kernel routes it again;
// - per node N, `ip rule fwmark N lookup 1000+N` and in that table a default
//   route via node N's ingress address on the ingress interface;
// - a UDP datagram of a marked connection is translated to the sandbox's gw0
//   address. A UDP server on an unbound socket (most of them, swarmnet's
//   responder too) does not reply from the address the datagram came to: the
//   kernel picks the source by route, and for an outside client that is
//   gw0's. Such a reply matches no connection: no mark, out of gw0,
//   masqueraded by the node — the client gets an answer from a stranger,
//   which a connected socket (or dig) drops. Delivered to gw0's address, the
//   datagram's reply has the connection's own source, and conntrack turns it
//   back into the ingress address on the way out. TCP needs none of this: an
//   accepted socket answers from the address the connection came to.
//
// The same pattern as docker-ingress-routing-daemon, which marks by TOS byte
// instead: the source MAC needs nothing from the ingress sandbox.
import { contains, formatIp, parseCidr, parseCidrHost } from "../core/ipam/index.ts";
import type { Network } from "../core/model.ts";
import type { NodeView } from "../core/node-view.ts";
import type { NftChain, Route, Rule } from "./kernel-state.ts";
import { macFromIp } from "./names.ts";

/** Priority of the mesh's rules: after `local` (0), before `main` (32766). One
 * priority for all of them: their fwmarks never overlap. */
export const MESH_RULE_PRIORITY = 100;
/** Node N's table is MESH_TABLE_BASE + N: clear of the kernel's named tables
 * (253 default, 254 main, 255 local) whatever N is. */
export const MESH_TABLE_BASE = 1000;

/** The nft chains of the mark (prerouting), of UDP's translation (prerouting)
 * and of the reply routing (output). */
export const MESH_MARK_CHAIN = "mesh-mark";
export const MESH_DNAT_CHAIN = "mesh-dnat";
export const MESH_ROUTE_CHAIN = "mesh-route";

export interface MeshReturn {
  /** Added to the sandbox's `table ip swarmnet`. */
  chains: NftChain[];
  rules: Rule[];
  /** Default routes in the per-node tables. */
  routes: Route[];
  /** net.ipv4.conf.all.rp_filter. */
  rpFilter: 0 | 1 | 2;
}

/** A node's number: its ingress address's offset in the ingress network's
 * subnets (counted across them in order). Stable for as long as the node
 * keeps its address, whoever joins or leaves — a renumbering would send the
 * replies of established connections to the wrong node. Never 0 (the
 * network address is never a node's), so "no mark" stays distinct. */
export function meshNodeNumber(network: Network, ip: string): number | undefined {
  const n = parseCidrHost(`${ip}/32`).ip;
  let before = 0;
  for (const c of network.ipam) {
    const subnet = parseCidr(c.subnet);
    if (contains(subnet, n)) return before + (n - subnet.base);
    before += 2 ** (32 - subnet.prefix);
  }
  return undefined;
}

/** nft's printed form of a mark: 0x and eight hex digits. */
export function nftMark(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** What a task sandbox whose ingress-network interface is `dev` needs so that
 * replies go back through the ingress sandbox each connection came from;
 * `gwIp` is its gw0 address (the ingress network is never internal, so a
 * task on it always has one). Undefined when no node has an ingress sandbox
 * (no published ingress port). */
export function meshReturn(
  view: NodeView,
  network: Network,
  dev: string,
  gwIp: string | undefined,
): MeshReturn | undefined {
  const nodes = new Map<number, string>();
  for (const e of view.endpoints) {
    if (e.kind !== "ingress" || e.networkId !== network.id) continue;
    const ip = formatIp(parseCidrHost(e.address).ip);
    const n = meshNodeNumber(network, ip);
    if (n !== undefined && n > 0) nodes.set(n, ip);
  }
  if (nodes.size === 0) return undefined;
  const byNumber = [...nodes].sort((a, b) => a[0] - b[0]);
  const macs = byNumber.map(([n, ip]) => `${macFromIp(ip)} : ${nftMark(n)}`).join(", ");
  return {
    chains: [
      {
        name: MESH_MARK_CHAIN,
        type: "filter",
        hook: "prerouting",
        priority: "mangle",
        policy: "accept",
        rules: [`iifname "${dev}" ct state new ct mark set ether saddr map { ${macs} }`],
      },
      ...(gwIp === undefined
        ? []
        : [
            {
              // After the mark (mangle, -150): only mesh connections are translated.
              name: MESH_DNAT_CHAIN,
              type: "nat" as const,
              hook: "prerouting" as const,
              priority: "dstnat",
              policy: "accept" as const,
              rules: [`iifname "${dev}" meta l4proto udp ct mark != ${nftMark(0)} dnat to ${gwIp}`],
            },
          ]),
      {
        // Type route: a packet whose mark changes here is routed again.
        name: MESH_ROUTE_CHAIN,
        type: "route",
        hook: "output",
        priority: "mangle",
        policy: "accept",
        rules: [`ct mark != ${nftMark(0)} meta mark set ct mark`],
      },
    ],
    rules: byNumber.map(([n]) => ({
      priority: MESH_RULE_PRIORITY,
      fwmark: n,
      table: MESH_TABLE_BASE + n,
    })),
    routes: byNumber.map(([n, ip]) => ({
      dst: "default",
      via: ip,
      dev,
      table: MESH_TABLE_BASE + n,
    })),
    // The client's address arrives on `dev`, but the main table routes it via
    // gw0: strict reverse-path filtering (rp_filter=1, the default of some
    // distributions, which a new namespace inherits) would drop every mesh
    // packet. Loose (2) only asks that the source be routable at all. The
    // kernel uses the larger of conf/all and conf/<dev>, so "all" alone
    // decides whatever the interface inherited.
    rpFilter: 2,
  };
}
