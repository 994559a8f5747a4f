// Cluster objects for data-plane tests: small constructors and two scenarios
// (two nodes with two overlay networks, one internal; two nodes with the
// routing mesh) rendered through the real nodeView(). Used by the unit tests
// and the root tests in linux/.
import type { Network, Node, PortConfig, Service, Task } from "../core/model.ts";
import { type NodeView, nodeView } from "../core/node-view.ts";

const meta = { version: 1, createdAt: "2025-01-01T00:00:00Z", updatedAt: "2025-01-01T00:00:00Z" };

export function node(id: string, dataPathAddr: string): Node {
  return {
    ...meta,
    id,
    hostname: id,
    role: "worker",
    availability: "active",
    advertiseAddr: dataPathAddr,
    dataPathAddr,
    state: "ready",
    message: "",
    labels: {},
    leader: false,
  };
}

export function overlay(
  id: string,
  subnet: string,
  vni: number,
  extra: { internal?: boolean; mtu?: number } = {},
): Network {
  const base = subnet.split("/")[0]!.split(".").slice(0, 3).join(".");
  return {
    ...meta,
    id,
    name: id,
    driver: "overlay",
    scope: "swarm",
    attachable: true,
    internal: extra.internal ?? false,
    ingress: false,
    predefined: false,
    ipam: [{ subnet, gateway: `${base}.1`, auxAddresses: {} }],
    options: extra.mtu ? { "com.docker.network.driver.mtu": String(extra.mtu) } : {},
    labels: {},
    vni,
  };
}

/** attachments: [network id, "10.0.1.2/24"] in attachment order. */
export function task(id: string, nodeId: string, attachments: [string, string][]): Task {
  return {
    ...meta,
    id,
    serviceId: "svc",
    slot: 1,
    nodeId,
    desiredState: "running",
    status: { state: "running", message: "", err: "", timestamp: meta.createdAt },
    networks: attachments.map(([networkId, address]) => ({
      networkId,
      addresses: [address],
      aliases: [],
    })),
    serviceVersion: 1,
  };
}

export interface Cluster {
  nodes: Node[];
  networks: Network[];
  tasks: Task[];
  services?: Service[];
}

export function viewOf(c: Cluster, nodeId: string, dataPathPort = 4789): NodeView {
  return nodeView({
    node: c.nodes.find((n) => n.id === nodeId)!,
    dataPathPort,
    nodes: c.nodes,
    networks: c.networks,
    services: c.services ?? [],
    tasks: c.tasks,
    containers: [],
  });
}

/** Ids long enough to show the 12-character cut in namespace names. */
export const ID = {
  n1: "node1",
  n2: "node2",
  ov1: "ov1aaaaaaaaaaaaaaaaaaaaaa",
  ov2: "ov2bbbbbbbbbbbbbbbbbbbbbb",
  a: "taskaaaaaaaa1111111111111",
  b: "taskbbbbbbbb2222222222222",
  c: "taskcccccccc3333333333333",
  d: "taskdddddddd4444444444444",
  e: "taskeeeeeeee5555555555555",
};

/** ov1: 10.0.1.0/24, VNI 4097. ov2: internal, 10.0.2.0/24, VNI 4098, MTU 1400.
 * node1: a (ov1), c (ov2 only), e (ov1 + ov2). node2: b (ov1), d (ov2). */
export function scenario(addr1 = "198.18.0.1", addr2 = "198.18.0.2"): Cluster {
  return {
    nodes: [node(ID.n1, addr1), node(ID.n2, addr2)],
    networks: [
      overlay(ID.ov1, "10.0.1.0/24", 4097),
      overlay(ID.ov2, "10.0.2.0/24", 4098, { internal: true, mtu: 1400 }),
    ],
    tasks: [
      task(ID.a, ID.n1, [[ID.ov1, "10.0.1.2/24"]]),
      task(ID.b, ID.n2, [[ID.ov1, "10.0.1.3/24"]]),
      task(ID.c, ID.n1, [[ID.ov2, "10.0.2.2/24"]]),
      task(ID.d, ID.n2, [[ID.ov2, "10.0.2.3/24"]]),
      task(ID.e, ID.n1, [
        [ID.ov1, "10.0.1.4/24"],
        [ID.ov2, "10.0.2.4/24"],
      ]),
    ],
  };
}

export const GW = new Map([
  [ID.a, "172.18.0.2"],
  [ID.b, "172.18.0.2"],
  [ID.c, "172.18.0.3"],
  [ID.d, "172.18.0.3"],
  [ID.e, "172.18.0.4/16"],
]);

/** A service in vip mode publishing `ports` (no VIPs: the mesh needs none). */
export function publishing(id: string, ports: PortConfig[]): Service {
  return {
    ...meta,
    id,
    spec: {
      name: id,
      labels: {},
      containerLabels: {},
      image: "",
      command: [],
      mode: { replicated: { replicas: 1 } },
      networks: [],
      endpoint: { mode: "vip", ports },
      placement: { constraints: [] },
    },
    endpoint: { ports, virtualIps: [] },
  };
}

export const MESH = {
  ingress: "ingressaaaaaaaaaaaaaaaaaa",
  svc: "pub",
  t1: "meshtask1111aaaaaaaaaaaaa",
  t2: "meshtask2222bbbbbbbbbbbbb",
};

/** The routing mesh on two nodes: ingress network 10.255.0.0/16 (VNI 4096),
 * node1 at 10.255.0.2 and node2 at 10.255.0.3 on it, service "pub"
 * publishing 8080 → 80 over TCP and UDP with one task per node (t1
 * 10.255.0.10 on node1, t2 10.255.0.11 on node2). */
export function meshScenario(addr1 = "198.18.0.1", addr2 = "198.18.0.2"): Cluster {
  const ingress: Network = { ...overlay(MESH.ingress, "10.255.0.0/16", 4096), ingress: true };
  const ports: PortConfig[] = (["tcp", "udp"] as const).map((protocol) => ({
    protocol,
    targetPort: 80,
    publishedPort: 8080,
    publishMode: "ingress",
  }));
  const on = (id: string, nodeId: string, addr: string): Task => ({
    ...task(id, nodeId, [[MESH.ingress, addr]]),
    serviceId: MESH.svc,
  });
  return {
    nodes: [
      { ...node(ID.n1, addr1), ingressAddr: "10.255.0.2/16" },
      { ...node(ID.n2, addr2), ingressAddr: "10.255.0.3/16" },
    ],
    networks: [ingress],
    services: [publishing(MESH.svc, ports)],
    tasks: [on(MESH.t1, ID.n1, "10.255.0.10/16"), on(MESH.t2, ID.n2, "10.255.0.11/16")],
  };
}

/** Gateway-bridge addresses of the mesh scenario (each node has its own bridge). */
export const MESH_GW = new Map([
  [MESH.t1, "172.18.0.2"],
  [MESH.t2, "172.18.0.2"],
  ["ingress", "172.18.0.3"],
]);
