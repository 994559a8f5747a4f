// A node's TLS identity on disk, in `<data-dir>/certificates/` with Docker's
// file names (`/var/lib/docker/swarm/certificates`). Every file is written
// atomically (temp file, fsync, rename, fsync of the directory), so a crash
// leaves the old file or the new one, never half of one. Key files are 0600
// from the moment they exist, not chmod-ed after.
import { randomBytes, X509Certificate } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { type RootCa, rootCaFromPem, rootCaToPem } from "./ca.ts";
import { PkiError } from "./errors.ts";
import { privateKeyFromPem } from "./keys.ts";
import type { NodeCredentials } from "./tls.ts";

export const FILES = {
  caCert: "swarm-root-ca.crt",
  caKey: "swarm-root-ca.key", // managers of an embedded-store cluster only
  nodeCert: "swarm-node.crt",
  nodeKey: "swarm-node.key",
} as const;

export function certificatesDir(dataDir: string): string {
  return join(dataDir, "certificates");
}

async function writeAtomic(dir: string, name: string, data: string, mode: number): Promise<void> {
  const final = join(dir, name);
  const tmp = join(dir, `.${name}.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, final);
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function ensureDir(dataDir: string): Promise<string> {
  const dir = certificatesDir(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700); // mkdir's mode does not apply to an existing dir
  return dir;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * Saves what a node got from joining. The key is written before the cert:
 * after a crash between the two renames, load finds a key that does not match
 * its cert and says so, instead of the node presenting a cert it cannot use.
 */
export async function saveNodeCredentials(dataDir: string, creds: NodeCredentials): Promise<void> {
  const dir = await ensureDir(dataDir);
  await writeAtomic(dir, FILES.caCert, creds.caCertPem, 0o644);
  await writeAtomic(dir, FILES.nodeKey, creds.keyPem, 0o600);
  await writeAtomic(dir, FILES.nodeCert, creds.certPem, 0o644);
  await syncDir(dir);
}

/**
 * The node's saved credentials; undefined when it has none (never joined, or
 * left). A partial or inconsistent set is an error, not "none": silently
 * re-joining would give the node a second identity.
 */
export async function loadNodeCredentials(dataDir: string): Promise<NodeCredentials | undefined> {
  const dir = certificatesDir(dataDir);
  const [caCertPem, certPem, keyPem] = await Promise.all(
    [FILES.caCert, FILES.nodeCert, FILES.nodeKey].map((f) => readOptional(join(dir, f))),
  );
  if (caCertPem === undefined && certPem === undefined && keyPem === undefined) return undefined;
  if (caCertPem === undefined || certPem === undefined || keyPem === undefined) {
    const missing = [
      [FILES.caCert, caCertPem],
      [FILES.nodeCert, certPem],
      [FILES.nodeKey, keyPem],
    ]
      .filter(([, v]) => v === undefined)
      .map(([f]) => f);
    throw new PkiError(
      "PKI_NOT_FOUND",
      `incomplete node identity in ${dir}: missing ${missing.join(", ")}`,
    );
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (cause) {
    throw new PkiError("PKI_INVALID_CERT", `cannot parse ${join(dir, FILES.nodeCert)}`, { cause });
  }
  if (!cert.checkPrivateKey(privateKeyFromPem(keyPem))) {
    throw new PkiError(
      "PKI_INVALID_KEY",
      `${FILES.nodeKey} does not match ${FILES.nodeCert} in ${dir}`,
    );
  }
  return { caCertPem, certPem, keyPem };
}

/** Removes the node's identity (`swarmnet leave`). */
export async function removeNodeCredentials(dataDir: string): Promise<void> {
  const dir = certificatesDir(dataDir);
  await Promise.all(Object.values(FILES).map((f) => rm(join(dir, f), { force: true })));
}

/** The cluster CA with its key, for a manager that keeps it on local disk. */
export async function saveRootCa(dataDir: string, ca: RootCa): Promise<void> {
  const dir = await ensureDir(dataDir);
  const { certPem, keyPem } = rootCaToPem(ca);
  await writeAtomic(dir, FILES.caKey, keyPem, 0o600);
  await writeAtomic(dir, FILES.caCert, certPem, 0o644);
  await syncDir(dir);
}

export async function loadRootCa(dataDir: string): Promise<RootCa | undefined> {
  const dir = certificatesDir(dataDir);
  const keyPem = await readOptional(join(dir, FILES.caKey));
  if (keyPem === undefined) return undefined;
  const certPem = await readOptional(join(dir, FILES.caCert));
  if (certPem === undefined)
    throw new PkiError("PKI_NOT_FOUND", `${FILES.caCert} missing in ${dir}`);
  return rootCaFromPem(certPem, keyPem);
}
