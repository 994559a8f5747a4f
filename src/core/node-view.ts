// What one node must know to run its share of the cluster: its tasks, the
// networks they attach to, every endpoint on those networks (on any node,
// with the node's data-path address for VXLAN), and the services whose VIPs
// live there. While any service publishes a port in ingress mode, every node
// also gets the ingress network, every node's ingress endpoint and every such
// service: the routing mesh answers on all nodes. The dispatcher streams this
// to the node's agent; the agent renders kernel state from it. Pure: the same
// inputs give the same view.
import {
  type Container,
  isTerminal,
  type Network,
  type Node,
  type Service,
  type Task,
} from "./model.ts";

export type EndpointKind = "task" | "container" | "ingress";

export interface Endpoint {
  networkId: string;
  kind: EndpointKind;
  /** Task or container id; for the routing mesh's per-node ingress sandbox, `ingress-<nodeId>`. */
  ownerId: string;
  /** "" for containers and ingress sandboxes. */
  serviceId: string;
  nodeId: string;
  /** CIDR notation. */
  address: string;
  dataPathAddr: string;
  /** DNS names of this endpoint itself: a task's `<service>.<slot>.<id>` and
   * `<service>.<slot>`, a container's name; empty for ingress sandboxes. */
  names: string[];
  /** Network aliases on this network (the service's for tasks, the container's own). */
  aliases: string[];
  /** Running and meant to run: in DNS and behind VIPs. A task leaves as soon as it is
   * told to stop (before its process is gone) and enters once it runs, which is after
   * its networking is ready. */
  live: boolean;
}

/** One direction of what a sandbox enforces (see policy/enforce.ts): nftables
 * verdict-map elements, each naming the outcome its packets get. Elements of
 * different outcomes never merge, so a packet's element says which rule
 * decided it (each element counts its packets and bytes). Not in any element:
 * the end of the tier (selected, no rule matched): dropped. */
export interface PolicyDirectionSets {
  /** `ipv4_addr . inet_proto . inet_service` elements (TCP, UDP), as nft
   * prints them ("10.0.1.5 . tcp . 80"), → index in `outcomes`. */
  ports: Record<string, number>;
  /** `ipv4_addr . inet_proto` elements (ICMP), "10.0.1.5 . icmp" → index. */
  other: Record<string, number>;
  outcomes: PolicyOutcome[];
}

/** What the packets of an element get, and why. */
export interface PolicyOutcome {
  action: "accept" | "drop";
  /** The rule that decided, as `explain` names it: "back/big ingress[3]". */
  rule: string;
  /** Calico Log rules that matched before it, in order ("x/audit ingress[0]"). */
  logs: string[];
}

/** What one sandbox enforces; a direction is absent when no policy selects
 * the sandbox in it (everything on its networks may talk). */
export interface SandboxPolicySets {
  ingress?: PolicyDirectionSets;
  egress?: PolicyDirectionSets;
}

export interface NodeView {
  node: Node;
  dataPathPort: number;
  tasks: Task[];
  containers: Container[];
  networks: Network[];
  endpoints: Endpoint[];
  services: Service[];
  /** Owner id → its policy sets, for local sandboxes some policy selects. */
  policySets?: Record<string, SandboxPolicySets>;
  /** Denied packets are logged with the rule that denied them (`swarmnet
   * policy logging on`), besides the packets of Log rules which always are. */
  policyLogDenied?: boolean;
}

export interface ViewInputs {
  node: Node;
  dataPathPort: number;
  nodes: Node[];
  networks: Network[];
  services: Service[];
  tasks: Task[];
  containers: Container[];
}

