// Nodes, networks and services through their whole life with the real CLI:
// create, list, inspect, scale, update, remove; global mode; constraints no
// node satisfies; waits that end because no agent exists yet; leave.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DockerNetwork, type DockerNode, type DockerService, Env } from "./harness.ts";

interface TaskLine {
  ID: string;
  Name: string;
  Node: string;
  DesiredState: string;
  CurrentState: string;
  Error: string;
  Addresses: string[];
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const lastLine = (text: string) => text.trimEnd().split("\n").at(-1);

/** Whether a dotted quad lies in an IPv4 CIDR. */
function inSubnet(addr: string, cidr: string): boolean {
  const num = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
  const [base, bits] = cidr.split("/");
  const size = 2 ** (32 - Number(bits));
  const n = num(addr.split("/")[0]!);
  return n >= num(base!) && n < num(base!) + size;
}

describe("service and network lifecycle", () => {
  const env = new Env();
  const nets = new Map<string, DockerNetwork>();
  let hostname = "";
  let nodeId = "";

  /** `service ps --format json`, with CurrentState cut to the state ("Assigned 2 seconds ago" ages). */
  const tasks = async (service: string) =>
    (await env.lines<TaskLine>("service", "ps", service)).map((t) => ({
      ...t,
      CurrentState: t.CurrentState.split(" ")[0]!,
    }));
  const service = async (name: string) =>
    (await env.inspect<DockerService>("service", "inspect", name))[0]!;
  /** The address a task has on a network, by subnet. */
  const addrOn = (t: TaskLine, net: string) =>
    t.Addresses.find((a) => inSubnet(a, nets.get(net)!.IPAM.Config[0]!.Subnet));

  before(async () => {
    await env.init();
    await env.ok("network", "create", "-d", "overlay", "--attachable", "ov1");
    await env.ok("network", "create", "-d", "overlay", "ov2");
    for (const n of await env.inspect<DockerNetwork>("network", "inspect", "ingress", "ov1", "ov2"))
      nets.set(n.Name, n);
    const [self] = await env.lines<{ ID: string; Hostname: string }>("node", "ls");
    hostname = self!.Hostname;
    nodeId = self!.ID;
  });
  after(() => env.cleanup());

  it("node ls shows the self node with * and Leader", async () => {
    const table = await env.ok("node", "ls");
    const [header, row, ...rest] = table.trimEnd().split("\n");
    assert.match(
      header!,
      /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION$/,
    );
    assert.equal(rest.length, 0);
    assert.match(
      row!,
      new RegExp(
        `^${nodeId} \\*\\s+${escapeRegExp(hostname)}\\s+Ready\\s+Active\\s+Leader\\s+\\S+$`,
      ),
    );
    const [json] = await env.lines<{ Self: boolean; ManagerStatus: string; Status: string }>(
      "node",
      "ls",
    );
    assert.equal(json!.Self, true);
    assert.equal(json!.ManagerStatus, "Leader");
    const [self] = await env.inspect<DockerNode>("node", "inspect", "self");
    assert.deepEqual(
      { id: self!.ID, role: self!.Spec.Role, leader: self!.ManagerStatus?.Leader },
      { id: nodeId, role: "manager", leader: true },
    );
    assert.equal(self!.Description.Hostname, hostname);
  });

  it("service create without --detach ends, explaining why it cannot converge", async () => {
    const r = await env.run(
      "service",
      "create",
      "--name",
      "web",
      "--replicas",
      "3",
      "--network",
      "ov1",
      "-p",
      "8080:80",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.trim(), /^[0-9a-z]{25}$/);
    assert.match(r.stderr, /overall progress: 0 out of 3 tasks/);
    assert.equal(
      lastLine(r.stderr),
      `service web cannot converge now (3 assigned to ${hostname}, where no agent is connected to start them); it will when that changes. Use --detach to return without waiting.`,
    );
  });

  it("service ls and ps show the service, its tasks and their addresses", async () => {
    const table = await env.ok("service", "ls");
    assert.match(table, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS\n/);
    assert.match(table, /\sweb\s+replicated\s+0\/3\s+\*:8080->80\/tcp\n/);
    const [row] = await env.lines<{ Name: string; Mode: string; Replicas: string; Ports: string }>(
      "service",
      "ls",
    );
    assert.deepEqual(
      { Name: row!.Name, Mode: row!.Mode, Replicas: row!.Replicas, Ports: row!.Ports },
      { Name: "web", Mode: "replicated", Replicas: "0/3", Ports: "*:8080->80/tcp" },
    );
    const ps = await env.ok("service", "ps", "web");
    assert.match(ps, /^ID\s+NAME\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\n/);
    const list = await tasks("web");
    assert.deepEqual(
      list.map((t) => [t.Name, t.Node, t.DesiredState]),
      [1, 2, 3].map((i) => [`web.${i}`, hostname, "Running"]),
    );
    for (const t of list) {
      assert.equal(t.CurrentState, "Assigned");
      assert.ok(
        addrOn(t, "ingress") && addrOn(t, "ov1"),
        `${t.Name} is on ingress and ov1: ${t.Addresses}`,
      );
    }
    const svc = await service("web");
    assert.deepEqual(
      svc.Endpoint.VirtualIPs.map((v) => v.NetworkID).sort(),
      [nets.get("ingress")!.Id, nets.get("ov1")!.Id].sort(),
    );
    const all = [
      ...list.flatMap((t) => t.Addresses),
      ...svc.Endpoint.VirtualIPs.map((v) => v.Addr),
    ];
    assert.equal(new Set(all).size, all.length, `addresses are distinct: ${all}`);
    assert.ok(
      !all.some((a) => a.startsWith("10.0.1.1/") || a.startsWith("10.0.0.1/")),
      "no gateway handed out",
    );
  });

  it("scales 3 -> 5 -> 2 -> 5 with slots 1..N, keeping the tasks it keeps", async () => {
    const vips = (await service("web")).Endpoint.VirtualIPs.map((v) => v.Addr);
    const at3 = await tasks("web");
    const check = async (n: number) => {
      const out = await env.ok("service", "scale", "--detach", `web=${n}`);
      assert.equal(out.trim(), `web scaled to ${n}`);
      const list = await tasks("web");
      assert.deepEqual(
        list.map((t) => t.Name),
        Array.from({ length: n }, (_, i) => `web.${i + 1}`),
      );
      const addrs = list.map((t) => addrOn(t, "ov1")!);
      assert.equal(
        new Set([...addrs, ...vips]).size,
        n + vips.length,
        `distinct addresses: ${addrs}`,
      );
      for (const a of addrs) assert.ok(inSubnet(a, "10.0.1.0/24"), a);
      return list;
    };
    const at5 = await check(5);
    assert.deepEqual(at5.slice(0, 3), at3, "scaling up leaves existing tasks alone");
    const at2 = await check(2);
    assert.deepEqual(at2, at3.slice(0, 2), "scaling down removes the highest slots");
    await check(5);
    assert.equal((await service("web")).Spec.Mode.Replicated?.Replicas, 5);
  });

  it("frees addresses on scale-down and remove: a full /29 can be refilled", async () => {
    await env.ok("network", "create", "--subnet", "10.9.9.0/29", "tiny");
    // .1 is the gateway, .7 broadcast: 5 usable, one is the VIP, so 4 tasks fill it.
    await env.ok(
      "service",
      "create",
      "--detach",
      "--name",
      "small",
      "--network",
      "tiny",
      "--replicas",
      "4",
    );
    const before = await env.apiState();
    const message = await env.fails("service", "scale", "--detach", "small=5");
    assert.equal(
      message,
      'Error response from daemon: no available IP addresses on network "tiny" (10.9.9.0/29, 5 usable addresses, all in use)',
    );
    assert.deepEqual(await env.apiState(), before, "a refused scale changes nothing");
    await env.ok("service", "scale", "--detach", "small=1");
    await env.ok("service", "scale", "--detach", "small=4");
    const addrs = (await tasks("small")).flatMap((t) => t.Addresses);
    const vip = (await service("small")).Endpoint.VirtualIPs[0]!.Addr;
    assert.deepEqual([...addrs, vip].sort(), [
      "10.9.9.2/29",
      "10.9.9.3/29",
      "10.9.9.4/29",
      "10.9.9.5/29",
      "10.9.9.6/29",
    ]);
    assert.equal((await env.ok("service", "rm", "small")).trim(), "small");
    await env.ok(
      "service",
      "create",
      "--detach",
      "--name",
      "small2",
      "--network",
      "tiny",
      "--replicas",
      "4",
    );
    await env.ok("service", "rm", "small2");
    await env.ok("network", "rm", "tiny");
  });

  it("update: labels keep the tasks; ports, networks and replicas apply", async () => {
    const before = await tasks("web");
    assert.equal(
      (await env.ok("service", "update", "--detach", "--label-add", "team=blue", "web")).trim(),
      "web",
    );
    let svc = await service("web");
    assert.deepEqual(svc.Spec.Labels, { team: "blue" });
    assert.deepEqual(
      (await tasks("web")).map((t) => t.ID),
      before.map((t) => t.ID),
      "a label change does not replace tasks",
    );

    await env.ok("service", "update", "--detach", "--publish-add", "8081:81", "web");
    svc = await service("web");
    assert.deepEqual(
      svc.Endpoint.Ports.map((p) => `${p.PublishedPort}->${p.TargetPort}/${p.Protocol}`).sort(),
      ["8080->80/tcp", "8081->81/tcp"],
    );
    const row = (await env.lines<{ Name: string; Ports: string }>("service", "ls")).find(
      (s) => s.Name === "web",
    );
    assert.equal(row!.Ports, "*:8080->80/tcp, *:8081->81/tcp");

    await env.ok("service", "update", "--detach", "--network-add", "ov2", "--replicas", "4", "web");
    svc = await service("web");
    assert.equal(svc.Spec.Mode.Replicated?.Replicas, 4);
    assert.deepEqual(
      svc.Spec.TaskTemplate.Networks.map((n) => n.Target),
      [nets.get("ov1")!.Id, nets.get("ov2")!.Id],
    );
    const ov2Vip = svc.Endpoint.VirtualIPs.find((v) => v.NetworkID === nets.get("ov2")!.Id);
    assert.ok(ov2Vip && inSubnet(ov2Vip.Addr, "10.0.2.0/24"), "a VIP on ov2");
    const list = await tasks("web");
    assert.deepEqual(
      list.map((t) => t.Name),
      ["web.1", "web.2", "web.3", "web.4"],
    );
    for (const t of list)
      assert.ok(addrOn(t, "ov2"), `${t.Name} has an ov2 address: ${t.Addresses}`);
    const onOv2 = [...list.map((t) => addrOn(t, "ov2")), ov2Vip.Addr];
    assert.equal(new Set(onOv2).size, onOv2.length);
    // Docker's network inspect has no list of services; the native API still says who uses ov2.
    const inspected = await env.api<{ services: string[] }>("/v1/networks/ov2");
    assert.deepEqual(inspected.services, ["web"]);
  });

  it("update keeps a dynamically published port where it is", async () => {
    const published = async () =>
      (await service("dyn")).Endpoint.Ports.map((p) => `${p.PublishedPort}->${p.TargetPort}`);
    await env.ok("service", "create", "--detach", "--name", "dyn", "-p", "80");
    assert.deepEqual(await published(), ["30000->80"]);
    await env.ok("service", "update", "--detach", "--label-add", "a=b", "dyn");
    assert.deepEqual(await published(), ["30000->80"], "a label change moves no port");
    await env.ok("service", "update", "--detach", "--publish-add", "81", "dyn");
    assert.deepEqual(await published(), ["30000->80", "30001->81"]);
    await env.ok("service", "rm", "dyn");
  });

  it("global mode runs one task per node", async () => {
    await env.ok(
      "service",
      "create",
      "--detach",
      "--name",
      "everywhere",
      "--mode",
      "global",
      "--network",
      "ov2",
    );
    const list = await tasks("everywhere");
    assert.equal(list.length, 1);
    assert.equal(list[0]!.Name, `everywhere.${nodeId}`);
    assert.equal(list[0]!.Node, hostname);
    assert.ok(addrOn(list[0]!, "ov2"));
    const row = (
      await env.lines<{ Name: string; Mode: string; Replicas: string }>("service", "ls")
    ).find((s) => s.Name === "everywhere");
    assert.deepEqual(
      { Mode: row!.Mode, Replicas: row!.Replicas },
      { Mode: "global", Replicas: "0/1" },
    );
    const r = await env.run("service", "scale", "--detach", "everywhere=2");
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /scale can only be used with replicated or replicated-job mode/);
    await env.ok("service", "rm", "everywhere");
  });

  it("a constraint no node satisfies leaves tasks pending, with Docker's reason", async () => {
    const reason = "no suitable node (scheduling constraints not satisfied on 1 node)";
    await env.ok(
      "service",
      "create",
      "--detach",
      "--name",
      "pinned",
      "--replicas",
      "2",
      "--constraint",
      "node.hostname==nope",
    );
    const list = await tasks("pinned");
    assert.equal(list.length, 2);
    for (const t of list) {
      assert.equal(t.Node, "");
      assert.equal(t.CurrentState, "Pending");
      assert.equal(t.Error, `"${reason}"`);
    }
    assert.ok(
      (await env.ok("service", "ps", "pinned")).includes(`"${reason}"`),
      "the table shows the reason",
    );

    const r = await env.run(
      "service",
      "create",
      "--name",
      "pinned2",
      "--constraint",
      "node.hostname==nope",
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      lastLine(r.stderr),
      `service pinned2 cannot converge now (1 pending: ${reason}); it will when that changes. Use --detach to return without waiting.`,
    );

    const scaled = await env.run("service", "scale", "pinned=3");
    assert.equal(scaled.code, 0, scaled.stderr);
    assert.equal(scaled.stdout.trim(), "pinned scaled to 3");
    assert.match(scaled.stderr, /cannot converge now \(3 pending/);
    await env.ok("service", "rm", "pinned", "pinned2");
  });

  it("every list and inspect takes --format json (and --json)", async () => {
    const lists = [
      ["network", "ls"],
      ["service", "ls"],
      ["service", "ps", "web"],
      ["node", "ls"],
    ];
    const inspects = [
      ["network", "inspect", "ov1", "ov2"],
      ["service", "inspect", "web"],
      ["node", "inspect", "self"],
    ];
    await Promise.all([
      ...lists.map(async (args) => {
        const rows = await env.lines(...args);
        assert.ok(rows.length > 0, `${args.join(" ")} lists something`);
        const alias = (await env.ok(...args, "--json"))
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l));
        assert.deepEqual(
          alias.map((r) => r.ID),
          rows.map((r) => r.ID),
        );
      }),
      ...inspects.map(async (args) => {
        // Docker spells it Id on networks and ID on swarm objects.
        const idOf = (o: { ID?: string; Id?: string }) => o.ID ?? o.Id;
        const objects = await env.inspect<{ ID?: string; Id?: string }>(...args);
        assert.equal(objects.length, args.length - 2, args.join(" "));
        for (const o of objects) assert.match(idOf(o) ?? "", /^[0-9a-z]{25}$/, args.join(" "));
        assert.deepEqual(JSON.parse(await env.ok(...args, "--json")).map(idOf), objects.map(idOf));
      }),
    ]);
  });

