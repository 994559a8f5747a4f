// The native API (JSON over HTTP, under /v1). Handlers are thin: parse the
// request, call the manager, shape the answer. The CLI is its only client
// today; the Docker-compatible API is a separate set of routes.
import { checkDnsUpstreams } from "../../core/dns-upstream.ts";
import { invalid, NOT_MANAGER_MESSAGE, notFound, SwarmnetError } from "../../core/errors.ts";
import { isTerminal, publicCluster, type Service, type Task } from "../../core/model.ts";
import { taskName } from "../../core/node-view.ts";
import type { JoinOptions } from "../../daemon/node-runtime.ts";
import type { NodeCredentials } from "../../pki/index.ts";
import {
  type ContainerRequest,
  connectContainer,
  createContainer,
  disconnectContainer,
  removeContainer,
} from "../container-ops.ts";
import type { Dispatcher } from "../dispatcher.ts";
import type { LogBook } from "../logs.ts";
import type { InitOptions, Manager } from "../manager.ts";
import { find, resolve } from "../resolve.ts";
import { serviceStatus } from "../state.ts";
import { policyRoutes } from "./policy-routes.ts";
import { Router } from "./router.ts";

export const API_VERSION = "1";

/** What the daemon does around the manager: keep credentials, join, run the agent. */
export interface NodeHooks {
  /** dnsUpstreams: `init --dns-upstream`, checked; undefined when not given. */
  initialized(
    nodeId: string,
    credentials: NodeCredentials,
    dnsUpstreams: string[] | undefined,
  ): Promise<void>;
  join(opts: JoinOptions): Promise<{ nodeId: string }>;
  leave(): Promise<void>;
  membership: { nodeId: string; role: string } | undefined;
  logs: LogBook;
  /** What the node's DNS forwards other names to, and where that list comes from. */
  dns(): Promise<{ upstreams: string[]; source: string }>;
}

