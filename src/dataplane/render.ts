// render(view) → the kernel state one node should hold. Pure and
// deterministic: the same view and options always give the same (sorted)
// state, so a restarted agent renders exactly what it rendered before.
//
// Per overlay network with local endpoints: a namespace with br0 (gateway IP)
// and vxlan0 (static FDB/neighbour entries for endpoints on other nodes). Per
// local task or container: a sandbox namespace with one veth per overlay
// attachment (eth0, eth1, … in attachment order) and, unless every network is
// internal, a leg gw0 on the node's docker_gwbridge with the default route.
// Services add nftables tables (render-services.ts) and, in tasks reached
// through the routing mesh, policy routing for their replies (render-mesh.ts).
import { contains, formatIp, parseCidr, parseCidrHost } from "../core/ipam/index.ts";
import { isTerminal, type Network, type NetworkAttachment } from "../core/model.ts";
import { MTU_OPTION } from "../core/network-spec.ts";
import type { NodeView } from "../core/node-view.ts";
import { DataplaneError } from "./errors.ts";
import {
  byName,
  emptyNamespace,
  type KernelState,
  type Link,
  type Namespace,
  type NftTable,
  type NsRef,
  sortNamespace,
} from "./kernel-state.ts";
import {
  BRIDGE,
  checkIfName,
  checkNsName,
  checkPrefix,
  DEFAULT_PREFIX,
  GW_BRIDGE,
  GW_LEG,
  gatewayPeerName,
  LOOPBACK,
  macFromIp,
  NFT_TABLE,
  networkNsName,
  OWNER_ALIAS,
  overlayPeerName,
  sandboxIfName,
  sandboxNsName,
  VXLAN,
} from "./names.ts";
import { gatewayTable } from "./nft-table.ts";
import { meshReturn } from "./render-mesh.ts";
import { policyChains, type SandboxPolicySets } from "./render-policy.ts";
import {
  FORWARD_DNAT_RULE,
  hostPublishing,
  INGRESS_OWNER,
  ingressSandboxTable,
  meshEndpoint,
  sandboxVipTable,
  vipChains,
} from "./render-services.ts";

export const DEFAULT_MTU = 1450;
export const DEFAULT_GW_SUBNET = "172.18.0.0/16";

export interface RenderOptions {
  /** Task/container id → its address on the gateway bridge ("172.18.0.5" or
   * "172.18.0.5/16"), from the agent's node-local pool. Required for every
   * sandbox with a non-internal network. */
  gwAddresses: Map<string, string>;
  /** The gateway bridge's subnet; its first address is the bridge's. */
  gwSubnet?: string;
  /** The node's own namespace ("" = the caller's). */
  hostNs?: NsRef;
  /** Prefix of the namespaces this node owns. */
  prefix?: string;
  /** Task/container id → its network policy (render-policy.ts); an owner
   * without an entry is not filtered. */
  policies?: Map<string, SandboxPolicySets>;
  /** Log denied packets with the rule that denied them (NodeView.policyLogDenied). */
  policyLogDenied?: boolean;
}

interface Owner {
  id: string;
  networks: NetworkAttachment[];
}

function bad(message: string): DataplaneError {
  return new DataplaneError("DP_RENDER_INPUT", message);
}

function hostCidr(s: string, what: string): { ip: string; n: number; prefix: number } {
  try {
    const { ip, cidr } = parseCidrHost(s);
    return { ip: formatIp(ip), n: ip, prefix: cidr.prefix };
  } catch {
    throw bad(`${what}: invalid CIDR address ${JSON.stringify(s)}`);
  }
}

function networkMtu(net: Network): number {
  const text = net.options[MTU_OPTION];
  if (text === undefined) return DEFAULT_MTU;
  const mtu = Number(text);
  if (!/^\d+$/.test(text) || mtu < 68 || mtu > 65535) {
    throw bad(`network ${net.name}: invalid ${MTU_OPTION} ${JSON.stringify(text)}`);
  }
  return mtu;
}

/** Tasks and containers that should have networking now: meant to run and
 * not finished; plus the routing mesh's ingress sandbox when this node has one. */