  it("--format takes Go templates, on inspects and on lists", async () => {
    // The literal `\t` a shell passes through single quotes, as Docker reads it.
    const tab = "\\t";
    assert.equal(
      await env.ok(
        "network",
        "inspect",
        "ov1",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
      ),
      "10.0.1.0/24\n",
    );
    assert.equal(
      await env.ok("network", "inspect", "ov1", "ov2", "-f", "{{.Name}} {{.Driver}} {{.Scope}}"),
      "ov1 overlay swarm\nov2 overlay swarm\n",
    );
    const vxlan = '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}';
    assert.match(await env.ok("network", "inspect", "ov1", "--format", vxlan), /^\d{4,}\n$/);

    const names = (await env.lines<{ Name: string }>("network", "ls")).map((n) => n.Name);
    assert.ok(names.includes("ov1") && names.includes("ov2"), `${names}`);
    assert.deepEqual(
      (await env.ok("network", "ls", "--format", "{{.Name}}")).trimEnd().split("\n"),
      names,
    );

    const svcTable = await env.ok(
      "service",
      "ls",
      "--format",
      `table {{.Name}}${tab}{{.Replicas}}`,
    );
    const [header, ...rows] = svcTable.trimEnd().split("\n");
    assert.match(header!, /^NAME\s+REPLICAS$/);
    assert.deepEqual(
      rows.map((r) => r.split(/\s+/)),
      [["web", "0/4"]],
    );
    assert.equal(
      await env.ok("service", "ls", "--format", `{{.Name}}${tab}{{.Mode}}`),
      "web\treplicated\n",
    );
    assert.equal(
      await env.ok("service", "ps", "web", "--format", "{{.Name}}"),
      "web.1\nweb.2\nweb.3\nweb.4\n",
    );
    assert.equal(
      await env.ok(
        "service",
        "inspect",
        "web",
        "--format",
        "{{.Spec.Name}} {{.Spec.Mode.Replicated.Replicas}} {{json .Spec.Labels}} {{len .Endpoint.VirtualIPs}}",
      ),
      'web 4 {"team":"blue"} 3\n',
    );
    assert.equal(
      await env.ok(
        "service",
        "inspect",
        "web",
        "--format",
        "{{range .Endpoint.Ports}}{{.PublishedPort}}:{{.TargetPort}}/{{.Protocol | upper}} {{end}}",
      ),
      "8080:80/TCP 8081:81/TCP \n",
    );

    assert.equal(
      await env.ok("node", "inspect", "self", "--format", "{{.ManagerStatus.Leader}}"),
      "true\n",
    );
    assert.equal(
      await env.ok(
        "node",
        "inspect",
        "self",
        "--format",
        "{{.Spec.Role}} {{.Description.Hostname}}",
      ),
      `manager ${hostname}\n`,
    );
    assert.equal(await env.ok("node", "ls", "--format", "{{.Hostname}}"), `${hostname}\n`);
  });

