// `swarmnet policy test` through the real CLI, offline (no daemon is
// started): every upstream Kubernetes conformance case passes, and a wrong
// expectation fails with the differing cell and its reason.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Env } from "./harness.ts";

/** Shared, read-only material (see its README); skipped where it is absent. */
const CONFORMANCE = path.join(
  process.env.SWARMNET_CONFORMANCE ?? "/work/shared/conformance",
  "k8s-netpol",
);

const cases = existsSync(CONFORMANCE)
  ? readdirSync(CONFORMANCE)
      .filter((d) => existsSync(path.join(CONFORMANCE, d, "case.yaml")))
      .sort()
  : [];

describe("policy test: Kubernetes conformance cases, offline", () => {
  const env = new Env();
  after(() => env.cleanup());

  it("finds the cases", { skip: cases.length ? false : `no cases in ${CONFORMANCE}` }, () => {
    assert.ok(cases.length >= 4);
  });

  for (const name of cases) {
    it(name, async () => {
      const file = path.join(CONFORMANCE, name, "case.yaml");
      const r = await env.run("policy", "test", "-f", file);
      assert.equal(r.code, 0, `${name}:\n${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /^PASS: \d+ passed, 0 failed/m);
      assert.doesNotMatch(r.stdout, /^FAIL/m);
    });
  }
});

const DENY_X = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress], ingress: []}
`;

const CASE = `workloads:
  x/a: {labels: {pod: a}, ports: [80/tcp, 81/tcp, 80/udp]}
  y/b: {labels: {pod: b}, ports: [80/tcp], replicas: 2}
policies: [policies/]
cases:
  - name: right
    port: 80/tcp
    expect: |
      -   x/a y/b
      x/a -   .
      y/b X   -
  - name: wrong
    port: 80/tcp
    expect: |
      -   x/a y/b
      x/a -   .
      y/b .   -
`;

describe("policy test: failures and refusals", () => {
  const env = new Env();
  after(() => env.cleanup());

  /** A case folder in the env's temp dir; returns the case file's path. */
  function write(caseText: string): string {
    const dir = path.join(env.dir, `case-${Math.random().toString(36).slice(2)}`);
    mkdirSync(path.join(dir, "policies"), { recursive: true });
    writeFileSync(path.join(dir, "policies", "deny.yaml"), DENY_X);
    writeFileSync(path.join(dir, "case.yaml"), caseText);
    return path.join(dir, "case.yaml");
  }

  it("exits non-zero on a wrong expectation and prints the differing cell", async () => {
    const file = write(CASE);
    const r = await env.run("policy", "test", "-f", file);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^ok {4}right$/m);
    assert.match(r.stdout, /^FAIL {2}wrong$/m);
    assert.match(
      r.stdout,
      /^ {6}y\/b -> x\/a 80\/tcp: expected \., got X \(ingress at x\/a: end of tier \(selected, no rule matched\)\)$/m,
    );
    assert.match(r.stdout, /^FAIL: 1 passed, 1 failed/m);
  });

  it("prints the results as JSON with --json", async () => {
    const file = write(CASE);
    const r = await env.run("policy", "test", "-f", file, "--json");
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.ok, false);
    assert.equal(report.passed, 1);
    assert.equal(report.failed, 1);
    assert.deepEqual(
      report.cases.map((c: { name: string; ok: boolean }) => [c.name, c.ok]),
      [
        ["right", true],
        ["wrong", false],
      ],
    );
    assert.deepEqual(report.cases[1].mismatches, [
      {
        from: "y/b",
        to: "x/a",
        port: "80/tcp",
        expected: true,
        got: false,
        why: "ingress at x/a: end of tier (selected, no rule matched)",
      },
    ]);
  });

  it("points at a mistake in the file", async () => {
    const file = write(CASE.replace("y/b .   -", "y/b ?   -"));
    const message = await env.fails("policy", "test", "-f", file);
    assert.equal(
      message,
      `${file}:17:11: invalid cell "?" (y/b -> x/a): expected . (reaches) or X (does not)`,
    );
  });

  it("needs a daemon for --live; refuses a missing file and a missing -f", async () => {
    const file = write(CASE);
    assert.match(
      await env.fails("policy", "test", "-f", file, "--live"),
      /Cannot connect to the swarmnet daemon/,
    );
    const missing = path.join(env.dir, "nope.yaml");
    assert.equal(
      await env.fails("policy", "test", "-f", missing),
      `open ${missing}: no such file or directory`,
    );
    assert.match(await env.fails("policy", "test"), /requires -f FILE/);
  });
});
