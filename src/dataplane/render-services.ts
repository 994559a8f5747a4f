// The nftables side of services: VIP load balancing in every sandbox, the
// routing mesh (published ports in ingress mode) through one ingress sandbox
// per node, and host-mode published ports. Pure: NodeView in, table contents
// out; render.ts puts them in place.
//
// kube-proxy's nftables mode is the model. A new connection does one
// verdict-map lookup (`ip daddr vmap @vips`, or `… th dport vmap @published`)
// that jumps to the chain of that service, whose rules pick a backend with
// `numgen random`. The lookup costs the same with 10 or 5,000 services,
// and a scale changes one service chain and no map element, a new service
// adds one element and one chain: diff turns that into element and chain
// updates, never a rebuilt table. Only the first packet of a connection sees
// a nat chain (conntrack keeps the choice), so scaling never moves an
// established connection, and nothing shortens conntrack's timeouts: idle
// connections live as long as the kernel's default (5 days for TCP), not
// IPVS's 15 minutes (moby#31208).
//
// VIP traffic is translated in the calling sandbox's own output hook, so the
// packet leaves with the caller's real address and the backend (and the
// policies that protect it) sees who is calling; replies are un-translated by
// the caller's conntrack. No source NAT inside the cluster, and none in the
// routing mesh either: a published port reaches the task with the client's
// own address, and the task's sandbox routes the replies back through the
// node they came in by (render-mesh.ts).
import { formatIp, parseCidrHost } from "../core/ipam/index.ts";
import type { Network, PortConfig, Service } from "../core/model.ts";
import type { Endpoint, NodeView } from "../core/node-view.ts";
import type { NftChain, NftMap, NftTable } from "./kernel-state.ts";
import { GW_BRIDGE, GW_LEG, NFT_TABLE } from "./names.ts";

/** The routing mesh's sandbox owner id on every node (its namespace is `<prefix>sb-ingress`). */
export const INGRESS_OWNER = "ingress";

export interface LocalOwner {
  id: string;
  /** Network ids in attachment order. */
  networkIds: string[];
}

function ipOf(cidr: string): string {
  return formatIp(parseCidrHost(cidr).ip);
}

function shortId(id: string): string {
  return id.slice(0, 12);
}

/** The rules that send a new connection to one of `targets` ("10.0.1.5", or
 * "10.0.1.5:80" with a port), or refuse it when there is none: TCP with a
 * reset, anything else with ICMP port unreachable, as a closed port would.
 *
 * N backends are N rules, rule i taking the connection with probability
 * 1/(N-i) — uniform overall. Not one `numgen … map { … }` rule: nft lists
 * thousands of inline maps slowly (seconds for 5,000 services), and listing
 * is what every sync does; the cascade lists fast and costs a few
 * comparisons per new connection, whatever the number of services. */
function pickRules(targets: string[], l4proto?: "tcp" | "udp"): string[] {
  const proto = l4proto ? `meta l4proto ${l4proto} ` : "";
  if (targets.length === 0) return ["reject with tcp reset", "reject"];
  return targets.map((t, i) =>
    i === targets.length - 1
      ? `${proto}dnat to ${t}`
      : `${proto}numgen random mod ${targets.length - i} 0 dnat to ${t}`,
  );
}

function regularChain(name: string, rules: string[]): NftChain {
  return { name, rules };
}

/** Live task addresses per (service, network), sorted so rule texts are
 * stable: one pass over the endpoints for the whole render. */
type Backends = (serviceId: string, networkId: string) => string[];

function backendIndex(view: NodeView): Backends {
  const index = new Map<string, string[]>();
  for (const e of view.endpoints) {
    if (e.kind !== "task" || !e.live) continue;
    const key = `${e.serviceId}\0${e.networkId}`;
    const list = index.get(key) ?? [];
    list.push(ipOf(e.address));
    index.set(key, list);
  }
  for (const list of index.values()) list.sort(compareIps);
  return (serviceId, networkId) => index.get(`${serviceId}\0${networkId}`) ?? [];
}

