// The cluster root CA and the node certificates it issues, in Docker Swarm's
// shape: root CN "swarm-ca"; node certs with CN = node id, OU = swarm-manager
// or swarm-worker (the role the TLS layer authorizes on), O = cluster id.
// Unlike Docker we also put O = cluster id in the root's subject, so that the
// PEM pair alone says which cluster it is and a node cert must name the same
// cluster as the CA that signed it.
import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { newId } from "../core/ids.ts";
import { PkiError } from "./errors.ts";
import {
  assertP256,
  generateKeyPair,
  privateKeyFromPem,
  privateKeyToPem,
  subjectPublicKey,
} from "./keys.ts";
import {
  authorityKeyId,
  basicConstraints,
  buildCertificate,
  encodeName,
  extKeyUsage,
  KEY_USAGE,
  keyId,
  keyUsage,
  OID,
  subjectAltName,
  subjectAttrs,
  subjectDer,
  subjectKeyId,
} from "./x509.ts";

export type NodeRole = "manager" | "worker";
export const ROLE_OU: Record<NodeRole, string> = {
  manager: "swarm-manager",
  worker: "swarm-worker",
};
export const ROOT_CN = "swarm-ca";
/** Every manager cert carries this DNS SAN: agents dial managers by it, as in swarmkit. */
export const MANAGER_SAN = "swarm-manager";

const DAY_MS = 86_400_000;
// Docker backdates certificates by an hour so small clock skew between
// nodes does not make a fresh certificate "not yet valid".
const BACKDATE_MS = 3_600_000;

export interface RootCa {
  cert: X509Certificate;
  certPem: string;
  key: KeyObject;
  clusterId: string;
}

export interface NodeIdentity {
  nodeId: string;
  role: NodeRole;
  clusterId: string;
  notBefore: Date;
  notAfter: Date;
}

export type CertInput = string | Buffer | X509Certificate;

export function createRootCa(
  opts: { clusterId?: string; now?: Date; validityYears?: number } = {},
): RootCa {
  const clusterId = opts.clusterId ?? newId();
  const now = opts.now ?? new Date();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + (opts.validityYears ?? 10));
  const { privateKey, publicKey } = generateKeyPair();
  const name = encodeName({ O: clusterId, CN: ROOT_CN });
  const id = keyId(publicKey);
  const cert = buildCertificate({
    issuer: name,
    subject: name,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    publicKey,
    signingKey: privateKey,
    extensions: [
      basicConstraints(true, 0), // signs node certs only, never another CA
      keyUsage([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign]),
      subjectKeyId(id),
    ],
  });
  return { cert, certPem: cert.toString(), key: privateKey, clusterId };
}

export function rootCaToPem(ca: RootCa): { certPem: string; keyPem: string } {
  return { certPem: ca.certPem, keyPem: privateKeyToPem(ca.key) };
}

export function rootCaFromPem(certPem: string, keyPem: string): RootCa {
  const cert = parseCaCert(certPem);
  const key = privateKeyFromPem(keyPem);
  if (!cert.checkPrivateKey(key)) {
    throw new PkiError("PKI_INVALID_KEY", "CA private key does not match the CA certificate");
  }
  return { cert, certPem: cert.toString(), key, clusterId: caClusterId(cert) };
}

/** A CA certificate (no key), as a joining node or a verifier holds it. */
export function parseCaCert(input: CertInput): X509Certificate {
  const cert = parseCert(input, "CA certificate");
  if (!cert.ca)
    throw new PkiError("PKI_INVALID_CERT", "CA certificate is not a CA (basicConstraints)");
  // swarmnet has one self-signed root and no intermediates.
  if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) {
    throw new PkiError("PKI_INVALID_CERT", "CA certificate is not a self-signed root");
  }
  assertP256(cert.publicKey, "CA key");
  caClusterId(cert);
  return cert;
}

export function parseCert(input: CertInput, what = "certificate"): X509Certificate {
  if (input instanceof X509Certificate) return input;
  try {
    return new X509Certificate(input);
  } catch (cause) {
    throw new PkiError("PKI_INVALID_CERT", `cannot parse ${what}`, { cause });
  }
}

function caClusterId(cert: X509Certificate): string {
  const { CN, O } = subjectAttrs(cert);
  if (CN !== ROOT_CN || !O) {
    throw new PkiError(
      "PKI_INVALID_CERT",
      `not a swarmnet CA: subject must be CN=${ROOT_CN} with O=<cluster id>`,
    );
  }
  return O;
}

