import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import {
  createRootCa,
  issueNodeCertificate,
  parseCaCert,
  rootCaFromPem,
  rootCaToPem,
  verifyNodeCertificate,
} from "./ca.ts";
import * as der from "./der.ts";
import { isPkiError, type PkiErrorCode } from "./errors.ts";
import { createCsr, generateKeyPair, publicKeyFromCsr, publicKeyToPem } from "./keys.ts";
import { buildCertificate, OID, subjectAttrs, subjectDer } from "./x509.ts";

const DAY = 86_400_000;
const code = (c: PkiErrorCode) => (err: unknown) => isPkiError(err, c);

describe("root CA", () => {
  it("is a self-signed P-256 CA named swarm-ca, valid for 10 years", () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const ca = createRootCa({ clusterId: "cluster1", now });
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.ca, true);
    assert.ok(cert.checkIssued(cert) && cert.verify(cert.publicKey));
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
    assert.deepEqual(subjectAttrs(cert), { O: "cluster1", CN: "swarm-ca" });
    assert.equal(cert.validToDate.toISOString(), "2040-01-01T00:00:00.000Z");
    assert.ok(cert.validFromDate <= now);
    assert.equal(cert.signatureAlgorithm, "ecdsa-with-SHA256");
  });

  it("round-trips through PEM (cert + PKCS#8 key) and still signs", () => {
    const ca = createRootCa();
    const { certPem, keyPem } = rootCaToPem(ca);
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
    const back = rootCaFromPem(certPem, keyPem);
    assert.equal(back.clusterId, ca.clusterId);
    assert.equal(back.certPem, ca.certPem);
    const pem = issueNodeCertificate(back, {
      nodeId: "n1",
      role: "worker",
      publicKeyOrCsr: generateKeyPair().publicKey,
    });
    assert.equal(verifyNodeCertificate(ca.certPem, pem).nodeId, "n1");
  });

  it("refuses a key that is not the CA's, and a node cert posing as a CA", () => {
    const a = createRootCa();
    const b = createRootCa();
    assert.throws(() => rootCaFromPem(a.certPem, rootCaToPem(b).keyPem), code("PKI_INVALID_KEY"));
    const leaf = issueNodeCertificate(a, {
      nodeId: "n1",
      role: "manager",
      publicKeyOrCsr: generateKeyPair().publicKey,
    });
    assert.throws(() => parseCaCert(leaf), code("PKI_INVALID_CERT"));
    assert.throws(() => parseCaCert("not a cert"), code("PKI_INVALID_CERT"));
  });
});

