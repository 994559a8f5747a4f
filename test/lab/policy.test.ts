// Root, end to end: network policies enforced by the kernel in a three-node
// lab. Two stacks share a network; a Kubernetes default-deny in one of them
// stops new connections into it (directly and through a VIP: the destination
// judges the real caller), keeps connections established before it (the
// documented choice), covers a task scaled up afterwards before it runs,
// logs denied connections when asked, and an allow policy and `policy rm`
// open the way again.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  addressOf,
  IS_ROOT,
  type Probe,
  summary,
  type TaskRow,
  TestLab,
  waitFor,
} from "./labkit.ts";

const DENY_X = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`;

const ALLOW_Y_80 = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
    ports:
    - {protocol: TCP, port: 80}
`;

describe("network policies enforced in a three-node lab (root)", {
  skip: !IS_ROOT && "needs root",
  timeout: 240_000,
}, () => {
  const lab = new TestLab();
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-policy-"));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  before(async () => {
    await lab.up(3);
    await lab.cli(["network", "create", "-d", "overlay", "shared"]);
    const svc = (name: string, stack: string, pod: string, node: string) =>
      lab.cli([
        "service",
        "create",
        "-q",
        "--name",
        name,
        "--network",
        "shared",
        "--label",
        `com.docker.stack.namespace=${stack}`,
        "--label",
        `pod=${pod}`,
        "--constraint",
        `node.hostname==${node}`,
      ]);
    await svc("x_a", "x", "a", "node1");
    await svc("y_b", "y", "b", "node2");
    await lab.running("x_a", 1);
    await lab.running("y_b", 1);
  });

  after(() => lab.cleanup());

  async function reach(from: TaskRow, addr: string, port = 80, kind: "tcp" | "udp" = "tcp") {
    const probe: Probe = { kind, addr, port, timeoutMs: 1500 };
    return (await lab.probe(lab.sandbox(from), [probe]))[0]!;
  }

  async function vipOf(service: string): Promise<string> {
    const [svc] = JSON.parse(
      await lab.cli(["service", "inspect", service, "--format", "json"]),
    ) as {
      Endpoint: { VirtualIPs: { Addr: string }[] };
    }[];
    return svc!.Endpoint.VirtualIPs[0]!.Addr.split("/")[0]!;
  }

  it("a default deny stops new connections into the stack, keeps established ones, and judges the real caller behind a VIP", async () => {
    const [a] = await lab.running("x_a", 1);
    const [b] = await lab.running("y_b", 1);
    const vip = await vipOf("x_a");
    // Docker's behaviour before any policy: both ways, directly and through the VIP.
    await waitFor("b reaches a", async () => (await reach(b!, addressOf(a!))).ok, 15_000);
    assert.ok((await reach(b!, vip)).ok);
    assert.ok((await reach(a!, addressOf(b!))).ok);
    const stream = await lab.stream(lab.sandbox(b!), addressOf(a!), 80);

    await lab.cli(["policy", "apply", "-f", file("deny.yaml", DENY_X)]);
    await waitFor(
      "b no longer reaches a",
      async () => !(await reach(b!, addressOf(a!))).ok,
      15_000,
    );
    const blocked = await lab.probe(lab.sandbox(b!), [
      { kind: "tcp", addr: vip, port: 80, timeoutMs: 1500 },
      { kind: "udp", addr: addressOf(a!), port: 80, timeoutMs: 1500 },
    ]);
    assert.ok(
      blocked.every((r) => !r.ok),
      summary(blocked),
    );
    // Egress of x is not selected: a still reaches b.
    assert.ok((await reach(a!, addressOf(b!))).ok);
    // Established before the policy: it goes on.
    await stream.flows(50, "after the deny");
    assert.equal(stream.broken(), undefined);
    stream.stop();
  });

  it("a task started after the policy is covered before it runs", async () => {
    await lab.cli(["service", "scale", "-d", "x_a=2"]);
    const tasks = await lab.running("x_a", 2);
    const [b] = await lab.running("y_b", 1);
    for (const t of tasks) assert.equal((await reach(b!, addressOf(t))).ok, false, t.Name);
  });

  it("logs denied connections with the rule that denied them once policy logging is on", async () => {
    const [a] = await lab.running("x_a", 2);
    const [b] = await lab.running("y_b", 1);
    await lab.cli(["policy", "logging", "on"]);
    const from = addressOf(b!);
    const entries = await waitFor(
      "the denied connection in the kernel log",
      async () => {
        await reach(b!, addressOf(a!));
        const out = await lab.cli(["policy", "log", "--since", "1m", "--json"]);
        const found = out
          .split("\n")
          .filter(Boolean)
          .map(
            (l) => JSON.parse(l) as { verdict: string; rule: string; src: string; dport?: number },
          )
          .filter((e) => e.src === from);
        return found.length > 0 ? found : undefined;
      },
      20_000,
    );
    assert.ok(
      entries.some(
        (e) => e.verdict === "drop" && e.rule === "end-of-tier ingress" && e.dport === 80,
      ),
      JSON.stringify(entries),
    );
    await lab.cli(["policy", "logging", "off"]);
  });

  it("an allow policy opens exactly its port and protocol from the allowed stack, and policy rm restores Docker's behaviour", async () => {
    await lab.cli(["policy", "apply", "-f", file("allow.yaml", ALLOW_Y_80)]);
    const [b] = await lab.running("y_b", 1);
    const tasks = await lab.running("x_a", 2);
    for (const t of tasks) {
      await waitFor(
        `b reaches ${t.Name} on 80`,
        async () => (await reach(b!, addressOf(t))).ok,
        15_000,
      );
      // The responder answers UDP 80 too, but the policy allows TCP only.
      assert.equal((await reach(b!, addressOf(t), 80, "udp")).ok, false, "udp is not allowed");
    }
    await lab.cli(["policy", "rm", "x/knp.default.allow-y", "x/knp.default.default-deny"]);
    for (const t of tasks) {
      await waitFor(
        `b reaches ${t.Name} over UDP again`,
        async () => (await reach(b!, addressOf(t), 80, "udp")).ok,
        15_000,
      );
    }
  });
});
