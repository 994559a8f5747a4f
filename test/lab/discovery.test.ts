// Root, end to end: service discovery, VIP load balancing and the routing
// mesh in a three-node lab, with real clients — `dig` against 127.0.0.11 from
// inside task sandboxes (every kind of name, a name on a network the asker
// does not share, an external name forwarded to a dnsmasq resolver running
// on the lab's underlay), connections through VIPs that must reach every
// replica on every node, scaling 3 → 10 → 2 seen by DNS and the load
// balancer of every node, and published ports answering from a client on
// the underlay (ingress mode on every node, host mode only where a task runs).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { mustRun, run } from "../../src/lab/kernel.ts";
import {
  addressOf,
  type Background,
  background,
  IS_ROOT,
  inNs,
  type Probe,
  summary,
  type TaskRow,
  TestLab,
  waitFor,
} from "./labkit.ts";

/** The client on the underlay (not a node) and the lab's upstream resolver live here. */
const UNDERLAY_CLIENT = "198.18.1.250";
const EXTERNAL_NAME = "www.external.test";
const EXTERNAL_ADDR = "198.18.77.7";

describe("DNS, VIPs and the routing mesh across three lab nodes (root)", {
  skip: !IS_ROOT && "needs root",
  timeout: 300_000,
}, () => {
  const lab = new TestLab();
  let resolver: Background | undefined;
  let underlay = "";

  before(async () => {
    await lab.up(3, { dnsUpstreams: [UNDERLAY_CLIENT] });
    underlay = lab.state!.underlay.netns;
    // The resolver and the client talk to themselves through lo.
    await mustRun(["ip", "-n", underlay, "link", "set", "lo", "up"]);
    await mustRun([
      "ip",
      "-n",
      underlay,
      "addr",
      "add",
      `${UNDERLAY_CLIENT}/15`,
      "dev",
      lab.state!.underlay.bridge,
    ]);
    resolver = await background(
      inNs(underlay, [
        "dnsmasq",
        "--keep-in-foreground",
        "--no-resolv",
        "--no-hosts",
        "--user=root",
        "--pid-file",
        `--listen-address=${UNDERLAY_CLIENT}`,
        "--bind-interfaces",
        `--address=/external.test/${EXTERNAL_ADDR}`,
        "--log-facility=-",
      ]),
    );
    await waitFor(
      "the lab's resolver answers",
      async () =>
        (
          await run(
            inNs(underlay, [
              "dig",
              "+short",
              "+time=1",
              "+tries=1",
              `@${UNDERLAY_CLIENT}`,
              EXTERNAL_NAME,
            ]),
          )
        ).stdout.trim() === EXTERNAL_ADDR,
      10_000,
    );
    await lab.cli(["network", "create", "-d", "overlay", "--attachable", "front"]);
    await lab.cli(["network", "create", "-d", "overlay", "back"]);
    const svc = (args: string[]) => lab.cli(["service", "create", "-q", ...args]);
    await svc([
      "--name",
      "web",
      "--replicas",
      "3",
      "--network",
      "name=front,alias=www",
      "--constraint",
      "node.hostname!=node3",
    ]);
    await svc([
      "--name",
      "rr",
      "--replicas",
      "3",
      "--endpoint-mode",
      "dnsrr",
      "--network",
      "front",
    ]);
    await svc(["--name", "other", "--replicas", "2", "--network", "back"]);
    // One client task per node, on the same network as web.
    await svc(["--name", "client", "--mode", "global", "--network", "front"]);
    await lab.cli(["run", "-d", "--name", "box", "--network", "front", "--network-alias", "boxy"]);
    await lab.running("web", 3);
    await lab.running("rr", 3);
    await lab.running("other", 2);
    await lab.running("client", 3);
  });

  after(async () => {
    resolver?.stop();
    await lab.cleanup();
  });

  function on(tasks: TaskRow[], node: string): TaskRow {
    const t = tasks.find((x) => x.Node === node);
    assert.ok(t, `no task on ${node}: ${tasks.map((x) => `${x.Name}@${x.Node}`).join(", ")}`);
    return t;
  }

  /** `dig` inside a sandbox against the embedded DNS: status and answer records. */
  async function dig(
    sandbox: string,
    name: string,
    opts: { type?: string; tcp?: boolean; reverse?: boolean } = {},
  ): Promise<{ status: string; answers: string[] }> {
    const args = ["dig", "@127.0.0.11", "+time=3", "+tries=1", "+noall", "+comments", "+answer"];
    if (opts.tcp) args.push("+tcp");
    if (opts.reverse) args.push("-x", name);
    else args.push(name, opts.type ?? "A");
    const r = await run(inNs(sandbox, args), { timeoutMs: 15_000 });
    const status = /status: (\w+)/.exec(r.stdout)?.[1] ?? `no answer (${r.code}): ${r.stdout}`;
    const answers = r.stdout
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith(";"))
      .map((l) => l.trim().split(/\s+/).at(-1)!);
    return { status, answers };
  }

  const sorted = (xs: string[]) => [...xs].sort();
  const ips = (tasks: TaskRow[]) => sorted(tasks.map(addressOf));

  async function vipOf(service: string, network: string): Promise<string> {
    const out = await lab.cli(["service", "inspect", service, "--format", "json"]);
    const [svc] = JSON.parse(out) as {
      Endpoint: { VirtualIPs: { NetworkID: string; Addr: string }[] };
    }[];
    const netOut = await lab.cli(["network", "inspect", network, "--format", "json"]);
    const [net] = JSON.parse(netOut) as { Id: string }[];
    const vip = svc!.Endpoint.VirtualIPs.find((v) => v.NetworkID === net!.Id);
    assert.ok(vip, `${service} has no VIP on ${network}`);
    return vip.Addr.split("/")[0]!;
  }

  /** Distinct tasks that answered `count` new connections to addr:port from a sandbox. */
  async function spread(
    sandbox: string,
    kind: "tcp" | "udp",
    addr: string,
    port: number,
    count: number,
  ) {
    const probes: Probe[] = Array.from({ length: count }, () => ({
      kind,
      addr,
      port,
      timeoutMs: 4000,
    }));
    const results = await lab.probe(sandbox, probes);
    const failed = results.filter((r) => !r.ok);
    assert.equal(failed.length, 0, summary(failed.slice(0, 5)));
    return new Set(results.map((r) => /^task=(\S+)\s/.exec(r.answer)?.[1] ?? r.answer));
  }

  it("answers every kind of name from inside a task, over UDP and TCP", async () => {
    const web = await lab.running("web", 3);
    const rr = await lab.running("rr", 3);
    const from = lab.sandbox(on(await lab.running("client", 3), "node1"));
    const vip = await vipOf("web", "front");

    assert.deepEqual(await dig(from, "web"), { status: "NOERROR", answers: [vip] });
    assert.deepEqual(await dig(from, "web", { tcp: true }), { status: "NOERROR", answers: [vip] });
    assert.deepEqual(
      await dig(from, "www"),
      { status: "NOERROR", answers: [vip] },
      "service alias",
    );
    const tasks = await dig(from, "tasks.web");
    assert.deepEqual(sorted(tasks.answers), ips(web));
    // dnsrr: the task addresses themselves, in rotating order.
    const first = await dig(from, "rr");
    assert.deepEqual(sorted(first.answers), ips(rr));
    const second = await dig(from, "rr");
    assert.deepEqual(sorted(second.answers), ips(rr));
    assert.notDeepEqual(second.answers, first.answers, "dnsrr answers rotate");
    // Task names, long and short (<service>.<slot>.<id>, <service>.<slot>).
    const t = web[0]!;
    const slot = t.Name.split(".")[1]!;
    assert.deepEqual((await dig(from, `${t.Name}.${t.ID}`)).answers, [addressOf(t)]);
    assert.deepEqual((await dig(from, `web.${slot}`)).answers, [addressOf(t)]);
    // Standalone containers, by name and alias.
    const box = await dig(from, "box");
    assert.equal(box.answers.length, 1, JSON.stringify(box));
    assert.deepEqual((await dig(from, "boxy")).answers, box.answers);
    // Reverse lookups for a task address and a VIP.
    const ptr = await dig(from, addressOf(t), { reverse: true });
    assert.deepEqual(ptr.answers, [`${t.Name}.${t.ID}.`]);
    assert.deepEqual((await dig(from, vip, { reverse: true })).answers, ["web."]);
    // A service on a network the asker does not share: not answered.
    const other = await dig(from, "other");
    assert.equal(other.status, "NXDOMAIN");
    assert.deepEqual((await dig(from, "tasks.other")).answers, []);
    // Ours but another type: no data, never forwarded.
    assert.deepEqual(await dig(from, "web", { type: "AAAA" }), { status: "NOERROR", answers: [] });
    // Anything else goes to the node's upstream resolver (dnsmasq on the underlay).
    assert.deepEqual(await dig(from, EXTERNAL_NAME), {
      status: "NOERROR",
      answers: [EXTERNAL_ADDR],
    });
    assert.deepEqual(await dig(from, EXTERNAL_NAME, { tcp: true }), {
      status: "NOERROR",
      answers: [EXTERNAL_ADDR],
    });
  });

  it("a VIP spreads TCP and UDP over every replica, on other nodes too, with the caller's own address", async () => {
    const web = await lab.running("web", 3);
    const vip = await vipOf("web", "front");
    const clients = await lab.running("client", 3);
    for (const node of ["node1", "node3"]) {
      const client = on(clients, node);
      const from = lab.sandbox(client);
      for (const kind of ["tcp", "udp"] as const) {
        const seen = await spread(from, kind, vip, 80, 60);
        assert.deepEqual(
          sorted([...seen]),
          sorted(web.map((t) => `${t.Name}.${t.ID}`)),
          `${kind} from ${node}`,
        );
      }
      // No source NAT inside the cluster: the task sees the calling task's address.
      const [r] = await lab.probe(from, [{ kind: "tcp", addr: vip, port: 80 }]);
      assert.match(r!.answer, new RegExp(` from=${addressOf(client).replaceAll(".", "\\.")}$`));
    }
  });

  it("scaling 3 → 10 → 2 changes DNS and the load balancer on every node", async () => {
    const vip = await vipOf("web", "front");
    const clients = await lab.running("client", 3);
    // A connection made through the VIP before scaling up: its task stays, so must it.
    const stream = await lab.stream(lab.sandbox(on(clients, "node1")), vip, 80);
    for (const replicas of [10, 2]) {
      await lab.cli(["service", "scale", "-d", `web=${replicas}`]);
      const web = await lab.running("web", replicas, 60_000);
      const want = sorted(web.map((t) => `${t.Name}.${t.ID}`));
      for (const c of clients) {
        const sandbox = lab.sandbox(c);
        await waitFor(
          `tasks.web lists ${replicas} tasks on ${c.Node}`,
          async () => sorted((await dig(sandbox, "tasks.web")).answers).join() === ips(web).join(),
          10_000,
        );
        // DNS changes at once; the kernel's load balancer follows within moments.
        await waitFor(
          `the VIP from ${c.Node} reaches exactly the ${replicas} tasks`,
          async () =>
            sorted([...(await spread(sandbox, "tcp", vip, 80, replicas * 15))]).join() ===
            want.join(),
          15_000,
        );
      }
      if (replicas === 10) {
        await stream.flows(100, "after scaling 3 → 10");
        assert.equal(stream.broken(), undefined);
        // Scaling down may stop the very task it reached: that is not "untouched".
        stream.stop();
      }
    }
    await lab.cli(["service", "scale", "-d", "web=3"]);
  });

  it("a published port answers on every node from a client on the underlay, TCP and UDP, and the task sees the client's address", async () => {
    await lab.cli([
      "service",
      "create",
      "-q",
      "--name",
      "pub",
      "--replicas",
      "2",
      "--constraint",
      "node.hostname!=node3",
      "-p",
      "8080:80",
      "-p",
      "8080:80/udp",
    ]);
    const pub = await lab.running("pub", 2);
    const want = sorted(pub.map((t) => `${t.Name}.${t.ID}`));
    for (const i of [1, 2, 3]) {
      const addr = `198.18.0.${i}`;
      for (const kind of ["tcp", "udp"] as const) {
        await waitFor(
          `${kind} ${addr}:8080 answers`,
          async () =>
            (await lab.probe(underlay, [{ kind, addr, port: 8080, timeoutMs: 2000 }]))[0]!.ok,
          15_000,
        );
        await waitFor(
          `${kind} through node${i} reaches both tasks`,
          async () =>
            sorted([...(await spread(underlay, kind, addr, 8080, 40))]).join() === want.join(),
          15_000,
        );
        // No source NAT in the mesh either: each task sees the client's own
        // address, whichever node the connection came through.
        const probes: Probe[] = Array.from({ length: 10 }, () => ({ kind, addr, port: 8080 }));
        const answers = (await lab.probe(underlay, probes)).map((r) => r.answer);
        const from = answers.map((a) => / from=(\S+)$/.exec(a)?.[1] ?? a);
        assert.deepEqual(from, Array(10).fill(UNDERLAY_CLIENT), `${kind} through node${i}`);
      }
    }
  });

  it("a host-mode port answers only on the node that runs the task", async () => {
    await lab.cli([
      "service",
      "create",
      "-q",
      "--name",
      "hm",
      "--replicas",
      "1",
      "--constraint",
      "node.hostname==node2",
      "-p",
      "published=9090,target=80,mode=host",
    ]);
    const [task] = await lab.running("hm", 1, 30_000, false);
    await waitFor(
      "node2:9090 answers",
      async () =>
        (
          await lab.probe(underlay, [
            { kind: "tcp", addr: "198.18.0.2", port: 9090, timeoutMs: 2000 },
          ])
        )[0]!.ok,
      15_000,
    );
    const [hit] = await lab.probe(underlay, [{ kind: "tcp", addr: "198.18.0.2", port: 9090 }]);
    assert.match(hit!.answer, new RegExp(`^task=${task!.Name}\\.${task!.ID}`));
    const misses = await lab.probe(underlay, [
      { kind: "tcp", addr: "198.18.0.1", port: 9090, timeoutMs: 2000 },
      { kind: "tcp", addr: "198.18.0.3", port: 9090, timeoutMs: 2000 },
    ]);
    assert.ok(
      misses.every((r) => !r.ok),
      summary(misses),
    );
  });

  it("publish-add and network-add take effect without restarting running tasks", async () => {
    const before = (await lab.running("other", 2)).map((t) => t.ID).sort();
    await lab.cli(["service", "update", "-q", "--publish-add", "8181:80", "other"]);
    await waitFor(
      "8181 answers after publish-add",
      async () =>
        (
          await lab.probe(underlay, [
            { kind: "tcp", addr: "198.18.0.3", port: 8181, timeoutMs: 2000 },
          ])
        )[0]!.ok,
      20_000,
    );
    await lab.cli(["service", "update", "-q", "--network-add", "front", "other"]);
    const from = lab.sandbox(on(await lab.running("client", 3), "node1"));
    await waitFor(
      "other is on front after network-add",
      async () => (await dig(from, "tasks.other")).answers.length === 2,
      20_000,
    );
    const after = (await lab.running("other", 2)).map((t) => t.ID).sort();
    assert.deepEqual(after, before, "same tasks, not restarted");
  });

  it("idle connections are not cut: conntrack keeps established TCP far beyond IPVS's 15 minutes", async () => {
    const from = lab.sandbox(on(await lab.running("client", 3), "node1"));
    const r = await run(
      inNs(from, ["cat", "/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established"]),
    );
    assert.ok(Number(r.stdout) > 15 * 60, `established timeout ${r.stdout.trim()} s`);
  });

  it("the ingress network follows Docker's rules: kept while used, recreated with its own subnet and MTU", async () => {
    const refused = await lab.cliRun(["network", "rm", "ingress"]);
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /ingress network cannot be removed because service \S+ depends on it/,
    );
    await lab.cli(["service", "rm", "pub", "other"]);
    // As in Docker, the network is in use until the removed services' tasks are gone.
    await waitFor(
      "ingress removable once the tasks are gone",
      async () => (await lab.cliRun(["network", "rm", "ingress"])).code === 0,
      20_000,
    );
    await lab.cli([
      "network",
      "create",
      "-d",
      "overlay",
      "--ingress",
      "--subnet",
      "10.99.0.0/24",
      "--opt",
      "com.docker.network.driver.mtu=1400",
      "mesh",
    ]);
    await lab.cli([
      "service",
      "create",
      "-q",
      "--name",
      "again",
      "--replicas",
      "2",
      "-p",
      "8282:80",
    ]);
    const again = await lab.running("again", 2);
    assert.ok(
      again.every((t) => addressOf(t).startsWith("10.99.0.")),
      JSON.stringify(again),
    );
    for (const i of [1, 2, 3]) {
      await waitFor(
        `8282 answers through node${i} on the new ingress network`,
        async () =>
          (
            await lab.probe(underlay, [
              { kind: "tcp", addr: `198.18.0.${i}`, port: 8282, timeoutMs: 2000 },
            ])
          )[0]!.ok,
        20_000,
      );
    }
    // The mesh's own leg on the new network has its MTU.
    const sbox = `${lab.node("node3").nsPrefix}sb-ingress`;
    const link = await run(inNs(sbox, ["ip", "-j", "link", "show", "eth0"]));
    assert.equal((JSON.parse(link.stdout) as { mtu: number }[])[0]!.mtu, 1400);
  });
});
