// `service update` of networks and published ports changes the tasks'
// attachments in place (same task ids: the agent hot-plugs interfaces);
// only a change to what the tasks run replaces them.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Env } from "./harness.ts";

interface TaskJson {
  id: string;
  desiredState: string;
  networks: { networkId: string; addresses: string[]; aliases: string[] }[];
}

describe("service update in place", () => {
  const env = new Env();
  const ids = new Map<string, string>();
  /** The running tasks of web: id and the names of the networks they attach to, in order. */
  const running = async () =>
    (await env.api<TaskJson[]>("/v1/tasks?service=web"))
      .filter((t) => t.desiredState === "running")
      .map((t) => ({
        id: t.id,
        nets: t.networks.map((n) => ids.get(n.networkId)),
        aliases: t.networks.map((n) => n.aliases),
      }));
  const update = (...args: string[]) => env.ok("service", "update", "--detach", ...args, "web");

  before(async () => {
    await env.init();
    await env.ok("network", "create", "ov1");
    await env.ok("network", "create", "ov2");
    for (const n of await env.api<{ id: string; name: string }[]>("/v1/networks"))
      ids.set(n.id, n.name);
    await env.ok(
      "service",
      "create",
      "--detach",
      "--name",
      "web",
      "--replicas",
      "2",
      "--network",
      "ov1",
    );
  });
  after(() => env.cleanup());

  it("networks and ports change the attachments of the same tasks", async () => {
    const first = (await running()).map((t) => t.id).sort();
    assert.equal(first.length, 2);
    const same = async () => (await running()).map((t) => t.id).sort();

    await update("--network-add", "name=ov2,alias=w2");
    assert.deepEqual(await same(), first);
    for (const t of await running()) {
      assert.deepEqual(t.nets, ["ov1", "ov2"]);
      assert.deepEqual(t.aliases, [[], ["w2"]]);
    }

    await update("--publish-add", "8080:80");
    assert.deepEqual(await same(), first);
    for (const t of await running()) assert.deepEqual(t.nets, ["ingress", "ov1", "ov2"]);

    await update("--network-rm", "ov2", "--network-add", "name=ov2,alias=again");
    assert.deepEqual(await same(), first);
    for (const t of await running()) assert.deepEqual(t.aliases, [[], [], ["again"]]);

    await update("--publish-rm", "80", "--network-rm", "ov1");
    assert.deepEqual(await same(), first);
    for (const t of await running()) assert.deepEqual(t.nets, ["ov2"]);

    await update("--args", "sleep 60");
    const after = await same();
    assert.equal(after.length, 2);
    assert.ok(
      after.every((id) => !first.includes(id)),
      "a new command replaces the tasks",
    );
  });
});
