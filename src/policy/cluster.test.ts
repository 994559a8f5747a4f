import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Network, Service, Task } from "../core/model.ts";
import { clusterModel, findWorkload } from "./cluster.ts";
import { parsePolicies } from "./load.ts";
import { policyWarnings } from "./warnings.ts";

const meta = { version: 1, createdAt: "", updatedAt: "" };
const service = (id: string, name: string, labels: Record<string, string>): Service =>
  ({ ...meta, id, spec: { name, labels, containerLabels: { tier: "t" } } }) as unknown as Service;
const task = (id: string, serviceId: string, slot: number, addr: string): Task =>
  ({
    ...meta,
    id,
    serviceId,
    slot,
    nodeId: "n1",
    desiredState: "running",
    networks: [
      { networkId: "net1", addresses: [`${addr}/24`], aliases: [] },
      { networkId: "ing", addresses: ["10.255.0.9/16"], aliases: [] },
    ],
  }) as unknown as Task;
const networks = [{ id: "ing", ingress: true }] as unknown as Network[];

describe("clusterModel", () => {
  const model = clusterModel({
    services: [
      service("s1", "x_web", { "com.docker.stack.namespace": "x", app: "web" }),
      service("s2", "db", {}),
    ],
    tasks: [
      task("t1", "s1", 1, "10.0.1.2"),
      task("t2", "s1", 2, "10.0.1.3"),
      task("t3", "s2", 1, "10.0.1.4"),
    ],
    containers: [],
    networks,
  });

  it("names workloads <stack>/<short name>[.slot] with labels and addresses", () => {
    assert.deepEqual(
      model.workloads.map((w) => w.workload.id),
      ["default/db", "x/web.1", "x/web.2"],
    );
    const web = model.workloads[1]!.workload;
    assert.deepEqual(web.labels, {
      "com.docker.stack.namespace": "x",
      "projectcalico.org/namespace": "x",
      app: "web",
      tier: "t",
    });
    assert.deepEqual(web.addresses, [{ networkId: "net1", address: "10.0.1.2" }]);
    assert.deepEqual([...model.namespaces.keys()], ["default", "x"]);
  });

  it("finds workloads by id, task name and service name", () => {
    assert.equal(findWorkload(model, "x_web.2.t2")?.id, "x/web.2");
    assert.equal(findWorkload(model, "x_web")?.id, "x/web.1");
    assert.equal(findWorkload(model, "db")?.id, "default/db");
    assert.equal(findWorkload(model, "nope"), undefined);
  });
});

describe("policyWarnings", () => {
  it("warns about unmatched selectors, shadowed rules and allow-all", () => {
    const policies = parsePolicies(
      `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: p}
spec:
  selector: app == "nothing"
  ingress:
    - action: Allow
    - action: Deny
      source: {selector: app == "a"}
    - action: Deny
      source: {selector: app == "a"}
`,
      "p.yaml",
    );
    assert.deepEqual(policyWarnings(policies, []), [
      'policy p: selector app == "nothing" matches no current workload',
      "policy p: ingress[0] allows all ingress (an Allow rule with no criteria)",
      "policy p: ingress[1] is shadowed by ingress[0] (it can never match first)",
      "policy p: ingress[2] is shadowed by ingress[0] (it can never match first)",
    ]);
  });
});
