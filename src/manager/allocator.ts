// Everything the manager hands out: overlay subnets from the default pools,
// endpoint addresses (task addresses, VIPs, nodes' ingress addresses), VXLAN
// ids and published ports.
// Its state is derivable from the stored objects (`rebuild`), so it is never
// persisted itself; each allocation registers its undo with the Tx so a failed
// operation leaves nothing allocated.
import { conflict, invalid } from "../core/errors.ts";
import {
  AddressPool,
  checkNoOverlap,
  IdAllocator,
  IpamError,
  isIpamError,
  SubnetPools,
} from "../core/ipam/index.ts";
import type { Cluster, IpamConfig, Network, PortConfig, Service } from "../core/model.ts";
import type { CheckedNetworkRequest } from "../core/network-spec.ts";
import { DYNAMIC_PORT_RANGE } from "../core/ports.ts";
import type { ClusterState, Tx } from "./state.ts";

export const VNI_MIN = 4096;
export const VNI_MAX = 16_777_215;

/** Turns IPAM's typed errors into the API's (all of them are bad input or exhaustion). */
function ipam<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof IpamError) throw invalid(err.message);
    throw err;
  }
}

export class Allocator {
  private subnetPools: SubnetPools;
  private readonly pools = new Map<string, AddressPool>();
  private readonly vnis = new IdAllocator(VNI_MIN, VNI_MAX);
  /** "tcp/8080" -> service id, for ports published in ingress mode. */
  private readonly ingressPorts = new Map<string, string>();

  constructor(cluster: Pick<Cluster, "defaultAddrPool" | "subnetSize">) {
    this.subnetPools = ipam(
      () => new SubnetPools({ pools: cluster.defaultAddrPool, maskLength: cluster.subnetSize }),
    );
  }

  /** Re-reserves everything the stored objects hold, after a restart. */
  rebuild(state: ClusterState): void {
    for (const net of state.list("networks")) this.adoptNetwork(net);
    for (const svc of state.list("services")) {
      for (const vip of svc.endpoint.virtualIps)
        this.pools.get(vip.networkId)?.reserve(hostOf(vip.addr));
      for (const p of svc.endpoint.ports) {
        if (p.publishMode === "ingress" && p.publishedPort)
          this.ingressPorts.set(portKey(p), svc.id);
      }
    }
    const ingress = state.list("networks").find((n) => n.ingress);
    for (const node of state.list("nodes")) {
      if (ingress && node.ingressAddr)
        this.pools.get(ingress.id)?.reserve(hostOf(node.ingressAddr));
    }
    for (const owner of [...state.list("tasks"), ...state.list("containers")]) {
      for (const att of owner.networks) {
        for (const addr of att.addresses) this.pools.get(att.networkId)?.reserve(hostOf(addr));
      }
    }
  }

  private adoptNetwork(net: Network): void {
    if (net.vni !== undefined) this.vnis.reserve(net.vni);
    const cfg = net.ipam[0];
    if (cfg && net.scope === "swarm") {
      this.pools.set(net.id, new AddressPool({ ...cfg, label: net.name }));
    }
  }

  /** Picks (or checks) the subnet, gateway and VXLAN id of a new network. */
  allocateNetwork(
    tx: Tx,
    id: string,
    req: CheckedNetworkRequest,
    existing: Network[],
  ): Pick<Network, "ipam" | "vni"> {
    if (req.driver !== "overlay") {
      // Local-scope networks are programmed per node; their addresses are not the cluster's to hand out.
      const cfg = req.ipam[0];
      return {
        ipam: cfg?.subnet ? [{ ...cfg, subnet: cfg.subnet, gateway: cfg.gateway ?? "" }] : [],
      };
    }
    const inUse = existing
      .filter((n) => n.scope === "swarm")
      .flatMap((n) => n.ipam.map((c) => ({ name: n.name, subnet: c.subnet })));
    const wanted = req.ipam[0];
    const subnet = wanted?.subnet ?? ipam(() => this.carveSubnet(req.name, inUse));
    const pool = ipam(() => {
      if (wanted?.subnet) checkNoOverlap(wanted.subnet, inUse);
      return new AddressPool({
        subnet,
        gateway: wanted?.gateway,
        ipRange: wanted?.ipRange,
        auxAddresses: wanted?.auxAddresses,
        label: req.name,
      });
    });
    let vni: number;
    if (req.vni !== undefined) {
      if (this.vnis.isAllocated(req.vni))
        throw conflict(`VXLAN id ${req.vni} is already in use by another network`);
      if (req.vni < VNI_MIN)
        throw invalid(`VXLAN id ${req.vni} is below ${VNI_MIN}, the first id swarmnet manages`);
      vni = req.vni;
      this.vnis.allocateSpecific(vni);
    } else {
      vni = ipam(() => this.vnis.allocate());
    }
    this.pools.set(id, pool);
    tx.onUndo(() => {
      this.pools.delete(id);
      this.vnis.release(vni);
    });
    const cfg: IpamConfig = {
      subnet: pool.subnet,
      gateway: pool.gateway,
      auxAddresses: wanted?.auxAddresses ?? {},
    };
    if (wanted?.ipRange) cfg.ipRange = wanted.ipRange;
    return { ipam: [cfg], vni };
  }

