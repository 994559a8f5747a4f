import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { createRootCa } from "./ca.ts";
import { isPkiError, type PkiErrorCode } from "./errors.ts";
import {
  assertTokenMatchesCa,
  caDigest,
  generateJoinToken,
  generateJoinTokens,
  parseJoinToken,
  roleForJoinToken,
  rotateJoinToken,
  tokenMatchesCa,
} from "./token.ts";

const code = (c: PkiErrorCode) => (err: unknown) => isPkiError(err, c);
const ca = createRootCa();
const otherCa = createRootCa();

describe("join tokens", () => {
  it("have Docker's shape: SWMTKN-1-<50 base36>-<25 base36>", () => {
    for (let i = 0; i < 50; i++) {
      const t = generateJoinToken(ca.certPem);
      assert.match(t, /^SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
      assert.equal(t.length, "SWMTKN-1-".length + 50 + 1 + 25);
    }
  });

  it("encode the SHA-256 of the CA certificate's DER in base36", () => {
    const t = generateJoinToken(ca.certPem);
    const digestHex = createHash("sha256").update(ca.cert.raw).digest("hex");
    assert.equal(caDigest(ca.certPem), digestHex);
    assert.equal(t.split("-")[2], BigInt(`0x${digestHex}`).toString(36).padStart(50, "0"));
    assert.equal(parseJoinToken(t).caDigest, digestHex);
    // The same for the X509Certificate, its DER, or the PEM with different wrapping.
    assert.equal(caDigest(ca.cert), digestHex);
    assert.equal(caDigest(ca.cert.raw), digestHex);
  });

  it("match their CA and not another", () => {
    const t = generateJoinToken(ca.certPem);
    assert.equal(tokenMatchesCa(t, ca.certPem), true);
    assert.equal(tokenMatchesCa(t, otherCa.certPem), false);
    assertTokenMatchesCa(t, ca.cert);
    assert.throws(
      () => assertTokenMatchesCa(t, otherCa.certPem),
      (err) =>
        isPkiError(err, "PKI_CA_MISMATCH") &&
        err.message === `remote CA does not match fingerprint. Expected: ${caDigest(ca.certPem)}`,
    );
  });

  it("refuse malformed tokens with Docker's message", () => {
    const good = generateJoinToken(ca.certPem);
    const [, , digest, secret] = good.split("-");
    const bad = [
      "",
      "SWMTKN",
      "garbage",
      good.toUpperCase(),
      ` ${good}`,
      `${good}\n`,
      good.replace("SWMTKN-1", "SWMTKN-2"),
      `SWMTKN-2-1-${digest}-${secret}`, // Docker's FIPS form: not supported
      `SWMTKN-1-${digest}`,
      `SWMTKN-1-${digest}-${secret}-x`,
      `SWMTKN-1-${digest!.slice(1)}-${secret}`,
      `SWMTKN-1-${digest}-${secret}0`,
      `SWMTKN-1-${digest}-${secret!.slice(0, 24)}_`,
      `SWMTKN-1-${"z".repeat(50)}-${secret}`, // more than 256 bits
      `SWMTKN-1-${digest}-${"z".repeat(25)}`, // more than 128 bits
    ];
    for (const t of bad) {
      assert.throws(
        () => parseJoinToken(t),
        (err) => isPkiError(err, "PKI_INVALID_TOKEN") && err.message === "invalid join token",
        JSON.stringify(t),
      );
      assert.throws(() => tokenMatchesCa(t, ca.certPem), code("PKI_INVALID_TOKEN"));
    }
  });

  it("grant the role of the token that matches; a wrong secret is refused", () => {
    const tokens = generateJoinTokens(ca.certPem);
    assert.notEqual(tokens.worker, tokens.manager);
    assert.equal(roleForJoinToken(tokens, tokens.worker), "worker");
    assert.equal(roleForJoinToken(tokens, tokens.manager), "manager");
    const wrongSecret = tokens.worker.slice(0, -1) + (tokens.worker.endsWith("0") ? "1" : "0");
    assert.throws(
      () => roleForJoinToken(tokens, wrongSecret),
      (err) =>
        isPkiError(err, "PKI_TOKEN_REJECTED") &&
        err.message === "A valid join token is necessary to join this cluster",
    );
    // Right secret, other cluster's CA digest: also not this cluster's token.
    const foreign =
      generateJoinToken(otherCa.certPem).split("-").slice(0, 3).join("-") +
      `-${tokens.worker.split("-")[3]}`;
    assert.throws(() => roleForJoinToken(tokens, foreign), code("PKI_TOKEN_REJECTED"));
    assert.throws(() => roleForJoinToken(tokens, "SWMTKN-1-nope"), code("PKI_INVALID_TOKEN"));
  });

  it("rotate one role at a time; the old token is then refused", () => {
    const tokens = generateJoinTokens(ca.certPem);
    const before = { ...tokens };
    const rotated = rotateJoinToken(tokens, "worker", ca.certPem);
    assert.deepEqual(tokens, before); // a new object; the caller decides when to switch
    assert.equal(rotated.manager, tokens.manager);
    assert.notEqual(rotated.worker, tokens.worker);
    assert.equal(roleForJoinToken(rotated, rotated.worker), "worker");
    assert.throws(() => roleForJoinToken(rotated, tokens.worker), code("PKI_TOKEN_REJECTED"));
    assert.equal(roleForJoinToken(rotated, tokens.manager), "manager");
  });
});
