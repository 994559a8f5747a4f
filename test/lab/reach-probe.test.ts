// Root, end to end: `swarmnet reach --probe` in a three-node lab. Two stacks
// share a network, a third is alone on another; a default deny in y with one
// allow from x. The kernel agrees with the model (exit 0, TCP and UDP); then
// it is made to disagree on purpose, both ways — a drop in a table of our own
// in y/b's sandbox (the model says x/a reaches y/b), an accept at the top of
// y/c's swarmnet ingress chain (the model says y/b does not reach y/c) — and
// both cells are reported, with exit status 1.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { run } from "../../src/lab/kernel.ts";
import { addressOf, IS_ROOT, inNs, type TaskRow, TestLab, waitFor } from "./labkit.ts";

const DENY_Y = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: y}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

const ALLOW_X_TO_B = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-x, namespace: y}
spec:
  podSelector: {matchLabels: {pod: b}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}
    ports:
    - {protocol: TCP, port: 80}
`;

interface Cell {
  from: string;
  to: string;
  model: boolean;
  probed: boolean | null;
  disagree: boolean;
  why: string;
}

describe("reach --probe in a three-node lab (root)", {
  skip: !IS_ROOT && "needs root",
  timeout: 300_000,
}, () => {
  const lab = new TestLab();
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-reach-probe-"));
  let a: TaskRow;
  let b: TaskRow;
  let c: TaskRow;

  const nft = async (netns: string, args: string[]) => {
    const r = await run(inNs(netns, ["nft", ...args]), { timeoutMs: 10_000 });
    assert.equal(r.code, 0, `nft ${args.join(" ")} in ${netns}: ${r.stderr}`);
  };

  before(async () => {
    await lab.up(3);
    await lab.cli(["network", "create", "-d", "overlay", "shared"]);
    await lab.cli(["network", "create", "-d", "overlay", "other"]);
    const svc = (name: string, stack: string, pod: string, node: string, net = "shared") =>
      lab.cli([
        "service",
        "create",
        "-q",
        "--name",
        name,
        "--network",
        net,
        "--label",
        `com.docker.stack.namespace=${stack}`,
        "--label",
        `pod=${pod}`,
        "--constraint",
        `node.hostname==${node}`,
      ]);
    await svc("x_a", "x", "a", "node1");
    await svc("y_b", "y", "b", "node2");
    await svc("y_c", "y", "c", "node3");
    await svc("z_d", "z", "d", "node1", "other");
    [a] = await lab.running("x_a", 1);
    [b] = await lab.running("y_b", 1);
    [c] = await lab.running("y_c", 1);
    await lab.running("z_d", 1);
    writeFileSync(join(dir, "deny.yaml"), DENY_Y);
    writeFileSync(join(dir, "allow.yaml"), ALLOW_X_TO_B);
    await lab.cli(["policy", "apply", "-f", dir]);
  });

  after(() => lab.cleanup());

  it("the kernel agrees with the model: exit 0", async () => {
    // Tasks need a moment to listen, and rules to reach every node.
    let last = "";
    const r = await waitFor(
      "reach --probe to agree",
      async () => {
        const r = await lab.cliRun(["reach", "--probe"]);
        last = `${r.stdout}\n${r.stderr}`;
        return r.code === 0 ? r : undefined;
      },
      60_000,
      1000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last run:\n${last}`);
    });
    assert.match(r.stdout, /^port 80\/tcp /);
    assert.match(r.stdout, /^x\/a +\?\. +\. +X +X$/m);
    assert.match(r.stdout, /^12 cells probed, 0 disagree$/m);
    const udp = await lab.cliRun(["reach", "--probe", "--port", "80/udp"]);
    assert.equal(udp.code, 0, `${udp.stdout}\n${udp.stderr}`);
    assert.match(udp.stdout, /^udp: silence counts as blocked/m);
    assert.match(udp.stdout, /^12 cells probed, 0 disagree$/m);
  });

  it("reports where the kernel disagrees, both ways, and exits 1", async () => {
    // Drop x/a -> y/b in a table of our own (the agent leaves it alone): one
    // more input hook, before swarmnet's.
    const sbB = lab.sandbox(b);
    await nft(sbB, ["add", "table", "ip", "reachtest"]);
    await nft(sbB, [
      "add",
      "chain",
      "ip",
      "reachtest",
      "in",
      "{ type filter hook input priority -10; }",
    ]);
    // New connections only (dport 80): y/b's own connections to x/a get their answers.
    await nft(sbB, [
      "add",
      "rule",
      "ip",
      "reachtest",
      "in",
      "ip",
      "saddr",
      addressOf(a),
      "tcp",
      "dport",
      "80",
      "drop",
    ]);
    // Accept y/b -> y/c in swarmnet's own chain: the agent repairs such drift
    // on its next full sync, so insert it again before every try.
    const sbC = lab.sandbox(c);
    const report = await waitFor(
      "both disagreements reported",
      async () => {
        await nft(sbC, [
          "insert",
          "rule",
          "ip",
          "swarmnet",
          "ingress",
          "ip",
          "saddr",
          addressOf(b),
          "tcp",
          "dport",
          "80",
          "accept",
        ]);
        const r = await lab.cliRun(["reach", "--probe", "--json"]);
        const json = JSON.parse(r.stdout) as { disagree: number; probed: number; cells: Cell[][] };
        const both = ["x/a>y/b", "y/b>y/c"].every((k) =>
          json.cells.flat().some((x) => x.disagree && `${x.from}>${x.to}` === k),
        );
        return r.code === 1 && json.disagree === 2 && both ? json : undefined;
      },
      60_000,
      500,
    );
    const cells = report.cells.flat();
    const seen = JSON.stringify(cells.filter((x) => x.disagree));
    const ab = cells.find((x) => x.from === "x/a" && x.to === "y/b")!;
    assert.deepEqual([ab.model, ab.probed, ab.disagree], [true, false, true], seen);
    assert.match(ab.why, /timeout \(dropped\)/);
    const bc = cells.find((x) => x.from === "y/b" && x.to === "y/c")!;
    assert.deepEqual([bc.model, bc.probed, bc.disagree], [false, true, true], seen);
    assert.equal(report.probed, 12);

    // The text: the marked matrix, the details and the summary. The accept
    // may be repaired by now; the drop stays.
    const text = await lab.cliRun(["reach", "--probe"]);
    assert.equal(text.code, 1, text.stderr);
    assert.match(text.stdout, /^x\/a +\?\. +!X +X +X$/m);
    assert.match(text.stdout, /^ {2}x\/a -> y\/b 80\/tcp: model \., kernel X \(shared /m);
    assert.match(text.stdout, /^12 cells probed, [12] disagree$/m);
    await nft(sbB, ["delete", "table", "ip", "reachtest"]);
  });
});
