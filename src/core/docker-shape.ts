// swarmnet's objects in the JSON shapes of Docker's Engine API, which is what
// `docker ... inspect` prints and what scripts written for Swarm read. The CLI's
// inspect commands print these; the Docker-compatible API serves them.
import type { Network, Node, PortConfig, Service, ServiceSpec, Task } from "./model.ts";

const version = (v: number) => ({ Index: v });

export function dockerNetwork(
  n: Network,
  extra: { containers?: Record<string, unknown>; peers?: unknown[] } = {},
) {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.createdAt,
    Scope: n.scope,
    Driver: n.driver,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: {
      Driver: "default",
      Options: null,
      Config: n.ipam.map((c) => ({
        Subnet: c.subnet,
        ...(c.ipRange ? { IPRange: c.ipRange } : {}),
        Gateway: c.gateway,
        ...(Object.keys(c.auxAddresses).length ? { AuxiliaryAddresses: c.auxAddresses } : {}),
      })),
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: n.ingress,
    ConfigFrom: { Network: "" },
    ConfigOnly: false,
    Containers: extra.containers ?? {},
    Options: n.options,
    Labels: n.labels,
    ...(extra.peers ? { Peers: extra.peers } : {}),
  };
}

export function dockerPort(p: PortConfig) {
  return {
    Protocol: p.protocol,
    TargetPort: p.targetPort,
    PublishedPort: p.publishedPort,
    PublishMode: p.publishMode,
  };
}

export function dockerServiceSpec(spec: ServiceSpec) {
  return {
    Name: spec.name,
    Labels: spec.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: spec.image,
        Labels: spec.containerLabels,
        ...(spec.command.length ? { Command: spec.command } : {}),
        ...(spec.env?.length ? { Env: spec.env } : {}),
      },
      Placement: spec.placement.constraints.length
        ? { Constraints: spec.placement.constraints }
        : {},
      Networks: spec.networks.map((n) => ({
        Target: n.target,
        ...(n.aliases.length ? { Aliases: n.aliases } : {}),
      })),
      ForceUpdate: 0,
    },
    Mode:
      "replicated" in spec.mode
        ? { Replicated: { Replicas: spec.mode.replicated.replicas } }
        : { Global: {} },
    EndpointSpec: { Mode: spec.endpoint.mode, Ports: spec.endpoint.ports.map(dockerPort) },
  };
}

export function dockerService(s: Service, status?: { runningTasks: number; desiredTasks: number }) {
  return {
    ID: s.id,
    Version: version(s.version),
    CreatedAt: s.createdAt,
    UpdatedAt: s.updatedAt,
    Spec: dockerServiceSpec(s.spec),
    ...(s.previousSpec ? { PreviousSpec: dockerServiceSpec(s.previousSpec) } : {}),
    Endpoint: {
      Spec: { Mode: s.spec.endpoint.mode, Ports: s.spec.endpoint.ports.map(dockerPort) },
      Ports: s.endpoint.ports.map(dockerPort),
      VirtualIPs: s.endpoint.virtualIps.map((v) => ({ NetworkID: v.networkId, Addr: v.addr })),
    },
    ...(status
      ? {
          ServiceStatus: {
            RunningTasks: status.runningTasks,
            DesiredTasks: status.desiredTasks,
            CompletedTasks: 0,
          },
        }
      : {}),
  };
}

export function dockerNode(n: Node, engineVersion: string) {
  return {
    ID: n.id,
    Version: version(n.version),
    CreatedAt: n.createdAt,
    UpdatedAt: n.updatedAt,
    Spec: { Labels: n.labels, Role: n.role, Availability: n.availability },
    Description: {
      Hostname: n.hostname,
      Platform: { Architecture: process.arch === "x64" ? "x86_64" : process.arch, OS: "linux" },
      Engine: { EngineVersion: engineVersion },
    },
    Status: { State: n.state, ...(n.message ? { Message: n.message } : {}), Addr: n.dataPathAddr },
    ...(n.role === "manager"
      ? {
          ManagerStatus: {
            Leader: n.leader,
            Reachability: "reachable",
            Addr: `${n.advertiseAddr}:2377`,
          },
        }
      : {}),
  };
}

export function dockerTask(
  t: Task,
  service: Service | undefined,
  network: (id: string) => Network | undefined,
) {
  return {
    ID: t.id,
    Version: version(t.version),
    CreatedAt: t.createdAt,
    UpdatedAt: t.updatedAt,
    Labels: {},
    Spec: service ? dockerServiceSpec(service.spec).TaskTemplate : {},
    ServiceID: t.serviceId,
    ...(t.slot > 0 ? { Slot: t.slot } : {}),
    ...(t.nodeId ? { NodeID: t.nodeId } : {}),
    Status: {
      Timestamp: t.status.timestamp,
      State: t.status.state,
      Message: t.status.message,
      ...(t.status.err ? { Err: t.status.err } : {}),
    },
    DesiredState: t.desiredState,
    NetworksAttachments: t.networks.map((att) => {
      const net = network(att.networkId);
      return {
        Network: net
          ? { ID: net.id, Version: version(net.version), Spec: { Name: net.name } }
          : { ID: att.networkId },
        Addresses: att.addresses,
      };
    }),
  };
}
