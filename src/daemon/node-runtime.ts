// What a daemon runs besides the API: on a manager, the control port (joins,
// agent streams, heartbeats); on every node that is part of a swarm, the
// agent. It also knows how this node joined (swarm.json), its TLS
// credentials and its own settings (node.json), so a restarted daemon comes
// back as the same node.
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import type { Server } from "node:https";
import { hostname } from "node:os";
import { join } from "node:path";
import { Agent } from "../agent/agent.ts";
import { joinCluster } from "../agent/join-client.ts";
import { kernelScope } from "../agent/kernel.ts";
import { ControlError } from "../agent/manager-client.ts";
import { checkDnsUpstreams, resolvConfNameservers } from "../core/dns-upstream.ts";
import { invalid, SwarmnetError } from "../core/errors.ts";
import { restoreSandboxLogging } from "../dataplane/linux/kernel-log.ts";
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
  /** `join --dns-upstream`: see NodeConfig. */
  dnsUpstreams?: string[];
}

/** This host's own settings (kept in DATA_DIR/node.json), set by the flags of
 * `init`, `join` and `daemon`. They belong to the host, not the swarm, so they
 * outlive leaving it, as a daemon's configuration would. */
export interface NodeConfig {
  /** Resolvers the node's embedded DNS forwards other names to, as "IP:PORT";
   * [] for none. Absent: the host's /etc/resolv.conf, read when the agent starts. */
  dnsUpstreams?: string[];
}

export const RESOLV_CONF = "/etc/resolv.conf";

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
  /** `daemon --dns-upstream`, kept in node.json on resume. */
  private readonly dnsUpstreamsFlag: string[] | undefined;
  private readonly resolvConf: string;
  membership: Membership | undefined;
  config: NodeConfig = {};

  constructor(opts: {
    dataDir: string;
    manager: Manager;
    dispatcher: Dispatcher;
    log: (line: string) => void;
    dnsUpstreams?: string[];
    /** Where the default upstreams come from (tests point it elsewhere). */
    resolvConf?: string;
  }) {
    this.dataDir = opts.dataDir;
    this.dnsUpstreamsFlag = checkDnsUpstreams(opts.dnsUpstreams);
    this.resolvConf = opts.resolvConf ?? RESOLV_CONF;
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

  private get configFile(): string {
    return join(this.dataDir, "node.json");
  }

  /** After a restart: come back as the node this data dir belongs to. */
  async resume(): Promise<void> {
    if (existsSync(this.membershipFile)) {
      this.membership = JSON.parse(await readFile(this.membershipFile, "utf8")) as Membership;
    }
    if (existsSync(this.configFile)) this.config = await this.readConfig();
    await this.configure(this.dnsUpstreamsFlag);
    const creds = await loadNodeCredentials(this.dataDir);
    if (!this.membership || !creds) return;
    if (this.membership.role === "manager" && this.manager.initialized)
      await this.startControl(creds);
    await this.startAgent(creds);
  }

  /** Right after `init`: keep the credentials and settings, open the control port, start the agent. */
  async initialized(
    nodeId: string,
    credentials: NodeCredentials,
    dnsUpstreams?: string[],
  ): Promise<void> {
    await this.configure(dnsUpstreams);
    await saveNodeCredentials(this.dataDir, credentials);
    const managerAddr = this.manager.state.cluster!.managerAddr;
    await this.remember({ nodeId, role: "manager", managerAddr });
    await this.startControl(credentials);
    await this.startAgent(credentials);
  }

  /** node.json as written by `configure`; a hand edit that broke it stops the daemon, clearly. */
  private async readConfig(): Promise<NodeConfig> {
    try {
      const raw = JSON.parse(await readFile(this.configFile, "utf8")) as Record<string, unknown>;
      const dnsUpstreams = checkDnsUpstreams(raw?.dnsUpstreams);
      return dnsUpstreams ? { dnsUpstreams } : {};
    } catch (err) {
      throw new Error(`${this.configFile} is damaged: ${(err as Error).message}`);
    }
  }

  /** Keeps upstreams a flag gave (undefined: no flag, the stored setting stays). */
  private async configure(dnsUpstreams: string[] | undefined): Promise<void> {
    if (dnsUpstreams === undefined) return;
    this.config = { ...this.config, dnsUpstreams };
    await writeFile(this.configFile, `${JSON.stringify(this.config, null, 2)}\n`);
  }

  /** What the agent forwards to: the setting ("--dns-upstream"), else the host's
   * resolv.conf, read now (source: its path). */
  async dns(): Promise<{ upstreams: string[]; source: string }> {
    if (this.config.dnsUpstreams)
      return { upstreams: this.config.dnsUpstreams, source: "--dns-upstream" };
    let text = "";
    try {
      text = await readFile(this.resolvConf, "utf8");
    } catch {
      // No resolv.conf: nothing to forward to.
    }
    return { upstreams: resolvConfNameservers(text), source: this.resolvConf };
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
    const dnsUpstreams = checkDnsUpstreams(opts.dnsUpstreams);
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
    await this.configure(dnsUpstreams);
    await saveNodeCredentials(this.dataDir, joined.credentials);
    const membership: Membership = {
      nodeId: joined.nodeId,
      role: "worker",
      managerAddr: joined.managerAddr,
    };
    await this.remember(membership);
    await this.startAgent(joined.credentials);
    this.log(`joined the swarm at ${remoteAddr} as node ${joined.nodeId}`);
    return membership;
  }

  /** Leaving: stop the agent and forget the membership (the manager's state is the manager's business). */
  async leave(): Promise<void> {
    this.agent?.stop();
    this.agent = undefined;
    // The agent may have turned nf_log_all_netns on for policy logging.
    try {
      restoreSandboxLogging(join(this.dataDir, "agent"));
    } catch (err) {
      this.log(`could not restore net.netfilter.nf_log_all_netns: ${(err as Error).message}`);
    }
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

  private async startAgent(creds: NodeCredentials): Promise<void> {
    if (!agentEnabled() || !this.membership) {
      this.log("agent disabled (SWARMNET_AGENT=0 or not root): tasks on this node stay assigned");
      return;
    }
    const prefix = process.env.SWARMNET_NETNS_PREFIX || "sn-";
    const dns = await this.dns();
    this.agent = new Agent({
      dataDir: join(this.dataDir, "agent"),
      nodeId: this.membership.nodeId,
      managerAddr: this.membership.managerAddr,
      credentials: creds,
      scope: kernelScope(prefix),
      log: this.log,
      dnsUpstreams: dns.upstreams,
    });
    this.agent.start();
    this.log(
      `agent started for node ${this.membership.nodeId} (namespaces ${prefix}*; DNS upstreams: ${dns.upstreams.join(", ") || "none"}, from ${dns.source})`,
    );
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
