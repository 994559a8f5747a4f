// The manager's control port (2377, mutual TLS): where nodes join and agents
// stream their node's view, heartbeat, and report task states, output and
// policy counters.
// Every path but the two join endpoints requires a client certificate of this
// cluster — checked once, here, before routing (default deny).

import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { invalid, SwarmnetError } from "../core/errors.ts";
import {
  authorizeNode,
  isPkiError,
  issueNodeCertificate,
  managerServerOptions,
  type NodeCredentials,
  type NodeIdentity,
  PKI_HTTP_STATUS,
  publicKeyFromCsr,
  roleForJoinToken,
  rootCaFromPem,
} from "../pki/index.ts";
import type { Dispatcher } from "./dispatcher.ts";
import type { HeartbeatMonitor } from "./heartbeats.ts";
import { Router, sendJson } from "./http/router.ts";
import type { LogBook } from "./logs.ts";
import type { Manager } from "./manager.ts";
import { registerNode, reportTaskStatus, type TaskStatusReport } from "./node-ops.ts";
import { checkCounterReport } from "./policy-counters.ts";

const OPEN_PATHS = new Set(["/v1/join/ca", "/v1/join"]);

export interface ControlDeps {
  manager: Manager;
  dispatcher: Dispatcher;
  heartbeats: HeartbeatMonitor;
  logs: LogBook;
  log: (line: string) => void;
}

export function controlRoutes(
  deps: ControlDeps,
  identityOf: (req: IncomingMessage) => NodeIdentity,
): Router {
  const { manager, dispatcher, heartbeats, logs } = deps;
  const r = new Router();
  const cluster = () => {
    const c = manager.state.cluster;
    if (!c) throw new SwarmnetError("NOT_MANAGER", "this manager has left the swarm");
    return c;
  };
  r.on("GET", "/v1/join/ca", () => ({ body: { caCertPem: cluster().ca.certPem } }));
  r.on("POST", "/v1/join", async (req) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const c = cluster();
    const token = typeof body.token === "string" ? body.token : "";
    const peer = req.raw.socket.remoteAddress?.replace(/^::ffff:/, "") ?? "";
    let role: "manager" | "worker";
    try {
      role = roleForJoinToken(c.joinTokens, token);
    } catch (err) {
      deps.log(`refused a join from ${peer}: ${(err as Error).message}`);
      throw isPkiError(err) ? invalid(err.message) : err;
    }
    if (role === "manager") {
      throw invalid(
        "joining as a manager is not supported yet: a swarmnet cluster has one manager until the etcd store lands",
      );
    }
    if (typeof body.csrPem !== "string")
      throw invalid("a join request must carry a certificate signing request");
    try {
      publicKeyFromCsr(body.csrPem); // before registering: a bad request must leave no node behind
    } catch (err) {
      throw isPkiError(err) ? invalid(`bad certificate signing request: ${err.message}`) : err;
    }
    const advertiseAddr =
      typeof body.advertiseAddr === "string" && body.advertiseAddr ? body.advertiseAddr : peer;
    const dataPathAddr =
      typeof body.dataPathAddr === "string" && body.dataPathAddr
        ? body.dataPathAddr
        : advertiseAddr;
    const node = await registerNode(manager, {
      hostname: String(body.hostname ?? ""),
      role,
      advertiseAddr,
      dataPathAddr,
    });
    let certPem: string;
    try {
      certPem = issueNodeCertificate(rootCaFromPem(c.ca.certPem, c.ca.keyPem), {
        nodeId: node.id,
        role,
        publicKeyOrCsr: body.csrPem,
        ipAddresses: [advertiseAddr],
      });
    } catch (err) {
      throw isPkiError(err) ? invalid(`bad certificate signing request: ${err.message}`) : err;
    }
    deps.log(`node ${node.hostname} (${node.id}) joined as a ${role} from ${peer}`);
    return {
      status: 201,
      body: { nodeId: node.id, certPem, caCertPem: c.ca.certPem, managerAddr: c.managerAddr },
    };
  });
  r.on("GET", "/v1/agent/watch", (req, res) => {
    dispatcher.stream(identityOf(req.raw).nodeId, res);
    return "streaming";
  });
  r.on("POST", "/v1/agent/heartbeat", async (req) => {
    await heartbeats.beat(identityOf(req.raw).nodeId);
    return { body: { periodMs: heartbeats.periodMsValue } };
  });
  r.on("POST", "/v1/agent/status", async (req) => {
    await reportTaskStatus(manager, identityOf(req.raw).nodeId, req.body as TaskStatusReport[]);
    return undefined;
  });
  /** The node's policy counters, summed per rule (kept in memory: policy-counters.ts). */
  r.on("POST", "/v1/agent/policy-counters", (req) => {
    manager.policyCounters.record(identityOf(req.raw).nodeId, checkCounterReport(req.body));
    return undefined;
  });
  r.on("POST", "/v1/agent/logs", (req) => {
    const body = req.body as { taskId?: unknown; lines?: unknown }[];
    if (!Array.isArray(body)) throw invalid("logs must be a list of {taskId, lines}");
    const nodeId = identityOf(req.raw).nodeId;
    for (const entry of body) {
      const owner =
        manager.state.get("tasks", String(entry.taskId)) ??
        manager.state.get("containers", String(entry.taskId));
      if (!owner || owner.nodeId !== nodeId || !Array.isArray(entry.lines)) continue;
      logs.append(owner.id, entry.lines.map(String));
    }
    return undefined;
  });
  return r;
}

export async function startControlServer(
  deps: ControlDeps,
  credentials: NodeCredentials,
  listen: { host: string; port: number },
): Promise<Server> {
  const identities = new WeakMap<IncomingMessage, NodeIdentity>();
  const router = controlRoutes(deps, (req) => identities.get(req)!);
  const server = createServer(managerServerOptions(credentials), (req, res) => {
    const path = new URL(req.url ?? "/", "https://swarm-manager").pathname;
    if (!OPEN_PATHS.has(path)) {
      try {
        identities.set(req, authorizeNode(req.socket as TLSSocket, credentials.caCertPem));
      } catch (err) {
        const status = isPkiError(err) ? PKI_HTTP_STATUS[err.code] : 401;
        deps.log(
          `refused ${req.method} ${path} from ${req.socket.remoteAddress}: ${(err as Error).message}`,
        );
        sendJson(res, status, {
          message: (err as Error).message,
          code: isPkiError(err) ? err.code : "UNAUTHORIZED",
        });
        return;
      }
    }
    void router.handle(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return server;
}