  it("--format refuses a broken template with one line and exit 1", async () => {
    const broken = "{{range .IPAM.Config}}{{.Subnet}}";
    const r = await env.run("network", "inspect", "ov1", "--format", broken);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, `template: unexpected EOF (missing {{end}}) in "${broken}"\n`);
    for (const args of [
      ["network", "ls", "--format", "{{range .Name}}"],
      ["service", "ls", "--format", "table {{.Name}}{{end}}"],
      ["node", "inspect", "self", "--format", "{{.Spec.Nope}}"],
      ["service", "inspect", "web", "--format", "{{frobnicate .ID}}"],
    ]) {
      const message = await env.fails(...args);
      assert.match(message, /^template: /, args.join(" "));
    }
  });

  it("service rm frees the VIPs and task addresses: the networks can go", async () => {
    const r = await env.run("network", "rm", "ov1");
    assert.notEqual(r.code, 0);
    assert.equal((await env.ok("service", "rm", "web")).trim(), "web");
    assert.deepEqual(await env.lines("service", "ls"), []);
    const ps = await env.run("service", "ps", "web");
    assert.notEqual(ps.code, 0);
    assert.match(ps.stderr, /no such service: web/);
    assert.equal((await env.ok("network", "rm", "ov1", "ov2")).trim(), "ov1\nov2");
    // With web gone nothing publishes a port, so even ingress could go; a new ov1 reuses 10.0.1.0/24.
    await env.ok("network", "create", "ov1");
    const [ov1] = await env.inspect<DockerNetwork>("network", "inspect", "ov1");
    assert.equal(ov1!.IPAM.Config[0]!.Subnet, "10.0.1.0/24");
  });

  it("leave refuses without --force; with it, the state is erased", async () => {
    const message = await env.fails("leave");
    assert.equal(
      message,
      "Error response from daemon: You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.",
    );
    assert.ok((await env.lines("network", "ls")).length > 0, "still a manager");
    assert.equal((await env.ok("leave", "--force")).trim(), "Node left the swarm.");
    const notManager =
      'Error response from daemon: This node is not a swarm manager. Use "swarmnet init" or "swarmnet join" to connect this node to swarm and try again.';
    for (const args of [
      ["network", "ls"],
      ["service", "ls"],
      ["node", "ls"],
    ]) {
      assert.equal(await env.fails(...args), notManager, args.join(" "));
    }
    // The daemon stays up and can start a new swarm from scratch.
    await env.init();
    const names = (await env.lines<{ Name: string; Subnet: string }>("network", "ls")).map(
      (n) => `${n.Name} ${n.Subnet}`,
    );
    assert.deepEqual(names.sort(), [
      "docker_gwbridge 172.18.0.0/16",
      "host ",
      "ingress 10.0.0.0/24",
      "none ",
    ]);
  });
});
