// The agent's one way into the data plane: render this node's view, diff it
// against what the kernel holds, apply. Applying the same view twice changes
// nothing (the second diff is empty).
//
// Reading the kernel back (observe) costs a process per namespace — most of
// a sync with thirty sandboxes — while a scale changes a chain or two. So, as
// kube-proxy does, most syncs diff against the state the last successful
// apply left (partial sync), and a full sync that observes the kernel runs
// at start, after any failure, and at least every FULL_SYNC_MS: drift (a
// device or rule someone removed) is repaired within that time.
import type { NodeView } from "../core/node-view.ts";
import { diff } from "../dataplane/diff.ts";
import type { KernelState } from "../dataplane/kernel-state.ts";
import { apply } from "../dataplane/linux/apply.ts";
import { observe } from "../dataplane/linux/observe.ts";
import { type Scope, sandboxNsName } from "../dataplane/names.ts";
import { describePlan } from "../dataplane/plan.ts";
import { render } from "../dataplane/render.ts";
import { GATEWAY_SUBNET } from "./gateway-addresses.ts";

export const FULL_SYNC_MS = 10_000;

export interface KernelScope extends Scope {
  /** The sandbox namespace of a task or container on this node. */
  sandboxNs(ownerId: string): string;
}

export function kernelScope(prefix: string, hostNs = ""): KernelScope {
  return { hostNs, prefix, sandboxNs: (ownerId) => sandboxNsName(prefix, ownerId) };
}

export class KernelSync {
  private readonly scope: KernelScope;
  private readonly log: (line: string) => void;
  private applied: KernelState | undefined;
  private fullAt = 0;

  constructor(scope: KernelScope, log: (line: string) => void) {
    this.scope = scope;
    this.log = log;
  }

  /** True when the next sync will read the kernel back. */
  get fullDue(): boolean {
    return this.applied === undefined || Date.now() - this.fullAt >= FULL_SYNC_MS;
  }

  async sync(view: NodeView, gwAddresses: Map<string, string>): Promise<void> {
    const desired = render(view, {
      gwAddresses,
      gwSubnet: GATEWAY_SUBNET,
      hostNs: this.scope.hostNs,
      prefix: this.scope.prefix,
      policies: new Map(Object.entries(view.policySets ?? {})),
    });
    const full = this.fullDue;
    const observed =
      full || !this.applied
        ? await observe({ hostNs: this.scope.hostNs, prefix: this.scope.prefix })
        : this.applied;
    if (full) this.fullAt = Date.now();
    const plan = diff(observed, desired);
    if (plan.steps.length === 0) {
      this.applied = desired;
      return;
    }
    const kind = full ? "full" : "partial";
    this.log(
      `agent: applying ${plan.steps.length} kernel change(s) (${kind} sync)\n${describePlan(plan)}`,
    );
    const started = performance.now();
    try {
      await apply(plan);
    } catch (err) {
      this.applied = undefined; // unknown now: read it back next time
      throw err;
    }
    this.applied = desired;
    this.log(
      `agent: applied ${plan.steps.length} kernel change(s) in ${Math.round(performance.now() - started)} ms`,
    );
  }
}
