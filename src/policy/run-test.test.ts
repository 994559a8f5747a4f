import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Policy } from "./model.ts";
import { formatReport, runTestFile } from "./run-test.ts";
import { parseSelector } from "./selector.ts";
import { parseTestFile } from "./test-file.ts";

const origin = { file: "p.yaml", line: 1, column: 1 };

/** Kubernetes' default-deny-ingress in namespace x, as compiled. */
const denyX: Policy = {
  name: "x/knp.default.deny",
  kind: "KubernetesNetworkPolicy",
  namespace: "x",
  order: 1000,
  selector: parseSelector("all()"),
  types: ["Ingress"],
  ingress: [],
  egress: [],
  origin,
};

function file(expect: string, port = "80/tcp", extra = ""): string {
  const rows = expect
    .trim()
    .split("\n")
    .map((l) => `      ${l.trim()}`)
    .join("\n");
  return `workloads:
  x/a: {labels: {pod: a}, ports: [80/tcp, 80/udp]}
  x/b: {labels: {pod: b}, ports: [80/tcp]}
  y/a: {labels: {pod: a}, ports: [80/tcp]}
${extra}cases:
  - name: the case
    port: ${port}
    expect: |
${rows}
`;
}

describe("runTestFile", () => {
  it("passes when every off-diagonal cell agrees", () => {
    const tf = parseTestFile(
      file(`
        -   x/a x/b y/a
        x/a -   X   .
        x/b X   -   .
        y/a X   X   -
      `),
      "t.yaml",
    );
    const report = runTestFile(tf, [denyX]);
    assert.equal(report.ok, true);
    assert.deepEqual(report.cases, [
      { name: "the case", port: "80/tcp", ok: true, mismatches: [] },
    ]);
    assert.match(formatReport(report), /^ok {4}the case\nPASS: 1 passed, 0 failed \(t\.yaml\)$/);
  });

  it("reports each differing cell with the evaluator's reason", () => {
    const tf = parseTestFile(
      file(`
        -   x/a x/b y/a
        x/a -   .   .
        x/b X   -   X
        y/a X   X   -
      `),
      "t.yaml",
    );
    const report = runTestFile(tf, [denyX]);
    assert.equal(report.ok, false);
    assert.equal(report.failed, 1);
    assert.deepEqual(report.cases[0]!.mismatches, [
      {
        from: "x/a",
        to: "x/b",
        port: "80/tcp",
        expected: true,
        got: false,
        why: "ingress at x/b: end of tier (selected, no rule matched)",
      },
      {
        from: "x/b",
        to: "y/a",
        port: "80/tcp",
        expected: false,
        got: true,
        why: "egress at x/b: no policy selects; ingress at y/a: no policy selects",
      },
    ]);
    const text = formatReport(report);
    assert.match(
      text,
      /^FAIL {2}the case\n {6}x\/a -> x\/b 80\/tcp: expected \., got X \(ingress at x\/b: end of tier \(selected, no rule matched\)\)\n/,
    );
    assert.match(text, /\nFAIL: 0 passed, 1 failed \(t\.yaml\)$/);
  });

  it("counts a port the server does not listen on as unreachable", () => {
    const tf = parseTestFile(
      file(
        `
        -   x/a x/b
        y/a .   .
      `,
        "80/udp",
      ),
      "t.yaml",
    );
    const [c] = runTestFile(tf, []).cases;
    assert.deepEqual(c!.mismatches, [
      {
        from: "y/a",
        to: "x/b",
        port: "80/udp",
        expected: true,
        got: false,
        why: "x/b does not listen on 80/udp",
      },
    ]);
  });

  it("says when two workloads share no network", () => {
    const tf = parseTestFile(
      file(
        `
        -   z/a
        x/a .
      `,
        "80/tcp",
        "  z/a: {ports: [80/tcp], networks: [backend]}\n",
      ),
      "t.yaml",
    );
    const [c] = runTestFile(tf, []).cases;
    assert.equal(c!.mismatches[0]!.why, "x/a and z/a share no network");
  });
});
