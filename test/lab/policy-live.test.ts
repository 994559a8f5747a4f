// Root, end to end: `swarmnet policy test --live` in a three-node lab. Every
// shared Kubernetes conformance case passes against the kernel; a case with a
// deliberately wrong cell fails and names it; and no run leaves a service,
// network or policy behind. One lab for all runs: each deploys and removes its
// own workloads.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run } from "../../src/lab/kernel.ts";
import { cliArgv } from "../../src/lab/lab.ts";
import { IS_ROOT, TestLab } from "./labkit.ts";

const CONFORMANCE = "/work/shared/conformance/k8s-netpol";
const cases = existsSync(CONFORMANCE)
  ? readdirSync(CONFORMANCE)
      .filter((d) => existsSync(join(CONFORMANCE, d, "case.yaml")))
      .sort()
  : [];

// q/b -> p/a is denied by the policy; the matrix claims it reaches. q/c is on
// another network (X without probing); p/a listens on TCP only (the responder
// with explicit ports), q/b on both protocols in two replicas (host-mode ports).
const WRONG = `workloads:
  p/a: {labels: {app: a}, ports: [80/tcp]}
  q/b: {labels: {app: b}, ports: [80/tcp, 80/udp], replicas: 2}
  q/c: {labels: {app: c}, ports: [80/tcp, 80/udp], networks: [other]}
policies: [deny.yaml]
cases:
  - name: wrong on purpose
    port: 80/tcp
    expect: |
      -   p/a q/b q/c
      p/a -   .   X
      q/b .   -   X
      q/c X   X   -
  - name: right
    port: 80/udp
    expect: |
      -   p/a q/b
      p/a -   .
      q/b X   -
`;

const DENY_P = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: p}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

describe("policy test --live in a three-node lab (root)", {
  skip: !IS_ROOT && "needs root",
  timeout: 600_000,
}, () => {
  const lab = new TestLab();
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-policy-live-"));

  // Not lab.cli: a live run deploys, waits and probes for longer than its 60 s bound.
  const live = (file: string) => {
    const { NODE_TEST_CONTEXT: _runner, ...env } = process.env;
    return run(cliArgv(["policy", "test", "--live", "-f", file]), {
      env: { ...env, SWARMNET_HOST: lab.host },
      timeoutMs: 240_000,
    });
  };

  before(async () => {
    await lab.up(3);
  });
  after(() => lab.cleanup());

  for (const name of cases) {
    it(`conformance case ${name} passes live`, async () => {
      const r = await live(join(CONFORMANCE, name, "case.yaml"));
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /PASS: \d+ passed, 0 failed \(live: /);
    });
  }

  it("a wrong expectation fails live and names the cell", async () => {
    writeFileSync(join(dir, "deny.yaml"), DENY_P);
    writeFileSync(join(dir, "wrong.yaml"), WRONG);
    const r = await live(join(dir, "wrong.yaml"));
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /FAIL {2}wrong on purpose/);
    assert.match(r.stdout, /q\/b -> p\/a 80\/tcp: expected \., got X/);
    assert.match(r.stdout, /ok {4}right/);
    assert.match(r.stdout, /FAIL: 1 passed, 1 failed \(live: /);
    assert.match(r.stdout, /the kernel agrees with the model on every cell/);
  });

  it("an interrupted run removes what it created and exits 130", async () => {
    writeFileSync(join(dir, "deny.yaml"), DENY_P);
    writeFileSync(join(dir, "wrong.yaml"), WRONG);
    const { NODE_TEST_CONTEXT: _runner, ...env } = process.env;
    const argv = cliArgv(["policy", "test", "--live", "-f", join(dir, "wrong.yaml")]);
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { ...env, SWARMNET_HOST: lab.host },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.setEncoding("utf8").on("data", (c: string) => {
        stderr += c;
        // Deployed (services exist), not yet finished: the moment Ctrl-C hurts most.
        if (c.includes("live: deploying")) setTimeout(() => child.kill("SIGINT"), 1500);
      });
      child.on("close", resolve);
    });
    assert.equal(code, 130, stderr);
    assert.match(stderr, /SIGINT: removing what this run created/);
  });

  it("the runs left no service, network or policy behind", async () => {
    assert.equal((await lab.cli(["service", "ls", "-q"])).trim(), "");
    assert.equal((await lab.cli(["policy", "ls", "--format", "{{.Name}}"])).trim(), "");
    const nets = (await lab.cli(["network", "ls", "--format", "{{.Name}}"]))
      .split("\n")
      .filter((n) => /^pt[0-9a-f]{6}-/.test(n));
    assert.deepEqual(nets, []);
  });
});