function compareIps(a: string, b: string): number {
  const n = (ip: string) => parseCidrHost(`${ip}/32`).ip;
  return n(a) - n(b);
}

/** Per network, every VIP on it with the chain spreading over that service's
 * live tasks there (the ingress network's VIPs excepted — the mesh reaches
 * tasks directly). Built once per render: every sandbox on a network holds
 * the same chains. */
export type VipChains = Map<string, { vip: string; chain: NftChain }[]>;

export function vipChains(view: NodeView): VipChains {
  const ingress = new Set(view.networks.filter((n) => n.ingress).map((n) => n.id));
  const backends = backendIndex(view);
  const out: VipChains = new Map();
  for (const svc of view.services) {
    if (svc.spec.endpoint.mode !== "vip") continue;
    for (const vip of svc.endpoint.virtualIps) {
      if (ingress.has(vip.networkId)) continue;
      const name = `svc-${shortId(svc.id)}-${shortId(vip.networkId)}`;
      const chain = regularChain(name, pickRules(backends(svc.id, vip.networkId)));
      const list = out.get(vip.networkId) ?? [];
      list.push({ vip: ipOf(vip.addr), chain });
      out.set(vip.networkId, list);
    }
  }
  return out;
}

/** The VIP table of one sandbox: the VIP chains of the networks it is
 * attached to. Undefined when its networks carry no VIP. */
