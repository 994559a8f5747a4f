// Docker Swarm join tokens: SWMTKN-1-<CA digest>-<secret>.
//
// The digest (SHA-256, written as 50 base36 digits) lets a joining node pin
// the CA it fetches over a first, unauthenticated connection; the secret (128
// random bits, 25 base36 digits) is what the manager checks. Worker and
// manager tokens differ only in their secret; the token that matches decides
// the role the new node gets.
//
// One deliberate difference: Docker hashes the CA's PEM bundle, we hash the
// certificate's DER, so re-wrapping the PEM (line length, trailing newline)
// cannot change the digest. Tokens are therefore not interchangeable with
// Docker's, only shaped alike.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { type CertInput, type NodeRole, parseCert } from "./ca.ts";
import { INVALID_TOKEN_MESSAGE, PkiError, TOKEN_REJECTED_MESSAGE } from "./errors.ts";

export const TOKEN_PREFIX = "SWMTKN-1";
const DIGEST_LEN = 50; // ceil(log36(2^256))
const SECRET_LEN = 25; // ceil(log36(2^128))
const TOKEN_RE = /^SWMTKN-1-([0-9a-z]{50})-([0-9a-z]{25})$/;

export interface ParsedJoinToken {
  /** SHA-256 of the CA certificate's DER, 64 lowercase hex digits. */
  caDigest: string;
  /** The secret part, as written in the token. */
  secret: string;
}

export interface JoinTokens {
  worker: string;
  manager: string;
}

/** SHA-256 of the CA certificate's DER, in hex (what `openssl x509 -fingerprint -sha256` shows). */
export function caDigest(caCert: CertInput): string {
  return createHash("sha256").update(parseCert(caCert, "CA certificate").raw).digest("hex");
}

function toBase36(hex: string, width: number): string {
  return BigInt(`0x${hex}`).toString(36).padStart(width, "0");
}

function fromBase36(digits: string): bigint {
  let n = 0n;
  for (const ch of digits) n = n * 36n + BigInt(Number.parseInt(ch, 36));
  return n;
}

export function generateJoinToken(caCert: CertInput): string {
  const digest = toBase36(caDigest(caCert), DIGEST_LEN);
  const secret = toBase36(randomBytes(16).toString("hex"), SECRET_LEN);
  return `${TOKEN_PREFIX}-${digest}-${secret}`;
}

export function generateJoinTokens(caCert: CertInput): JoinTokens {
  return { worker: generateJoinToken(caCert), manager: generateJoinToken(caCert) };
}

/** `swarmnet join-token --rotate ROLE`: a fresh secret for one role; the old token stops working. */
export function rotateJoinToken(tokens: JoinTokens, role: NodeRole, caCert: CertInput): JoinTokens {
  return { ...tokens, [role]: generateJoinToken(caCert) };
}

/** Throws PKI_INVALID_TOKEN ("invalid join token", Docker's text) unless `token` is well formed. */
export function parseJoinToken(token: string): ParsedJoinToken {
  const m = TOKEN_RE.exec(token);
  // 50 base36 digits can spell more than 256 bits (and 25 more than 128):
  // such a token was not made by anyone, so it is malformed too.
  if (!m || fromBase36(m[1]!) >> 256n !== 0n || fromBase36(m[2]!) >> 128n !== 0n) {
    throw new PkiError("PKI_INVALID_TOKEN", INVALID_TOKEN_MESSAGE);
  }
  return { caDigest: fromBase36(m[1]!).toString(16).padStart(64, "0"), secret: m[2]! };
}

/**
 * Whether the CA a manager served is the one the token was made for. A
 * joining node calls this before it trusts that CA for anything (Docker's
 * bootstrap: the token pins the CA fetched over an unauthenticated channel).
 * Throws PKI_INVALID_TOKEN for a malformed token.
 */
export function tokenMatchesCa(token: string, caCert: CertInput): boolean {
  const expected = Buffer.from(parseJoinToken(token).caDigest, "hex");
  return timingSafeEqual(expected, Buffer.from(caDigest(caCert), "hex"));
}

/** tokenMatchesCa, throwing PKI_CA_MISMATCH with Docker's message when it does not. */
export function assertTokenMatchesCa(token: string, caCert: CertInput): void {
  if (!tokenMatchesCa(token, caCert)) {
    const expected = parseJoinToken(token).caDigest;
    throw new PkiError(
      "PKI_CA_MISMATCH",
      `remote CA does not match fingerprint. Expected: ${expected}`,
    );
  }
}

/**
 * Manager side: which role a presented token grants. Compares against both
 * current tokens in constant time (hashing first makes the lengths equal, and
 * both comparisons always run), so response timing says nothing about how
 * much of a guess was right. A rotated-away token is simply no longer in
 * `tokens`. Throws PKI_INVALID_TOKEN (malformed) or PKI_TOKEN_REJECTED
 * ("A valid join token is necessary to join this cluster").
 */
export function roleForJoinToken(tokens: JoinTokens, presented: string): NodeRole {
  parseJoinToken(presented);
  const h = (s: string) => createHash("sha256").update(s).digest();
  const p = h(presented);
  const isManager = timingSafeEqual(p, h(tokens.manager));
  const isWorker = timingSafeEqual(p, h(tokens.worker));
  if (isManager) return "manager";
  if (isWorker) return "worker";
  throw new PkiError("PKI_TOKEN_REJECTED", TOKEN_REJECTED_MESSAGE);
}
