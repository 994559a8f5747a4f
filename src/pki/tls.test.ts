// Real TLS on loopback: a manager-style https server built from
// managerServerOptions, with one unauthenticated join endpoint and
// everything else behind authorizeNode, and clients built from the helpers.
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { ConnectionOptions, TLSSocket } from "node:tls";
import { newId } from "../core/ids.ts";
import { createRootCa, issueNodeCertificate, type NodeRole, type RootCa } from "./ca.ts";
import { isPkiError, PKI_HTTP_STATUS } from "./errors.ts";
import { createCsr, generateKeyPair, privateKeyToPem } from "./keys.ts";
import {
  authorizeNode,
  bootstrapClientOptions,
  joinClientOptions,
  managerServerOptions,
  type NodeCredentials,
  nodeClientOptions,
} from "./tls.ts";
import {
  assertTokenMatchesCa,
  generateJoinTokens,
  type JoinTokens,
  roleForJoinToken,
} from "./token.ts";

const DAY = 86_400_000;

function credentials(ca: RootCa, nodeId: string, role: NodeRole, now?: Date): NodeCredentials {
  const { privateKey, publicKey } = generateKeyPair();
  const certPem = issueNodeCertificate(ca, {
    nodeId,
    role,
    publicKeyOrCsr: publicKey,
    ipAddresses: ["127.0.0.1"],
    validityDays: now ? 1 : 90,
    now,
  });
  return { caCertPem: ca.certPem, certPem, keyPem: privateKeyToPem(privateKey) };
}

interface Reply {
  status: number;
  body: string;
}

