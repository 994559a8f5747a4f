import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  dockerNetwork,
  dockerNode,
  dockerPort,
  dockerService,
  dockerTask,
} from "./docker-shape.ts";
import type { Network, Node, Service, ServiceSpec, Task } from "./model.ts";

const T0 = "2024-05-01T10:00:00.000Z";
const T1 = "2024-05-01T10:05:00.000Z";
const meta = (id: string, version = 3) => ({ id, version, createdAt: T0, updatedAt: T1 });

const ov1: Network = {
  ...meta("netov1"),
  name: "ov1",
  driver: "overlay",
  scope: "swarm",
  attachable: true,
  internal: false,
  ingress: false,
  predefined: false,
  ipam: [{ subnet: "10.0.1.0/24", gateway: "10.0.1.1", auxAddresses: {} }],
  options: { "com.docker.network.driver.overlay.vxlanid_list": "4097" },
  labels: { tier: "back" },
  vni: 4097,
};

const spec: ServiceSpec = {
  name: "web",
  labels: { team: "blue" },
  containerLabels: { c: "1" },
  image: "nginx:alpine",
  command: [],
  mode: { replicated: { replicas: 3 } },
  networks: [{ target: "netov1", aliases: [] }],
  endpoint: {
    mode: "vip",
    ports: [{ protocol: "tcp", targetPort: 80, publishedPort: 8080, publishMode: "ingress" }],
  },
  placement: { constraints: [] },
};

const web: Service = {
  ...meta("svcweb", 7),
  spec,
  endpoint: {
    ports: [{ protocol: "tcp", targetPort: 80, publishedPort: 8080, publishMode: "ingress" }],
    virtualIps: [
      { networkId: "netingress", addr: "10.0.0.2/24" },
      { networkId: "netov1", addr: "10.0.1.2/24" },
    ],
  },
};

const manager: Node = {
  ...meta("nodeself", 2),
  hostname: "box1",
  role: "manager",
  availability: "active",
  advertiseAddr: "192.168.1.10",
  dataPathAddr: "192.168.1.11",
  state: "ready",
  message: "",
  labels: { zone: "a" },
  leader: true,
};

/** Docker's shapes leave keys out rather than set them to undefined (JSON would drop them anyway). */
function noUndefined(value: unknown, path = "$"): void {
  if (value === undefined) assert.fail(`${path} is undefined`);
  if (value && typeof value === "object")
    for (const [k, v] of Object.entries(value)) noUndefined(v, `${path}.${k}`);
}

describe("dockerNetwork", () => {
  it("maps the fields docker network inspect prints", () => {
    const d = dockerNetwork(ov1);
    assert.equal(d.Name, "ov1");
    assert.equal(d.Id, "netov1");
    assert.equal(d.Created, T0);
    assert.equal(d.Scope, "swarm");
    assert.equal(d.Driver, "overlay");
    assert.equal(d.Attachable, true);
    assert.equal(d.Internal, false);
    assert.equal(d.Ingress, false);
    assert.deepEqual(d.IPAM, {
      Driver: "default",
      Options: null,
      Config: [{ Subnet: "10.0.1.0/24", Gateway: "10.0.1.1" }],
    });
    assert.equal(d.Options["com.docker.network.driver.overlay.vxlanid_list"], "4097");
    assert.deepEqual(d.Labels, { tier: "back" });
    assert.deepEqual(d.Containers, {});
    assert.ok(!("Peers" in d), "no Peers unless given");
    noUndefined(d);
  });

  it("shows IPRange and AuxiliaryAddresses only when set", () => {
    const d = dockerNetwork({
      ...ov1,
      ipam: [
        {
          subnet: "10.50.0.0/16",
          gateway: "10.50.0.254",
          ipRange: "10.50.1.0/24",
          auxAddresses: { router: "10.50.1.2" },
        },
      ],
    });
    assert.deepEqual(d.IPAM.Config, [
      {
        Subnet: "10.50.0.0/16",
        IPRange: "10.50.1.0/24",
        Gateway: "10.50.0.254",
        AuxiliaryAddresses: { router: "10.50.1.2" },
      },
    ]);
  });

  it("has an empty Config for drivers without addresses, and takes containers and peers", () => {
    const host = dockerNetwork(
      { ...ov1, name: "host", driver: "host", scope: "local", ipam: [], options: {} },
      { containers: { c1: { Name: "x" } }, peers: [{ Name: "box1", IP: "192.168.1.11" }] },
    );
    assert.deepEqual(host.IPAM.Config, []);
    assert.equal(host.Scope, "local");
    assert.deepEqual(host.Containers, { c1: { Name: "x" } });
    assert.deepEqual(host.Peers, [{ Name: "box1", IP: "192.168.1.11" }]);
  });
});