describe("node certificates", () => {
  const ca = createRootCa({ clusterId: "c0ffee" });
  const other = createRootCa({ clusterId: "c0ffee" }); // same cluster id, different key

  it("carries node id (CN), role (OU), cluster (O) and SANs, and verifies against its CA", () => {
    const { privateKey } = generateKeyPair();
    const pem = issueNodeCertificate(ca, {
      nodeId: "abcdef0123456789abcdefghi",
      role: "manager",
      publicKeyOrCsr: createCsr(privateKey),
      ipAddresses: ["198.18.0.1", "::1"],
    });
    const cert = new X509Certificate(pem);
    assert.deepEqual(subjectAttrs(cert), {
      O: "c0ffee",
      OU: "swarm-manager",
      CN: "abcdef0123456789abcdefghi",
    });
    assert.equal(cert.ca, false);
    assert.ok(cert.checkPrivateKey(privateKey));
    assert.match(cert.subjectAltName ?? "", /DNS:abcdef0123456789abcdefghi, DNS:swarm-manager/);
    assert.match(cert.subjectAltName ?? "", /IP Address:198\.18\.0\.1/);
    assert.match(cert.subjectAltName ?? "", /IP Address:0:0:0:0:0:0:0:1/);
    const id = verifyNodeCertificate(ca.certPem, pem);
    assert.equal(id.nodeId, "abcdef0123456789abcdefghi");
    assert.equal(id.role, "manager");
    assert.equal(id.clusterId, "c0ffee");
    assert.equal(id.notAfter.getTime(), cert.validToDate.getTime());
  });

  it("gives workers OU swarm-worker and no swarm-manager SAN", () => {
    const pem = issueNodeCertificate(ca, {
      nodeId: "w1",
      role: "worker",
      publicKeyOrCsr: generateKeyPair().publicKey,
    });
    const cert = new X509Certificate(pem);
    assert.equal(subjectAttrs(cert).OU, "swarm-worker");
    assert.equal(cert.subjectAltName, "DNS:w1");
    assert.equal(verifyNodeCertificate(ca.cert, cert).role, "worker");
  });

  it("does not verify against another CA, even one with the same cluster id", () => {
    const pem = issueNodeCertificate(ca, {
      nodeId: "n1",
      role: "worker",
      publicKeyOrCsr: generateKeyPair().publicKey,
    });
    assert.throws(() => verifyNodeCertificate(other.certPem, pem), code("PKI_UNTRUSTED"));
    const foreign = issueNodeCertificate(other, {
      nodeId: "n1",
      role: "manager",
      publicKeyOrCsr: generateKeyPair().publicKey,
    });
    assert.throws(() => verifyNodeCertificate(ca.certPem, foreign), /unknown authority/);
  });

  it("refuses an expired certificate and one not yet valid (validity moved, no sleeping)", () => {
    const ca = createRootCa({ now: new Date(Date.now() - 30 * DAY) });
    const key = generateKeyPair().publicKey;
    const expired = issueNodeCertificate(ca, {
      nodeId: "n1",
      role: "worker",
      publicKeyOrCsr: key,
      validityDays: 1,
      now: new Date(Date.now() - 3 * DAY),
    });
    assert.throws(
      () => verifyNodeCertificate(ca.certPem, expired),
      (err) => {
        return isPkiError(err, "PKI_EXPIRED") && /node certificate expired at/.test(err.message);
      },
    );
    // The same certificate was fine while it was valid.
    assert.equal(
      verifyNodeCertificate(ca.certPem, expired, { now: new Date(Date.now() - 2.5 * DAY) }).nodeId,
      "n1",
    );
    const future = issueNodeCertificate(ca, {
      nodeId: "n1",
      role: "worker",
      publicKeyOrCsr: key,
      now: new Date(Date.now() + 2 * DAY),
    });
    assert.throws(() => verifyNodeCertificate(ca.certPem, future), code("PKI_NOT_YET_VALID"));
    // Past the CA's own end, nothing it signed is valid.
    assert.throws(
      () => verifyNodeCertificate(ca.certPem, expired, { now: new Date("2100-01-01T00:00:00Z") }),
      (err) => isPkiError(err, "PKI_EXPIRED") && /cluster CA certificate expired/.test(err.message),
    );
  });

  it("defaults to 90 days and never outlives the CA", () => {
    const now = new Date("2031-06-01T00:00:00Z");
    const key = generateKeyPair().publicKey;
    const pem = issueNodeCertificate(ca, {
      nodeId: "n1",
      role: "worker",
      publicKeyOrCsr: key,
      now,
    });
    assert.equal(new X509Certificate(pem).validToDate.getTime(), now.getTime() + 90 * DAY);
    const short = createRootCa({ validityYears: 1 });
    const capped = issueNodeCertificate(short, {
      nodeId: "n1",
      role: "worker",
      publicKeyOrCsr: key,
      validityDays: 5000,
    });
    assert.equal(
      new X509Certificate(capped).validToDate.getTime(),
      short.cert.validToDate.getTime(),
    );
  });

  it("accepts a public key PEM, a CSR or a KeyObject; refuses bad CSRs, other key types and bad ids", () => {
    const { privateKey, publicKey } = generateKeyPair();
    for (const input of [publicKey, publicKeyToPem(publicKey), createCsr(privateKey, "hello")]) {
      const cert = new X509Certificate(
        issueNodeCertificate(ca, { nodeId: "n1", role: "worker", publicKeyOrCsr: input }),
      );
      assert.ok(cert.checkPrivateKey(privateKey));
    }
    // A CSR whose signature does not match its key: someone else's public key.
    const csr = createCsr(privateKey);
    const tampered = csr.replace(
      /^(-----BEGIN CERTIFICATE REQUEST-----\n)(.{40})(.)/m,
      (_m, head, pre, ch) => {
        return head + pre + (ch === "A" ? "B" : "A");
      },
    );
    assert.throws(() => publicKeyFromCsr(tampered), code("PKI_INVALID_CSR"));
    assert.throws(
      () =>
        publicKeyFromCsr(
          "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n",
        ),
      code("PKI_INVALID_CSR"),
    );
    assert.throws(() => publicKeyFromCsr("garbage"), code("PKI_INVALID_CSR"));
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    assert.throws(
      () => issueNodeCertificate(ca, { nodeId: "n1", role: "worker", publicKeyOrCsr: rsa }),
      code("PKI_INVALID_KEY"),
    );
    for (const nodeId of ["", "Bad", "a/b", "x".repeat(64), "-a"]) {
      assert.throws(
        () => issueNodeCertificate(ca, { nodeId, role: "worker", publicKeyOrCsr: publicKey }),
        code("PKI_INVALID_CERT"),
      );
    }
  });
});

describe("identity extraction", () => {
  it("refuses a subject that names two nodes (ambiguous CN), even when signed by the CA", () => {
    const ca = createRootCa();
    const cn = (v: string) => der.set(der.seq(der.oid(OID.commonName), der.utf8(v)));
    const ou = der.set(der.seq(der.oid(OID.organizationalUnit), der.utf8("swarm-manager")));
    const o = der.set(der.seq(der.oid(OID.organization), der.utf8(ca.clusterId)));
    const now = Date.now();
    const cert = buildCertificate({
      issuer: subjectDer(ca.cert),
      subject: der.seq(o, ou, cn("n1"), cn("n2")),
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + DAY),
      publicKey: generateKeyPair().publicKey,
      signingKey: ca.key,
      extensions: [],
    });
    assert.throws(() => verifyNodeCertificate(ca.certPem, cert), code("PKI_INVALID_CERT"));
  });
});
