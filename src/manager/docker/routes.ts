// The Docker Engine API subset the stock `docker` CLI needs for networks,
// services, tasks, nodes and `docker stack deploy`, answered from the same
// manager as the native API. Shapes come from core/docker-shape.ts (what
// `swarmnet … inspect` prints too); requests are translated by translate.ts.
import { createHash } from "node:crypto";
import { dockerNetwork, dockerNode, dockerService, dockerTask } from "../../core/docker-shape.ts";
import { invalid, NOT_MANAGER_MESSAGE, notFound, SwarmnetError } from "../../core/errors.ts";
import { isTerminal, type Network, type Service, type Task } from "../../core/model.ts";
import { taskName } from "../../core/node-view.ts";
import { connectContainer, disconnectContainer } from "../container-ops.ts";
import { Router } from "../http/router.ts";
import type { Manager } from "../manager.ts";
import { find, resolve } from "../resolve.ts";
import { serviceStatus } from "../state.ts";
import {
  anyOf,
  fromDockerNetworkCreate,
  fromDockerServiceSpec,
  labelsMatch,
  parseFilters,
} from "./translate.ts";

export interface DockerInfo {
  version: string;
  kernel: string;
  cpus: number;
  memory: number;
  hostname: string;
}

export function dockerRoutes(manager: Manager, info: DockerInfo): Router {
  const r = new Router();
  const state = manager.state;
  const requireManager = () => {
    if (!manager.initialized) throw new SwarmnetError("NOT_MANAGER", NOT_MANAGER_MESSAGE);
  };
  const network = (id: string) => state.get("networks", id);

  r.on("GET", "/version", () => ({ body: versionBody(info) }));
  r.on("GET", "/info", () => ({ body: infoBody(manager, info) }));

  r.on("GET", "/swarm", () => {
    requireManager();
    const c = state.cluster!;
    return {
      body: {
        ...clusterBody(manager),
        JoinTokens: { Worker: c.joinTokens.worker, Manager: c.joinTokens.manager },
      },
    };
  });

  // ---------------------------------------------------------------- nodes
  r.on("GET", "/nodes", (req) => {
    requireManager();
    const f = parseFilters(req.query.get("filters"), [
      "id",
      "label",
      "membership",
      "name",
      "node.label",
      "role",
    ]);
    const nodes = state
      .list("nodes")
      .filter(
        (n) =>
          anyOf(f.get("id"), (v) => n.id.startsWith(v)) &&
          anyOf(f.get("name"), (v) => n.hostname.startsWith(v)) &&
          anyOf(f.get("role"), (v) => v === n.role) &&
          anyOf(f.get("membership"), (v) => v === "accepted") &&
          labelsMatch(n.labels, f.get("node.label")),
      );
    return { body: nodes.map((n) => dockerNode(n, info.version)) };
  });
  r.on("GET", "/nodes/:ref", (req) => {
    requireManager();
    return { body: dockerNode(manager.node(req.params.ref!), info.version) };
  });

  // ------------------------------------------------------------- networks
  interface Attached {
    id: string;
    nodeId: string;
    name: string;
    addresses: string[];
    serviceId?: string;
  }
  /** Every running task and container, by network: read once per request,
   * however many networks it lists. */
  const attachedByNetwork = (): Map<string, Attached[]> => {
    const out = new Map<string, Attached[]>();
    const add = (o: Omit<Attached, "addresses">, networks: Task["networks"]) => {
      for (const att of networks) {
        const list = out.get(att.networkId) ?? [];
        list.push({ ...o, addresses: att.addresses });
        out.set(att.networkId, list);
      }
    };
    for (const t of state.list("tasks")) {
      if (t.desiredState !== "running" || isTerminal(t.status.state)) continue;
      add({ id: t.id, nodeId: t.nodeId, name: taskNameOf(t), serviceId: t.serviceId }, t.networks);
    }
    for (const c of state.list("containers")) {
      if (c.desiredState === "running")
        add({ id: c.id, nodeId: c.nodeId, name: c.name }, c.networks);
    }
    return out;
  };
  const networkBody = (n: Network, verbose: boolean, attached: Attached[]) => {
    const containers = Object.fromEntries(
      attached.map((o) => [
        o.id,
        {
          Name: o.name,
          EndpointID: o.id,
          MacAddress: "",
          IPv4Address: o.addresses[0] ?? "",
          IPv6Address: "",
        },
      ]),
    );
    const peerNodes = [...new Set(attached.map((o) => o.nodeId))]
      .map((id) => state.get("nodes", id))
      .filter((x) => x !== undefined);
    const body: Record<string, unknown> = dockerNetwork(n, {
      containers,
      peers: peerNodes.map((p) => ({ Name: p.hostname, IP: p.dataPathAddr })),
    });
    if (verbose) {
      const services: Record<string, unknown> = {};
      for (const s of state.list("services")) {
        const vip = s.endpoint.virtualIps.find((v) => v.networkId === n.id);
        const tasks = attached.filter((o) => o.serviceId === s.id);
        if (!vip && tasks.length === 0) continue;
        services[s.spec.name] = {
          VIP: vip ? vip.addr.split("/")[0] : "",
          Ports: s.endpoint.ports.map(
            (p) => `Target: ${p.targetPort}, Publish: ${p.publishedPort}`,
          ),
          LocalLBIndex: 0,
          Tasks: tasks.map((o) => ({
            Name: o.name,
            EndpointID: o.id,
            EndpointIP: (o.addresses[0] ?? "").split("/")[0],
            Info: { "Host IP": state.get("nodes", o.nodeId)?.dataPathAddr ?? "" },
          })),
        };
      }
      body.Services = services;
    }
    return body;
  };
  const taskNameOf = (t: Task) => {
    const s = state.get("services", t.serviceId);
    return s ? taskName(s, t) : t.id;
  };

  r.on("GET", "/networks", (req) => {
    requireManager();
    const f = parseFilters(req.query.get("filters"), [
      "dangling",
      "driver",
      "id",
      "label",
      "name",
      "scope",
      "type",
    ]);
    const used = new Set(
      state.list("services").flatMap((s) => s.spec.networks.map((n) => n.target)),
    );
    const nets = state
      .list("networks")
      .filter(
        (n) =>
          anyOf(f.get("name"), (v) => n.name.includes(v)) &&
          anyOf(f.get("id"), (v) => n.id.startsWith(v)) &&
          anyOf(f.get("driver"), (v) => v === n.driver) &&
          anyOf(f.get("scope"), (v) => v === n.scope) &&
          anyOf(f.get("type"), (v) => v === (n.ingress ? "builtin" : "custom")) &&
          anyOf(f.get("dangling"), (v) => (v === "true" || v === "1") === !used.has(n.id)) &&
          labelsMatch(n.labels, f.get("label")),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
    const attached = attachedByNetwork();
    return { body: nets.map((n) => networkBody(n, false, attached.get(n.id) ?? [])) };
  });
  r.on("GET", "/networks/:ref", (req) => {
    requireManager();
    const n = find(state, "networks", req.params.ref!);
    if (!n) throw notFound(`network ${req.params.ref} not found`);
    const attached = attachedByNetwork().get(n.id) ?? [];
    return { body: networkBody(n, req.query.get("verbose") === "true", attached) };
  });
  r.on("POST", "/networks/create", async (req) => {
    requireManager();
    const { request, warnings } = fromDockerNetworkCreate(req.body);
    if (
      typeof request.name === "string" &&
      find(state, "networks", request.name)?.name === request.name
    )
      throw new SwarmnetError("CONFLICT", `network with name ${request.name} already exists`);
    const n = await manager.createNetwork(request);
    return { status: 201, body: { Id: n.id, Warning: warnings.join("\n") } };
  });
  r.on("DELETE", "/networks/:ref", async (req) => {
    requireManager();
    await manager.removeNetworkWhenFree(req.params.ref!);
    return { status: 204 };
  });
  r.on("POST", "/networks/:ref/connect", async (req) => {
    requireManager();
    const body = (req.body ?? {}) as {
      Container?: unknown;
      EndpointConfig?: { Aliases?: unknown };
    };
    if (typeof body.Container !== "string") throw invalid("connect needs a Container");
    const aliases = Array.isArray(body.EndpointConfig?.Aliases)
      ? body.EndpointConfig.Aliases.map(String)
      : [];
    await connectContainer(manager, req.params.ref!, body.Container, aliases);
    return { status: 200, body: {} };
  });
  r.on("POST", "/networks/:ref/disconnect", async (req) => {
    requireManager();
    const body = (req.body ?? {}) as { Container?: unknown };
    if (typeof body.Container !== "string") throw invalid("disconnect needs a Container");
    await disconnectContainer(manager, req.params.ref!, body.Container);
    return { status: 200, body: {} };
  });

  // ------------------------------------------------------------- services
  r.on("GET", "/services", (req) => {
    requireManager();
    const f = parseFilters(req.query.get("filters"), ["id", "label", "mode", "name"]);
    const withStatus = req.query.get("status") === "true";
    const services = state
      .list("services")
      .filter(
        (s) =>
          anyOf(f.get("id"), (v) => s.id.startsWith(v)) &&
          anyOf(f.get("name"), (v) => s.spec.name.startsWith(v)) &&
          anyOf(f.get("mode"), (v) => v === ("global" in s.spec.mode ? "global" : "replicated")) &&
          labelsMatch(s.spec.labels, f.get("label")),
      )
      .sort((a, b) => a.spec.name.localeCompare(b.spec.name));
    return {
      body: services.map((s) => dockerService(s, withStatus ? serviceStatus(state, s) : undefined)),
    };
  });
  r.on("POST", "/services/create", async (req) => {
    requireManager();
    const { input, warnings } = fromDockerServiceSpec(req.body);
    const s = await manager.createService(input);
    return { status: 201, body: { ID: s.id, ...(warnings.length && { Warnings: warnings }) } };
  });
  r.on("GET", "/services/:ref", (req) => {
    requireManager();
    const s = find(state, "services", req.params.ref!);
    if (!s) throw notFound(`service ${req.params.ref} not found`);
    return { body: dockerService(s) };
  });
  r.on("POST", "/services/:ref/update", async (req) => {
    requireManager();
    const version = Number(req.query.get("version"));
    if (!req.query.has("version") || !Number.isInteger(version))
      throw invalid("the version query parameter is required");
    if (req.query.get("rollback") === "previous")
      throw invalid("rollback is not supported by swarmnet: update to the previous spec instead");
    const { input, warnings } = fromDockerServiceSpec(req.body);
    await manager.updateService(req.params.ref!, version, input);
    return { body: { Warnings: warnings.length ? warnings : null } };
  });
  r.on("DELETE", "/services/:ref", async (req) => {
    requireManager();
    await manager.removeService(req.params.ref!);
    return { status: 200, body: {} };
  });

  // ---------------------------------------------------------------- tasks
  r.on("GET", "/tasks", (req) => {
    requireManager();
    const f = parseFilters(req.query.get("filters"), [
      "desired-state",
      "id",
      "label",
      "name",
      "node",
      "service",
      "_up-to-date",
    ]);
    const serviceIds = f
      .get("service")
      ?.map((ref) => find(state, "services", ref)?.id ?? `no such service ${ref}`);
    const nodeIds = f.get("node")?.map((ref) => {
      try {
        return manager.node(ref).id;
      } catch {
        return `no such node ${ref}`;
      }
    });
    const upToDate = f.get("_up-to-date")?.some((v) => v === "true" || v === "1");
    const tasks = state
      .list("tasks")
      .filter((t) => {
        const s = state.get("services", t.serviceId);
        return (
          anyOf(serviceIds, (id) => id === t.serviceId) &&
          anyOf(nodeIds, (id) => id === t.nodeId) &&
          anyOf(f.get("id"), (v) => t.id.startsWith(v)) &&
          anyOf(f.get("name"), (v) => taskNameOf(t).startsWith(v)) &&
          anyOf(f.get("desired-state"), (v) => v === t.desiredState) &&
          labelsMatch(s?.spec.containerLabels ?? {}, f.get("label")) &&
          (!upToDate || (s !== undefined && isUpToDate(t, s)))
        );
      })
      .sort((a, b) => a.serviceId.localeCompare(b.serviceId) || a.slot - b.slot);
    return {
      body: tasks.map((t) => dockerTask(t, state.get("services", t.serviceId), network)),
    };
  });
  r.on("GET", "/tasks/:id", (req) => {
    requireManager();
    const t = resolve(state, "tasks", req.params.id!);
    return { body: dockerTask(t, state.get("services", t.serviceId), network) };
  });

  // ---------------------------------- what stack deploy lists; none are kept
  for (const kind of ["secrets", "configs"]) {
    r.on("GET", `/${kind}`, () => {
      requireManager();
      return { body: [] };
    });
    r.on("POST", `/${kind}/create`, () => {
      throw invalid(`${kind} are not supported by swarmnet`);
    });
  }
  return r;
}

/** swarmkit's "_up-to-date": the task runs the service's current spec. An
 * update that changes what tasks run retires them all at once (desired
 * state shutdown), and one that does not (scale, labels, ports) keeps them
 * without rewriting them, so a task still meant to run is current. */
function isUpToDate(t: Task, s: Service): boolean {
  return t.desiredState === "running" || t.serviceVersion === s.version;
}

/** GET /distribution/{image}/json: there is no registry, so the answer is a
 * stable descriptor derived from the name (it lets `docker service create`
 * resolve an image without `--no-resolve-image`; the image is only
 * documentation for swarmnet, whose tasks run their command or the responder). */
export function distributionBody(image: string) {
  const digest = `sha256:${createHash("sha256").update(image).digest("hex")}`;
  return {
    Descriptor: {
      mediaType: "application/vnd.oci.image.index.v1+json",
      digest,
      size: 0,
    },
    Platforms: [{ architecture: process.arch === "x64" ? "amd64" : process.arch, os: "linux" }],
  };
}

function versionBody(info: DockerInfo) {
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  return {
    Platform: { Name: `swarmnet ${info.version}` },
    Components: [
      {
        Name: "Engine",
        Version: info.version,
        Details: {
          ApiVersion: "1.50",
          MinAPIVersion: "1.41",
          Os: "linux",
          Arch: arch,
          KernelVersion: info.kernel,
        },
      },
    ],
    Version: info.version,
    ApiVersion: "1.50",
    MinAPIVersion: "1.41",
    GitCommit: "",
    GoVersion: `node ${process.version}`,
    Os: "linux",
    Arch: arch,
    KernelVersion: info.kernel,
    BuildTime: "",
  };
}

function clusterBody(manager: Manager) {
  const c = manager.state.cluster!;
  return {
    ID: c.id,
    Version: { Index: c.version },
    CreatedAt: c.createdAt,
    UpdatedAt: c.updatedAt,
    Spec: {
      Name: "default",
      Labels: {},
      Orchestration: { TaskHistoryRetentionLimit: 5 },
      Raft: {
        SnapshotInterval: 10000,
        KeepOldSnapshots: 0,
        LogEntriesForSlowFollowers: 500,
        ElectionTick: 10,
        HeartbeatTick: 1,
      },
      // Agents heartbeat every 5 s; a node is down after 15 s without one.
      Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
      CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
      TaskDefaults: {},
      EncryptionConfig: { AutoLockManagers: false },
    },
    TLSInfo: { TrustRoot: c.ca.certPem },
    RootRotationInProgress: false,
    DataPathPort: c.dataPathPort,
    DefaultAddrPool: c.defaultAddrPool,
    SubnetSize: c.subnetSize,
  };
}

function infoBody(manager: Manager, info: DockerInfo) {
  const state = manager.state;
  const nodes = state.list("nodes");
  const self = nodes.find((n) => n.id === manager.selfNodeId);
  const running = state
    .list("tasks")
    .filter((t) => t.nodeId === manager.selfNodeId && t.status.state === "running").length;
  return {
    ID: manager.selfNodeId,
    Containers: running,
    ContainersRunning: running,
    ContainersPaused: 0,
    ContainersStopped: 0,
    Images: 0,
    Driver: "swarmnet",
    DriverStatus: [],
    Plugins: { Volume: [], Network: ["overlay"], Authorization: null, Log: [] },
    MemoryLimit: false,
    SwapLimit: false,
    CpuCfsPeriod: false,
    CpuCfsQuota: false,
    CPUShares: false,
    CPUSet: false,
    PidsLimit: false,
    IPv4Forwarding: true,
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: "swarmnet",
    CgroupDriver: "none",
    CgroupVersion: "2",
    NEventsListener: 0,
    KernelVersion: info.kernel,
    OperatingSystem: "swarmnet",
    OSVersion: "",
    OSType: "linux",
    Architecture: process.arch === "x64" ? "x86_64" : process.arch,
    IndexServerAddress: "",
    RegistryConfig: null,
    NCPU: info.cpus,
    MemTotal: info.memory,
    DockerRootDir: "",
    Name: self?.hostname ?? info.hostname,
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: info.version,
    Runtimes: {},
    DefaultRuntime: "",
    Swarm: manager.initialized
      ? {
          NodeID: manager.selfNodeId,
          NodeAddr: self?.advertiseAddr ?? "",
          LocalNodeState: "active",
          ControlAvailable: self?.role === "manager",
          Error: "",
          RemoteManagers: nodes
            .filter((n) => n.role === "manager")
            .map((n) => ({ NodeID: n.id, Addr: `${n.advertiseAddr}:2377` })),
          Nodes: nodes.length,
          Managers: nodes.filter((n) => n.role === "manager").length,
          Cluster: clusterBody(manager),
        }
      : {
          NodeID: "",
          NodeAddr: "",
          LocalNodeState: "inactive",
          ControlAvailable: false,
          Error: "",
          RemoteManagers: null,
        },
    LiveRestoreEnabled: true,
    Isolation: "",
    InitBinary: "",
    SecurityOptions: [],
    Warnings: [],
  };
}
