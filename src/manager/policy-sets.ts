// What each sandbox on a node must enforce: the stored policies compiled, per
// local task or container, into the allow sets its nftables table looks up
// (policy/enforce.ts). Computed where the whole cluster is known — the
// manager — and shipped in the node's view, so an agent needs no one else's
// labels, and a new task's protection arrives in the same view that places
// it: the agent applies it before the task's process starts.
import type { Container, Task } from "../core/model.ts";
import type { SandboxPolicySets } from "../core/node-view.ts";
import { type ClusterModel, findWorkload } from "../policy/cluster.ts";
import { sandboxPolicy } from "../policy/enforce.ts";
import type { Policy } from "../policy/model.ts";

export interface PolicySetInput {
  nodeId: string;
  policies: Policy[];
  /** The cluster's workloads, built once for every node's view. */
  model: ClusterModel;
  tasks: Task[];
  containers: Container[];
}

/** Owner id → allow sets, for the node's sandboxes that some policy selects. */
export function policySetsFor(input: PolicySetInput): Record<string, SandboxPolicySets> {
  const out: Record<string, SandboxPolicySets> = {};
  if (input.policies.length === 0) return out;
  const { model } = input;
  const workloads = model.workloads.map((w) => w.workload);
  const local = [
    ...input.tasks.filter((t) => t.nodeId === input.nodeId && t.desiredState === "running"),
    ...input.containers.filter((c) => c.nodeId === input.nodeId && c.desiredState === "running"),
  ];
  for (const owner of local) {
    const self = findWorkload(model, owner.id);
    if (!self) continue;
    const sets = sandboxPolicy({
      policies: input.policies,
      namespaces: model.namespaces,
      workloads,
      self,
    });
    if (sets.ingress || sets.egress) out[owner.id] = sets;
  }
  return out;
}
