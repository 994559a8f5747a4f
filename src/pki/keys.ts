// Node key pairs and certificate signing requests. A joining node makes its
// key locally and never sends it anywhere: it sends a PKCS#10 CSR, whose
// self-signature proves it holds the private key. As in swarmkit, the CA takes
// only the public key from a CSR; name, role and cluster come from the
// manager's own decision (the token that was presented), never from the CSR.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from "node:crypto";
import * as der from "./der.ts";
import { PkiError } from "./errors.ts";
import { encodeName, fromPem, OID, toPem } from "./x509.ts";

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function generateKeyPair(): KeyPair {
  return generateKeyPairSync("ec", { namedCurve: "P-256" });
}

/** Refuses anything but ECDSA P-256, the only kind swarmnet issues for. */
export function assertP256(key: KeyObject, what = "key"): void {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new PkiError("PKI_INVALID_KEY", `${what} must be an ECDSA P-256 key`);
  }
}

export function privateKeyToPem(key: KeyObject): string {
  return key.export({ type: "pkcs8", format: "pem" }).toString();
}

export function privateKeyFromPem(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (cause) {
    throw new PkiError("PKI_INVALID_KEY", "cannot parse private key PEM", { cause });
  }
  assertP256(key, "private key");
  return key;
}

export function publicKeyToPem(key: KeyObject): string {
  return key.export({ type: "spki", format: "pem" }).toString();
}

/** A PKCS#10 request for `privateKey` (PEM). The subject is informational only. */
export function createCsr(privateKey: KeyObject, commonName?: string): string {
  assertP256(privateKey, "private key");
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  const info = der.seq(
    der.uint(0),
    encodeName(commonName === undefined ? {} : { CN: commonName }),
    spki,
    der.explicit(0, Buffer.alloc(0)), // no attributes
  );
  const sigAlg = der.seq(der.oid(OID.ecdsaWithSha256));
  const csr = der.seq(info, sigAlg, der.bitString(sign("sha256", info, privateKey)));
  return toPem(csr, "CERTIFICATE REQUEST");
}

/**
 * The public key of a CSR, after checking its self-signature. The input comes
 * from an unauthenticated peer: every malformation is a PKI_INVALID_CSR.
 */
export function publicKeyFromCsr(csrPem: string): KeyObject {
  const bad = (why: string, cause?: unknown) =>
    new PkiError("PKI_INVALID_CSR", `invalid certificate signing request: ${why}`, { cause });
  const buf = fromPem(csrPem, "CERTIFICATE REQUEST");
  if (buf === undefined) throw bad("no CERTIFICATE REQUEST PEM block");
  let info: Buffer;
  let spki: Buffer;
  let signature: Buffer;
  try {
    const top = der.expectTag(der.readTlv(buf), der.TAG.SEQUENCE, "request");
    if (top.end !== buf.length) throw bad("trailing data after the request");
    const [infoT, algT, sigT] = der.children(buf, top);
    der.expectTag(infoT, der.TAG.SEQUENCE, "request info");
    const fields = der.children(buf, infoT!);
    spki = der.whole(buf, der.expectTag(fields[2], der.TAG.SEQUENCE, "public key info"));
    const alg = der.children(buf, der.expectTag(algT, der.TAG.SEQUENCE, "algorithm"))[0];
    if (
      !der
        .whole(buf, der.expectTag(alg, der.TAG.OID, "algorithm"))
        .equals(der.oid(OID.ecdsaWithSha256))
    ) {
      throw bad("signature algorithm must be ecdsa-with-SHA256");
    }
    const bits = der.content(buf, der.expectTag(sigT, der.TAG.BIT_STRING, "signature"));
    if (bits[0] !== 0) throw bad("malformed signature");
    info = der.whole(buf, infoT!);
    signature = bits.subarray(1);
  } catch (err) {
    throw err instanceof PkiError ? err : bad("malformed DER", err);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: spki, format: "der", type: "spki" });
  } catch (cause) {
    throw bad("unreadable public key", cause);
  }
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw bad("key must be ECDSA P-256");
  }
  if (!verify("sha256", info, key, signature)) throw bad("signature does not verify");
  return key;
}

/**
 * What issueNodeCertificate accepts as the subject's key: a KeyObject, a
 * PUBLIC KEY PEM (SPKI), or a CERTIFICATE REQUEST PEM (verified).
 */
export function subjectPublicKey(input: KeyObject | string): KeyObject {
  if (typeof input !== "string") {
    const key = input.type === "private" ? createPublicKey(input) : input;
    assertP256(key, "public key");
    return key;
  }
  if (input.includes("-----BEGIN CERTIFICATE REQUEST-----")) return publicKeyFromCsr(input);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: input, format: "pem" });
  } catch (cause) {
    throw new PkiError("PKI_INVALID_KEY", "cannot parse public key PEM", { cause });
  }
  assertP256(key, "public key");
  return key;
}