export function nodeView(input: ViewInputs): NodeView {
  const nodeId = input.node.id;
  const tasks = input.tasks
    .filter((t) => t.nodeId === nodeId)
    .sort((a, b) => a.id.localeCompare(b.id));
  const containers = input.containers.filter((c) => c.nodeId === nodeId);
  const networkIds = new Set<string>();
  for (const owner of [...tasks, ...containers])
    for (const att of owner.networks) networkIds.add(att.networkId);
  // The routing mesh: once a port is published, every node accepts it and forwards
  // it over the ingress network, tasks of its own or not.
  const ingress = input.networks.find((n) => n.ingress);
  const mesh = ingress !== undefined && input.services.some(publishesIngress);
  if (mesh) networkIds.add(ingress.id);
  const networks = input.networks.filter((n) => networkIds.has(n.id));
  const dataPath = new Map(input.nodes.map((n) => [n.id, n.dataPathAddr]));
  const endpoints: Endpoint[] = [];
  const servicesById = new Map(input.services.map((s) => [s.id, s] as const));
  const owners: Owner[] = [
    ...input.tasks.map((t) => taskOwner(t, servicesById.get(t.serviceId))),
    ...input.containers.map(containerOwner),
  ];
  for (const owner of owners) {
    if (!owner.nodeId) continue;
    for (const att of owner.networks) {
      if (!networkIds.has(att.networkId)) continue;
      for (const address of att.addresses) {
        endpoints.push({
          networkId: att.networkId,
          kind: owner.kind,
          ownerId: owner.id,
          serviceId: owner.serviceId,
          nodeId: owner.nodeId,
          address,
          dataPathAddr: dataPath.get(owner.nodeId) ?? "",
          names: owner.names,
          aliases: att.aliases,
          live: owner.live,
        });
      }
    }
  }
  if (mesh) {
    for (const node of input.nodes) {
      if (!node.ingressAddr) continue;
      endpoints.push({
        networkId: ingress.id,
        kind: "ingress",
        ownerId: `ingress-${node.id}`,
        serviceId: "",
        nodeId: node.id,
        address: node.ingressAddr,
        dataPathAddr: node.dataPathAddr,
        names: [],
        aliases: [],
        live: true,
      });
    }
  }
  endpoints.sort(
    (a, b) => a.networkId.localeCompare(b.networkId) || a.address.localeCompare(b.address),
  );
  const localServices = new Set(tasks.map((t) => t.serviceId));
  const services = input.services.filter(
    (s) =>
      // Its own tasks' services, always: the agent runs their command (a
      // service on no network at all still has one).
      localServices.has(s.id) ||
      s.endpoint.virtualIps.some((v) => networkIds.has(v.networkId)) ||
      s.spec.networks.some((n) => networkIds.has(n.target)) ||
      // Every node serves the mesh's ports (a host-mode port only where a
      // task runs: its service is local, above).
      publishesIngress(s),
  );
  return {
    node: input.node,
    dataPathPort: input.dataPathPort,
    tasks,
    containers,
    networks,
    endpoints,
    services,
  };
}

function publishesIngress(s: Service): boolean {
  return s.endpoint.ports.some((p) => p.publishMode === "ingress");
}

interface Owner {
  kind: EndpointKind;
  id: string;
  serviceId: string;
  nodeId: string;
  networks: Task["networks"];
  names: string[];
  live: boolean;
}

/** Docker's task name: `<service>.<slot>.<id>`, or `<service>.<node id>.<id>` for global services. */
export function taskName(service: Service, task: Task): string {
  return task.slot > 0
    ? `${service.spec.name}.${task.slot}.${task.id}`
    : `${service.spec.name}.${task.nodeId}.${task.id}`;
}

function isLive(o: Pick<Task, "desiredState" | "status">): boolean {
  return (
    o.desiredState === "running" && o.status.state === "running" && !isTerminal(o.status.state)
  );
}

function taskOwner(t: Task, service: Service | undefined): Owner {
  const names: string[] = [];
  if (service) {
    names.push(taskName(service, t));
    if (t.slot > 0) names.push(`${service.spec.name}.${t.slot}`);
  }
  return {
    kind: "task",
    id: t.id,
    serviceId: t.serviceId,
    nodeId: t.nodeId,
    networks: t.networks,
    names,
    live: isLive(t),
  };
}

function containerOwner(c: Container): Owner {
  return {
    kind: "container",
    id: c.id,
    serviceId: "",
    nodeId: c.nodeId,
    networks: c.networks,
    names: [c.name],
    live: isLive(c),
  };
}