export function sandboxVipTable(owner: LocalOwner, vips: VipChains): NftTable | undefined {
  const elements: Record<string, string> = {};
  const chains: NftChain[] = [];
  for (const networkId of new Set(owner.networkIds)) {
    for (const { vip, chain } of vips.get(networkId) ?? []) {
      elements[vip] = `goto ${chain.name}`;
      chains.push(chain);
    }
  }
  if (chains.length === 0) return undefined;
  chains.push({
    name: "output",
    type: "nat",
    hook: "output",
    // nft refuses the keyword dstnat outside prerouting; -100 is its value.
    priority: "-100",
    policy: "accept",
    rules: ["ip daddr vmap @vips"],
  });
  return {
    family: "ip",
    name: NFT_TABLE,
    chains: chains.sort(byName),
    maps: [{ name: "vips", type: "ipv4_addr", map: "verdict", elements }],
  };
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Ports published in ingress mode, each with its service. */
function ingressPorts(view: NodeView): { svc: Service; port: PortConfig }[] {
  const out: { svc: Service; port: PortConfig }[] = [];
  for (const svc of view.services)
    for (const port of svc.endpoint.ports)
      if (port.publishMode === "ingress" && port.publishedPort > 0 && port.protocol !== "sctp")
        out.push({ svc, port });
  return out.sort((a, b) => a.port.publishedPort - b.port.publishedPort);
}

function portKey(p: PortConfig): string {
  return `${p.protocol} . ${p.publishedPort}`;
}

function portChain(prefix: string, p: PortConfig): string {
  return `${prefix}-${p.protocol}-${p.publishedPort}`;
}

/** The ingress network and this node's address on it, when the routing mesh is active here. */
export function meshEndpoint(view: NodeView): { network: Network; endpoint: Endpoint } | undefined {
  if (ingressPorts(view).length === 0) return undefined;
  const network = view.networks.find((n) => n.ingress && n.driver === "overlay");
  if (!network) return undefined;
  const endpoint = view.endpoints.find(
    (e) => e.kind === "ingress" && e.nodeId === view.node.id && e.networkId === network.id,
  );
  return endpoint ? { network, endpoint } : undefined;
}

/** The ingress sandbox's table: a connection arriving from the host on a
 * published port is sent to one live task of the service on any node, over
 * the ingress network. Destination NAT only: the task sees the client's own
 * address (Docker masquerades here and loses it, moby#25526), and the task's
 * sandbox routes its replies back to this sandbox by a connection mark
 * (render-mesh.ts), where conntrack undoes the translation. */
export function ingressSandboxTable(view: NodeView, ingressNetworkId: string): NftTable {
  const backends = backendIndex(view);
  const elements: Record<string, string> = {};
  const chains: NftChain[] = [];
  for (const { svc, port } of ingressPorts(view)) {
    const chain = portChain("pub", port);
    elements[portKey(port)] = `goto ${chain}`;
    const targets = backends(svc.id, ingressNetworkId).map((ip) => `${ip}:${port.targetPort}`);
    chains.push(regularChain(chain, pickRules(targets, port.protocol as "tcp" | "udp")));
  }
  chains.push({
    name: "prerouting",
    type: "nat",
    hook: "prerouting",
    priority: "dstnat",
    policy: "accept",
    rules: [`iifname "${GW_LEG}" meta l4proto . th dport vmap @published`],
  });
  return {
    family: "ip",
    name: NFT_TABLE,
    chains: chains.sort(byName),
    maps: [{ name: "published", type: "inet_proto . inet_service", map: "verdict", elements }],
  };
}

/** Published ports in the node's own namespace: ingress-mode ports go to the
 * ingress sandbox (on every node), host-mode ports straight to the local
 * tasks that publish them (only on nodes running one). Port numbers are kept
 * for ingress (the ingress sandbox maps them to targets) and translated for
 * host mode. Destination NAT only, both ways: the task sees the client's
 * address (host mode needs nothing more: replies leave the way they came). */
export function hostPublishing(
  view: NodeView,
  gwAddresses: Map<string, string>,
  meshActive: boolean,
): { chains: NftChain[]; maps: NftMap[] } | undefined {
  const elements: Record<string, string> = {};
  const chains: NftChain[] = [];
  if (meshActive) {
    const sbox = gwAddresses.get(INGRESS_OWNER);
    if (sbox) {
      chains.push(regularChain("ingress", [`dnat to ${ipOf(withPrefix(sbox))}`]));
      for (const { port } of ingressPorts(view)) elements[portKey(port)] = "goto ingress";
    }
  }
  const hostPorts = new Map<string, { port: PortConfig; targets: string[] }>();
  for (const task of view.tasks) {
    if (task.nodeId !== view.node.id || task.desiredState !== "running") continue;
    if (task.status.state !== "running") continue;
    const gw = gwAddresses.get(task.id);
    const svc = view.services.find((s) => s.id === task.serviceId);
    if (!gw || !svc) continue;
    for (const port of svc.endpoint.ports) {
      if (port.publishMode !== "host" || port.publishedPort === 0 || port.protocol === "sctp")
        continue;
      const key = portKey(port);
      if (elements[key] === "goto ingress") continue;
      const entry = hostPorts.get(key) ?? { port, targets: [] };
      entry.targets.push(`${ipOf(withPrefix(gw))}:${port.targetPort}`);
      hostPorts.set(key, entry);
    }
  }
  for (const [key, { port, targets }] of hostPorts) {
    const chain = portChain("host", port);
    elements[key] = `goto ${chain}`;
    chains.push(regularChain(chain, pickRules(targets.sort(), port.protocol as "tcp" | "udp")));
  }
  if (Object.keys(elements).length === 0) return undefined;
  const match = "fib daddr type local meta l4proto . th dport vmap @published";
  chains.push(
    {
      name: "prerouting",
      type: "nat",
      hook: "prerouting",
      priority: "dstnat",
      policy: "accept",
      rules: [match],
    },
    {
      name: "output",
      type: "nat",
      hook: "output",
      priority: "-100",
      policy: "accept",
      rules: [match],
    },
  );
  return {
    chains,
    maps: [{ name: "published", type: "inet_proto . inet_service", map: "verdict", elements }],
  };
}

function withPrefix(addr: string): string {
  return addr.includes("/") ? addr : `${addr}/32`;
}

/** The forward rule that lets translated connections into the gateway bridge
 * (everything else entering it must be a reply). */
export const FORWARD_DNAT_RULE = `oifname "${GW_BRIDGE}" ct status dnat accept`;
