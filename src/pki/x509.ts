// Building and picking apart X.509 certificates with the DER helpers. Only
// what swarmnet issues: ECDSA P-256 keys, ecdsa-with-SHA256 signatures,
// subjects of CN/OU/O, and the handful of extensions below.
import { createHash, type KeyObject, randomBytes, sign, X509Certificate } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import * as der from "./der.ts";
import { PkiError } from "./errors.ts";

export const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  organizationalUnit: "2.5.4.11",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

// ---- PEM ----

export function toPem(derBytes: Buffer, label: string): string {
  const b64 = derBytes.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN ${label}-----\n${b64.replace(/\n$/, "")}\n-----END ${label}-----\n`;
}

/** The first PEM block with this label, as DER; undefined when there is none. */
export function fromPem(pem: string, label: string): Buffer | undefined {
  const re = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`);
  const m = re.exec(pem);
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ""), "base64") : undefined;
}

// ---- names and extensions ----

export type NameAttrs = { O?: string; OU?: string; CN?: string };

/** O, OU, CN in that order (Go's crypto/x509 order, so Docker's certs look alike). */
export function encodeName(attrs: NameAttrs): Buffer {
  const rdns: Buffer[] = [];
  const add = (type: string, v: string | undefined) => {
    if (v !== undefined) rdns.push(der.set(der.seq(der.oid(type), der.utf8(v))));
  };
  add(OID.organization, attrs.O);
  add(OID.organizationalUnit, attrs.OU);
  add(OID.commonName, attrs.CN);
  return der.seq(...rdns);
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  const crit = critical ? [der.bool(true)] : [];
  return der.seq(der.oid(id), ...crit, der.octetString(value));
}

export function basicConstraints(ca: boolean, pathLen?: number): Buffer {
  const body = ca ? [der.bool(true), ...(pathLen === undefined ? [] : [der.uint(pathLen)])] : [];
  return extension(OID.basicConstraints, true, der.seq(...body));
}

export function keyUsage(bits: readonly number[]): Buffer {
  return extension(OID.keyUsage, true, der.namedBits(bits));
}

export function extKeyUsage(oids: readonly string[]): Buffer {
  return extension(OID.extKeyUsage, false, der.seq(...oids.map(der.oid)));
}

export function subjectAltName(dns: readonly string[], ips: readonly string[]): Buffer {
  const names = [
    ...dns.map((d) => der.implicit(2, Buffer.from(d, "ascii"))),
    ...ips.map((ip) => der.implicit(7, ipBytes(ip))),
  ];
  return extension(OID.subjectAltName, false, der.seq(...names));
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey bits. An id, not a security check. */
export function keyId(publicKey: KeyObject): Buffer {
  const spki = publicKey.export({ type: "spki", format: "der" });
  const top = der.readTlv(spki);
  const bits = der.children(spki, top)[1]!;
  return createHash("sha1").update(der.content(spki, bits).subarray(1)).digest();
}

export const subjectKeyId = (id: Buffer): Buffer =>
  extension(OID.subjectKeyIdentifier, false, der.octetString(id));
export const authorityKeyId = (id: Buffer): Buffer =>
  extension(OID.authorityKeyIdentifier, false, der.seq(der.implicit(0, id)));

export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split(".").map(Number));
  if (!isIPv6(ip)) throw new PkiError("PKI_INVALID_CERT", `invalid IP address for SAN: ${ip}`);
  let s = ip.split("%")[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split(".").map(Number);
    s =
      s.slice(0, -v4[1]!.length) +
      (((a! << 8) | b!).toString(16) + ":" + ((c! << 8) | d!).toString(16));
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const hs = head ? head.split(":") : [];
  const ts = tail ? tail.split(":") : [];
  const groups = [...hs, ...Array(8 - hs.length - ts.length).fill("0"), ...ts];
  const out = Buffer.alloc(16);
  for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  return out;
}

// ---- building ----

export interface CertSpec {
  issuer: Buffer; // encoded Name; must be byte-identical to the issuer cert's subject
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  signingKey: KeyObject;
  extensions: Buffer[];
}

export function buildCertificate(spec: CertSpec): X509Certificate {
  // 128 random bits, positive (uint adds the sign byte when needed).
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f || 0x01;
  const sigAlg = der.seq(der.oid(OID.ecdsaWithSha256));
  const tbs = der.seq(
    der.explicit(0, der.uint(2)), // v3
    der.uint(serial),
    sigAlg,
    spec.issuer,
    der.seq(der.time(spec.notBefore), der.time(spec.notAfter)),
    spec.subject,
    spec.publicKey.export({ type: "spki", format: "der" }),
    // Extensions is SIZE (1..MAX): omit the field rather than write it empty.
    ...(spec.extensions.length > 0 ? [der.explicit(3, der.seq(...spec.extensions))] : []),
  );
  // crypto.sign with an EC key yields the DER ECDSA-Sig-Value X.509 wants.
  const signature = sign("sha256", tbs, spec.signingKey);
  return new X509Certificate(der.seq(tbs, sigAlg, der.bitString(signature)));
}

// ---- reading ----

/** The subject Name of a certificate exactly as encoded (to use as an issuer). */
export function subjectDer(cert: X509Certificate): Buffer {
  const raw = cert.raw;
  const tbs = der.children(raw, der.readTlv(raw))[0]!;
  const fields = der.children(raw, tbs);
  const skipVersion = fields[0]!.tag === 0xa0 ? 1 : 0;
  return der.whole(raw, fields[skipVersion + 4]!);
}

const ATTR_NAMES: Record<string, keyof NameAttrs> = {
  [OID.commonName]: "CN",
  [OID.organization]: "O",
  [OID.organizationalUnit]: "OU",
};
const STRING_TAGS = new Set<number>([
  der.TAG.UTF8_STRING,
  der.TAG.PRINTABLE_STRING,
  der.TAG.IA5_STRING,
]);

/**
 * CN, OU and O of a subject. Any of them appearing twice, or as a string type
 * we do not write, makes the certificate unusable for identity: refusing is
 * safer than guessing which value the peer meant.
 */
export function subjectAttrs(cert: X509Certificate): NameAttrs {
  const name = subjectDer(cert);
  const out: NameAttrs = {};
  const oidOf = (b: Buffer) => {
    for (const id of Object.keys(ATTR_NAMES)) if (der.oid(id).equals(b)) return id;
    return undefined;
  };
  for (const rdn of der.children(name, der.readTlv(name))) {
    for (const atv of der.children(name, rdn)) {
      const [type, value] = der.children(name, atv);
      const id = oidOf(der.whole(name, der.expectTag(type, der.TAG.OID, "name attribute")));
      if (id === undefined) continue;
      const key = ATTR_NAMES[id]!;
      if (value === undefined || !STRING_TAGS.has(value.tag) || out[key] !== undefined) {
        throw new PkiError("PKI_INVALID_CERT", `certificate subject has an unusable ${key}`);
      }
      out[key] = der.content(name, value).toString("utf8");
    }
  }
  return out;
}
