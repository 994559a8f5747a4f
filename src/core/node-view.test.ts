// nodeView over hand-built inputs: which networks, endpoints and services a
// node gets, above all the routing mesh's (every node, tasks or not).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Network, Node, PortConfig, Service, Task } from "./model.ts";
import { nodeView, type ViewInputs } from "./node-view.ts";

const meta = { version: 1, createdAt: "", updatedAt: "" };

function node(id: string, ingressAddr?: string): Node {
  const n: Node = {
    ...meta,
    id,
    hostname: id,
    role: "worker",
    availability: "active",
    advertiseAddr: `192.0.2.${id.slice(1)}`,
    dataPathAddr: `198.51.100.${id.slice(1)}`,
    state: "ready",
    message: "",
    labels: {},
    leader: false,
  };
  if (ingressAddr) n.ingressAddr = ingressAddr;
  return n;
}

function network(id: string, ingress = false): Network {
  return {
    ...meta,
    id,
    name: id,
    driver: "overlay",
    scope: "swarm",
    attachable: false,
    internal: false,
    ingress,
    predefined: false,
    ipam: [{ subnet: "10.0.0.0/24", gateway: "10.0.0.1", auxAddresses: {} }],
    options: {},
    labels: {},
    vni: 4096,
  };
}

function service(id: string, ports: PortConfig[], networks: string[] = []): Service {
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
      networks: networks.map((target) => ({ target, aliases: [] })),
      endpoint: { mode: "vip", ports },
      placement: { constraints: [] },
    },
    endpoint: { ports, virtualIps: [] },
  };
}

function task(id: string, serviceId: string, nodeId: string, nets: [string, string][]): Task {
  return {
    ...meta,
    id,
    serviceId,
    slot: 1,
    nodeId,
    desiredState: "running",
    status: { state: "running", message: "", err: "", timestamp: "" },
    networks: nets.map(([networkId, addr]) => ({ networkId, addresses: [addr], aliases: [] })),
    serviceVersion: 1,
  };
}

const ingressPort: PortConfig = {
  protocol: "tcp",
  targetPort: 80,
  publishedPort: 8080,
  publishMode: "ingress",
};
const hostPort: PortConfig = { ...ingressPort, publishedPort: 9090, publishMode: "host" };

function inputs(over: Partial<ViewInputs>): ViewInputs {
  const nodes = over.nodes ?? [node("n1", "10.0.0.2/24"), node("n2", "10.0.0.3/24")];
  return {
    node: nodes[0]!,
    dataPathPort: 4789,
    nodes,
    networks: [network("ingress", true), network("ov1")],
    services: [],
    tasks: [],
    containers: [],
    ...over,
  };
}

describe("nodeView and the routing mesh", () => {
  it("leaves ingress out while nothing publishes an ingress port", () => {
    const v = nodeView(inputs({ services: [service("s1", [hostPort])] }));
    assert.deepEqual(v.networks, []);
    assert.deepEqual(v.endpoints, []);
    assert.deepEqual(v.services, [], "a host-mode port matters only where a task runs");
  });

  it("gives every node ingress, each node's ingress endpoint and the publishing services", () => {
    const nodes = [node("n1", "10.0.0.2/24"), node("n2", "10.0.0.3/24"), node("n3")];
    const web = service("web", [ingressPort]);
    const t = task("t1", "web", "n2", [["ingress", "10.0.0.10/24"]]);
    // n1 runs nothing at all.
    const v = nodeView(inputs({ node: nodes[0]!, nodes, services: [web], tasks: [t] }));
    assert.deepEqual(
      v.networks.map((n) => n.id),
      ["ingress"],
    );
    assert.deepEqual(v.tasks, []);
    assert.deepEqual(
      v.services.map((s) => s.id),
      ["web"],
    );
    assert.deepEqual(v.endpoints, [
      {
        networkId: "ingress",
        kind: "task",
        ownerId: "t1",
        serviceId: "web",
        nodeId: "n2",
        address: "10.0.0.10/24",
        dataPathAddr: "198.51.100.2",
        names: ["web.1.t1", "web.1"],
        aliases: [],
        live: true,
      },
      {
        networkId: "ingress",
        kind: "ingress",
        ownerId: "ingress-n1",
        serviceId: "",
        nodeId: "n1",
        address: "10.0.0.2/24",
        dataPathAddr: "198.51.100.1",
        names: [],
        aliases: [],
        live: true,
      },
      {
        networkId: "ingress",
        kind: "ingress",
        ownerId: "ingress-n2",
        serviceId: "",
        nodeId: "n2",
        address: "10.0.0.3/24",
        dataPathAddr: "198.51.100.2",
        names: [],
        aliases: [],
        live: true,
      },
    ]);
  });

  it("keeps other networks to the nodes whose tasks use them", () => {
    const web = service("web", [ingressPort], ["ov1"]);
    const t = task("t1", "web", "n2", [
      ["ingress", "10.0.0.10/24"],
      ["ov1", "10.0.1.10/24"],
    ]);
    const v1 = nodeView(inputs({ services: [web], tasks: [t] }));
    assert.deepEqual(
      v1.networks.map((n) => n.id),
      ["ingress"],
    );
    assert.ok(v1.endpoints.every((e) => e.networkId === "ingress"));
    const nodes = [node("n2", "10.0.0.3/24"), node("n1", "10.0.0.2/24")];
    const v2 = nodeView(inputs({ node: nodes[0]!, nodes, services: [web], tasks: [t] }));
    assert.deepEqual(
      v2.networks.map((n) => n.id),
      ["ingress", "ov1"],
    );
  });

  it("gives a service with host-mode ports to the nodes running its tasks", () => {
    const s = service("s1", [hostPort]);
    const t = task("t1", "s1", "n1", []);
    assert.deepEqual(
      nodeView(inputs({ services: [s], tasks: [t] })).services.map((x) => x.id),
      ["s1"],
    );
    const nodes = [node("n2"), node("n1")];
    assert.deepEqual(
      nodeView(inputs({ node: nodes[0]!, nodes, services: [s], tasks: [t] })).services,
      [],
    );
  });

  it("gives a node the services of its tasks even on no network, which it runs the command of", () => {
    const s = service("s1", []);
    const t = task("t1", "s1", "n1", []);
    assert.deepEqual(
      nodeView(inputs({ services: [s], tasks: [t] })).services.map((x) => x.id),
      ["s1"],
    );
    const nodes = [node("n2"), node("n1")];
    assert.deepEqual(
      nodeView(inputs({ node: nodes[0]!, nodes, services: [s], tasks: [t] })).services,
      [],
    );
  });
});
