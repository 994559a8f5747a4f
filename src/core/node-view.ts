// What one node must know to run its share of the cluster: its tasks, the
// networks they attach to, every endpoint on those networks (on any node,
// with the node's data-path address for VXLAN), and the services whose VIPs
// live there. The dispatcher streams this to the node's agent; the agent
// renders kernel state from it. Pure: the same inputs give the same view.
import type { Container, Network, Node, Service, Task } from "./model.ts";

export interface Endpoint {
  networkId: string;
  /** Task or container id. */
  ownerId: string;
  serviceId: string;
  nodeId: string;
  /** CIDR notation. */
  address: string;
  dataPathAddr: string;
}

export interface NodeView {
  node: Node;
  dataPathPort: number;
  tasks: Task[];
  containers: Container[];
  networks: Network[];
  endpoints: Endpoint[];
  services: Service[];
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
  const networks = input.networks.filter((n) => networkIds.has(n.id));
  const dataPath = new Map(input.nodes.map((n) => [n.id, n.dataPathAddr]));
  const endpoints: Endpoint[] = [];
  const owners: { id: string; serviceId: string; nodeId: string; networks: Task["networks"] }[] = [
    ...input.tasks,
    ...input.containers.map((c) => ({ ...c, serviceId: "" })),
  ];
  for (const owner of owners) {
    if (!owner.nodeId) continue;
    for (const att of owner.networks) {
      if (!networkIds.has(att.networkId)) continue;
      for (const address of att.addresses) {
        endpoints.push({
          networkId: att.networkId,
          ownerId: owner.id,
          serviceId: owner.serviceId,
          nodeId: owner.nodeId,
          address,
          dataPathAddr: dataPath.get(owner.nodeId) ?? "",
        });
      }
    }
  }
  endpoints.sort(
    (a, b) => a.networkId.localeCompare(b.networkId) || a.address.localeCompare(b.address),
  );
  const services = input.services.filter(
    (s) =>
      s.endpoint.virtualIps.some((v) => networkIds.has(v.networkId)) ||
      s.spec.networks.some((n) => networkIds.has(n.target)),
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
