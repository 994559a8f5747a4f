// Joining over the control port, with a real daemon on a loopback address of
// its own: a good token gives a certificate; a wrong, malformed or rotated
// token and a connection without a valid certificate are refused, clearly,
// and logged.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { joinCluster } from "../agent/join-client.ts";
import { ControlError, controlCall } from "../agent/manager-client.ts";
import {
  bootstrapClientOptions,
  createRootCa,
  generateJoinTokens,
  generateKeyPair,
  issueNodeCertificate,
  joinClientOptions,
  nodeClientOptions,
  privateKeyToPem,
} from "../pki/index.ts";
import { type RunningDaemon, startDaemon } from "./daemon.ts";

// Control-plane only: no agent touching this process's network namespace.
process.env.SWARMNET_AGENT = "0";

describe("joining over mutual TLS", () => {
  let dir: string;
  let daemon: RunningDaemon;
  const logLines: string[] = [];
  // A loopback address of our own so parallel tests never fight over port 2377.
  const addr = `127.${50 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const manager = `${addr}:2377`;
  let tokens: { worker: string; manager: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "swarmnet-join-"));
    daemon = await startDaemon({
      dataDir: join(dir, "data"),
      host: { kind: "unix", path: join(dir, "sock") },
      log: (l) => logLines.push(l),
    });
    const { nodeId, credentials } = await daemon.manager.init({
      hostname: "m1",
      advertiseAddr: addr,
    });
    await daemon.runtime.initialized(nodeId, credentials);
    tokens = daemon.manager.state.cluster!.joinTokens;
  });
  after(async () => {
    await daemon.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("gives a node with the worker token its certificate and a place in the cluster", async () => {
    const joined = await joinCluster({
      managerAddr: manager,
      token: tokens.worker,
      hostname: "w1",
      advertiseAddr: "127.0.0.9",
    });
    const node = daemon.manager.state.get("nodes", joined.nodeId)!;
    assert.equal(node.hostname, "w1");
    assert.equal(node.role, "worker");
    // The new certificate opens the agent endpoints.
    const beat = await controlCall<{ periodMs: number }>(
      manager,
      nodeClientOptions(joined.credentials),
      "POST",
      "/v1/agent/heartbeat",
    );
    assert.ok(beat.periodMs > 0);
    assert.equal(daemon.manager.state.get("nodes", joined.nodeId)!.state, "ready");
    // …and the policy counters' endpoint: kept in memory per node.
    await controlCall(
      manager,
      nodeClientOptions(joined.credentials),
      "POST",
      "/v1/agent/policy-counters",
      {
        at: "2026-01-01T00:00:00.000Z",
        rules: [{ rule: "web ingress[0]", packets: 3, bytes: 180 }],
        endOfTier: [],
      },
    );
    assert.deepEqual(daemon.manager.policyCounters.totals("web"), {
      counters: [{ rule: "ingress[0]", packets: 3, bytes: 180 }],
      countersAt: "2026-01-01T00:00:00.000Z",
    });
    assert.ok(logLines.some((l) => l.includes("node w1") && l.includes("joined as a worker")));
  });

  it("refuses a wrong token with Docker's message, and logs it", async () => {
    const wrong = `${tokens.worker.slice(0, -25)}${"0".repeat(25)}`;
    await assert.rejects(
      joinCluster({ managerAddr: manager, token: wrong, hostname: "w2" }),
      (err: Error) => err.message.includes("A valid join token is necessary to join this cluster"),
    );
    assert.ok(logLines.some((l) => l.startsWith("refused a join")));
    assert.ok(
      !daemon.manager.state.list("nodes").some((n) => n.hostname === "w2"),
      "no node registered",
    );
  });

  it("refuses a malformed token before sending anything", async () => {
    await assert.rejects(
      joinCluster({ managerAddr: manager, token: "SWMTKN-1-nope", hostname: "w3" }),
      /invalid join token/,
    );
  });

  it("refuses a token of another cluster: the CA it pins does not match", async () => {
    const other = createRootCa();
    const foreign = generateJoinTokens(other.cert).worker;
    await assert.rejects(
      joinCluster({ managerAddr: manager, token: foreign, hostname: "w4" }),
      /remote CA does not match fingerprint/,
    );
  });

  it("refuses a rotated (revoked) token", async () => {
    const old = tokens.worker;
    await daemon.manager.rotateJoinToken("worker");
    const fresh = daemon.manager.state.cluster!.joinTokens.worker;
    assert.notEqual(fresh, old);
    await assert.rejects(
      joinCluster({ managerAddr: manager, token: old, hostname: "w5" }),
      /A valid join token is necessary to join this cluster/,
    );
    await joinCluster({ managerAddr: manager, token: fresh, hostname: "w6" });
    tokens = daemon.manager.state.cluster!.joinTokens;
  });

  it("refuses joining as a manager for now, clearly", async () => {
    await assert.rejects(
      joinCluster({ managerAddr: manager, token: tokens.manager, hostname: "m2" }),
      /joining as a manager is not supported yet/,
    );
  });

  it("refuses agent endpoints without a certificate, or with one from another CA", async () => {
    const { caCertPem } = await controlCall<{ caCertPem: string }>(
      manager,
      bootstrapClientOptions(),
      "GET",
      "/v1/join/ca",
    );
    await assert.rejects(
      controlCall(manager, joinClientOptions(caCertPem), "POST", "/v1/agent/policy-counters", {
        at: "x",
        rules: [],
        endOfTier: [],
      }),
      (err) => err instanceof ControlError && err.status === 401,
    );
    await assert.rejects(
      controlCall(manager, joinClientOptions(caCertPem), "GET", "/v1/agent/watch"),
      (err) =>
        err instanceof ControlError &&
        err.status === 401 &&
        /client certificate required/.test(err.message),
    );
    const other = createRootCa();
    const keys = generateKeyPair();
    const foreignCert = issueNodeCertificate(other, {
      nodeId: "intruder",
      role: "worker",
      publicKeyOrCsr: keys.publicKey,
    });
    const creds = { caCertPem, certPem: foreignCert, keyPem: privateKeyToPem(keys.privateKey) };
    await assert.rejects(
      controlCall(
        manager,
        { ...joinClientOptions(caCertPem), cert: creds.certPem, key: creds.keyPem },
        "POST",
        "/v1/agent/heartbeat",
      ),
      (err) => err instanceof ControlError && err.status === 401,
    );
    assert.ok(logLines.some((l) => l.startsWith("refused POST /v1/agent/heartbeat")));
  });
});
