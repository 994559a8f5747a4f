// Everything survives a manager restart: after a clean stop (SIGTERM) and
// after a crash (SIGKILL), a new `swarmnet daemon` on the same data dir shows
// the same networks, services, VIPs and task addresses, and its allocator
// knows what is taken (no address, subnet, VXLAN id or port handed out twice).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DockerNetwork, type DockerService, Env, vxlanId } from "./harness.ts";

interface ServiceJson {
  id: string;
  spec: { name: string };
  endpoint: {
    ports: { publishedPort: number }[];
    virtualIps: { networkId: string; addr: string }[];
  };
}
interface TaskJson {
  id: string;
  serviceId: string;
  networks: { networkId: string; addresses: string[] }[];
}

/** What the CLI shows of the whole state; task ages left out (they change with the clock). */
async function cliSnapshot(env: Env): Promise<unknown> {
  const [networks, services] = await Promise.all([
    env.lines<{ Name: string }>("network", "ls"),
    env.lines<{ Name: string }>("service", "ls"),
  ]);
  const names = services.map((s) => s.Name);
  const [netInspect, svcInspect, ...ps] = await Promise.all([
    env.inspect("network", "inspect", ...networks.map((n) => n.Name)),
    env.inspect("service", "inspect", ...names),
    ...names.map((n) => env.lines("service", "ps", n)),
  ]);
  const tasks = ps.flat().map(({ CurrentState: _age, ...rest }) => rest);
  return { networks, services, netInspect, svcInspect, tasks };
}

/** Every address held on each network: VIPs and task addresses. */
async function addressesByNetwork(env: Env): Promise<Map<string, string[]>> {
  const held = new Map<string, string[]>();
  const add = (net: string, addr: string) => held.set(net, [...(held.get(net) ?? []), addr]);
  for (const s of await env.api<ServiceJson[]>("/v1/services"))
    for (const v of s.endpoint.virtualIps) add(v.networkId, v.addr);
  for (const t of await env.api<TaskJson[]>("/v1/tasks")) {
    for (const n of t.networks) for (const a of n.addresses) add(n.networkId, a);
  }
  return held;
}

