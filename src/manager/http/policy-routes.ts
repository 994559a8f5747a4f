// The policy part of the native API: stored policies (apply is all or
// nothing), and the two questions asked of them — who reaches whom (`reach`)
// and why one flow is allowed or not (`explain`) — answered from the
// cluster's current workloads with the same evaluator the kernel sets come from.
import { invalid, notFound } from "../../core/errors.ts";
import { findWorkload } from "../../policy/cluster.ts";
import { evaluateFlow, reachMatrix } from "../../policy/evaluate.ts";
import { explainLines } from "../../policy/explain.ts";
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
    return { body: findPolicy(state, req.params.name!) };
  });
  r.on("DELETE", "/v1/policies/:name", async (req) => {
    requireManager();
    await removePolicy(manager, req.params.name!);
    return undefined;
  });
  /** Who reaches whom on one port: `?stack=S&port=80/tcp`. */
  r.on("GET", "/v1/reach", (req) => {
    requireManager();
    const port = portOf(req.query.get("port"));
    const stack = req.query.get("stack");
    const model = modelOf(state);
    const workloads = model.workloads
      .map((w) => w.workload)
      .filter((w) => !stack || w.namespace === stack);
    const policies = storedPolicies(state).map((p) => p.policy);
    const matrix = reachMatrix(policies, model.namespaces, workloads, port.port, port.protocol);
    const cells = workloads.map((from) => workloads.map((to) => matrix.get(from.id)!.get(to.id)!));
    return { body: { port: port.text, ids: workloads.map((w) => w.id), cells } };
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

/** "80/tcp" (the default when absent); the protocol defaults to tcp. */
function portOf(text: string | null) {
  const port = parseTestPort(text ?? "80/tcp");
  if (!port) throw invalid(`invalid port "${text}": expected PORT[/tcp|udp|sctp]`);
  return port;
}
