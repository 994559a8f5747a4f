// The agent's one call into the data plane: render this node's view, read
// what the kernel holds, diff, apply. Applying the same view twice changes
// nothing (the second diff is empty).
import type { NodeView } from "../core/node-view.ts";
import { diff } from "../dataplane/diff.ts";
import { apply } from "../dataplane/linux/apply.ts";
import { observe } from "../dataplane/linux/observe.ts";
import { type Scope, sandboxNsName } from "../dataplane/names.ts";
import { describePlan } from "../dataplane/plan.ts";
import { render } from "../dataplane/render.ts";
import { GATEWAY_SUBNET } from "./gateway-addresses.ts";

export interface KernelScope extends Scope {
  /** The sandbox namespace of a task or container on this node. */
  sandboxNs(ownerId: string): string;
}

export function kernelScope(prefix: string, hostNs = ""): KernelScope {
  return { hostNs, prefix, sandboxNs: (ownerId) => sandboxNsName(prefix, ownerId) };
}

export async function applyKernelState(
  view: NodeView,
  gwAddresses: Map<string, string>,
  scope: KernelScope,
  log: (line: string) => void,
): Promise<void> {
  const desired = render(view, {
    gwAddresses,
    gwSubnet: GATEWAY_SUBNET,
    hostNs: scope.hostNs,
    prefix: scope.prefix,
  });
  const observed = await observe({ hostNs: scope.hostNs, prefix: scope.prefix });
  const plan = diff(observed, desired);
  if (plan.steps.length === 0) return;
  log(`agent: applying ${plan.steps.length} kernel change(s)\n${describePlan(plan)}`);
  const started = performance.now();
  await apply(plan);
  log(
    `agent: applied ${plan.steps.length} kernel change(s) in ${Math.round(performance.now() - started)} ms`,
  );
}
