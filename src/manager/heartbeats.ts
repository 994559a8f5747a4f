// Marks nodes down when their agent stops heartbeating, and ready again when
// it comes back. Heartbeat times live in memory only (writing each beat to the
// store would cost a disk flush per node every few seconds); after a manager
// restart every node gets a full grace period before it can be marked down.
import type { Manager } from "./manager.ts";
import { setNodeState } from "./node-ops.ts";

/** Docker's dispatcher defaults: a beat every 5 s, down after 3 missed. */
export const HEARTBEAT_PERIOD_MS = 5_000;
export const HEARTBEAT_GRACE = 3;

export class HeartbeatMonitor {
  private readonly manager: Manager;
  private readonly periodMs: number;
  private readonly last = new Map<string, number>();
  private readonly startedAt = Date.now();
  /** The manager's own node is alive as long as this process is (its agent may be disabled). */
  private readonly alwaysAlive: () => string;
  private timer: NodeJS.Timeout | undefined;

  constructor(manager: Manager, opts: { periodMs?: number; alwaysAlive: () => string }) {
    this.manager = manager;
    this.periodMs = opts.periodMs ?? HEARTBEAT_PERIOD_MS;
    this.alwaysAlive = opts.alwaysAlive;
  }

  get periodMsValue(): number {
    return this.periodMs;
  }

  async beat(nodeId: string): Promise<void> {
    this.last.set(nodeId, Date.now());
    const node = this.manager.state.get("nodes", nodeId);
    if (node && node.state !== "ready") await setNodeState(this.manager, nodeId, "ready", "");
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), Math.min(1000, this.periodMs));
    this.timer.unref();
  }

  private async check(): Promise<void> {
    if (!this.manager.initialized) return;
    const now = Date.now();
    const limit = this.periodMs * HEARTBEAT_GRACE;
    for (const node of this.manager.state.list("nodes")) {
      if (node.id === this.alwaysAlive()) {
        if (node.state !== "ready") await setNodeState(this.manager, node.id, "ready", "");
        continue;
      }
      const seen = this.last.get(node.id) ?? this.startedAt;
      if (node.state !== "down" && now - seen > limit) {
        await setNodeState(this.manager, node.id, "down", "heartbeat failure");
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
