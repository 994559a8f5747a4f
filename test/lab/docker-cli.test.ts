// Root, end to end: the stock `docker` CLI (the client installed on this
// machine, unmodified) drives a three-node lab through the Docker-compatible
// API — DOCKER_HOST as `swarmnet lab env` prints it — and what it creates
// works on the data plane: published ports answer on every node, names
// resolve in tasks. Then Docker's voting-app sample stack deploys with
// `docker stack deploy` and with `swarmnet stack deploy` to the same result,
// and no service reaches a network it is not on.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { run } from "../../src/lab/kernel.ts";
import { IS_ROOT, inNs, type TaskRow, TestLab, waitFor } from "./labkit.ts";

const VOTING = `${process.env.SWARMNET_CONFORMANCE ?? "/work/shared/conformance"}/compose/voting-app-stack.yml`;
const HAS_DOCKER = (await run(["docker", "--version"]).catch(() => ({ code: 1 }))).code === 0;

describe("the stock docker CLI against a three-node lab (root)", {
  skip: (!IS_ROOT && "needs root") || (!HAS_DOCKER && "needs the docker CLI"),
  timeout: 420_000,
}, () => {
  const lab = new TestLab();

  const docker = async (args: string[], expectOk = true) => {
    const r = await run(["docker", ...args], {
      env: { ...process.env, DOCKER_HOST: lab.node("node1").dockerHost, DOCKER_CONFIG: lab.dir },
      timeoutMs: 120_000,
    });
    if (expectOk)
      assert.equal(
        r.code,
        0,
        `docker ${args.join(" ")} failed (${r.code}): ${r.stderr}${r.stdout}`,
      );
    return r;
  };
  /** From node3's host namespace to a node's address on the underlay. */
  const curl = async (address: string, port: number) => {
    const r = await run(
      inNs(lab.node("node3").netns, ["curl", "-s", "-m", "3", `http://${address}:${port}/`]),
      { timeoutMs: 10_000 },
    );
    return r.code === 0 ? r.stdout : "";
  };
  const answersEverywhere = (port: number, service: string) =>
    waitFor(`port ${port} answers for ${service} on every node`, async () => {
      for (const n of lab.state!.nodes) {
        if (!(await curl(n.address, port)).includes(`service=${service} `)) return undefined;
      }
      return true;
    });
  const dig = async (task: TaskRow, name: string) => {
    const r = await run(
      inNs(lab.sandbox(task), ["dig", "@127.0.0.11", "+short", "+time=2", "+tries=1", name]),
      { timeoutMs: 10_000 },
    );
    return r.stdout.trim().split("\n").filter(Boolean);
  };

  before(async () => {
    await lab.up(3);
  });
  after(() => lab.cleanup());

  it("negotiates: version, info with Swarm filled in, node ls", async () => {
    const version = (await docker(["version"])).stdout;
    assert.match(version, /Server: swarmnet/);
    assert.match(version, /API version:\s+1\.50 \(minimum version 1\.41\)/);
    const info = (await docker(["info"])).stdout;
    assert.match(info, /Swarm: active/);
    assert.match(info, /Is Manager: true/);
    assert.match(info, /Nodes: 3/);
    const nodes = (await docker(["node", "ls", "--format", "{{.Hostname}}={{.ManagerStatus}}"]))
      .stdout;
    assert.deepEqual(
      nodes
        .trim()
        .split("\n")
        .map((l) => l.trim())
        .sort(),
      ["node1=Leader", "node2=", "node3="],
    );
    // An API version outside what is served: Docker's words.
    const old = await run(["docker", "version"], {
      env: {
        ...process.env,
        DOCKER_HOST: lab.node("node1").dockerHost,
        DOCKER_API_VERSION: "1.30",
      },
    });
    assert.match(
      old.stderr + old.stdout,
      /client version 1\.30 is too old\. Minimum supported API version is 1\.41/,
    );
  });

  it("creates, lists, inspects and removes an overlay network", async () => {
    const id = (
      await docker([
        "network",
        "create",
        "-d",
        "overlay",
        "--attachable",
        "--subnet",
        "10.123.0.0/24",
        "dnet",
      ])
    ).stdout.trim();
    assert.match(id, /^[0-9a-z]{25}$/);
    const ls = (await docker(["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]))
      .stdout;
    assert.match(ls, /^dnet overlay swarm$/m);
    const [net] = JSON.parse((await docker(["network", "inspect", "dnet"])).stdout);
    assert.equal(net.Id, id);
    assert.equal(net.Scope, "swarm");
    assert.equal(net.Attachable, true);
    assert.equal(net.IPAM.Config[0].Subnet, "10.123.0.0/24");
    assert.match(net.Options["com.docker.network.driver.overlay.vxlanid_list"], /^\d+$/);
    // A duplicate name, and IPv6: refused, nothing created.
    const dup = await docker(["network", "create", "-d", "overlay", "dnet"], false);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /network with name dnet already exists/);
    const v6 = await docker(["network", "create", "-d", "overlay", "--ipv6", "v6net"], false);
    assert.notEqual(v6.code, 0);
    assert.match(v6.stderr, /IPv4 only/);
    assert.doesNotMatch((await docker(["network", "ls"])).stdout, /v6net/);
  });

  it("creates a service that converges, answers on every node and resolves", async () => {
    const created = await docker([
      "service",
      "create",
      "--name",
      "web",
      "--replicas",
      "3",
      "--network",
      "dnet",
      "-p",
      "8080:80",
      "nginx",
    ]);
    assert.match(created.stdout + created.stderr, /Service \S+ converged/);
    const ls = (await docker(["service", "ls", "--format", "{{.Name}} {{.Replicas}} {{.Ports}}"]))
      .stdout;
    assert.match(ls, /^web 3\/3 \*:8080->80\/tcp$/m);
    const ps = (
      await docker(["service", "ps", "web", "--format", "{{.Name}} {{.Node}} {{.CurrentState}}"])
    ).stdout
      .trim()
      .split("\n");
    assert.equal(ps.length, 3);
    assert.ok(
      ps.every((l) => / Running /.test(l)),
      ps.join("\n"),
    );
    const [svc] = JSON.parse((await docker(["service", "inspect", "web"])).stdout);
    const vip = svc.Endpoint.VirtualIPs.find(
      (v: { NetworkID: string }) =>
        v.NetworkID !== undefined && v.NetworkID.length > 0 && v.NetworkID !== "",
    );
    assert.ok(vip, "a VIP");
    await answersEverywhere(8080, "web");
    const tasks = await lab.running("web", 3);
    const vips = svc.Endpoint.VirtualIPs.map((v: { Addr: string }) => v.Addr.split("/")[0]);
    assert.ok(vips.includes((await dig(tasks[0]!, "web"))[0]), "web resolves to its VIP");
    assert.equal((await dig(tasks[0]!, "tasks.web")).length, 3);
  });

  it("scales, publishes another port in place, and removes", async () => {
    assert.match((await docker(["service", "scale", "web=5"])).stdout, /converged/);
    assert.match((await docker(["service", "ls", "--format", "{{.Replicas}}"])).stdout, /^5\/5$/m);
    const before = (await lab.running("web", 5)).map((t) => t.ID).sort();
    await docker(["service", "update", "--publish-add", "9090:80", "web"]);
    await answersEverywhere(9090, "web");
    // Ports are added to running tasks: none restarted.
    assert.deepEqual((await lab.running("web", 5)).map((t) => t.ID).sort(), before);
    await docker(["service", "rm", "web"]);
    await waitFor("web's tasks gone", async () =>
      (await lab.cliRun(["service", "ps", "web"])).code !== 0 ? true : undefined,
    );
    await waitFor("dnet removable", async () =>
      (await docker(["network", "rm", "dnet"], false)).code === 0 ? true : undefined,
    );
  });

  it("connects and disconnects a standalone task; verbose inspect lists a service's tasks", async () => {
    await docker(["network", "create", "-d", "overlay", "--attachable", "cnet"]);
    await docker(["network", "create", "-d", "overlay", "--attachable", "enet"]);
    await lab.cli(["run", "-d", "--name", "solo", "--network", "cnet", "--", "sleep", "600"]);
    await docker(["network", "connect", "enet", "solo"]);
    const inspect = async (net: string, verbose = false) =>
      JSON.parse(
        (await docker(["network", "inspect", ...(verbose ? ["--verbose"] : []), net])).stdout,
      )[0];
    const names = (net: { Containers: Record<string, { Name: string }> }) =>
      Object.values(net.Containers).map((c) => c.Name);
    await waitFor("solo on enet", async () =>
      names(await inspect("enet")).includes("solo") ? true : undefined,
    );
    await docker(["network", "disconnect", "enet", "solo"]);
    await waitFor("solo off enet", async () =>
      names(await inspect("enet")).includes("solo") ? undefined : true,
    );
    await docker([
      "service",
      "create",
      "-d",
      "--name",
      "vv",
      "--replicas",
      "2",
      "--network",
      "cnet",
      "nginx",
    ]);
    await lab.running("vv", 2);
    const verbose = await inspect("cnet", true);
    assert.equal(verbose.Services.vv.Tasks.length, 2);
    assert.match(verbose.Services.vv.VIP, /^\d+\.\d+\.\d+\.\d+$/);
    await docker(["service", "rm", "vv"]);
    await lab.cli(["rm", "-f", "solo"]);
    await docker(["network", "rm", "cnet", "enet"]);
  });

  it("ignores what cannot change networking, with a warning; refuses what would", async () => {
    const refused = await docker(
      ["service", "create", "--name", "dnsy", "--dns", "192.0.2.1", "nginx"],
      false,
    );
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /custom DNS settings/);
    assert.equal((await docker(["service", "ls", "-q"])).stdout.trim(), "");
    const warned = await docker([
      "service",
      "create",
      "-d",
      "--name",
      "envy",
      "--env",
      "GREETING=hello there",
      "--limit-memory",
      "64m",
      "--mount",
      "type=volume,target=/data",
      "busybox",
      "sh",
      "-c",
      "echo greeting=$GREETING; exec sleep 600",
    ]);
    assert.match(
      warned.stdout + warned.stderr,
      /ContainerSpec\.Mounts is not supported by swarmnet and was ignored/,
    );
    assert.match(
      warned.stdout + warned.stderr,
      /TaskTemplate\.Resources is not supported by swarmnet and was ignored/,
    );
    // The environment reaches the task's process.
    await waitFor("envy's greeting in its log", async () =>
      (await lab.cliRun(["service", "logs", "envy"])).stdout.includes("greeting=hello there")
        ? true
        : undefined,
    );
    await docker(["service", "rm", "envy"]);
  });

  it("deploys Docker's voting-app stack with docker stack deploy, then swarmnet stack deploy, alike", {
    skip: !existsSync(VOTING) && "no shared compose material",
  }, async () => {
    /** Service (short name) → the networks (short names) it is on. */
    const shape = async (stack: string) => {
      const names = (await docker(["service", "ls", "--format", "{{.Name}}"])).stdout
        .trim()
        .split("\n")
        .filter((n) => n.startsWith(`${stack}_`));
      const out: Record<string, string[]> = {};
      for (const name of names) {
        const [svc] = JSON.parse((await docker(["service", "inspect", name])).stdout);
        assert.equal(svc.Spec.Labels["com.docker.stack.namespace"], stack);
        const nets: string[] = [];
        for (const n of svc.Spec.TaskTemplate.Networks ?? []) {
          const [net] = JSON.parse((await docker(["network", "inspect", n.Target])).stdout);
          assert.equal(net.Labels["com.docker.stack.namespace"], stack);
          nets.push(net.Name.slice(stack.length + 1));
        }
        out[name.slice(stack.length + 1)] = nets.sort();
      }
      return out;
    };
    const gone = () =>
      waitFor(
        "the stack's services and networks gone",
        async () => {
          const nets = (await docker(["network", "ls", "--format", "{{.Name}}"])).stdout;
          const services = (await docker(["service", "ls", "-q"])).stdout.trim();
          return /^vote_/m.test(nets) || services !== "" ? undefined : true;
        },
        60_000,
      );
    const expected = {
      db: ["backend"],
      redis: ["frontend"],
      result: ["backend"],
      visualizer: ["default"],
      vote: ["frontend"],
      worker: ["backend", "frontend"],
    };

    await docker(["stack", "deploy", "-c", VOTING, "vote"]);
    assert.deepEqual(await shape("vote"), expected);
    assert.match(
      (await docker(["stack", "ls", "--format", "{{.Name}} {{.Services}}"])).stdout,
      /^vote 6$/m,
    );
    // Published ports answer on every node; with no command the responder
    // runs, on the target port.
    await answersEverywhere(5000, "vote_vote");
    await answersEverywhere(5001, "vote_result");
    // Isolation: vote (frontend) resolves redis, not db, and cannot reach db's address.
    const voteTask = (await lab.running("vote_vote", 2))[0]!;
    assert.equal((await dig(voteTask, "redis")).length, 1);
    assert.deepEqual(await dig(voteTask, "db"), []);
    const dbTask = (await lab.running("vote_db", 1))[0]!;
    const [probe] = await lab.probe(lab.sandbox(voteTask), [
      { kind: "tcp", addr: dbTask.Addresses[0]!.split("/")[0]!, port: 80 },
    ]);
    assert.equal(probe!.ok, false, "vote reaches db's address");
    // The worker is on both networks and resolves both.
    const worker = (await lab.running("vote_worker", 1))[0]!;
    assert.equal((await dig(worker, "redis")).length, 1);
    assert.equal((await dig(worker, "db")).length, 1);
    await docker(["stack", "rm", "vote"]);
    await gone();

    // The same file through swarmnet's own command: the same stack.
    await lab.cli(["stack", "deploy", "-c", VOTING, "vote"]);
    assert.deepEqual(await shape("vote"), expected);
    await answersEverywhere(5000, "vote_vote");
    assert.match(await lab.cli(["stack", "services", "vote"]), /vote_worker/);
    await lab.cli(["stack", "rm", "vote"]);
    await gone();
  });
});
