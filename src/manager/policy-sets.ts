// What each sandbox on a node must enforce: the stored policies compiled, per
// local task or container, into the verdict-map elements its nftables table
// looks up (policy/enforce.ts). Computed where the whole cluster is known —
// the manager — and shipped in the node's view, so an agent needs no one
// else's labels, and a new task's protection arrives in the same view that
// places it: the agent applies it before the task's process starts.
//
// The dispatcher pushes views on every change (a task's state, a heartbeat's
// node update…), most of which change neither the policies nor any
// workload's labels or addresses: the compiled sets are kept per sandbox
// until one of those changes.
import type { Container, Task } from "../core/model.ts";
import type { SandboxPolicySets } from "../core/node-view.ts";
import { type ClusterModel, findWorkload } from "../policy/cluster.ts";
import { sandboxPolicy } from "../policy/enforce.ts";
import type { Policy } from "../policy/model.ts";
import { type PolicyIndex, policyIndex } from "../policy/policy-index.ts";

export interface PolicySetInput {
  nodeId: string;
  policies: Policy[];
  /** The cluster's workloads, built once for every node's view. */
  model: ClusterModel;
  tasks: Task[];
  containers: Container[];
}

export class PolicySetCache {
  private world = "";
  private index: PolicyIndex | undefined;
  private readonly byOwner = new Map<string, SandboxPolicySets>();
  private readonly policyIds = new WeakMap<Policy, number>();
  private nextPolicyId = 0;

  /** Owner id → its sets, for the node's sandboxes that some policy selects. */
  setsFor(input: PolicySetInput): Record<string, SandboxPolicySets> {
    const out: Record<string, SandboxPolicySets> = {};
    if (input.policies.length === 0) return out;
    const index = this.indexFor(input);
    const local = [
      ...input.tasks.filter((t) => t.nodeId === input.nodeId && t.desiredState === "running"),
      ...input.containers.filter((c) => c.nodeId === input.nodeId && c.desiredState === "running"),
    ];
    for (const owner of local) {
      let sets = this.byOwner.get(owner.id);
      if (!sets) {
        const self = findWorkload(input.model, owner.id);
        if (!self) continue;
        sets = sandboxPolicy({
          policies: input.policies,
          namespaces: input.model.namespaces,
          workloads: index.workloads,
          self,
          index,
        });
        this.byOwner.set(owner.id, sets);
      }
      if (sets.ingress || sets.egress) out[owner.id] = sets;
    }
    return out;
  }

  /** The index of this world of policies and workloads; a new one (and no
   * kept sets) when either changed. */
  private indexFor(input: PolicySetInput): PolicyIndex {
    const workloads = input.model.workloads.map((w) => w.workload);
    const world = JSON.stringify([
      input.policies.map((p) => this.policyId(p)),
      workloads,
      [...input.model.namespaces.values()],
    ]);
    if (world !== this.world || !this.index) {
      this.world = world;
      this.index = policyIndex(input.policies, input.model.namespaces, workloads);
      this.byOwner.clear();
    }
    return this.index;
  }

  private policyId(p: Policy): number {
    let id = this.policyIds.get(p);
    if (id === undefined) {
      id = this.nextPolicyId++;
      this.policyIds.set(p, id);
    }
    return id;
  }
}