function persistenceSuite(signal: "SIGTERM" | "SIGKILL"): void {
  describe(`state survives a restart after ${signal}`, () => {
    const env = new Env();
    let apiBefore: unknown;
    let cliBefore: unknown;

    before(async () => {
      await env.init();
      await env.ok("network", "create", "-d", "overlay", "--attachable", "ov1");
      await env.ok("network", "create", "gone");
      const ov2 = [
        ["--subnet", "10.50.0.0/16", "--gateway", "10.50.0.254", "--ip-range", "10.50.1.0/24"],
        ["--aux-address", "router=10.50.1.2", "--label", "tier=back", "-o", "encrypted"],
      ].flat();
      await env.ok("network", "create", ...ov2, "ov2");
      await env.ok("network", "rm", "gone");
      const create = (...args: string[]) => env.ok("service", "create", "--detach", ...args);
      await create("--name", "web", "--replicas", "5", "--network", "ov1", "-p", "8080:80");
      await env.ok("service", "scale", "--detach", "web=3");
      await create(
        "--name",
        "db",
        "--replicas",
        "2",
        "--network",
        "ov1",
        "--network",
        "ov2",
        "--label",
        "a=b",
      );
      await create("--name", "dyn", "-p", "80");
      await create("--name", "everywhere", "--mode", "global", "--network", "ov2");
      await create("--name", "pinned", "--constraint", "node.hostname==nope", "--network", "ov1");
      apiBefore = await env.apiState();
      cliBefore = await cliSnapshot(env);

      await env.kill(signal);
      const down = await env.run("network", "ls");
      assert.notEqual(down.code, 0);
      assert.equal(
        down.stderr.trim(),
        `Cannot connect to the swarmnet daemon at ${env.host}. Is the swarmnet daemon running?`,
      );
      await env.startDaemon();
    });
    after(() => env.cleanup());

    it("shows the same objects: ids, subnets, VIPs, task addresses, versions", async () => {
      assert.deepEqual(await env.apiState(), apiBefore);
      assert.deepEqual(await cliSnapshot(env), cliBefore);
    });

    it("hands new services addresses no one holds", async () => {
      const held = await addressesByNetwork(env);
      await env.ok(
        "service",
        "create",
        "--detach",
        "--name",
        "late",
        "--replicas",
        "3",
        "--network",
        "ov1",
        "--network",
        "ov2",
        "-p",
        "8090:80",
      );
      const now = await addressesByNetwork(env);
      // Old holders kept theirs, so no duplicate means every new address was free.
      for (const [net, addrs] of now) {
        assert.equal(
          new Set(addrs).size,
          addrs.length,
          `an address on ${net} is held twice: ${addrs}`,
        );
      }
      const lateTasks = await env.lines<{ Addresses: string[] }>("service", "ps", "late");
      assert.deepEqual(
        lateTasks.map((t) => t.Addresses.length),
        [3, 3, 3],
        "each task has an address on ingress, ov1 and ov2",
      );
      const [late] = await env.inspect<DockerService>("service", "inspect", "late");
      assert.equal(late!.Endpoint.VirtualIPs.length, 3, "VIPs on ingress, ov1 and ov2");
      for (const v of late!.Endpoint.VirtualIPs) {
        assert.ok(!held.get(v.NetworkID)?.includes(v.Addr), `VIP ${v.Addr} was already held`);
      }
      const ov2 = (await env.inspect<DockerNetwork>("network", "inspect", "ov2"))[0]!;
      for (const t of await env.api<TaskJson[]>("/v1/tasks")) {
        for (const n of t.networks.filter((x) => x.networkId === ov2.Id)) {
          for (const a of n.addresses) {
            assert.match(a, /^10\.50\.1\.\d+\/16$/, "ov2's endpoints come from its ip-range");
            assert.notEqual(a, "10.50.1.2/16", "the aux address is never handed out");
          }
        }
      }
    });

    it("keeps published ports taken, and picks the next dynamic one", async () => {
      const [web] = await env.inspect<DockerService>("service", "inspect", "web");
      assert.match(web!.ID, /^[0-9a-z]{25}$/);
      assert.equal(
        await env.fails("service", "create", "--detach", "--name", "clash", "-p", "8080:80"),
        `Error response from daemon: port '8080' is already in use by service 'web' (${web!.ID}) as an ingress port`,
      );
      const [dyn] = await env.inspect<DockerService>("service", "inspect", "dyn");
      assert.equal(dyn!.Endpoint.Ports[0]!.PublishedPort, 30000);
      await env.ok("service", "create", "--detach", "--name", "dyn2", "-p", "81");
      const [dyn2] = await env.inspect<DockerService>("service", "inspect", "dyn2");
      assert.equal(dyn2!.Endpoint.Ports[0]!.PublishedPort, 30001);
    });

    it("keeps subnets and VXLAN ids taken, and reuses what was freed before", async () => {
      assert.equal(
        await env.fails("network", "create", "--subnet", "10.50.7.0/24", "clash"),
        "Error response from daemon: Pool overlaps with other one on this address space",
      );
      const before = await env.inspect<DockerNetwork>(
        "network",
        "inspect",
        "ingress",
        "ov1",
        "ov2",
      );
      await env.ok("network", "create", "ov3");
      const [ov3] = await env.inspect<DockerNetwork>("network", "inspect", "ov3");
      assert.equal(
        ov3!.IPAM.Config[0]!.Subnet,
        "10.0.2.0/24",
        "the subnet `gone` freed before the restart",
      );
      const vni = vxlanId(ov3!);
      assert.ok(vni !== undefined && vni >= 4096, `ov3 has a VXLAN id: ${vni}`);
      assert.ok(!before.some((n) => vxlanId(n) === vni), `VXLAN id ${vni} already in use`);
      assert.match(
        await env.fails("network", "rm", "ov1"),
        /^Error response from daemon: network ov1 is in use by service (web|db|pinned|late)$/,
      );
    });

    it("survives a second restart with the changes made since", async () => {
      const state = await env.apiState();
      await env.kill(signal);
      await env.startDaemon();
      assert.deepEqual(await env.apiState(), state);
    });
  });
}

persistenceSuite("SIGTERM");
persistenceSuite("SIGKILL");
