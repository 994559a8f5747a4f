// Selectors written for Calico use its own labels: a namespace's
// `projectcalico.org/name` and an endpoint's `projectcalico.org/namespace`.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { evaluateFlow, TCP } from "./evaluate.ts";
import { parsePolicies } from "./load.ts";
import { namespaceLabels, type Workload, workloadLabels } from "./model.ts";

const POLICY = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: only-y, namespace: x}
spec:
  selector: projectcalico.org/namespace == 'x'
  ingress:
  - action: Allow
    source: {namespaceSelector: projectcalico.org/name == 'y'}
`;

function workload(stack: string, ip: string): Workload {
  return {
    id: `${stack}/w`,
    namespace: stack,
    labels: workloadLabels({}, stack),
    addresses: [{ networkId: "n", address: ip }],
  };
}

describe("Calico's own labels", () => {
  it("select endpoints by namespace and namespaces by name", () => {
    const policies = parsePolicies(POLICY, "p.yaml");
    const namespaces = new Map(
      ["x", "y", "z"].map((n) => [n, { name: n, labels: namespaceLabels(n) }]),
    );
    const [x, y, z] = [
      workload("x", "10.0.1.2"),
      workload("y", "10.0.1.3"),
      workload("z", "10.0.1.4"),
    ];
    const flow = (from: Workload) =>
      evaluateFlow({ policies, namespaces, from, to: x!, port: 80, protocol: TCP }).allowed;
    assert.equal(flow(y!), true);
    assert.equal(flow(z!), false);
  });
});