  /** The first free subnet of the default pools; exhaustion names the network and the pools. */
  private carveSubnet(name: string, inUse: { subnet: string }[]): string {
    try {
      return this.subnetPools.allocate(inUse.map((u) => u.subnet));
    } catch (err) {
      if (!isIpamError(err, "IPAM_POOL_EXHAUSTED")) throw err;
      const pools = this.subnetPools.pools.join(", ");
      throw new IpamError(
        "IPAM_POOL_EXHAUSTED",
        `${err.message} ${name} (every /${this.subnetPools.maskLength} of ${pools} is in use)`,
      );
    }
  }

  releaseNetwork(tx: Tx, net: Network): void {
    const pool = this.pools.get(net.id);
    this.pools.delete(net.id);
    if (net.vni !== undefined) this.vnis.release(net.vni);
    tx.onUndo(() => {
      if (pool) this.pools.set(net.id, pool);
      if (net.vni !== undefined) this.vnis.reserve(net.vni);
    });
  }

  /** One endpoint address on a network, in CIDR notation ("10.0.1.5/24"). */
  allocateAddress(tx: Tx, networkId: string): string {
    const pool = this.pools.get(networkId);
    if (!pool) throw invalid(`network ${networkId} has no address pool`);
    const ip = ipam(() => pool.allocate());
    tx.onUndo(() => pool.release(ip));
    return `${ip}/${pool.subnet.split("/")[1]}`;
  }

  releaseAddress(tx: Tx, networkId: string, addr: string): void {
    const pool = this.pools.get(networkId);
    const ip = hostOf(addr);
    if (!pool?.isAllocated(ip)) return;
    pool.release(ip);
    tx.onUndo(() => pool.reserve(ip));
  }

  /** Addresses in use on a network (endpoints and VIPs), for invariants and tests. */
  addressesInUse(networkId: string): number {
    return this.pools.get(networkId)?.inUse ?? 0;
  }

  /** Checks published ports against other services and fills in dynamic ones. An existing
   * service passes its endpoint: the dynamic ports it holds stay its own across updates. */
  allocatePorts(
    tx: Tx,
    service: Pick<Service, "id"> & { endpoint?: Service["endpoint"] },
    ports: PortConfig[],
    services: Service[],
  ): PortConfig[] {
    const mine = new Set<string>();
    for (const [key, owner] of this.ingressPorts) if (owner === service.id) mine.add(key);
    const added: string[] = [];
    const removed: string[] = [];
    // Registered before the first change: a port refused halfway must also undo the ones taken before it.
    tx.onUndo(() => {
      for (const key of added) this.ingressPorts.delete(key);
      for (const key of removed) this.ingressPorts.set(key, service.id);
    });
    const out: PortConfig[] = [];
    // Ports this request names or has filled in so far: a dynamic one must not take them.
    const taken = new Set(
      ports.filter((p) => p.publishMode === "ingress" && p.publishedPort).map(portKey),
    );
    const held = (service.endpoint?.ports ?? []).filter(
      (h) => h.publishMode === "ingress" && mine.has(portKey(h)),
    );
    for (const p of ports) {
      if (p.publishMode !== "ingress") {
        out.push({ ...p });
        continue;
      }
      let published = p.publishedPort;
      if (published) {
        const owner = this.ingressPorts.get(portKey(p));
        if (owner && owner !== service.id) {
          const other = services.find((s) => s.id === owner);
          throw invalid(
            `port '${published}' is already in use by service '${other?.spec.name ?? owner}' (${owner}) as an ingress port`,
          );
        }
      } else {
        // As swarmkit does: the port already published for this target stays, so an update
        // (a label, another port) never moves the port clients use.
        const same = held.find(
          (h) =>
            h.targetPort === p.targetPort && h.protocol === p.protocol && !taken.has(portKey(h)),
        );
        published = same?.publishedPort ?? this.dynamicPort(p.protocol, taken);
      }
      const key = `${p.protocol}/${published}`;
      taken.add(key);
      if (!mine.has(key) && !added.includes(key)) added.push(key);
      this.ingressPorts.set(key, service.id);
      out.push({ ...p, publishedPort: published });
    }
    const kept = new Set(out.filter((p) => p.publishMode === "ingress").map(portKey));
    for (const key of mine) {
      if (kept.has(key)) continue;
      this.ingressPorts.delete(key);
      removed.push(key);
    }
    return out;
  }

  releasePorts(tx: Tx, serviceId: string): void {
    const removed = [...this.ingressPorts]
      .filter(([, owner]) => owner === serviceId)
      .map(([k]) => k);
    for (const key of removed) this.ingressPorts.delete(key);
    tx.onUndo(() => {
      for (const key of removed) this.ingressPorts.set(key, serviceId);
    });
  }

  private dynamicPort(protocol: string, taken: Set<string>): number {
    for (let port = DYNAMIC_PORT_RANGE.min; port <= DYNAMIC_PORT_RANGE.max; port++) {
      const key = `${protocol}/${port}`;
      if (!this.ingressPorts.has(key) && !taken.has(key)) return port;
    }
    throw invalid(
      `no free published port in the dynamic range ${DYNAMIC_PORT_RANGE.min}-${DYNAMIC_PORT_RANGE.max}`,
    );
  }
}

function portKey(p: Pick<PortConfig, "protocol" | "publishedPort">): string {
  return `${p.protocol}/${p.publishedPort}`;
}

export function hostOf(cidrAddr: string): string {
  const slash = cidrAddr.indexOf("/");
  return slash < 0 ? cidrAddr : cidrAddr.slice(0, slash);
}