function liveOwners(view: NodeView): Owner[] {
  const owners: Owner[] = [];
  for (const o of [...view.tasks, ...view.containers]) {
    if (o.nodeId === view.node.id && o.desiredState === "running" && !isTerminal(o.status.state)) {
      owners.push({ id: o.id, networks: o.networks });
    }
  }
  const mesh = meshEndpoint(view);
  if (mesh) {
    owners.push({
      id: INGRESS_OWNER,
      networks: [{ networkId: mesh.network.id, addresses: [mesh.endpoint.address], aliases: [] }],
    });
  }
  return owners.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function render(view: NodeView, opts: RenderOptions): KernelState {
  const hostNs = checkNsName(opts.hostNs ?? "");
  const prefix = checkPrefix(opts.prefix ?? DEFAULT_PREFIX);
  const gwSubnetText = opts.gwSubnet ?? DEFAULT_GW_SUBNET;
  let gwSubnet: ReturnType<typeof parseCidr>;
  try {
    gwSubnet = parseCidr(gwSubnetText);
  } catch {
    throw bad(`invalid gateway bridge subnet ${JSON.stringify(gwSubnetText)}`);
  }
  const gwGateway = formatIp(gwSubnet.base + 1);

  const overlays = new Map(
    view.networks.filter((n) => n.driver === "overlay").map((n) => [n.id, n] as const),
  );
  const netPorts = new Map<string, Link[]>();
  const sandboxes: Namespace[] = [];
  const hostPorts: Link[] = [];
  const gwUsed = new Set<string>();

  const vipTables = vipChains(view);
  for (const owner of liveOwners(view)) {
    const sb = emptyNamespace(sandboxNsName(prefix, owner.id), "sandbox");
    sb.links.push({ name: LOOPBACK, kind: "loopback", up: true });
    const attachments = owner.networks.filter((a) => overlays.has(a.networkId));
    attachments.forEach((att, i) => {
      const net = overlays.get(att.networkId)!;
      const mtu = networkMtu(net);
      const addrs = att.addresses.map((a) => hostCidr(a, `task ${owner.id} on ${net.name}`));
      if (addrs.length === 0) throw bad(`task ${owner.id} has no address on ${net.name}`);
      const eth = sandboxIfName(i);
      const peer = overlayPeerName(owner.id, net.id);
      const netNs = networkNsName(prefix, net.id);
      sb.links.push({
        name: eth,
        kind: "veth",
        mtu,
        mac: macFromIp(addrs[0]!.ip),
        up: true,
        addresses: addrs.map((a) => `${a.ip}/${a.prefix}`),
        peer: { ns: netNs, name: peer },
      });
      const ports = netPorts.get(net.id) ?? [];
      ports.push({
        name: peer,
        kind: "veth",
        mtu,
        up: true,
        master: BRIDGE,
        peer: { ns: sb.name, name: eth },
      });
      netPorts.set(net.id, ports);
    });
    // A task on no network still gets a leg: its way out, and where host-mode ports reach it.
    const egress =
      attachments.length === 0 || attachments.some((a) => !overlays.get(a.networkId)!.internal);
    let gwIp: string | undefined;
    if (egress) {
      const given = opts.gwAddresses.get(owner.id);
      if (given === undefined) throw bad(`no gateway bridge address for ${owner.id}`);
      const gw = hostCidr(
        given.includes("/") ? given : `${given}/${gwSubnet.prefix}`,
        "gateway address",
      );
      if (gw.prefix !== gwSubnet.prefix || !contains(gwSubnet, gw.n) || gw.ip === gwGateway) {
        throw bad(
          `gateway address ${given} of ${owner.id} is not a host address of ${gwSubnetText}`,
        );
      }
      if (gwUsed.has(gw.ip)) throw bad(`gateway address ${gw.ip} given to two sandboxes`);
      gwUsed.add(gw.ip);
      gwIp = gw.ip;
      const hostPeer = gatewayPeerName(owner.id);
      sb.links.push({
        name: GW_LEG,
        kind: "veth",
        up: true,
        addresses: [`${gw.ip}/${gw.prefix}`],
        peer: { ns: hostNs, name: hostPeer },
      });
      sb.routes.push({ dst: "default", via: gwGateway, dev: GW_LEG });
      hostPorts.push({
        name: hostPeer,
        kind: "veth",
        up: true,
        master: GW_BRIDGE,
        isolated: true,
        peer: { ns: sb.name, name: GW_LEG },
      });
    }
    if (owner.id === INGRESS_OWNER) {
      // The mesh forwards from the host (gw0) to the ingress network (eth0).
      sb.nft = ingressSandboxTable(view, owner.networks[0]!.networkId);
      sb.forwarding = true;
    } else {
      const vips = sandboxVipTable(
        { id: owner.id, networkIds: owner.networks.map((a) => a.networkId) },
        vipTables,
      );
      if (vips) sb.nft = vips;
      // A task of a service publishing through the mesh: replies go back
      // through the node each connection came from (render-mesh.ts).
      const meshAt = attachments.findIndex((a) => overlays.get(a.networkId)!.ingress);
      const mesh =
        meshAt < 0
          ? undefined
          : meshReturn(
              view,
              overlays.get(attachments[meshAt]!.networkId)!,
              sandboxIfName(meshAt),
              gwIp,
            );
      if (mesh) {
        const table = sb.nft ?? { family: "ip", name: NFT_TABLE, chains: [], maps: [] };
        table.chains = [...table.chains, ...mesh.chains].sort(byName);
        sb.nft = table;
        sb.rules.push(...mesh.rules);
        sb.routes.push(...mesh.routes);
        sb.rpFilter = mesh.rpFilter;
      }
      const policy = opts.policies?.get(owner.id);
      if (policy) {
        const p = policyChains(policy, {
          owner: owner.id,
          logDenied: opts.policyLogDenied === true,
        });
        if (p.chains.length > 0) {
          const table = sb.nft ?? { family: "ip", name: NFT_TABLE, chains: [], maps: [] };
          table.chains = [...table.chains, ...p.chains].sort(byName);
          table.maps = [...table.maps, ...p.maps].sort(byName);
          sb.nft = table;
        }
      }
      // A task is an endpoint, never a router between its networks.
      sb.forwarding = false;
    }
    sandboxes.push(sb);
  }

  const networks = [...netPorts].map(([id, ports]) =>
    networkNamespace(view, overlays.get(id)!, ports, prefix, hostNs),
  );
  const host = emptyNamespace(hostNs, "host");
  let nft: NftTable | undefined;
  if (hostPorts.length > 0) {
    host.links.push({
      name: GW_BRIDGE,
      kind: "bridge",
      up: true,
      alias: OWNER_ALIAS,
      addresses: [`${gwGateway}/${gwSubnet.prefix}`],
    });
    host.links.push(...hostPorts);
    nft = gatewayTable(gwSubnetText);
    const published = hostPublishing(view, opts.gwAddresses, meshEndpoint(view) !== undefined);
    if (published) {
      nft.chains = [...nft.chains, ...published.chains].sort(byName);
      nft.maps = [...nft.maps, ...published.maps].sort(byName);
      // Published connections are translated towards a sandbox: let them in.
      const forward = nft.chains.find((c) => c.name === "forward")!;
      const drop = forward.rules.length - 1;
      forward.rules = [...forward.rules.slice(0, drop), FORWARD_DNAT_RULE, forward.rules[drop]!];
    }
  }
  const state: KernelState = {
    host: sortNamespace(host),
    namespaces: [...networks, ...sandboxes].map(sortNamespace).sort(byName),
  };
  if (nft) {
    state.host.nft = nft;
    state.host.forwarding = true;
  }
  checkUnique(state);
  return state;
}

function networkNamespace(
  view: NodeView,
  net: Network,
  ports: Link[],
  prefix: string,
  hostNs: NsRef,
): Namespace {
  const ns = emptyNamespace(networkNsName(prefix, net.id), "network");
  if (net.vni === undefined) throw bad(`overlay network ${net.name} has no VXLAN id`);
  const local = view.node.dataPathAddr;
  hostCidr(`${local}/32`, `node ${view.node.hostname} data-path address`);
  const mtu = networkMtu(net);
  const gateways = net.ipam
    .filter((c) => c.gateway)
    .map((c) => `${c.gateway}/${hostCidr(c.subnet, `network ${net.name} subnet`).prefix}`);
  ns.links.push(
    { name: BRIDGE, kind: "bridge", mtu, up: true, addresses: gateways },
    {
      name: VXLAN,
      kind: "vxlan",
      mtu,
      up: true,
      master: BRIDGE,
      vxlan: {
        vni: net.vni,
        port: view.dataPathPort,
        local,
        underlay: hostNs,
        learning: false,
        proxy: true,
      },
    },
    ...ports,
  );
  // Endpoints elsewhere: their MAC is reached through their node's VTEP, and
  // ARP for their IP is answered by vxlan0 itself (proxy) — nothing floods.
  const seen = new Set<string>();
  for (const ep of view.endpoints) {
    if (ep.networkId !== net.id || ep.nodeId === view.node.id) continue;
    if (!ep.dataPathAddr || ep.dataPathAddr === local) continue;
    const { ip } = hostCidr(ep.address, `endpoint ${ep.ownerId} on ${net.name}`);
    if (seen.has(ip)) continue;
    seen.add(ip);
    const mac = macFromIp(ip);
    ns.fdb.push({ dev: VXLAN, mac, dst: ep.dataPathAddr });
    ns.neigh.push({ dev: VXLAN, ip, mac });
  }
  return ns;
}

/** Two owners whose ids share 12 characters, or a hash collision, would make
 * two objects with one name: refuse rather than let one overwrite the other. */
function checkUnique(state: KernelState): void {
  const names = new Set<string>();
  for (const ns of [state.host, ...state.namespaces]) {
    if (names.has(ns.name)) throw bad(`two objects would share the namespace ${ns.name}`);
    names.add(ns.name);
    const links = new Set<string>();
    for (const l of ns.links) {
      checkIfName(l.name);
      if (links.has(l.name)) throw bad(`two devices would share the name ${l.name} in ${ns.name}`);
      links.add(l.name);
    }
  }
}
