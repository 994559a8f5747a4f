// What the embedded DNS answers, per sandbox: computed from the node's view,
// pure. Each local task or container (an "asker") sees the names of the
// networks it is attached to, in its attachment order — the first network
// that has a name answers it, as in Docker — and nothing of networks it does
// not share.
//
// Names on a network (all lower-case):
//   <service>, its aliases on that network, and for a stack service `S_x`
//   (label com.docker.stack.namespace=S) also `x` and `x.S`:
//       vip mode: the service's VIP on that network; dnsrr: its live tasks there.
//   tasks.<service>, tasks.<alias>, tasks.<x>: the live tasks there (both modes).
//   <service>.<slot>.<taskid>, <service>.<slot>: that task's address.
//   a container's name and its aliases: its address (an alias shared by several
//       containers answers all of them).
//   d.c.b.a.in-addr.arpa: live task → its full task name, container → its name,
//       VIP → the service name.
// When two sources give the same name, a service's (VIP, dnsrr list, tasks.*)
// wins over a task's or container's own; equals merge their addresses.
// The ingress network has no names (as in Docker: it only carries the routing
// mesh), and only live endpoints are ever answered.
import { type Cidr, contains, parseCidrHost, toCidr, tryParseIp } from "../core/ipam/index.ts";
import { isTerminal, type Network, type Service } from "../core/model.ts";
import type { Endpoint, NodeView } from "../core/node-view.ts";

// TTLs. A VIP lives as long as its service, so clients may keep it a little;
// 10 s bounds how long a removed-and-recreated service's old VIP is used.
// Everything that names a task or container (dnsrr lists, tasks.*, task and
// container names, PTR) gets 0: those addresses come and go with every
// rescheduling, and a cached dead address is exactly the stale-answer trouble
// Docker's 600 s TTL is known for. Asking again costs a loopback round trip.
export const VIP_TTL = 10;
export const ENDPOINT_TTL = 0;

export const STACK_NAMESPACE_LABEL = "com.docker.stack.namespace";

/** A name's A records. Empty: the name is ours but nothing behind it is live (NXDOMAIN, not forwarded). */
export interface NameRecord {
  /** IPv4 addresses as uint32, in a stable order; the server rotates lists of more than one. */
  addrs: number[];
  ttl: number;
}

/** The names of one network, shared by every asker attached to it. */
export interface NetworkNames {
  networkId: string;
  names: Map<string, NameRecord>;
  /** "d.c.b.a.in-addr.arpa" → name. */
  ptr: Map<string, string>;
  /** Reverse names of addresses in these are ours even when nobody has them (no leak upstream). */
  subnets: Cidr[];
}

export interface Asker {
  /** The networks it shares names with, in its attachment order. */
  networks: NetworkNames[];
  /** Attached to a network that is not internal: names that are not ours may be forwarded. */
  egress: boolean;
}

export interface DnsTable {
  /** By task or container id. */
  askers: Map<string, Asker>;
}

export type Resolution =
  | { kind: "a"; record: NameRecord }
  | { kind: "ptr"; name: string; ttl: number }
  /** Ours, but no such name or nothing live behind it. */
  | { kind: "nxdomain" }
  /** Not ours: ask the upstream resolvers. */
  | { kind: "forward" }
  /** Not ours, and the asker may not reach outside (internal networks only). */
  | { kind: "servfail" }
  /** Nobody we know asked (a sandbox the table no longer has). */
  | { kind: "refused" };

export function dnsTable(view: NodeView): DnsTable {
  const networks = new Map<string, Network>(view.networks.map((n) => [n.id, n]));
  const byNetwork = new Map<string, NetworkNames>();
  const endpoints = groupBy(view.endpoints, (e) => e.networkId);
  for (const n of view.networks) {
    if (n.ingress) continue;
    byNetwork.set(n.id, networkNames(n, view.services, endpoints.get(n.id) ?? []));
  }
  const askers = new Map<string, Asker>();
  const owners = [
    ...view.tasks.filter((t) => t.nodeId === view.node.id),
    ...view.containers.filter((c) => c.nodeId === view.node.id),
  ];
  for (const o of owners) {
    // The same test as the agent's for "has a sandbox": meant to run and not ended.
    if (o.desiredState !== "running" || isTerminal(o.status.state)) continue;
    const attached: NetworkNames[] = [];
    // As render.ts: a sandbox on no network at all still has the gateway leg.
    let egress = o.networks.length === 0;
    for (const att of o.networks) {
      const n = networks.get(att.networkId);
      if (!n) continue;
      if (!n.internal) egress = true;
      const names = byNetwork.get(n.id);
      if (names && !attached.includes(names)) attached.push(names);
    }
    askers.set(o.id, { networks: attached, egress });
  }
  return { askers };
}