export interface IssueOptions {
  nodeId: string;
  role: NodeRole;
  /** KeyObject, PUBLIC KEY PEM, or CERTIFICATE REQUEST PEM (whose signature is checked). */
  publicKeyOrCsr: KeyObject | string;
  validityDays?: number;
  /** IP SANs: the addresses peers dial this node on (its advertise address). */
  ipAddresses?: readonly string[];
  /** Issue time; tests move it to make expired or not-yet-valid certs without sleeping. */
  now?: Date;
}

// Node ids become DNS SANs, so they must be DNS labels (swarmkit ids are 25 base36 chars).
const NODE_ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Signs a node certificate; returns it as PEM. */
export function issueNodeCertificate(ca: RootCa, opts: IssueOptions): string {
  if (!NODE_ID.test(opts.nodeId)) {
    throw new PkiError(
      "PKI_INVALID_CERT",
      `invalid node id for a certificate: ${JSON.stringify(opts.nodeId)}`,
    );
  }
  if (opts.role !== "manager" && opts.role !== "worker") {
    throw new PkiError("PKI_INVALID_CERT", `invalid node role: ${JSON.stringify(opts.role)}`);
  }
  const validityDays = opts.validityDays ?? 90;
  if (!(validityDays > 0)) throw new PkiError("PKI_INVALID_CERT", "validityDays must be positive");
  const publicKey = subjectPublicKey(opts.publicKeyOrCsr);
  const now = opts.now ?? new Date();
  // A cert must not outlive its CA: clients would reject the chain anyway.
  const notAfter = new Date(
    Math.min(now.getTime() + validityDays * DAY_MS, ca.cert.validToDate.getTime()),
  );
  const dns = opts.role === "manager" ? [opts.nodeId, MANAGER_SAN] : [opts.nodeId];
  const cert = buildCertificate({
    issuer: subjectDer(ca.cert),
    subject: encodeName({ O: ca.clusterId, OU: ROLE_OU[opts.role], CN: opts.nodeId }),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    publicKey,
    signingKey: ca.key,
    extensions: [
      basicConstraints(false),
      keyUsage([KEY_USAGE.digitalSignature]),
      // Both: managers serve and dial each other; agents dial managers.
      extKeyUsage([OID.serverAuth, OID.clientAuth]),
      subjectAltName(dns, opts.ipAddresses ?? []),
      subjectKeyId(keyId(publicKey)),
      authorityKeyId(keyId(createPublicKey(ca.key))),
    ],
  });
  return cert.toString();
}

/**
 * Checks that `cert` was signed by this cluster's CA, is a node (not CA)
 * certificate, is within its validity window, and names a role and the CA's
 * cluster; returns who it is. Throws PkiError PKI_UNTRUSTED, PKI_EXPIRED,
 * PKI_NOT_YET_VALID or PKI_INVALID_CERT.
 */
export function verifyNodeCertificate(
  caCert: CertInput,
  cert: CertInput,
  opts: { now?: Date } = {},
): NodeIdentity {
  const ca = parseCaCert(caCert);
  const leaf = parseCert(cert);
  if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
    throw new PkiError(
      "PKI_UNTRUSTED",
      "certificate signed by unknown authority (not this cluster's CA)",
    );
  }
  if (leaf.ca)
    throw new PkiError("PKI_INVALID_CERT", "a CA certificate cannot be used as a node certificate");
  const now = opts.now ?? new Date();
  for (const [c, what] of [
    [ca, "cluster CA certificate"],
    [leaf, "node certificate"],
  ] as const) {
    if (now < c.validFromDate) {
      throw new PkiError(
        "PKI_NOT_YET_VALID",
        `${what} is not valid before ${c.validFromDate.toISOString()}`,
      );
    }
    if (now > c.validToDate) {
      throw new PkiError("PKI_EXPIRED", `${what} expired at ${c.validToDate.toISOString()}`);
    }
  }
  const { CN, OU, O } = subjectAttrs(leaf);
  const role = (Object.keys(ROLE_OU) as NodeRole[]).find((r) => ROLE_OU[r] === OU);
  if (!CN || role === undefined) {
    throw new PkiError(
      "PKI_INVALID_CERT",
      "certificate does not name a swarm node (CN) and role (OU)",
    );
  }
  const clusterId = caClusterId(ca);
  if (O !== clusterId) {
    throw new PkiError(
      "PKI_UNTRUSTED",
      `certificate is for cluster ${O ?? "(none)"}, not ${clusterId}`,
    );
  }
  return { nodeId: CN, role, clusterId, notBefore: leaf.validFromDate, notAfter: leaf.validToDate };
}
