import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { defaultHost } from "./host.ts";
import { planLab } from "./plan.ts";
import { initialState, serializeState } from "./state.ts";

describe("the CLI's default host with a lab on the machine", () => {
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-lab-host-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const stateFile = join(dir, "lab.json");
  const defaultSock = join(dir, "default.sock");
  const fallback = `unix://${defaultSock}`;
  const labHost = `unix://${dir}/lab/node1/swarmnet.sock`;
  const state = initialState(planLab({ namePrefix: "x-", stateDir: dir, labDir: `${dir}/lab` }, 3));

  it("is the default when no lab is recorded", async () => {
    assert.equal(await defaultHost(fallback, join(dir, "none.json")), fallback);
  });

  it("is node1's socket when a lab is recorded and the default socket is missing", async () => {
    writeFileSync(stateFile, serializeState(state));
    assert.equal(await defaultHost(fallback, stateFile), labHost);
  });

  it("is node1's socket when the default socket is stale (nothing answers)", async () => {
    // A daemon killed with SIGKILL leaves its socket file without a listener.
    const code = `require("net").createServer().listen(${JSON.stringify(defaultSock)}, () => process.kill(process.pid, "SIGKILL"))`;
    spawnSync(process.execPath, ["-e", code]);
    assert.ok(existsSync(defaultSock));
    assert.equal(await defaultHost(fallback, stateFile), labHost);
    rmSync(defaultSock, { force: true });
  });

  it("stays the default when a daemon answers there", async () => {
    const server = createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(defaultSock, r));
    try {
      assert.equal(await defaultHost(fallback, stateFile), fallback);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("ignores a damaged state file", async () => {
    writeFileSync(stateFile, "{ not json");
    assert.equal(await defaultHost(fallback, stateFile), fallback);
  });
});
