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
import type { KernelState, NftCounters } from "../dataplane/kernel-state.ts";
import { apply } from "../dataplane/linux/apply.ts";
import { enableSandboxLogging } from "../dataplane/linux/kernel-log.ts";
import { observe } from "../dataplane/linux/observe.ts";
import { type Scope, sandboxNsName } from "../dataplane/names.ts";
import { describePlan } from "../dataplane/plan.ts";
import { render } from "../dataplane/render.ts";
import { type PolicyCounters, sumPolicyCounters } from "../dataplane/render-policy.ts";
import { GATEWAY_SUBNET } from "./gateway-addresses.ts";

export const FULL_SYNC_MS = 10_000;

export interface KernelScope extends Scope {
  /** The sandbox namespace of a task or container on this node. */
  sandboxNs(ownerId: string): string;
}

export function kernelScope(prefix: string, hostNs = ""): KernelScope {
  return { hostNs, prefix, sandboxNs: (ownerId) => sandboxNsName(prefix, ownerId) };
}

/** Per-rule sums of the policy counters of this node's sandboxes, and when
 * the kernel was read. */
export interface PolicyCounterReading extends PolicyCounters {
  at: string;
}

/** Does any sandbox's table log (render-policy.ts log statements)? */
function logs(state: KernelState): boolean {
  return state.namespaces.some((ns) =>
    ns.nft?.chains.some((c) => c.rules.some((r) => r.includes(" log prefix "))),
  );
}

export class KernelSync {
  private readonly scope: KernelScope;
  private readonly log: (line: string) => void;
  private readonly stateDir: string | undefined;
  private applied: KernelState | undefined;
  private fullAt = 0;
  private logging: "on" | "unavailable" | undefined;
  /** Set by each full sync (the only one that reads the kernel). */
  policyCounters: PolicyCounterReading | undefined;

  /** `stateDir`: the node's state directory, where the nf_log_all_netns
   * value found is kept when swarmnet changes it (linux/kernel-log.ts);
   * undefined: never touch it. */
  constructor(scope: KernelScope, log: (line: string) => void, stateDir?: string) {
    this.scope = scope;
    this.log = log;
    this.stateDir = stateDir;
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
      policyLogDenied: view.policyLogDenied === true,
    });
    // Log lines of sandboxes reach the kernel log only with nf_log_all_netns.
    if (this.stateDir !== undefined && this.logging === undefined && logs(desired)) {
      this.logging = enableSandboxLogging(this.stateDir);
      this.log(
        this.logging === "on"
          ? "agent: policy logging: net.netfilter.nf_log_all_netns is 1"
          : "agent: policy logging: cannot set net.netfilter.nf_log_all_netns here; sandbox log lines stay invisible",
      );
    }
    const full = this.fullDue;
    const counters = new Map<string, NftCounters>();
    const observed =
      full || !this.applied
        ? await observe({ hostNs: this.scope.hostNs, prefix: this.scope.prefix }, counters)
        : this.applied;
    if (full) {
      this.fullAt = Date.now();
      this.policyCounters = {
        at: new Date().toISOString(),
        ...sumPolicyCounters(view.policySets ?? {}, (owner) =>
          counters.get(this.scope.sandboxNs(owner)),
        ),
      };
    }
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
