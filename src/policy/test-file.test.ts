import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { K8S_NAMESPACE_LABEL, PolicyError, STACK_LABEL } from "./model.ts";
import { parseTestFile, parseTestPort, testNamespaces, testWorkloads } from "./test-file.ts";

const GOOD = `stacks:
  x: {labels: {team: red}}
workloads:
  x/a: {labels: {pod: a}, ports: [80/tcp, 81/tcp, 80/udp]}
  y/b: {labels: {pod: b, tier: 1}, ports: [80], replicas: 2, networks: [net1, default]}
  z/c: {networks: [net1]}
policies: [policies/, extra.yaml]
cases:
  - name: default deny ingress in x
    port: 80/tcp
    expect: |                   # rows are clients, columns servers
      -   x/a y/b               # a cell of a workload with itself is ignored
      x/a  X   .
      y/b  X   -
`;

/** The PolicyError's message for text, which must fail. */
function failure(text: string): string {
  try {
    parseTestFile(text, "t.yaml");
  } catch (err) {
    assert.ok(err instanceof PolicyError, `not a PolicyError: ${String(err)}`);
    return err.message;
  }
  assert.fail("parsed without error");
}

describe("parseTestFile", () => {
  it("reads the fixed format", () => {
    const tf = parseTestFile(GOOD, "t.yaml");
    assert.deepEqual(tf.stacks.get("x"), { team: "red" });
    assert.deepEqual(tf.policies, ["policies/", "extra.yaml"]);
    const [a, b, c] = tf.workloads;
    assert.equal(a!.id, "x/a");
    assert.equal(a!.stack, "x");
    assert.deepEqual(
      a!.ports.map((p) => p.text),
      ["80/tcp", "81/tcp", "80/udp"],
    );
    assert.deepEqual(a!.networks, ["default"]);
    assert.deepEqual(b!.labels, { pod: "b", tier: "1" });
    assert.equal(b!.replicas, 2);
    assert.deepEqual(b!.networks, ["net1", "default"]);
    assert.deepEqual(b!.ports, [{ port: 80, protocol: 6, text: "80/tcp" }]);
    assert.deepEqual(c!.ports, []);
    const [k] = tf.cases;
    assert.equal(k!.name, "default deny ingress in x");
    assert.deepEqual(k!.port, { port: 80, protocol: 6, text: "80/tcp" });
    assert.deepEqual(k!.clients, ["x/a", "y/b"]);
    assert.deepEqual(k!.servers, ["x/a", "y/b"]);
    // The diagonal is left out, whatever it holds.
    assert.deepEqual(
      k!.expect,
      new Map([
        ["x/a", new Map([["y/b", true]])],
        ["y/b", new Map([["x/a", false]])],
      ]),
    );
    assert.equal(k!.origin.line, 9);
  });

  it("gives workloads their stack label and addresses, namespaces their labels", () => {
    const tf = parseTestFile(GOOD, "t.yaml");
    const [a, b, c] = testWorkloads(tf);
    assert.deepEqual(a!.labels, {
      pod: "a",
      [STACK_LABEL]: "x",
      "projectcalico.org/namespace": "x",
    });
    assert.equal(a!.namespace, "x");
    assert.deepEqual(a!.addresses, [{ networkId: "default", address: "10.0.1.2" }]);
    assert.deepEqual(b!.addresses, [
      { networkId: "net1", address: "10.0.2.2" },
      { networkId: "default", address: "10.0.1.3" },
    ]);
    assert.deepEqual(c!.addresses, [{ networkId: "net1", address: "10.0.2.3" }]);
    const ns = testNamespaces(tf);
    assert.deepEqual([...ns.keys()].sort(), ["default", "x", "y", "z"]);
    assert.deepEqual(ns.get("x")!.labels, {
      team: "red",
      [STACK_LABEL]: "x",
      [K8S_NAMESPACE_LABEL]: "x",
      "projectcalico.org/name": "x",
    });
  });

  it("reads ports as Docker does", () => {
    assert.deepEqual(parseTestPort("53/UDP"), { port: 53, protocol: 17, text: "53/udp" });
    assert.deepEqual(parseTestPort("9/sctp")?.protocol, 132);
    assert.equal(parseTestPort("0/tcp"), undefined);
    assert.equal(parseTestPort("70000"), undefined);
    assert.equal(parseTestPort("80/icmp"), undefined);
    assert.equal(parseTestPort("80-90/tcp"), undefined);
  });

  it("points at YAML syntax errors", () => {
    assert.match(failure("workloads: [\n"), /^t\.yaml:\d+:\d+: invalid YAML: /);
    assert.match(failure("a: 1\na: 2\n"), /^t\.yaml:2:1: invalid YAML: Map keys must be unique$/);
  });

  it("points at the offending field", () => {
    assert.equal(
      failure("- 1\n"),
      "t.yaml:1:1: a policy test file is a mapping with workloads and cases",
    );
    assert.equal(
      failure("workloads: {x/a: {}}\ncase: []\n"),
      't.yaml:2:1: unknown field "case" in the test file (expected stacks, workloads, policies, cases)',
    );
    assert.equal(failure("cases: []\n"), "t.yaml:1:1: missing workloads");
    assert.equal(
      failure("workloads:\n  a: {}\n"),
      't.yaml:2:3: invalid workload "a": expected <stack>/<name>',
    );
    assert.equal(
      failure("workloads:\n  x/a: {port: [80]}\n"),
      't.yaml:2:9: unknown field "port" in workload x/a (expected labels, ports, replicas, networks)',
    );
    assert.equal(
      failure("workloads:\n  x/a: {ports: [80/tcp, 80/icmp]}\n"),
      't.yaml:2:25: invalid port "80/icmp": expected PORT[/tcp|udp|sctp]',
    );
    assert.equal(
      failure("workloads:\n  x/a: {replicas: 0}\n"),
      "t.yaml:2:19: replicas of x/a must be a positive integer",
    );
    assert.equal(
      failure("workloads:\n  x/a: {labels: {pod: [a]}}\n"),
      "t.yaml:2:23: label pod must have a string value",
    );
    assert.equal(failure("workloads: {x/a: {}}\n"), "t.yaml:1:1: missing cases");
    assert.equal(
      failure("workloads: {x/a: {}}\ncases:\n  - {name: c, expect: '- x/a'}\n"),
      't.yaml:3:5: case "c" needs a port (like 80/tcp)',
    );
  });

  it("points at the offending cell of a matrix", () => {
    const head =
      "workloads: {x/a: {}, x/b: {}}\ncases:\n  - name: c\n    port: 80/tcp\n    expect: |\n";
    assert.equal(
      failure(`${head}      -   x/a x/b\n      x/a -   Y\n`),
      't.yaml:7:15: invalid cell "Y" (x/a -> x/b): expected . (reaches) or X (does not)',
    );
    assert.equal(
      failure(`${head}      -   x/a x/z\n      x/a -   .\n`),
      't.yaml:6:15: unknown workload "x/z" (not in workloads)',
    );
    assert.equal(
      failure(`${head}      -   x/a x/b\n      x/a -\n`),
      "t.yaml:7:11: row x/a has 1 cells for 2 servers",
    );
    assert.equal(
      failure(`${head}      -   x/a x/b\n      x/a -   .   .\n`),
      "t.yaml:7:19: row x/a has 3 cells for 2 servers",
    );
    assert.equal(
      failure(`${head}      -   x/a x/b\n      x/a - .\n      x/a - .\n`),
      "t.yaml:8:7: client x/a appears twice",
    );
    assert.equal(
      failure(`${head}      -   x/a x/b\n`),
      "t.yaml:5:13: expect needs a header row of servers and at least one client row",
    );
  });

  it("hints at a header row without its corner cell", () => {
    const text =
      "workloads: {x/a: {}, x/b: {}}\ncases:\n  - name: c\n    port: 80/tcp\n    expect: |\n      x/a x/b\n      x/a - .\n";
    assert.equal(
      failure(text),
      "t.yaml:7:13: row x/a has 2 cells for 1 servers (the header row starts with a corner cell, like -)",
    );
  });

  it("refuses a case file with no cases or no workloads", () => {
    assert.equal(failure("workloads: {}\ncases: []\n"), "t.yaml:1:12: workloads is empty");
    assert.equal(failure("workloads: {x/a: {}}\ncases: []\n"), "t.yaml:2:8: cases is empty");
  });
});
