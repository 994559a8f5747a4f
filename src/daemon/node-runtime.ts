// What a daemon runs besides the API: on a manager, the control port (joins,
// agent streams, heartbeats); on every node that is part of a swarm, the
// agent. It also knows how this node joined (swarm.json) and its TLS
// credentials, so a restarted daemon comes back as the same node.
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:https";
import { hostname } from "node:os";
import { join } from "node:path";
import { Agent } from "../agent/agent.ts";
import { joinCluster } from "../agent/join-client.ts";
import { kernelScope } from "../agent/kernel.ts";
import { ControlError } from "../agent/manager-client.ts";
import { invalid, SwarmnetError } from "../core/errors.ts";
import { startControlServer } from "../manager/control-server.ts";
import type { Dispatcher } from "../manager/dispatcher.ts";
import { HeartbeatMonitor } from "../manager/heartbeats.ts";
import { LogBook } from "../manager/logs.ts";
import { CONTROL_PORT, type Manager } from "../manager/manager.ts";
import {
  isPkiError,
  loadNodeCredentials,
  type NodeCredentials,
  removeNodeCredentials,
  saveNodeCredentials,
} from "../pki/index.ts";

/** How this node belongs to a swarm (kept in DATA_DIR/swarm.json). */
export interface Membership {
  nodeId: string;
  role: "manager" | "worker";
  managerAddr: string;
}

export interface JoinOptions {
  token: string;
  remoteAddr: string;
  advertiseAddr?: string;
  dataPathAddr?: string;
}

/** The agent runs unless SWARMNET_AGENT=0 (control-plane-only daemons, as the CLI tests use) or without root. */
export function agentEnabled(): boolean {
  return process.env.SWARMNET_AGENT !== "0" && process.getuid?.() === 0;
}

export class NodeRuntime {
  readonly logs = new LogBook();
  readonly heartbeats: HeartbeatMonitor;
  private readonly dataDir: string;
  private readonly manager: Manager;
  private readonly dispatcher: Dispatcher;
  private readonly log: (line: string) => void;
  private control: Server | undefined;
  private agent: Agent | undefined;
  membership: Membership | undefined;

  constructor(opts: {
    dataDir: string;
    manager: Manager;
    dispatcher: Dispatcher;
    log: (line: string) => void;
  }) {
    this.dataDir = opts.dataDir;
    this.manager = opts.manager;
    this.dispatcher = opts.dispatcher;
    this.log = opts.log;
    this.heartbeats = new HeartbeatMonitor(opts.manager, {
      alwaysAlive: () => opts.manager.selfNodeId,
    });
  }

  private get membershipFile(): string {
    return join(this.dataDir, "swarm.json");
  }

  /** After a restart: come back as the node this data dir belongs to. */
  async resume(): Promise<void> {
    if (existsSync(this.membershipFile)) {
      this.membership = JSON.parse(await readFile(this.membershipFile, "utf8")) as Membership;
    }
    const creds = await loadNodeCredentials(this.dataDir);
    if (!this.membership || !creds) return;
    if (this.membership.role === "manager" && this.manager.initialized)
      await this.startControl(creds);
    this.startAgent(creds);
  }

  /** Right after `init`: keep the credentials, open the control port, start the agent. */
  async initialized(nodeId: string, credentials: NodeCredentials): Promise<void> {
    await saveNodeCredentials(this.dataDir, credentials);
    const managerAddr = this.manager.state.cluster!.managerAddr;
    await this.remember({ nodeId, role: "manager", managerAddr });
    await this.startControl(credentials);
    this.startAgent(credentials);
  }

  async join(opts: JoinOptions): Promise<Membership> {
    if (this.membership || this.manager.initialized) {
      throw new SwarmnetError(
        "UNAVAILABLE",
        'This node is already part of a swarm. Use "swarmnet leave" to leave this swarm and join another one.',
      );
    }
    if (typeof opts.token !== "string" || typeof opts.remoteAddr !== "string") {
      throw invalid("join needs a token and the manager's address");
    }
    const remoteAddr = /:\d+$/.test(opts.remoteAddr)
      ? opts.remoteAddr
      : `${opts.remoteAddr}:${CONTROL_PORT}`;
    let joined: Awaited<ReturnType<typeof joinCluster>>;
    try {
      joined = await joinCluster({
        managerAddr: remoteAddr,
        token: opts.token,
        hostname: hostname(),
        advertiseAddr: opts.advertiseAddr,
        dataPathAddr: opts.dataPathAddr,
      });
    } catch (err) {
      if (isPkiError(err) || err instanceof ControlError) throw invalid((err as Error).message);
      throw err;
    }
    await saveNodeCredentials(this.dataDir, joined.credentials);
    const membership: Membership = {
      nodeId: joined.nodeId,
      role: "worker",
      managerAddr: joined.managerAddr,
    };
    await this.remember(membership);
    this.startAgent(joined.credentials);
    this.log(`joined the swarm at ${remoteAddr} as node ${joined.nodeId}`);
    return membership;
  }

  /** Leaving: stop the agent and forget the membership (the manager's state is the manager's business). */
  async leave(): Promise<void> {
    this.agent?.stop();
    this.agent = undefined;
    await this.closeControl();
    this.membership = undefined;
    await rm(this.membershipFile, { force: true });
    await removeNodeCredentials(this.dataDir);
  }

  private async remember(m: Membership): Promise<void> {
    this.membership = m;
    await writeFile(this.membershipFile, `${JSON.stringify(m, null, 2)}\n`);
  }

  private async startControl(creds: NodeCredentials): Promise<void> {
    const [host = "127.0.0.1"] = this.manager.state.cluster!.managerAddr.split(/:(?=\d+$)/);
    try {
      this.control = await startControlServer(
        {
          manager: this.manager,
          dispatcher: this.dispatcher,
          heartbeats: this.heartbeats,
          logs: this.logs,
          log: this.log,
        },
        creds,
        { host, port: CONTROL_PORT },
      );
      this.heartbeats.start();
      this.log(`control port listening on ${host}:${CONTROL_PORT} (mutual TLS)`);
    } catch (err) {
      // A second manager on one address (tests run many): the API still works, joins do not.
      this.log(
        `warning: cannot open the control port ${host}:${CONTROL_PORT}: ${(err as Error).message}; nodes cannot join this manager`,
      );
    }
  }

  private startAgent(creds: NodeCredentials): void {
    if (!agentEnabled() || !this.membership) {
      this.log("agent disabled (SWARMNET_AGENT=0 or not root): tasks on this node stay assigned");
      return;
    }
    const prefix = process.env.SWARMNET_NETNS_PREFIX || "sn-";
    this.agent = new Agent({
      dataDir: join(this.dataDir, "agent"),
      nodeId: this.membership.nodeId,
      managerAddr: this.membership.managerAddr,
      credentials: creds,
      scope: kernelScope(prefix),
      log: this.log,
    });
    this.agent.start();
    this.log(`agent started for node ${this.membership.nodeId} (namespaces ${prefix}*)`);
  }

  private async closeControl(): Promise<void> {
    this.heartbeats.stop();
    const server = this.control;
    this.control = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  }

  async close(): Promise<void> {
    this.agent?.stop();
    await this.closeControl();
  }
}
