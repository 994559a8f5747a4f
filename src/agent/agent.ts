// The agent: turns this node's view (streamed by the manager) into kernel
// state and running task processes, and reports back. Restart = resync: on
// start it adopts the task processes already running and renders the same
// kernel state again, which diffs to nothing — established connections and
// running tasks never notice an agent restart.
import { type Container, isTerminal, type Task } from "../core/model.ts";
import type { NodeView } from "../core/node-view.ts";
import { INGRESS_OWNER, meshEndpoint } from "../dataplane/render-services.ts";
import { dnsTable } from "../dns/records.ts";
import { DnsServer } from "../dns/server.ts";
import { type NodeCredentials, nodeClientOptions } from "../pki/index.ts";
import { GatewayAddresses } from "./gateway-addresses.ts";
import { FULL_SYNC_MS, type KernelScope, KernelSync } from "./kernel.ts";
import { LogShipper } from "./log-shipper.ts";
import { ControlError, controlCall, controlStream } from "./manager-client.ts";
import { SandboxDns } from "./sandbox-dns.ts";
import { taskCommand, taskEnv, taskHostname } from "./task-command.ts";
import { TaskRuntime } from "./task-runtime.ts";

export interface AgentOptions {
  dataDir: string;
  nodeId: string;
  managerAddr: string;
  credentials: NodeCredentials;
  scope: KernelScope;
  log: (line: string) => void;
  /** Resolvers the embedded DNS forwards other names to ("IP" or "IP:PORT"); none: SERVFAIL. */
  dnsUpstreams?: string[];
}

type Owner = Task | Container;
type Report = { taskId: string; state: string; message: string; err?: string };

const RETRY_MS = 1000;

