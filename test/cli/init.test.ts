// The "Done when": subnets handed out in order from the default pool,
// ingress first, and reused after a network is removed; custom pools too.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DockerNetwork, type DockerNode, Env, vxlanId } from "./harness.ts";

async function subnet(env: Env, name: string): Promise<string> {
  const [net] = await env.inspect<DockerNetwork>("network", "inspect", name);
  assert.equal(net?.IPAM.Config.length, 1, `${name} should have one subnet`);
  return net!.IPAM.Config[0]!.Subnet;
}

describe("init with the default pool", () => {
  const env = new Env();
  after(() => env.cleanup());

  let initOut = "";
  before(async () => {
    initOut = await env.ok("init", "--data-dir", env.dataDir);
  });

  it("prints Docker's init message and starts a daemon that wrote its pid", async () => {
    assert.match(initOut, /^Swarm initialized: current node \([0-9a-z]{25}\) is now a manager\.$/m);
    assert.match(initOut, /run 'swarmnet join-token worker'/);
    assert.ok(env.daemonPid(), "daemon.pid names a running daemon");
    const [self] = await env.inspect<DockerNode>("node", "inspect", "self");
    assert.match(self!.ID, /^[0-9a-z]{25}$/);
    assert.ok(initOut.includes(`(${self!.ID})`), "init names the node it made");
    const r = await env.run("init", "--data-dir", env.dataDir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /This node is already part of a swarm/);
  });

  it("gives ingress 10.0.0.0/24", async () => {
    assert.equal(await subnet(env, "ingress"), "10.0.0.0/24");
    const [ingress] = await env.inspect<DockerNetwork>("network", "inspect", "ingress");
    assert.equal(ingress!.Ingress, true);
    assert.equal(ingress!.IPAM.Config[0]!.Gateway, "10.0.0.1");
  });

  it("gives overlays 10.0.1.0/24 then 10.0.2.0/24, and reuses 10.0.1.0/24 after rm", async () => {
    const id = (await env.ok("network", "create", "-d", "overlay", "--attachable", "ov1")).trim();
    assert.match(id, /^[0-9a-z]{25}$/);
    assert.equal(await subnet(env, "ov1"), "10.0.1.0/24");
    const [ov1] = await env.inspect<DockerNetwork>("network", "inspect", "ov1");
    assert.equal(ov1!.Id, id);
    await env.ok("network", "create", "-d", "overlay", "ov2");
    assert.equal(await subnet(env, "ov2"), "10.0.2.0/24");
    assert.equal((await env.ok("network", "rm", "ov1")).trim(), "ov1");
    await env.ok("network", "create", "-d", "overlay", "ov3");
    assert.equal(await subnet(env, "ov3"), "10.0.1.0/24");
    await env.ok("network", "create", "ov4");
    assert.equal(await subnet(env, "ov4"), "10.0.3.0/24", "overlay is the default driver");
  });

  it("lists the subnets in network ls --format json", async () => {
    const rows = await env.lines<{ Name: string; Subnet: string; Driver: string; Scope: string }>(
      "network",
      "ls",
    );
    const byName = new Map(rows.map((r) => [r.Name, r]));
    assert.deepEqual(
      [...byName.keys()].sort(),
      ["docker_gwbridge", "host", "ingress", "none", "ov2", "ov3", "ov4"].sort(),
    );
    assert.equal(byName.get("ov3")!.Subnet, "10.0.1.0/24");
    assert.equal(byName.get("ov3")!.Scope, "swarm");
    assert.equal(byName.get("docker_gwbridge")!.Driver, "bridge");
  });

  it("hands out distinct VXLAN ids from 4096 up, reusing freed ones", async () => {
    const nets = await env.inspect<DockerNetwork>(
      "network",
      "inspect",
      "ingress",
      "ov2",
      "ov3",
      "ov4",
    );
    const vnis = nets.map((n) => vxlanId(n)!);
    assert.equal(new Set(vnis).size, vnis.length);
    for (const v of vnis) assert.ok(v >= 4096, `VNI ${v} below 4096`);
    assert.deepEqual([...vnis].sort(), [4096, 4097, 4098, 4099]);
  });
});

describe("init with --default-addr-pool and --default-addr-pool-mask-length", () => {
  const env = new Env();
  after(() => env.cleanup());

  it("carves /26s from 192.168.0.0/16: ingress first, then the next", async () => {
    await env.init(
      "--default-addr-pool",
      "192.168.0.0/16",
      "--default-addr-pool-mask-length",
      "26",
    );
    assert.equal(await subnet(env, "ingress"), "192.168.0.0/26");
    await env.ok("network", "create", "-d", "overlay", "--attachable", "ov1");
    assert.equal(await subnet(env, "ov1"), "192.168.0.64/26");
    await env.ok("network", "create", "-d", "overlay", "ov2");
    assert.equal(await subnet(env, "ov2"), "192.168.0.128/26");
  });

  it("still honours an explicit --subnet outside the pool", async () => {
    await env.ok(
      "network",
      "create",
      "--subnet",
      "10.20.0.0/16",
      "--gateway",
      "10.20.0.254",
      "mine",
    );
    const [net] = await env.inspect<DockerNetwork>("network", "inspect", "mine");
    assert.deepEqual(
      { subnet: net!.IPAM.Config[0]!.Subnet, gateway: net!.IPAM.Config[0]!.Gateway },
      { subnet: "10.20.0.0/16", gateway: "10.20.0.254" },
    );
  });
});

describe("init refuses bad pools and leaves no swarm behind", () => {
  const env = new Env();
  after(() => env.cleanup());

  it("refuses an invalid pool, a mask that does not fit, a mask out of range", async () => {
    // The first one starts the daemon (it answers nothing yet), then fails in the manager.
    assert.equal(
      await env.fails("init", "--data-dir", env.dataDir, "--default-addr-pool", "10.0.300.0/8"),
      "Error response from daemon: invalid CIDR address: 10.0.300.0/8",
    );
    assert.equal(
      await env.fails(
        "init",
        "--data-dir",
        env.dataDir,
        "--default-addr-pool",
        "10.0.0.0/24",
        "--default-addr-pool-mask-length",
        "16",
      ),
      "Error response from daemon: invalid subnet size: /16 subnets do not fit in default address pool 10.0.0.0/24",
    );
    assert.equal(
      await env.fails("init", "--data-dir", env.dataDir, "--default-addr-pool-mask-length", "33"),
      "invalid default address pool mask length 33: must be between 1 and 29",
    );
    assert.equal(
      await env.fails("network", "ls"),
      'Error response from daemon: This node is not a swarm manager. Use "swarmnet init" or "swarmnet join" to connect this node to swarm and try again.',
    );
  });

  it("then a good init works on the same daemon", async () => {
    await env.init("--default-addr-pool-mask-length", "20");
    assert.equal(await subnet(env, "ingress"), "10.0.0.0/20");
    await env.ok("network", "create", "ov1");
    assert.equal(await subnet(env, "ov1"), "10.0.16.0/20");
  });
});