/** How to answer `qname` (lower-case, no trailing dot) asked by `askerId`. */
export function resolve(table: DnsTable, askerId: string, qname: string): Resolution {
  const asker = table.askers.get(askerId);
  if (!asker) return { kind: "refused" };
  let known = false;
  for (const n of asker.networks) {
    const record = n.names.get(qname);
    if (!record) continue;
    if (record.addrs.length > 0) return { kind: "a", record };
    // Ours but empty here: a later network may still have it live.
    known = true;
  }
  if (qname.endsWith(".in-addr.arpa")) {
    for (const n of asker.networks) {
      const name = n.ptr.get(qname);
      if (name !== undefined) return { kind: "ptr", name, ttl: ENDPOINT_TTL };
    }
    const ip = reverseToIp(qname);
    if (ip >= 0 && asker.networks.some((n) => n.subnets.some((c) => contains(c, ip)))) {
      known = true;
    }
  }
  if (known) return { kind: "nxdomain" };
  // A bare name that is not ours stays here: forwarding it would leak the
  // sandbox's lookups (and search-list guesses) to the outside resolvers.
  if (qname !== "" && !qname.includes(".")) return { kind: "nxdomain" };
  return asker.egress ? { kind: "forward" } : { kind: "servfail" };
}

function networkNames(network: Network, services: Service[], endpoints: Endpoint[]): NetworkNames {
  const names = new Map<string, NameRecord & { fromService: boolean }>();
  const ptr = new Map<string, string>();
  const add = (name: string, addrs: number[], ttl: number, fromService: boolean) => {
    const key = name.toLowerCase();
    const had = names.get(key);
    if (!had || (fromService && !had.fromService)) {
      names.set(key, { addrs: [...addrs], ttl, fromService });
    } else if (fromService === had.fromService) {
      for (const a of addrs) if (!had.addrs.includes(a)) had.addrs.push(a);
      had.ttl = Math.min(had.ttl, ttl);
    }
  };
  const addPtr = (ip: number, name: string) => {
    const key = reverseName(ip);
    if (!ptr.has(key)) ptr.set(key, name.toLowerCase());
  };

  const live = endpoints.filter((e) => e.live && e.kind !== "ingress");
  const tasksOf = groupBy(
    live.filter((e) => e.kind === "task"),
    (e) => e.serviceId,
  );

  for (const s of services) {
    const attachment = s.spec.networks.find((a) => a.target === network.id);
    const vip = s.endpoint.virtualIps.find((v) => v.networkId === network.id);
    if (!attachment && !vip) continue;
    const taskAddrs = sortedAddrs(tasksOf.get(s.id) ?? []);
    const front = s.spec.endpoint.mode === "dnsrr" ? taskAddrs : vip ? [ipOf(vip.addr)] : [];
    const frontTtl = s.spec.endpoint.mode === "dnsrr" ? ENDPOINT_TTL : VIP_TTL;
    const serviceNames = [s.spec.name, ...(attachment?.aliases ?? [])];
    const stack = stackName(s);
    if (stack) serviceNames.push(stack.short);
    for (const name of serviceNames) {
      add(name, front, frontTtl, true);
      add(`tasks.${name}`, taskAddrs, ENDPOINT_TTL, true);
    }
    if (stack) add(`${stack.short}.${stack.namespace}`, front, frontTtl, true);
    if (s.spec.endpoint.mode !== "dnsrr" && vip) addPtr(ipOf(vip.addr), s.spec.name);
  }

  for (const e of endpoints) {
    if (e.kind === "ingress") continue;
    // A task that is not live keeps its names known (NXDOMAIN rather than a
    // trip upstream) but has no address behind them.
    const addrs = e.live ? [ipOf(e.address)] : [];
    for (const name of e.names) add(name, addrs, ENDPOINT_TTL, false);
    // A task's aliases are its service's, answered above as the service.
    if (e.kind === "container")
      for (const alias of e.aliases) add(alias, addrs, ENDPOINT_TTL, false);
    if (e.live && e.names.length > 0) addPtr(addrs[0]!, e.names[0]!);
  }

  const subnets = network.ipam.map((c) => toCidr(c.subnet));
  const out = new Map<string, NameRecord>();
  for (const [k, v] of names) out.set(k, { addrs: v.addrs, ttl: v.ttl });
  return { networkId: network.id, names: out, ptr, subnets };
}

/** A stack service's name within its stack: `S_x` labelled with namespace S gives x. */
function stackName(s: Service): { namespace: string; short: string } | undefined {
  const namespace = s.spec.labels[STACK_NAMESPACE_LABEL];
  if (!namespace || !s.spec.name.startsWith(`${namespace}_`)) return undefined;
  const short = s.spec.name.slice(namespace.length + 1);
  return short ? { namespace: namespace.toLowerCase(), short } : undefined;
}

function sortedAddrs(endpoints: Endpoint[]): number[] {
  return endpoints.map((e) => ipOf(e.address)).sort((a, b) => a - b);
}

/** The address of "10.0.1.5/24" (or of a bare "10.0.1.5") as a uint32. */
function ipOf(addr: string): number {
  return addr.includes("/") ? parseCidrHost(addr).ip : tryParseIp(addr);
}

/** "d.c.b.a.in-addr.arpa" for a.b.c.d. */
export function reverseName(ip: number): string {
  return `${ip & 255}.${(ip >>> 8) & 255}.${(ip >>> 16) & 255}.${ip >>> 24}.in-addr.arpa`;
}

/** The address a full reverse name stands for; -1 for anything else (partial zones included). */
export function reverseToIp(qname: string): number {
  const parts = qname.split(".");
  if (parts.length !== 6) return -1;
  return tryParseIp(`${parts[3]}.${parts[2]}.${parts[1]}.${parts[0]}`);
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}