export class Agent {
  private readonly opts: AgentOptions;
  private readonly runtime: TaskRuntime;
  private readonly gw: GatewayAddresses;
  private readonly shipper: LogShipper;
  private readonly dns: DnsServer;
  private readonly sandboxDns: SandboxDns;
  private readonly kernel: KernelSync;
  private resync: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private latest: NodeView | undefined;
  private reconciling: Promise<void> | undefined;
  private again = false;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Tasks this agent was asked to stop, so an exit is reported as shutdown, not failure. */
  private readonly stopping = new Set<string>();

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.runtime = new TaskRuntime(`${opts.dataDir}/tasks`);
    this.gw = new GatewayAddresses(`${opts.dataDir}/gateway-addresses.json`);
    this.shipper = new LogShipper(this.runtime, (batch) =>
      this.call("POST", "/v1/agent/logs", batch),
    );
    this.runtime.onExit((id, code, signal) => this.onExit(id, code, signal));
    this.kernel = new KernelSync(opts.scope, opts.log, opts.dataDir);
    this.dns = new DnsServer({ upstreams: opts.dnsUpstreams ?? [], log: opts.log });
    this.sandboxDns = new SandboxDns(
      this.dns,
      (id) => `/run/netns/${opts.scope.sandboxNs(id)}`,
      opts.log,
    );
  }

  private get tls() {
    return nodeClientOptions(this.opts.credentials);
  }

  private call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return controlCall<T>(this.opts.managerAddr, this.tls, method, path, body);
  }

  start(): void {
    const adopted = this.runtime.adopt();
    if (adopted.length) this.opts.log(`agent: adopted ${adopted.length} running task(s)`);
    void this.watchLoop();
    const beat = () => {
      void this.call<{ periodMs: number }>("POST", "/v1/agent/heartbeat").catch((err: Error) =>
        this.opts.log(`agent: heartbeat failed: ${err.message}`),
      );
      this.sendPolicyCounters();
    };
    beat();
    this.heartbeat = setInterval(beat, 2000);
    // Views come when the cluster changes; this also brings a full sync (and
    // drift repair) when it is quiet.
    this.resync = setInterval(() => {
      if (this.latest && !this.reconciling && this.kernel.fullDue) this.onView(this.latest);
    }, FULL_SYNC_MS / 2);
    this.shipper.start();
  }

  private countersSent: string | undefined;

  /** The latest per-rule policy counters (read by each full sync, every
   * FULL_SYNC_MS at least), once each, with the heartbeat. */
  private sendPolicyCounters(): void {
    const c = this.kernel.policyCounters;
    if (!c || c.at === this.countersSent) return;
    if (c.rules.length === 0 && c.endOfTier.length === 0 && this.countersSent === undefined) return;
    this.countersSent = c.at;
    this.call("POST", "/v1/agent/policy-counters", c).catch((err: Error) => {
      this.countersSent = undefined;
      this.opts.log(`agent: sending policy counters failed: ${err.message}`);
    });
  }

  private async watchLoop(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        await controlStream(
          this.opts.managerAddr,
          this.tls,
          "/v1/agent/watch",
          (v) => this.onView(v as NodeView),
          this.abort.signal,
        );
      } catch (err) {
        const status = err instanceof ControlError ? ` (${err.status})` : "";
        this.opts.log(`agent: view stream lost${status}: ${(err as Error).message}; retrying`);
      }
      if (!this.abort.signal.aborted) await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }

  private onView(view: NodeView): void {
    this.latest = view;
    // Names change at once, even while a kernel sync is under way: a task told
    // to stop is out of the view's live endpoints (it leaves DNS before it is
    // stopped), a new one is in once it runs (after its networking was ready).
    this.dns.setTable(dnsTable(view));
    if (this.reconciling) {
      this.again = true;
      return;
    }
    this.reconciling = this.reconcileLoop();
  }

  /** One reconcile at a time; views that arrive meanwhile collapse into one more pass. */
  private async reconcileLoop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.reconcile(this.latest!);
      } catch (err) {
        this.opts.log(`agent: reconcile failed: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, RETRY_MS));
        this.again = true;
      }
    } while (this.again && !this.abort.signal.aborted);
    this.reconciling = undefined;
  }

  private async reconcile(view: NodeView): Promise<void> {
    const owners: Owner[] = [...view.tasks, ...view.containers];
    const wanted = owners.filter(
      (o) => o.desiredState === "running" && !isTerminal(o.status.state),
    );
    const wantedIds = new Set(wanted.map((o) => o.id));
    // Load balancers first (names changed when the view came): a task told to
    // stop has left every VIP here before its process is stopped below, and a
    // new task's sandbox exists (with its DNS socket) before its process starts.
    const sandboxes = wanted.map((o) => o.id);
    if (meshEndpoint(view)) sandboxes.push(INGRESS_OWNER);
    const gwAddresses = this.gw.assign(sandboxes);
    await this.kernel.sync(view, gwAddresses);
    const reports: Report[] = [];
    for (const id of this.runtime.ids()) {
      if (wantedIds.has(id)) continue;
      this.stopping.add(id);
      await this.runtime.stop(id);
    }
    for (const o of owners) {
      if (!wantedIds.has(o.id) && !isTerminal(o.status.state) && o.status.state !== "assigned") {
        reports.push({ taskId: o.id, state: "shutdown", message: "shutdown" });
      }
    }
    await this.sandboxDns.sync(wanted.map((o) => o.id));
    for (const o of wanted) {
      if (this.runtime.get(o.id)) {
        if (o.status.state !== "running")
          reports.push({ taskId: o.id, state: "running", message: "started" });
        continue;
      }
      const ended = this.runtime.exitOf(o.id);
      if (ended) {
        // It already ran and ended (a report may have crossed this view): say so again, never restart it.
        reports.push(exitReport(o.id, ended.code, ended.signal, false));
        continue;
      }
      try {
        this.runtime.start({
          id: o.id,
          hostname: taskHostname(view, o),
          netnsPath: `/run/netns/${this.opts.scope.sandboxNs(o.id)}`,
          command: taskCommand(view, o),
          env: taskEnv(view, o),
        });
        reports.push({ taskId: o.id, state: "running", message: "started" });
      } catch (err) {
        reports.push({
          taskId: o.id,
          state: "rejected",
          message: "could not start",
          err: (err as Error).message,
        });
      }
    }
    // Forget what ended and is no longer in the view (logs were shipped when it ended).
    const inView = new Set(owners.map((o) => o.id));
    for (const id of this.runtime.knownIds()) {
      if (!inView.has(id) && !this.runtime.get(id)) this.runtime.forget(id);
    }
    if (reports.length) await this.call("POST", "/v1/agent/status", reports);
  }

  private onExit(id: string, code: number | null, signal: string | null): void {
    const report = exitReport(id, code, signal, this.stopping.delete(id));
    void this.shipper
      .flush([id])
      .finally(() =>
        this.call("POST", "/v1/agent/status", [report]).catch((err: Error) =>
          this.opts.log(`agent: could not report ${id}: ${err.message}`),
        ),
      );
  }

  /** Stops the agent only: tasks and kernel state stay, for the next agent to adopt. */
  stop(): void {
    this.abort.abort();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.resync) clearInterval(this.resync);
    this.shipper.stop();
    this.sandboxDns.close();
    this.dns.close();
    this.runtime.close();
  }
}

function exitReport(
  taskId: string,
  code: number | null,
  signal: string | null,
  stopped: boolean,
): Report {
  if (stopped) return { taskId, state: "shutdown", message: "shutdown" };
  if (code === 0) return { taskId, state: "complete", message: "finished" };
  const err =
    code === null
      ? `task: ended (${signal ?? "exit status unknown"})`
      : `task: non-zero exit (${code})`;
  return { taskId, state: "failed", message: "started", err };
}
