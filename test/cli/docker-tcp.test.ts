// The Docker-compatible API on TCP: plain only on loopback, otherwise TLS
// with client certificates required, as `dockerd --tlsverify`. Checked with
// the stock docker CLI and certificates made by openssl.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { run } from "../../src/lab/kernel.ts";
import { Env } from "./harness.ts";

const HAS_DOCKER = (await run(["docker", "--version"]).catch(() => ({ code: 1 }))).code === 0;
const HAS_OPENSSL = (await run(["openssl", "version"]).catch(() => ({ code: 1 }))).code === 0;

/** A free-looking port per run (loopback only; a clash fails the test loudly). */
const port = () => 20_000 + Math.floor(Math.random() * 20_000);

describe("the Docker API on TCP", {
  skip: (!HAS_DOCKER || !HAS_OPENSSL) && "needs docker and openssl",
}, () => {
  const env = new Env();
  after(() => env.cleanup());
  const docker = (args: string[]) =>
    run(["docker", ...args], {
      env: { ...process.env, DOCKER_CONFIG: env.dir },
      timeoutMs: 30_000,
    });

  it("refuses plain TCP off loopback, and TLS options without --docker-tlsverify", async () => {
    const off = await env.run(
      "daemon",
      "--data-dir",
      env.dataDir,
      "--docker-host",
      "tcp://0.0.0.0:2375",
    );
    assert.notEqual(off.code, 0);
    assert.match(off.stderr, /refusing to serve the Docker API unencrypted on 0\.0\.0\.0/);
    const half = await env.run("daemon", "--data-dir", env.dataDir, "--docker-tlscert", "x.pem");
    assert.notEqual(half.code, 0);
    assert.match(half.stderr, /need --docker-tlsverify/);
  });

  it("serves plain HTTP on loopback", async () => {
    const p = port();
    await env.startDaemon("--docker-host", `tcp://127.0.0.1:${p}`);
    const r = await docker([
      "-H",
      `tcp://127.0.0.1:${p}`,
      "version",
      "--format",
      "{{.Server.APIVersion}}",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "1.50");
    await env.kill();
  });

  it("serves TLS and requires a client certificate signed by the given CA", async () => {
    // Not in DOCKER_CONFIG: the docker CLI would pick up cert.pem and key.pem there by itself.
    const dir = path.join(env.dir, "tls");
    mkdirSync(dir);
    const f = (name: string) => path.join(dir, name);
    const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=test-ca",
      "-keyout",
      f("ca-key.pem"),
      "-out",
      f("ca.pem"),
    );
    writeFileSync(f("san.cnf"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=127.0.0.1",
      "-keyout",
      f("server-key.pem"),
      "-out",
      f("server.csr"),
    );
    ssl(
      "x509",
      "-req",
      "-in",
      f("server.csr"),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca-key.pem"),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      f("san.cnf"),
      "-out",
      f("server.pem"),
    );
    writeFileSync(f("client.cnf"), "extendedKeyUsage=clientAuth\n");
    ssl(
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=client",
      "-keyout",
      f("key.pem"),
      "-out",
      f("client.csr"),
    );
    ssl(
      "x509",
      "-req",
      "-in",
      f("client.csr"),
      "-CA",
      f("ca.pem"),
      "-CAkey",
      f("ca-key.pem"),
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      f("client.cnf"),
      "-out",
      f("cert.pem"),
    );
    const p = port();
    await env.startDaemon(
      "--docker-host",
      `tcp://127.0.0.1:${p}`,
      "--docker-tlsverify",
      "--docker-tlscacert",
      f("ca.pem"),
      "--docker-tlscert",
      f("server.pem"),
      "--docker-tlskey",
      f("server-key.pem"),
    );
    const host = `tcp://127.0.0.1:${p}`;
    const ok = await docker([
      "--tlsverify",
      "--tlscacert",
      f("ca.pem"),
      "--tlscert",
      f("cert.pem"),
      "--tlskey",
      f("key.pem"),
      "-H",
      host,
      "version",
      "--format",
      "{{.Server.APIVersion}}",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), "1.50");
    // No client certificate: the handshake is refused.
    const anon = await docker(["--tlsverify", "--tlscacert", f("ca.pem"), "-H", host, "version"]);
    assert.notEqual(anon.code, 0);
    // Plain HTTP to the TLS port gets nothing useful either.
    const plain = await docker(["-H", host, "version", "--format", "{{.Server.APIVersion}}"]);
    assert.notEqual(plain.stdout.trim(), "1.50");
    await env.kill();
  });
});