function call(port: number, path: string, tls: ConnectionOptions, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        ...tls,
        host: "127.0.0.1",
        port,
        path,
        method: body === undefined ? "GET" : "POST",
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** A miniature manager: the join endpoints are open, everything else needs a node cert. */
function startManager(
  ca: RootCa,
  creds: NodeCredentials,
  tokens: () => JoinTokens,
): Promise<Server> {
  const server = createServer(managerServerOptions(creds), (req, res) => {
    const fail = (err: unknown) => {
      if (!isPkiError(err)) throw err;
      res.writeHead(PKI_HTTP_STATUS[err.code], { "content-type": "application/json" });
      res.end(JSON.stringify({ code: err.code, message: err.message }));
    };
    if (req.url === "/join/ca") {
      res.end(ca.certPem);
      return;
    }
    if (req.url === "/join/certificate") {
      let text = "";
      req.on("data", (c: Buffer) => {
        text += c.toString("utf8");
      });
      req.on("end", () => {
        try {
          const { token, csr } = JSON.parse(text) as { token: string; csr: string };
          const role = roleForJoinToken(tokens(), token);
          const nodeId = newId();
          const certPem = issueNodeCertificate(ca, { nodeId, role, publicKeyOrCsr: csr });
          res.end(JSON.stringify({ nodeId, certPem }));
        } catch (err) {
          fail(err);
        }
      });
      return;
    }
    try {
      const roles: NodeRole[] | undefined = req.url === "/managers-only" ? ["manager"] : undefined;
      const id = authorizeNode(req.socket as TLSSocket, ca.certPem, { roles });
      res.end(JSON.stringify({ nodeId: id.nodeId, role: id.role, clusterId: id.clusterId }));
    } catch (err) {
      fail(err);
    }
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

describe("mutual TLS on loopback", { timeout: 60_000 }, () => {
  const ca = createRootCa();
  const otherCa = createRootCa();
  let tokens = generateJoinTokens(ca.certPem);
  let server: Server;
  let port: number;

  before(async () => {
    server = await startManager(ca, credentials(ca, "manager1", "manager"), () => tokens);
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it("a node with a certificate from the cluster CA gets 200 with its identity", async () => {
    const r = await call(port, "/whoami", nodeClientOptions(credentials(ca, "worker1", "worker")));
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), {
      nodeId: "worker1",
      role: "worker",
      clusterId: ca.clusterId,
    });
  });

  it("a client without a certificate is refused with 401 and a clear message", async () => {
    const r = await call(port, "/whoami", joinClientOptions(ca.certPem));
    assert.equal(r.status, 401);
    const body = JSON.parse(r.body);
    assert.equal(body.code, "PKI_NO_CLIENT_CERT");
    assert.match(body.message, /client certificate required/);
  });

  it("a certificate from another CA is refused", async () => {
    const foreign = { ...credentials(otherCa, "intruder", "manager"), caCertPem: ca.certPem };
    const r = await call(port, "/whoami", nodeClientOptions(foreign));
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).code, "PKI_UNTRUSTED");
  });

  it("an expired certificate is refused", async () => {
    const old = credentials(ca, "worker2", "worker", new Date(Date.now() - 3 * DAY));
    const r = await call(port, "/whoami", nodeClientOptions(old));
    assert.equal(r.status, 401);
    assert.equal(JSON.parse(r.body).code, "PKI_EXPIRED");
  });

  it("a worker is forbidden where only managers may go", async () => {
    const r = await call(
      port,
      "/managers-only",
      nodeClientOptions(credentials(ca, "worker3", "worker")),
    );
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).code, "PKI_FORBIDDEN");
    const m = await call(
      port,
      "/managers-only",
      nodeClientOptions(credentials(ca, "manager2", "manager")),
    );
    assert.equal(m.status, 200);
  });

  it("a client refuses a server of another cluster, and a server that is not a manager", async () => {
    const strangerCreds = credentials(ca, "worker4", "worker");
    const ofOther = nodeClientOptions({ ...strangerCreds, caCertPem: otherCa.certPem });
    await assert.rejects(call(port, "/whoami", ofOther), /self-signed|unable to verify|unknown/i);
    const impostor = await startManager(ca, credentials(ca, "worker5", "worker"), () => tokens);
    try {
      const p = (impostor.address() as AddressInfo).port;
      await assert.rejects(
        call(p, "/whoami", nodeClientOptions(strangerCreds)),
        /swarm-manager|not a manager/,
      );
    } finally {
      impostor.closeAllConnections();
      impostor.close();
    }
  });

  it("a client pinned to one manager node id refuses another", async () => {
    const creds = credentials(ca, "worker6", "worker");
    assert.equal(
      (await call(port, "/whoami", nodeClientOptions(creds, { managerNodeId: "manager1" }))).status,
      200,
    );
    await assert.rejects(
      call(port, "/whoami", nodeClientOptions(creds, { managerNodeId: "manager9" })),
      /manager9/,
    );
  });

  it("bootstrap: fetch the CA, pin it by the token, send token + CSR, then use mTLS", async () => {
    // 1. Unauthenticated: fetch the CA, then check it against the token's digest.
    const fetched = await call(port, "/join/ca", bootstrapClientOptions());
    assert.equal(fetched.status, 200);
    assertTokenMatchesCa(tokens.worker, fetched.body);
    assert.throws(
      () => assertTokenMatchesCa(generateJoinTokens(otherCa.certPem).worker, fetched.body),
      (err) => isPkiError(err, "PKI_CA_MISMATCH"),
    );
    // 2. Server verified against the pinned CA; token and CSR; the key never leaves.
    const { privateKey } = generateKeyPair();
    const joined = await call(port, "/join/certificate", joinClientOptions(fetched.body), {
      token: tokens.worker,
      csr: createCsr(privateKey),
    });
    assert.equal(joined.status, 200);
    const { nodeId, certPem } = JSON.parse(joined.body) as { nodeId: string; certPem: string };
    // 3. From now on every connection is mutual TLS.
    const creds = { caCertPem: fetched.body, certPem, keyPem: privateKeyToPem(privateKey) };
    const me = await call(port, "/whoami", nodeClientOptions(creds));
    assert.equal(me.status, 200);
    assert.deepEqual(JSON.parse(me.body), { nodeId, role: "worker", clusterId: ca.clusterId });
  });

  it("a wrong or rotated-away token gets Docker's refusal", async () => {
    const csr = createCsr(generateKeyPair().privateKey);
    const old = tokens.worker;
    tokens = { ...tokens, worker: generateJoinTokens(ca.certPem).worker }; // rotate
    for (const token of [old, "SWMTKN-1-bogus"]) {
      const r = await call(port, "/join/certificate", joinClientOptions(ca.certPem), {
        token,
        csr,
      });
      const body = JSON.parse(r.body);
      if (token === old) {
        assert.equal(r.status, 401);
        assert.equal(body.message, "A valid join token is necessary to join this cluster");
      } else {
        assert.equal(r.status, 400);
        assert.equal(body.message, "invalid join token");
      }
    }
    const fresh = await call(port, "/join/certificate", joinClientOptions(ca.certPem), {
      token: tokens.worker,
      csr,
    });
    assert.equal(fresh.status, 200);
  });
});
