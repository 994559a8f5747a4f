// Typed errors for everything PKI. Callers (the join endpoint, the agent's
// bootstrap, the CLI) branch on `code`, never on message text; messages are
// for users and use Docker's words where Docker has the same failure.

export type PkiErrorCode =
  | "PKI_INVALID_TOKEN" // not a join token at all (malformed)
  | "PKI_TOKEN_REJECTED" // well-formed but not this cluster's current worker/manager token
  | "PKI_CA_MISMATCH" // the CA a manager served does not hash to the token's digest
  | "PKI_INVALID_CERT" // cannot parse, or not shaped like a swarmnet certificate
  | "PKI_INVALID_CSR" // cannot parse, or its self-signature does not verify
  | "PKI_INVALID_KEY" // cannot parse, wrong algorithm/curve, or does not match its cert
  | "PKI_UNTRUSTED" // not signed by the cluster CA (or for another cluster)
  | "PKI_EXPIRED"
  | "PKI_NOT_YET_VALID"
  | "PKI_NO_CLIENT_CERT" // a peer that must authenticate presented no certificate
  | "PKI_FORBIDDEN" // authenticated, but its role may not do this
  | "PKI_NOT_FOUND"; // no identity saved in the data dir

export class PkiError extends Error {
  readonly code: PkiErrorCode;
  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PkiError";
    this.code = code;
  }
}

export function isPkiError(err: unknown, code?: PkiErrorCode): err is PkiError {
  return err instanceof PkiError && (code === undefined || err.code === code);
}

// Docker's texts, kept in one place so tests and the HTTP layer agree.
export const INVALID_TOKEN_MESSAGE = "invalid join token";
export const TOKEN_REJECTED_MESSAGE = "A valid join token is necessary to join this cluster";

/** Statuses for the manager's HTTP layer: 401 = authenticate (or join) first, 403 = wrong role. */
export const PKI_HTTP_STATUS: Record<PkiErrorCode, number> = {
  PKI_INVALID_TOKEN: 400,
  PKI_TOKEN_REJECTED: 401,
  PKI_CA_MISMATCH: 502,
  PKI_INVALID_CERT: 401,
  PKI_INVALID_CSR: 400,
  PKI_INVALID_KEY: 400,
  PKI_UNTRUSTED: 401,
  PKI_EXPIRED: 401,
  PKI_NOT_YET_VALID: 401,
  PKI_NO_CLIENT_CERT: 401,
  PKI_FORBIDDEN: 403,
  PKI_NOT_FOUND: 404,
};
