// `--dns-upstream` on init, join and daemon: checked before anything starts,
// kept by the node (DATA_DIR/node.json) across a daemon restart, and shown in
// the daemon's info.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Env } from "./harness.ts";

const EXPECTED = "expected an IPv4 address with an optional port, IP[:PORT]";

describe("DNS upstreams of a node", () => {
  const env = new Env();
  after(() => env.cleanup());
  const dns = async () =>
    (await env.api<{ dns: { upstreams: string[]; source: string } }>("/v1/info")).dns;

  it("refuses a bad upstream before starting anything", async () => {
    const init = (...v: string[]) =>
      env.fails("init", "--data-dir", env.dataDir, ...v.flatMap((x) => ["--dns-upstream", x]));
    assert.equal(await init("resolver.lan"), `invalid DNS upstream "resolver.lan": ${EXPECTED}`);
    assert.equal(
      await init("192.0.2.1:99999"),
      `invalid DNS upstream "192.0.2.1:99999": ${EXPECTED}`,
    );
    assert.equal(
      await init("none", "192.0.2.1"),
      "--dns-upstream none cannot be combined with other upstreams",
    );
    assert.equal(
      await env.fails("join", "--token", "T", "--dns-upstream", "::1", "192.0.2.1:2377"),
      `invalid DNS upstream "::1": ${EXPECTED}`,
    );
    assert.equal(
      await env.fails("daemon", "--data-dir", env.dataDir, "--dns-upstream", "x"),
      `invalid DNS upstream "x": ${EXPECTED}`,
    );
    assert.equal(env.daemonPid(), undefined, "no daemon was started");
  });

  it("keeps what init was given across a restart", async () => {
    await env.init("--dns-upstream", "192.0.2.53", "--dns-upstream", "192.0.2.54:5353");
    const given = { upstreams: ["192.0.2.53:53", "192.0.2.54:5353"], source: "--dns-upstream" };
    assert.deepEqual(await dns(), given);
    const file = JSON.parse(readFileSync(path.join(env.dataDir, "node.json"), "utf8"));
    assert.deepEqual(file, { dnsUpstreams: given.upstreams });
    await env.kill();
    await env.startDaemon();
    assert.deepEqual(await dns(), given);
  });
});