export function nativeRoutes(
  manager: Manager,
  dispatcher: Dispatcher,
  info: { version: string },
  hooks: NodeHooks,
): Router {
  const r = new Router();
  const state = manager.state;
  const requireManager = () => {
    if (!manager.initialized) throw new SwarmnetError("NOT_MANAGER", NOT_MANAGER_MESSAGE);
  };
  const serviceView = (s: Service) => ({ ...s, serviceStatus: serviceStatus(state, s) });
  const taskView = (t: Task) => {
    const service = state.get("services", t.serviceId);
    return {
      ...t,
      name: service ? taskName(service, t) : t.id,
      serviceName: service?.spec.name ?? "",
      nodeHostname: state.get("nodes", t.nodeId)?.hostname ?? "",
      agentConnected: t.nodeId ? dispatcher.isConnected(t.nodeId) : false,
    };
  };

  r.on("GET", "/v1/ping", () => ({ body: { ok: true, apiVersion: API_VERSION } }));
  r.on("GET", "/v1/info", async () => ({
    body: {
      version: info.version,
      apiVersion: API_VERSION,
      dns: await hooks.dns(),
      swarm: manager.initialized
        ? {
            nodeId: manager.selfNodeId,
            localNodeState: "active",
            controlAvailable: true,
            nodes: state.list("nodes").length,
            managers: state.list("nodes").filter((n) => n.role === "manager").length,
            cluster: publicCluster(state.cluster!),
          }
        : hooks.membership
          ? { nodeId: hooks.membership.nodeId, localNodeState: "active", controlAvailable: false }
          : { nodeId: "", localNodeState: "inactive", controlAvailable: false },
    },
  }));
  r.on("POST", "/v1/swarm/init", async (req) => {
    const body = (req.body ?? {}) as InitOptions & { dnsUpstreams?: unknown };
    if (typeof body !== "object") throw invalid("the request body must be a JSON object");
    if (hooks.membership) {
      throw new SwarmnetError(
        "UNAVAILABLE",
        'This node is already part of a swarm. Use "swarmnet leave" to leave this swarm and join another one.',
      );
    }
    // A node setting, not the cluster's: checked first (bad input changes nothing), kept by the daemon.
    const { dnsUpstreams, ...opts } = body;
    const upstreams = checkDnsUpstreams(dnsUpstreams);
    const { nodeId, credentials } = await manager.init(opts);
    await hooks.initialized(nodeId, credentials, upstreams);
    return { status: 201, body: { nodeId } };
  });
  r.on("POST", "/v1/swarm/rotate-token", async (req) => {
    requireManager();
    const role = req.query.get("role");
    if (role !== "worker" && role !== "manager") throw invalid("role must be worker or manager");
    await manager.rotateJoinToken(role);
    return undefined;
  });
  r.on("POST", "/v1/swarm/join", async (req) => {
    const body = (req.body ?? {}) as JoinOptions;
    if (typeof body !== "object") throw invalid("the request body must be a JSON object");
    return { status: 201, body: await hooks.join(body) };
  });
  r.on("POST", "/v1/swarm/leave", async (req) => {
    if (hooks.membership?.role === "worker" && !manager.initialized) {
      await hooks.leave();
      return undefined;
    }
    await manager.leave(req.query.get("force") === "true" || req.query.get("force") === "1");
    await hooks.leave();
    return undefined;
  });
  r.on("GET", "/v1/services/:ref/logs", (req) => {
    requireManager();
    const service = resolve(state, "services", req.params.ref!);
    const tasks = state.tasksOf(service.id);
    const names = new Map(
      tasks.map((t) => [
        t.id,
        `${taskName(service, t)}@${state.get("nodes", t.nodeId)?.hostname ?? "?"}`,
      ]),
    );
    const lines = hooks.logs.lines(tasks.map((t) => t.id));
    return { body: lines.map((l) => ({ task: names.get(l.taskId), line: l.line, time: l.time })) };
  });
  r.on("GET", "/v1/swarm", () => {
    requireManager();
    return { body: publicCluster(state.cluster!) };
  });

  r.on("GET", "/v1/nodes", () => {
    requireManager();
    return { body: state.list("nodes").map((n) => ({ ...n, self: n.id === manager.selfNodeId })) };
  });
  r.on("GET", "/v1/nodes/:ref", (req) => {
    requireManager();
    const n = manager.node(req.params.ref!);
    return { body: { ...n, self: n.id === manager.selfNodeId } };
  });
  r.on("POST", "/v1/nodes/:ref/update", async (req) => {
    requireManager();
    const version = Number(req.query.get("version"));
    if (!req.query.has("version") || !Number.isInteger(version))
      throw invalid("the version query parameter is required");
    if (typeof req.body !== "object" || req.body === null)
      throw invalid("the request body must be a JSON object");
    return { body: await manager.updateNode(req.params.ref!, version, req.body) };
  });
  r.on("DELETE", "/v1/nodes/:ref", async (req) => {
    requireManager();
    await manager.removeNode(req.params.ref!, req.query.get("force") === "true");
    return undefined;
  });
  r.on("GET", "/v1/nodes/:ref/watch", (req, res) => {
    requireManager();
    dispatcher.stream(manager.node(req.params.ref!).id, res);
    return "streaming";
  });

  r.on("GET", "/v1/networks", () => {
    requireManager();
    return { body: state.list("networks").sort((a, b) => a.name.localeCompare(b.name)) };
  });
  r.on("POST", "/v1/networks", async (req) => {
    requireManager();
    return { status: 201, body: await manager.createNetwork(req.body as never) };
  });
  r.on("GET", "/v1/networks/:ref", (req) => {
    requireManager();
    const net = resolve(state, "networks", req.params.ref!);
    const users = state
      .list("services")
      .filter(
        (s) =>
          s.spec.networks.some((n) => n.target === net.id) ||
          s.endpoint.virtualIps.some((v) => v.networkId === net.id),
      );
    return { body: { ...net, services: users.map((s) => s.spec.name).sort() } };
  });
  r.on("DELETE", "/v1/networks/:ref", async (req) => {
    requireManager();
    await manager.removeNetworkWhenFree(req.params.ref!);
    return undefined;
  });

  r.on("GET", "/v1/services", () => {
    requireManager();
    return {
      body: state
        .list("services")
        .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
        .map(serviceView),
    };
  });
  r.on("POST", "/v1/services", async (req) => {
    requireManager();
    return { status: 201, body: serviceView(await manager.createService(req.body as never)) };
  });
  r.on("GET", "/v1/services/:ref", (req) => {
    requireManager();
    return { body: serviceView(resolve(state, "services", req.params.ref!)) };
  });
  r.on("POST", "/v1/services/:ref/update", async (req) => {
    requireManager();
    const version = Number(req.query.get("version"));
    if (!req.query.has("version") || !Number.isInteger(version))
      throw invalid("the version query parameter is required");
    return {
      body: serviceView(await manager.updateService(req.params.ref!, version, req.body as never)),
    };
  });
  r.on("DELETE", "/v1/services/:ref", async (req) => {
    requireManager();
    await manager.removeService(req.params.ref!);
    return undefined;
  });

  r.on("GET", "/v1/containers", () => {
    requireManager();
    return { body: state.list("containers").sort((a, b) => a.name.localeCompare(b.name)) };
  });
  r.on("POST", "/v1/containers", async (req) => {
    requireManager();
    return { status: 201, body: await createContainer(manager, req.body as ContainerRequest) };
  });
  r.on("GET", "/v1/containers/:ref", (req) => {
    requireManager();
    return { body: resolve(state, "containers", req.params.ref!) };
  });
  r.on("DELETE", "/v1/containers/:ref", async (req) => {
    requireManager();
    await removeContainer(manager, req.params.ref!, req.query.get("force") === "true");
    return undefined;
  });
  r.on("GET", "/v1/containers/:ref/logs", (req) => {
    requireManager();
    const c = resolve(state, "containers", req.params.ref!);
    return {
      body: hooks.logs.lines([c.id]).map((l) => ({ task: c.name, line: l.line, time: l.time })),
    };
  });
  r.on("POST", "/v1/networks/:ref/connect", async (req) => {
    requireManager();
    const body = (req.body ?? {}) as { container?: unknown; aliases?: unknown };
    if (typeof body.container !== "string") throw invalid("connect needs a container");
    const aliases = Array.isArray(body.aliases) ? body.aliases.map(String) : [];
    return { body: await connectContainer(manager, req.params.ref!, body.container, aliases) };
  });
  r.on("POST", "/v1/networks/:ref/disconnect", async (req) => {
    requireManager();
    const body = (req.body ?? {}) as { container?: unknown };
    if (typeof body.container !== "string") throw invalid("disconnect needs a container");
    return { body: await disconnectContainer(manager, req.params.ref!, body.container) };
  });
  /** Where a task or container runs, by id, id prefix, task name (`web.1`, `web.1.<id>`) or container name. */
  r.on("GET", "/v1/sandboxes/:ref", (req) => {
    requireManager();
    const ref = req.params.ref!;
    const container = find(state, "containers", ref);
    const byName = state.list("tasks").find((t) => {
      const s = state.get("services", t.serviceId);
      if (!s || t.desiredState !== "running") return false;
      const full = taskName(s, t);
      return full === ref || full.replace(/\.[0-9a-z]{25}$/, "") === ref;
    });
    const task = container ? undefined : (byName ?? find(state, "tasks", ref));
    const owner = container ?? task;
    if (!owner) throw notFound(`No such task or container: ${ref}`);
    const service = task ? state.get("services", task.serviceId) : undefined;
    return {
      body: {
        id: owner.id,
        name: container ? container.name : service ? taskName(service, task!) : owner.id,
        nodeId: owner.nodeId,
        nodeHostname: state.get("nodes", owner.nodeId)?.hostname ?? "",
        state: owner.status.state,
      },
    };
  });
  r.on("GET", "/v1/tasks", (req) => {
    requireManager();
    let tasks = state.list("tasks");
    const service = req.query.get("service");
    if (service) {
      const id = resolve(state, "services", service).id;
      tasks = tasks.filter((t) => t.serviceId === id);
    }
    const node = req.query.get("node");
    if (node) {
      const id = manager.node(node).id;
      tasks = tasks.filter((t) => t.nodeId === id);
    }
    if (req.query.get("live") === "true") tasks = tasks.filter((t) => !isTerminal(t.status.state));
    tasks.sort(
      (a, b) =>
        a.serviceId.localeCompare(b.serviceId) ||
        a.slot - b.slot ||
        a.createdAt.localeCompare(b.createdAt),
    );
    return { body: tasks.map(taskView) };
  });
  r.on("GET", "/v1/tasks/:id", (req) => {
    requireManager();
    return { body: taskView(resolve(state, "tasks", req.params.id!)) };
  });

  policyRoutes(r, manager, requireManager);
  return r;
}
