// The node's own settings (node.json) over the real API: `init` and `daemon`
// set the DNS upstreams, a restart keeps them, bad ones change nothing, and
// without any the host's resolv.conf is used.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type RunningDaemon, startDaemon } from "./daemon.ts";

// Control-plane only: no agent touching this process's network namespace.
process.env.SWARMNET_AGENT = "0";

type Dns = { upstreams: string[]; source: string };

describe("DNS upstreams of a node", () => {
  let dir: string;
  let daemon: RunningDaemon | undefined;
  const addr = `127.${50 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const sock = () => join(dir, "sock");
  const resolvConf = () => join(dir, "resolv.conf");
  const nodeJson = () => join(dir, "data", "node.json");

  const call = (method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const req = request(
        { socketPath: sock(), path, method, headers: { "content-type": "application/json" } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (text += c));
          res.on("end", () =>
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }),
          );
        },
      );
      req.on("error", reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  const dns = async () => ((await call("GET", "/v1/info")).body as { dns: Dns }).dns;
  const restart = async (dnsUpstreams?: string[]) => {
    await daemon?.close();
    daemon = await startDaemon({
      dataDir: join(dir, "data"),
      host: { kind: "unix", path: sock() },
      log: () => {},
      resolvConf: resolvConf(),
      dnsUpstreams,
    });
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "swarmnet-nodecfg-"));
    await writeFile(resolvConf(), "search lan\nnameserver 192.0.2.9\nnameserver ::1\n");
    await restart();
  });
  after(async () => {
    await daemon?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("defaults to the host's resolv.conf, read when asked", async () => {
    assert.deepEqual(await dns(), { upstreams: ["192.0.2.9:53"], source: resolvConf() });
    await writeFile(resolvConf(), "nameserver 192.0.2.10\n");
    assert.deepEqual((await dns()).upstreams, ["192.0.2.10:53"]);
  });

  it("refuses a bad upstream at init, changing nothing", async () => {
    const r = await call("POST", "/v1/swarm/init", {
      advertiseAddr: addr,
      dnsUpstreams: ["192.0.2.1", "resolver.lan"],
    });
    assert.equal(r.status, 400);
    assert.equal(
      (r.body as { message: string }).message,
      'invalid DNS upstream "resolver.lan": expected an IPv4 address with an optional port, IP[:PORT]',
    );
    assert.equal(daemon!.manager.initialized, false);
    assert.equal(existsSync(nodeJson()), false);
  });

  it("keeps what init was given, across restarts", async () => {
    const r = await call("POST", "/v1/swarm/init", {
      advertiseAddr: addr,
      dnsUpstreams: ["192.0.2.53", "192.0.2.54:5353"],
    });
    assert.equal(r.status, 201);
    const given = { upstreams: ["192.0.2.53:53", "192.0.2.54:5353"], source: "--dns-upstream" };
    assert.deepEqual(await dns(), given);
    assert.deepEqual(JSON.parse(await readFile(nodeJson(), "utf8")), {
      dnsUpstreams: given.upstreams,
    });
    await restart();
    assert.ok(daemon!.manager.initialized);
    assert.deepEqual(await dns(), given);
  });

  it("lets daemon --dns-upstream replace it, none included, and keeps that too", async () => {
    await restart(["192.0.2.77"]);
    assert.deepEqual((await dns()).upstreams, ["192.0.2.77:53"]);
    await restart([]);
    assert.deepEqual(await dns(), { upstreams: [], source: "--dns-upstream" });
    await restart();
    assert.deepEqual(await dns(), { upstreams: [], source: "--dns-upstream" });
  });
});
