// Root: `lab up` with the real CLI on the nodes (init on node1, join on the
// others), under a unique prefix. A failed `lab up` must leave nothing.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, it } from "node:test";
import { mustRun } from "./kernel.ts";
import { cliArgv, labDown, labStatus, labUp, readState } from "./lab.ts";
import { IS_ROOT, leftovers, testConfig } from "./testkit.ts";

describe("lab up runs the real CLI (root)", {
  skip: !IS_ROOT && "needs root",
  timeout: 180_000,
}, () => {
  const { config, dir } = testConfig();
  after(async () => {
    await labDown(config).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses a namespace it did not make, and leaves it alone", async () => {
    const clash = `${config.namePrefix}node1`;
    await mustRun(["ip", "netns", "add", clash]);
    try {
      await assert.rejects(
        labUp({ config, nodes: 1 }),
        new RegExp(`network namespace "${clash}" already exists and no lab records it`),
      );
      assert.ok((await mustRun(["ip", "netns", "list"])).includes(clash));
      assert.equal(await readState(config), undefined);
    } finally {
      await mustRun(["ip", "netns", "del", clash]);
    }
    assert.deepEqual(await leftovers(config, dir), []);
  });

  it("one node: init starts the manager daemon inside node1, named node1", async () => {
    const state = await labUp({ config, nodes: 1 });
    const node1 = state.nodes[0]!;
    assert.ok(node1.daemonPid !== null, "daemon.pid read after init");
    const { rows } = await labStatus(config);
    assert.equal(rows[0]!.Daemon, `${node1.daemonPid} running`);
    const nodes = await mustRun(cliArgv(["-H", node1.host, "node", "ls", "--format", "json"]));
    const hostnames = nodes
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { Hostname: string }).Hostname);
    assert.deepEqual(hostnames, ["node1"]);
    assert.equal(await labDown(config), true);
    assert.deepEqual(await leftovers(config, dir), []);
  });

  it("three nodes: joined, or (without a working join) failed with nothing left behind", async () => {
    let up = false;
    try {
      const state = await labUp({ config, nodes: 3 });
      up = true;
      const { rows } = await labStatus(config);
      assert.deepEqual(
        rows.map((r) => r.Running),
        [true, true, true],
        JSON.stringify(rows),
      );
      const nodes = await mustRun(
        cliArgv(["-H", state.nodes[0]!.host, "node", "ls", "--format", "{{.Hostname}}"]),
      );
      assert.deepEqual(nodes.trim().split("\n").sort(), ["node1", "node2", "node3"]);
    } catch (err) {
      if (up) throw err;
      assert.match((err as Error).message, /^lab up failed: .*Everything it made was removed\.$/s);
      assert.deepEqual(await leftovers(config, dir), []);
      assert.equal(await readState(config), undefined);
    }
    await labDown(config);
    assert.deepEqual(await leftovers(config, dir), []);
  });
});
