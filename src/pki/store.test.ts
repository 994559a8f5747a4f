import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createRootCa, issueNodeCertificate } from "./ca.ts";
import { isPkiError } from "./errors.ts";
import { generateKeyPair, privateKeyToPem } from "./keys.ts";
import {
  certificatesDir,
  FILES,
  loadNodeCredentials,
  loadRootCa,
  removeNodeCredentials,
  saveNodeCredentials,
  saveRootCa,
} from "./store.ts";
import type { NodeCredentials } from "./tls.ts";

const dirs: string[] = [];
async function dataDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "swarmnet-pki-"));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const ca = createRootCa();
function creds(): NodeCredentials {
  const { privateKey, publicKey } = generateKeyPair();
  const certPem = issueNodeCertificate(ca, {
    nodeId: "n1",
    role: "worker",
    publicKeyOrCsr: publicKey,
  });
  return { caCertPem: ca.certPem, certPem, keyPem: privateKeyToPem(privateKey) };
}
const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe("node identity on disk", () => {
  it("round-trips in <data-dir>/certificates with Docker's names, key 0600, dir 0700", async () => {
    const d = await dataDir();
    assert.equal(await loadNodeCredentials(d), undefined); // never joined
    const c = creds();
    await saveNodeCredentials(d, c);
    assert.deepEqual(await loadNodeCredentials(d), c);
    const dir = certificatesDir(d);
    assert.equal(dir, join(d, "certificates"));
    assert.deepEqual(
      (await readdir(dir)).sort(),
      [FILES.caCert, FILES.nodeCert, FILES.nodeKey].sort(),
    );
    assert.equal(await mode(join(dir, FILES.nodeKey)), 0o600);
    assert.equal(await mode(dir), 0o700);
  });

  it("replaces an identity atomically and leaves no temp files", async () => {
    const d = await dataDir();
    await saveNodeCredentials(d, creds());
    const second = creds();
    await saveNodeCredentials(d, second);
    assert.deepEqual(await loadNodeCredentials(d), second);
    assert.equal((await readdir(certificatesDir(d))).filter((f) => f.endsWith(".tmp")).length, 0);
    assert.equal(await mode(join(certificatesDir(d), FILES.nodeKey)), 0o600);
  });

  it("refuses a partial identity and a key that does not match its cert", async () => {
    const d = await dataDir();
    await saveNodeCredentials(d, creds());
    const keyPath = join(certificatesDir(d), FILES.nodeKey);
    await writeFile(keyPath, privateKeyToPem(generateKeyPair().privateKey));
    await assert.rejects(loadNodeCredentials(d), (err) => isPkiError(err, "PKI_INVALID_KEY"));
    await rm(keyPath);
    await assert.rejects(
      loadNodeCredentials(d),
      (err) => isPkiError(err, "PKI_NOT_FOUND") && err.message.includes(FILES.nodeKey),
    );
    await removeNodeCredentials(d);
    assert.equal(await loadNodeCredentials(d), undefined);
  });

  it("keeps a manager's root CA with its key (0600)", async () => {
    const d = await dataDir();
    assert.equal(await loadRootCa(d), undefined);
    await saveRootCa(d, ca);
    const back = await loadRootCa(d);
    assert.equal(back?.certPem, ca.certPem);
    assert.equal(back?.clusterId, ca.clusterId);
    assert.ok(back?.cert.checkPrivateKey(ca.key));
    assert.equal(await mode(join(certificatesDir(d), FILES.caKey)), 0o600);
  });
});
