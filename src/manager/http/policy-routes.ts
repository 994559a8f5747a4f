// The policy part of the native API: stored policies (apply is all or
// nothing), and the two questions asked of them — who reaches whom (`reach`)
// and why one flow is allowed or not (`explain`) — answered from the
// cluster's current workloads with the same evaluator the kernel sets come from.
import { invalid, notFound } from "../../core/errors.ts";
import { type ClusterModel, findWorkload } from "../../policy/cluster.ts";
import { evaluateFlow } from "../../policy/evaluate.ts";
import { explainLines } from "../../policy/explain.ts";
import type { Workload } from "../../policy/model.ts";
import { reachCells } from "../../policy/reach.ts";
import { parseTestPort } from "../../policy/test-file.ts";
import type { Manager } from "../manager.ts";
import {
  applyPolicies,
  checkApplyRequest,
  findPolicy,
  modelOf,
  removePolicy,
  storedPolicies,
} from "../policies.ts";
import type { ClusterState } from "../state.ts";
import type { Router } from "./router.ts";

export function policyRoutes(r: Router, manager: Manager, requireManager: () => void): void {
  const state = manager.state;
  r.on("GET", "/v1/policies", () => {
    requireManager();
    return { body: storedPolicies(state) };
  });
  r.on("POST", "/v1/policies", async (req) => {
    requireManager();
    return { body: await applyPolicies(manager, checkApplyRequest(req.body)) };
  });
  r.on("GET", "/v1/policies/:name", (req) => {
    requireManager();
    const policy = findPolicy(state, req.params.name!);
    // Packets and bytes per rule, summed over every sandbox of every node
    // that still exists (the agents' latest reports; kernel facts, not stored).
    const totals = manager.policyCounters.totals(
      policy.name,
      (id) => state.get("nodes", id) !== undefined,
    );
    return { body: { ...policy, ...totals } };
  });
  /** Denied-packet logging, a cluster setting: `{"denied": true|false}`. */
  r.on("GET", "/v1/policy-logging", () => {
    requireManager();
    return { body: { denied: state.cluster?.policyLogDenied === true } };
  });
  r.on("POST", "/v1/policy-logging", async (req) => {
    requireManager();
    const denied = (req.body as { denied?: unknown } | undefined)?.denied;
    if (typeof denied !== "boolean") throw invalid('expected {"denied": true|false}');
    await manager.setPolicyLogDenied(denied);
    return { body: { denied } };
  });
  r.on("DELETE", "/v1/policies/:name", async (req) => {
    requireManager();
    await removePolicy(manager, req.params.name!);
    return undefined;
  });
  /** Who reaches whom on one port: `?stack=S&port=80/tcp`; with where each
   * workload runs and its addresses (`workloads`), for `reach --probe`. */
  r.on("GET", "/v1/reach", (req) => {
    requireManager();
    const port = portOf(req.query.get("port"));
    const stack = req.query.get("stack");
    const model = modelOf(state);
    const workloads = model.workloads
      .map((w) => w.workload)
      .filter((w) => !stack || w.namespace === stack);
    const policies = storedPolicies(state).map((p) => p.policy);
    const cells = reachCells(policies, model.namespaces, workloads, port.port, port.protocol);
    return {
      body: {
        port: port.text,
        ids: workloads.map((w) => w.id),
        cells,
        workloads: placed(state, model, workloads),
      },
    };
  });
  /** Why one flow is allowed or not: `?from=A&to=B&port=80/tcp`. */
  r.on("GET", "/v1/explain", (req) => {
    requireManager();
    const port = portOf(req.query.get("port"));
    const model = modelOf(state);
    const workload = (side: string) => {
      const ref = req.query.get(side) ?? "";
      const w = findWorkload(model, ref);
      if (!w) throw notFound(`No such workload: ${ref}`);
      return w;
    };
    const from = workload("from");
    const to = workload("to");
    const policies = storedPolicies(state).map((p) => p.policy);
    const verdict = evaluateFlow({
      policies,
      namespaces: model.namespaces,
      from,
      to,
      port: port.port,
      protocol: port.protocol,
    });
    const networkNames = new Map(state.list("networks").map((n) => [n.id, n.name]));
    return {
      body: {
        from: from.id,
        to: to.id,
        port: port.text,
        verdict,
        lines: explainLines(verdict, from, to, port.text, policies, networkNames),
      },
    };
  });
}

/** One workload of `reach`'s answer, for `reach --probe`. */
export interface ReachWorkload {
  id: string;
  /** The task's (or container's) id, which names its sandbox on its node; "" when unknown. */
  owner: string;
  /** The hostname of the node it runs on. */
  node: string;
  /** Its addresses (no prefix length), with their networks. */
  addresses: { network: string; networkId: string; address: string }[];
}

/** Where each workload runs and its addresses, in the order of the matrix. */
function placed(state: ClusterState, model: ClusterModel, workloads: Workload[]): ReachWorkload[] {
  const owners = new Map<string, { id: string; nodeId: string }>();
  for (const t of state.list("tasks")) owners.set(t.id, t);
  for (const c of state.list("containers")) owners.set(c.id, c);
  const networks = new Map(state.list("networks").map((n) => [n.id, n.name]));
  const hosts = new Map(state.list("nodes").map((n) => [n.id, n.hostname]));
  const names = new Map(model.workloads.map((w) => [w.workload.id, w.names]));
  return workloads.map((w) => {
    const owner = (names.get(w.id) ?? []).map((n) => owners.get(n)).find((o) => o);
    return {
      id: w.id,
      owner: owner?.id ?? "",
      node: owner ? (hosts.get(owner.nodeId) ?? owner.nodeId) : "",
      addresses: w.addresses.map((a) => ({
        network: networks.get(a.networkId) ?? a.networkId,
        networkId: a.networkId,
        address: a.address,
      })),
    };
  });
}

/** "80/tcp" (the default when absent); the protocol defaults to tcp. */
function portOf(text: string | null) {
  const port = parseTestPort(text ?? "80/tcp");
  if (!port) throw invalid(`invalid port "${text}": expected PORT[/tcp|udp|sctp]`);
  return port;
}
