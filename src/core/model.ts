// The cluster model: what the manager stores and hands to agents. Plain data
// (JSON-serialisable), no behaviour — logic lives in the modules that use it.
// Field names follow Docker's swarm objects where Docker has the same thing,
// in camelCase; the Docker-compatible API maps them to Docker's exact shapes.

import type { Policy } from "../policy/model.ts";

/** Every stored object carries these: `version` increments on each write and
 * guards updates (optimistic concurrency, as Docker's `version` parameter). */
export interface Meta {
  id: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export type NodeRole = "manager" | "worker";
export type NodeAvailability = "active" | "pause" | "drain";
export type NodeState = "unknown" | "down" | "ready" | "disconnected";

export interface Node extends Meta {
  hostname: string;
  role: NodeRole;
  availability: NodeAvailability;
  /** Address other nodes and the managers use for the control plane. */
  advertiseAddr: string;
  /** Address used for VXLAN traffic (defaults to advertiseAddr). */
  dataPathAddr: string;
  state: NodeState;
  /** Human-readable reason for the state (Docker's `Status.Message`). */
  message: string;
  labels: Record<string, string>;
  leader: boolean;
  /** The node's own address on the ingress network (CIDR, "10.0.0.2/24"): Docker's
   * "ingress-sbox" endpoint, through which the routing mesh reaches tasks on other
   * nodes. Held while the node and the ingress network both exist. */
  ingressAddr?: string;
}

export type NetworkDriver = "overlay" | "bridge" | "macvlan" | "host" | "null";
export type NetworkScope = "swarm" | "local";

export interface IpamConfig {
  subnet: string;
  gateway: string;
  ipRange?: string;
  auxAddresses: Record<string, string>;
}

export interface Network extends Meta {
  name: string;
  driver: NetworkDriver;
  scope: NetworkScope;
  attachable: boolean;
  internal: boolean;
  ingress: boolean;
  /** Created by swarmnet itself (docker_gwbridge, host, none); cannot be removed. */
  predefined: boolean;
  /** Empty for drivers without addresses (host, null). */
  ipam: IpamConfig[];
  /** Driver options as given (`encrypted`, `com.docker.network.driver.mtu`, ...). */
  options: Record<string, string>;
  labels: Record<string, string>;
  /** VXLAN network identifier, overlay networks only. */
  vni?: number;
}

export type Protocol = "tcp" | "udp" | "sctp";
export type PublishMode = "ingress" | "host";

export interface PortConfig {
  protocol: Protocol;
  targetPort: number;
  /** 0 in a spec means "allocate one from the dynamic range" (ingress mode) or "none" (host mode). */
  publishedPort: number;
  publishMode: PublishMode;
}

export interface NetworkAttachmentSpec {
  /** Network id. */
  target: string;
  aliases: string[];
}

export type ServiceMode = { replicated: { replicas: number } } | { global: Record<string, never> };
export type EndpointMode = "vip" | "dnsrr";

export interface ServiceSpec {
  name: string;
  labels: Record<string, string>;
  /** Labels every task of the service carries as well (Docker's ContainerSpec.Labels). */
  containerLabels: Record<string, string>;
  /** Kept as documentation; swarmnet runs `command`, not images. */
  image: string;
  /** Empty: swarmnet's built-in responder. */
  command: string[];
  /** The process's environment, Docker's "KEY=value" form (absent: none). */
  env?: string[];
  mode: ServiceMode;
  networks: NetworkAttachmentSpec[];
  endpoint: { mode: EndpointMode; ports: PortConfig[] };
  placement: { constraints: string[] };
}

export interface VirtualIp {
  networkId: string;
  /** CIDR notation, as Docker shows it: "10.0.1.2/24". */
  addr: string;
}

export interface Service extends Meta {
  spec: ServiceSpec;
  previousSpec?: ServiceSpec;
  /** Ports as allocated (published ports filled in) and one VIP per attached network in vip mode. */
  endpoint: { ports: PortConfig[]; virtualIps: VirtualIp[] };
}

/** Task lifecycle, in order, as swarmkit's TaskState. */
export const TASK_STATES = [
  "new",
  "pending",
  "assigned",
  "accepted",
  "preparing",
  "starting",
  "running",
  "complete",
  "shutdown",
  "failed",
  "rejected",
  "remove",
  "orphaned",
] as const;
export type TaskState = (typeof TASK_STATES)[number];
export type DesiredTaskState = "running" | "shutdown" | "remove";

export interface NetworkAttachment {
  networkId: string;
  /** CIDR notation: "10.0.1.5/24". */
  addresses: string[];
  aliases: string[];
}

export interface Task extends Meta {
  serviceId: string;
  /** Replicated services: 1..N. Global services: 0 (the node identifies the task). */
  slot: number;
  nodeId: string;
  desiredState: DesiredTaskState;
  status: { state: TaskState; message: string; err: string; timestamp: string };
  networks: NetworkAttachment[];
  /** The service version whose spec this task runs. */
  serviceVersion: number;
}

/** A standalone task started with `swarmnet run` on an attachable network. */
export interface Container extends Meta {
  name: string;
  nodeId: string;
  labels: Record<string, string>;
  command: string[];
  networks: NetworkAttachment[];
  desiredState: DesiredTaskState;
  status: { state: TaskState; message: string; err: string; timestamp: string };
}

export interface Cluster extends Meta {
  /** Pools overlay subnets are carved from (Docker's --default-addr-pool). */
  defaultAddrPool: string[];
  /** Prefix length of each carved subnet (Docker's --default-addr-pool-mask-length). */
  subnetSize: number;
  dataPathPort: number;
  joinTokens: { worker: string; manager: string };
  /** The cluster's root CA (PEM). The key never leaves the managers: APIs strip it (see publicCluster). */
  ca: { certPem: string; keyPem: string };
  /** Address agents dial: the first manager's advertise address and port 2377. */
  managerAddr: string;
  /** Denied packets are logged with the rule that denied them (`swarmnet
   * policy logging on`); absent: off. Shipped as NodeView.policyLogDenied. */
  policyLogDenied?: boolean;
}

/** A network policy as applied (`swarmnet policy apply`): the compiled
 * policy, kept with the file it came from so `policy inspect` shows what was
 * written. `id` is stable across re-applies of the same name. */
export interface StoredPolicy extends Meta {
  /** The policy's name (see Policy.name): what `policy rm` takes. */
  name: string;
  /** The file as the client named it, and the text of the policy's YAML
   * document in it, which starts on line `line`. */
  file: string;
  text: string;
  line: number;
  policy: Policy;
}

export function isTerminal(state: TaskState): boolean {
  return TASK_STATES.indexOf(state) >= TASK_STATES.indexOf("complete");
}

/** Before `accepted`, no agent has touched the task: it can be deleted outright. */
export function isUnstarted(state: TaskState): boolean {
  return TASK_STATES.indexOf(state) <= TASK_STATES.indexOf("assigned");
}

/** The cluster as APIs show it: everything but the CA's private key. */
export function publicCluster(c: Cluster): Omit<Cluster, "ca"> & { ca: { certPem: string } } {
  return { ...c, ca: { certPem: c.ca.certPem } };
}