describe("dockerPort", () => {
  it("renames the fields to Docker's", () => {
    assert.deepEqual(
      dockerPort({ protocol: "udp", targetPort: 53, publishedPort: 0, publishMode: "host" }),
      { Protocol: "udp", TargetPort: 53, PublishedPort: 0, PublishMode: "host" },
    );
  });
});

describe("dockerService", () => {
  it("maps the fields docker service inspect prints", () => {
    const d = dockerService(web, { runningTasks: 1, desiredTasks: 3 });
    assert.equal(d.ID, "svcweb");
    assert.deepEqual(d.Version, { Index: 7 });
    assert.equal(d.CreatedAt, T0);
    assert.equal(d.UpdatedAt, T1);
    assert.equal(d.Spec.Name, "web");
    assert.deepEqual(d.Spec.Labels, { team: "blue" });
    assert.deepEqual(d.Spec.Mode, { Replicated: { Replicas: 3 } });
    assert.deepEqual(d.Spec.TaskTemplate.Networks, [{ Target: "netov1" }]);
    assert.deepEqual(d.Spec.TaskTemplate.ContainerSpec, {
      Image: "nginx:alpine",
      Labels: { c: "1" },
    });
    assert.deepEqual(d.Spec.TaskTemplate.Placement, {});
    assert.deepEqual(d.Spec.EndpointSpec, {
      Mode: "vip",
      Ports: [{ Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress" }],
    });
    assert.deepEqual(d.Endpoint.Spec, d.Spec.EndpointSpec);
    assert.deepEqual(d.Endpoint.Ports, [
      { Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress" },
    ]);
    assert.deepEqual(d.Endpoint.VirtualIPs, [
      { NetworkID: "netingress", Addr: "10.0.0.2/24" },
      { NetworkID: "netov1", Addr: "10.0.1.2/24" },
    ]);
    assert.deepEqual(d.ServiceStatus, { RunningTasks: 1, DesiredTasks: 3, CompletedTasks: 0 });
    assert.ok(!("PreviousSpec" in d));
    noUndefined(d);
  });

  it("global mode, aliases, constraints and a command", () => {
    const d = dockerService({
      ...web,
      spec: {
        ...spec,
        mode: { global: {} },
        command: ["sh", "-c", "sleep 1"],
        networks: [{ target: "netov1", aliases: ["db"] }],
        placement: { constraints: ["node.role==manager"] },
      },
    });
    assert.deepEqual(d.Spec.Mode, { Global: {} });
    assert.deepEqual(d.Spec.TaskTemplate.ContainerSpec.Command, ["sh", "-c", "sleep 1"]);
    assert.deepEqual(d.Spec.TaskTemplate.Networks, [{ Target: "netov1", Aliases: ["db"] }]);
    assert.deepEqual(d.Spec.TaskTemplate.Placement, { Constraints: ["node.role==manager"] });
    assert.ok(!("ServiceStatus" in d), "no ServiceStatus unless given");
  });

  it("shows PreviousSpec after an update", () => {
    const d = dockerService({ ...web, previousSpec: { ...spec, labels: {} } });
    assert.deepEqual(d.PreviousSpec?.Labels, {});
    assert.deepEqual(d.Spec.Labels, { team: "blue" });
  });
});

describe("dockerNode", () => {
  it("maps the fields docker node inspect prints", () => {
    const d = dockerNode(manager, "0.1.0");
    assert.equal(d.ID, "nodeself");
    assert.deepEqual(d.Version, { Index: 2 });
    assert.deepEqual(d.Spec, { Labels: { zone: "a" }, Role: "manager", Availability: "active" });
    assert.equal(d.Description.Hostname, "box1");
    assert.equal(d.Description.Platform.OS, "linux");
    assert.notEqual(d.Description.Platform.Architecture, "x64", "Docker says x86_64");
    assert.deepEqual(d.Description.Engine, { EngineVersion: "0.1.0" });
    assert.deepEqual(d.Status, { State: "ready", Addr: "192.168.1.11" });
    assert.deepEqual(d.ManagerStatus, {
      Leader: true,
      Reachability: "reachable",
      Addr: "192.168.1.10:2377",
    });
    noUndefined(d);
  });

  it("a worker has no ManagerStatus; a status message shows when there is one", () => {
    const d = dockerNode(
      { ...manager, role: "worker", leader: false, state: "down", message: "heartbeat failure" },
      "0.1.0",
    );
    assert.ok(!("ManagerStatus" in d));
    assert.equal(d.Spec.Role, "worker");
    assert.deepEqual(d.Status, {
      State: "down",
      Message: "heartbeat failure",
      Addr: "192.168.1.11",
    });
  });

  it("a manager that is not the leader says so", () => {
    assert.equal(dockerNode({ ...manager, leader: false }, "0.1.0").ManagerStatus?.Leader, false);
  });
});

describe("dockerTask", () => {
  const task: Task = {
    ...meta("task1", 4),
    serviceId: "svcweb",
    slot: 2,
    nodeId: "nodeself",
    desiredState: "running",
    status: { state: "assigned", message: "assigned", err: "", timestamp: T1 },
    networks: [
      { networkId: "netov1", addresses: ["10.0.1.5/24"], aliases: [] },
      { networkId: "gone", addresses: ["10.9.0.5/24"], aliases: [] },
    ],
    serviceVersion: 7,
  };
  const lookup = (id: string) => (id === "netov1" ? ov1 : undefined);

  it("maps a task, its state and its network attachments", () => {
    const d = dockerTask(task, web, lookup);
    assert.equal(d.ID, "task1");
    assert.equal(d.ServiceID, "svcweb");
    assert.equal(d.Slot, 2);
    assert.equal(d.NodeID, "nodeself");
    assert.equal(d.DesiredState, "running");
    assert.deepEqual(d.Status, { Timestamp: T1, State: "assigned", Message: "assigned" });
    assert.deepEqual(d.Spec, dockerService(web).Spec.TaskTemplate);
    assert.deepEqual(d.NetworksAttachments, [
      {
        Network: { ID: "netov1", Version: { Index: 3 }, Spec: { Name: "ov1" } },
        Addresses: ["10.0.1.5/24"],
      },
      { Network: { ID: "gone" }, Addresses: ["10.9.0.5/24"] },
    ]);
    noUndefined(d);
  });

  it("leaves out Slot (global), NodeID (unassigned) and an empty Err; shows a real one", () => {
    const d = dockerTask(
      {
        ...task,
        slot: 0,
        nodeId: "",
        status: { state: "failed", message: "started", err: "exit 1", timestamp: T1 },
      },
      undefined,
      lookup,
    );
    assert.ok(!("Slot" in d));
    assert.ok(!("NodeID" in d));
    assert.equal(d.Status.Err, "exit 1");
    assert.deepEqual(d.Spec, {}, "no spec once the service is gone");
  });
});
