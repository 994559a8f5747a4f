// With no daemon answering, every command that needs one fails at once with
// Docker's "Cannot connect" line naming the address it tried.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Env } from "./harness.ts";

const cannotConnect = (host: string) =>
  `Cannot connect to the swarmnet daemon at ${host}. Is the swarmnet daemon running?`;

const COMMANDS = [
  ["network", "ls"],
  ["network", "create", "ov1"],
  ["network", "inspect", "ov1"],
  ["network", "rm", "ov1"],
  ["service", "ls"],
  ["service", "create", "--name", "web"],
  ["service", "ps", "web"],
  ["service", "inspect", "web"],
  ["service", "scale", "web=2"],
  ["service", "update", "--label-add", "a=b", "web"],
  ["service", "rm", "web"],
  ["node", "ls"],
  ["node", "inspect", "self"],
  ["leave", "--force"],
];

describe("no daemon running", () => {
  const env = new Env();
  after(() => env.cleanup());

  it("every command fails with Cannot connect, naming SWARMNET_HOST", async () => {
    await Promise.all(
      COMMANDS.map(async (args) => {
        assert.equal(await env.fails(...args), cannotConnect(env.host), args.join(" "));
      }),
    );
  });

  it("-H and --host name another address, before or after the command", async () => {
    const other = `unix://${path.join(env.dir, "other.sock")}`;
    assert.equal(await env.fails("-H", other, "network", "ls"), cannotConnect(other));
    assert.equal(await env.fails("network", "ls", "--host", other), cannotConnect(other));
    assert.equal(
      await env.fails("--host=tcp://127.0.0.1:1", "service", "ls"),
      cannotConnect("tcp://127.0.0.1:1"),
    );
    assert.equal(
      await env.fails("-H", "nowhere", "network", "ls"),
      'invalid host "nowhere": expected unix:///PATH or tcp://HOST:PORT',
    );
  });

  it("a daemon stopped with SIGTERM removes its socket and pid file, and commands say so", async () => {
    await env.init();
    assert.ok(existsSync(env.sock));
    await env.kill("SIGTERM");
    assert.ok(!existsSync(env.sock), "the socket is gone");
    assert.ok(!existsSync(path.join(env.dataDir, "daemon.pid")), "the pid file is gone");
    assert.equal(await env.fails("service", "ls"), cannotConnect(env.host));
  });
});
