// Stored policies through the real CLI and daemon: apply (all or nothing,
// replace by name, warnings), ls/inspect/rm, survival across a restart, and
// `reach` / `explain` judging the cluster's services.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Env } from "./harness.ts";

const K8S_DENY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: y}
spec:
  podSelector: {}
`;
const CALICO_ALLOW = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: allow-web}
spec:
  order: 10
  selector: app == "web"
  ingress:
    - action: Allow
      source: {selector: app == "client"}
`;
const BAD = `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: bad}
spec:
  selector: app == "web"
  ingress:
    - action: Maybe
`;

describe("policy apply, ls, inspect, rm, reach, explain", () => {
  const env = new Env();
  let dir: string;
  const file = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  before(async () => {
    await env.init();
    dir = path.join(env.dir, "policies");
    mkdirSync(dir);
    await env.ok("network", "create", "-d", "overlay", "net1");
    const svc = (name: string, stack: string, app: string) =>
      env.ok(
        "service",
        "create",
        "--detach",
        "--name",
        name,
        "--network",
        "net1",
        "--label",
        `com.docker.stack.namespace=${stack}`,
        "--label",
        `app=${app}`,
      );
    await svc("client", "x", "client");
    await svc("db", "y", "db");
  });
  after(() => env.cleanup());

  it("applies a Kubernetes and a Calico policy and lists them in order", async () => {
    const out = await env.ok(
      "policy",
      "apply",
      "-f",
      file("k8s.yaml", K8S_DENY),
      "-f",
      file("calico.yaml", CALICO_ALLOW),
    );
    assert.match(out, /^y\/knp\.default\.deny-all created$/m);
    assert.match(out, /^allow-web created$/m);
    const ls = await env.lines<{ Name: string; Kind: string; Order: string }>("policy", "ls");
    assert.deepEqual(
      ls.map((p) => [p.Name, p.Kind, p.Order]),
      [
        ["allow-web", "GlobalNetworkPolicy", "10"],
        ["y/knp.default.deny-all", "KubernetesNetworkPolicy", "1000"],
      ],
    );
    const [inspected] = await env.inspect<{ name: string; text: string }>(
      "policy",
      "inspect",
      "allow-web",
    );
    assert.equal(inspected!.name, "allow-web");
    assert.equal(inspected!.text, CALICO_ALLOW);
    // No agent reported counters (this daemon runs none): none yet, no time.
    const [withCounters] = await env.inspect<{ counters: unknown[]; countersAt?: string }>(
      "policy",
      "inspect",
      "allow-web",
    );
    assert.deepEqual(withCounters!.counters, []);
    assert.equal(withCounters!.countersAt, undefined);
  });

  it("warns about a selector that matches no workload", async () => {
    const r = await env.run("policy", "apply", "-f", path.join(dir, "calico.yaml"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^allow-web configured$/m);
    assert.match(
      r.stderr,
      /^warning: policy allow-web: selector app == "web" matches no current workload$/m,
    );
  });

  it("refuses a bad file with file:line:column and changes nothing", async () => {
    const before = await env.ok("policy", "ls", "--format", "json");
    const bad = file("bad.yaml", BAD);
    const message = await env.fails("policy", "apply", "-f", path.join(dir, "k8s.yaml"), "-f", bad);
    assert.ok(message.includes(`${bad}:7:`), message);
    assert.equal(await env.ok("policy", "ls", "--format", "json"), before);
  });

  it("shows the matrix: default deny in y", async () => {
    const out = await env.ok("reach");
    assert.match(out, /^x\/client\s+\.\s+X$/m);
    assert.match(out, /^y\/db\s+\.\s+X$/m);
  });

  it("explains the deciding policy, and when none selects", async () => {
    const denied = await env.ok("explain", "x/client", "y/db", "--port", "80/tcp");
    assert.match(denied, /^x\/client -> y\/db 80\/tcp: denied$/m);
    assert.match(denied, /end of tier/);
    assert.match(denied, /policy y\/knp\.default\.deny-all: selects y\/db/);
    assert.match(denied, /share net1/);
    const allowed = await env.ok("explain", "db", "client");
    assert.match(allowed, /: allowed$/m);
    assert.match(allowed, /ingress at x\/client: allowed, no policy selects x\/client/);
  });

  it("keeps policies and denied-packet logging across a daemon restart", async () => {
    assert.equal(await env.ok("policy", "logging"), "denied packets: not logged\n");
    assert.equal(await env.ok("policy", "logging", "on"), "denied packets: logged\n");
    const before = await env.ok("policy", "ls", "--format", "json");
    await env.kill("SIGTERM");
    await env.startDaemon();
    assert.equal(await env.ok("policy", "ls", "--format", "json"), before);
    assert.equal(await env.ok("policy", "logging"), "denied packets: logged\n");
    assert.equal(await env.ok("policy", "logging", "off"), "denied packets: not logged\n");
    assert.match(await env.fails("policy", "logging", "maybe"), /takes "on", "off" or nothing/);
  });

  it("removes policies; a missing one is an error", async () => {
    assert.equal(await env.ok("policy", "rm", "allow-web"), "allow-web\n");
    const message = await env.fails("policy", "rm", "allow-web");
    assert.match(message, /No such policy: allow-web/);
    const ls = await env.lines<{ Name: string }>("policy", "ls");
    assert.deepEqual(
      ls.map((p) => p.Name),
      ["y/knp.default.deny-all"],
    );
  });
});
