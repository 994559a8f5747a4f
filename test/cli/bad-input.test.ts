// Every bad input the issue lists: a non-zero exit, one clear line on stderr
// (Docker's words where Docker has the same error), and the state untouched —
// checked on the whole API state after each one, and on the CLI's own lists
// before and after the lot. Then the allocator is probed: nothing a refused
// request half-took (ports, addresses, subnets, VXLAN ids) stays taken.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type DockerNetwork, Env, vxlanId } from "./harness.ts";

const DAEMON = "Error response from daemon: ";

/** What `network ls`, `service ls` and every service's tasks show; task ages left out. */
async function cliSnapshot(env: Env): Promise<unknown> {
  const networks = await env.lines("network", "ls");
  const services = await env.lines<{ Name: string }>("service", "ls");
  const tasks = [];
  for (const s of services) {
    for (const t of await env.lines("service", "ps", s.Name)) {
      const { CurrentState: _age, ...rest } = t;
      tasks.push(rest);
    }
  }
  return { networks, services, tasks };
}

describe("bad input is refused cleanly and changes nothing", () => {
  const env = new Env();
  let baseline: unknown;
  let cliBefore: unknown;
  let webId = "";
  let ingressId = "";

  before(async () => {
    await env.init();
    await env.ok("network", "create", "-d", "overlay", "--attachable", "ov1");
    await env.ok("network", "create", "-d", "overlay", "ov2");
    webId = (
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
        "-p",
        "8080:80",
      )
    ).trim();
    ingressId = (await env.inspect<DockerNetwork>("network", "inspect", "ingress"))[0]!.Id;
    assert.match(ingressId, /^[0-9a-z]{25}$/);
    baseline = await env.apiState();
    cliBefore = await cliSnapshot(env);
  });
  after(() => env.cleanup());

  /** Runs a command that must fail and checks its one line against `expected`. */
  async function refused(args: string[], expected: string | RegExp): Promise<void> {
    const message = await env.fails(...args);
    if (typeof expected === "string") assert.equal(message, expected, `swarmnet ${args.join(" ")}`);
    else assert.match(message, expected, `swarmnet ${args.join(" ")}`);
  }

  /** Runs refusals side by side (each must fail on its own), then checks the state is untouched. */
  async function allRefused(...runs: Promise<void>[]): Promise<void> {
    const results = await Promise.allSettled(runs);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
    assert.deepEqual(await env.apiState(), baseline, "a refused command changed the state");
  }

  describe("network create", () => {
    it("refuses an invalid CIDR", async () => {
      await allRefused(
        refused(
          ["network", "create", "--subnet", "10.0.300.0/24", "n1"],
          `${DAEMON}invalid CIDR address: 10.0.300.0/24`,
        ),
        refused(
          ["network", "create", "--subnet", "banana", "n1"],
          `${DAEMON}invalid CIDR address: banana`,
        ),
      );
    });

    it("refuses a gateway, ip-range or aux-address outside the subnet", async () => {
      await allRefused(
        refused(
          ["network", "create", "--subnet", "10.5.0.0/24", "--gateway", "10.6.0.1", "n1"],
          `${DAEMON}no matching subnet for gateway 10.6.0.1`,
        ),
        refused(
          ["network", "create", "--subnet", "10.5.0.0/24", "--ip-range", "10.6.0.0/25", "n1"],
          `${DAEMON}no matching subnet for range 10.6.0.0/25`,
        ),
        refused(
          ["network", "create", "--subnet", "10.5.0.0/24", "--aux-address", "host1=10.6.0.3", "n1"],
          `${DAEMON}no matching subnet for aux-address 10.6.0.3`,
        ),
      );
    });

    it("refuses a subnet overlapping another network, ingress included", async () => {
      const overlap = `${DAEMON}Pool overlaps with other one on this address space`;
      await allRefused(
        ...["10.0.1.0/24", "10.0.1.128/25", "10.0.0.0/24", "10.0.0.0/16"].map((subnet) =>
          refused(["network", "create", "--subnet", subnet, "n1"], overlap),
        ),
      );
    });

    it("refuses an unknown driver or option, and a bad MTU", async () => {
      await allRefused(
        refused(
          ["network", "create", "-d", "foo", "n1"],
          /^Error response from daemon: plugin "foo" not found/,
        ),
        refused(
          ["network", "create", "-o", "foo=bar", "n1"],
          /^Error response from daemon: unknown option "foo" for the overlay driver/,
        ),
        ...["abc", "10", "70000", "-1"].map((mtu) =>
          refused(
            ["network", "create", "-o", `com.docker.network.driver.mtu=${mtu}`, "n1"],
            `${DAEMON}invalid MTU "${mtu}": must be a number between 68 and 65535`,
          ),
        ),
      );
    });

    it("refuses a duplicate name and a second ingress network", async () => {
      await allRefused(
        refused(["network", "create", "ov1"], `${DAEMON}network with name ov1 already exists`),
        refused(
          ["network", "create", "--ingress", "ingress2"],
          `${DAEMON}ingress network (${ingressId}) is already present`,
        ),
      );
    });

    it("refuses an unknown flag and a missing name", async () => {
      await allRefused(
        refused(
          ["network", "create", "--bogus", "n1"],
          "unknown flag: --bogus (see 'swarmnet network create --help')",
        ),
        refused(
          ["network", "create"],
          '"swarmnet network create" requires at least 1 argument (NETWORK)',
        ),
        refused(
          ["network", "create", "--subnet"],
          "flag needs an argument: --subnet (see 'swarmnet network create --help')",
        ),
      );
    });
  });

  describe("network rm", () => {
    it("refuses a network in use by a service", async () => {
      await allRefused(
        refused(["network", "rm", "ov1"], `${DAEMON}network ov1 is in use by service web`),
      );
    });

    it("refuses the ingress network while a service publishes a port", async () => {
      await allRefused(
        refused(
          ["network", "rm", "ingress"],
          `${DAEMON}ingress network cannot be removed because service web depends on it`,
        ),
      );
    });

    it("refuses predefined networks", async () => {
      await allRefused(
        ...["docker_gwbridge", "host", "none"].map((name) =>
          refused(
            ["network", "rm", name],
            `${DAEMON}${name} is a pre-defined network and cannot be removed`,
          ),
        ),
      );
    });

    it("refuses an unknown network and a missing argument", async () => {
      await allRefused(
        refused(["network", "rm", "nope"], `${DAEMON}network nope not found`),
        refused(["network", "rm"], '"swarmnet network rm" requires at least 1 argument (NETWORK)'),
      );
    });
  });

  describe("service create", () => {
    const create = (...args: string[]) => [
      "service",
      "create",
      "--detach",
      "--name",
      "w2",
      ...args,
    ];

    it("refuses a duplicate name", async () => {
      await allRefused(
        refused(
          ["service", "create", "--detach", "--name", "web"],
          `${DAEMON}service web already exists`,
        ),
      );
    });

    it("refuses negative or non-numeric replicas", async () => {
      await allRefused(
        refused(
          create("--replicas", "-1"),
          "invalid replicas value -1: must be a non-negative integer",
        ),
        refused(
          create("--replicas", "two"),
          "invalid replicas value two: must be a non-negative integer",
        ),
      );
    });

    it("refuses ports outside 1-65535", async () => {
      await allRefused(
        refused(create("-p", "70000:80"), "invalid hostPort: 70000 (must be between 1 and 65535)"),
        refused(create("-p", "0:80"), "invalid hostPort: 0 (must be between 1 and 65535)"),
        refused(
          create("-p", "80:99999"),
          "invalid containerPort: 99999 (must be between 1 and 65535)",
        ),
        refused(create("-p", "80:0"), "invalid containerPort: 0 (must be between 1 and 65535)"),
        refused(
          create("-p", "published=65536,target=80"),
          "invalid published port: 65536 (must be between 1 and 65535)",
        ),
      );
    });

    it("refuses an unknown network, and networks services cannot use", async () => {
      await allRefused(
        refused(create("--network", "nope"), `${DAEMON}network nope not found`),
        refused(create("--network", "ov1", "--network", "nope"), `${DAEMON}network nope not found`),
        refused(
          create("--network", "docker_gwbridge"),
          /^Error response from daemon: The network docker_gwbridge cannot be used with services\./,
        ),
        refused(
          create("--network", "ingress"),
          `${DAEMON}service cannot be explicitly attached to the ingress network "ingress"`,
        ),
      );
    });

    it("refuses malformed constraints", async () => {
      const oneOp = (c: string) =>
        `${DAEMON}invalid constraint '${c}': constraint expected one operator from ==, !=`;
      await allRefused(
        ...["node.hostname", "node.hostname=~x", "node.hostname==a==b"].map((c) =>
          refused(create("--constraint", c), oneOp(c)),
        ),
        refused(
          create("--constraint", "node.colour==red"),
          /invalid constraint 'node.colour==red': unknown key/,
        ),
        refused(
          create("--constraint", "node.role==boss"),
          `${DAEMON}invalid constraint 'node.role==boss': node.role must be manager or worker`,
        ),
      );
    });

    it("refuses dnsrr with a port published in ingress mode", async () => {
      await allRefused(
        refused(
          create("--endpoint-mode", "dnsrr", "-p", "8181:80"),
          `${DAEMON}EndpointSpec: port published with ingress mode can't be used with dnsrr mode`,
        ),
      );
    });

    it("refuses a port another service publishes, even after ports it could take", async () => {
      const inUse = `${DAEMON}port '8080' is already in use by service 'web' (${webId}) as an ingress port`;
      await allRefused(
        refused(create("-p", "8080:80"), inUse),
        refused(create("-p", "9090:80", "-p", "8080:81"), inUse),
        refused(
          create("-p", "8080:80", "-p", "8080:81"),
          /duplicate published ports provided \(8080\/tcp\)/,
        ),
      );
    });

    it("refuses an unknown flag, a bad mode and a missing name", async () => {
      await allRefused(
        refused(
          ["service", "create", "--colour", "red"],
          "unknown flag: --colour (see 'swarmnet service create --help')",
        ),
        refused(
          create("--mode", "sometimes"),
          'invalid mode "sometimes": must be replicated or global',
        ),
        refused(
          ["service", "create", "--detach"],
          `${DAEMON}service name must not be empty (use --name)`,
        ),
      );
    });
  });

  describe("service scale, update, rm", () => {
    it("refuses negative replicas", async () => {
      await allRefused(
        refused(
          ["service", "scale", "--detach", "web=-1"],
          "invalid replicas value -1 for service web: must be a non-negative integer",
        ),
        refused(
          ["service", "update", "--detach", "--replicas", "-1", "web"],
          "invalid replicas value -1: must be a non-negative integer",
        ),
      );
    });

    it("refuses a bad scale specifier, an unknown service and a missing argument", async () => {
      await allRefused(
        refused(["service", "scale", "web"], "invalid scale specifier 'web'."),
        refused(["service", "scale", "--detach", "nope=2"], `${DAEMON}service nope not found`),
        refused(
          ["service", "scale"],
          '"swarmnet service scale" requires at least 1 argument (SERVICE=REPLICAS)',
        ),
        refused(["service", "rm", "nope"], `${DAEMON}service nope not found`),
        refused(["service", "rm"], '"swarmnet service rm" requires at least 1 argument (SERVICE)'),
      );
    });

    it("refuses bad updates: ports, networks, constraints, mode", async () => {
      const update = (...args: string[]) => ["service", "update", "--detach", ...args, "web"];
      await allRefused(
        refused(
          update("--publish-add", "70000:80"),
          "invalid hostPort: 70000 (must be between 1 and 65535)",
        ),
        refused(update("--network-add", "nope"), `${DAEMON}network nope not found`),
        refused(
          update("--network-add", "ov1"),
          `${DAEMON}service cannot be attached to the same network twice`,
        ),
        refused(
          update("--constraint-add", "node.hostname"),
          `${DAEMON}invalid constraint 'node.hostname': constraint expected one operator from ==, !=`,
        ),
        refused(
          update("--endpoint-mode", "dnsrr"),
          `${DAEMON}EndpointSpec: port published with ingress mode can't be used with dnsrr mode`,
        ),
      );
    });
  });

  describe("the command line itself", () => {
    it("refuses unknown commands and flags", async () => {
      await allRefused(
        refused(["frobnicate"], "unknown command \"frobnicate\" (see 'swarmnet --help')"),
        refused(["network", "frobnicate"], 'unknown command "frobnicate" for "swarmnet network"'),
        refused(["--bogus", "network", "ls"], "unknown flag: --bogus (see 'swarmnet --help')"),
        refused(
          ["network", "ls", "--format", "yaml"],
          'unsupported format "yaml": use table, json or a Go template',
        ),
        refused(
          ["network", "inspect", "ov1", "--format", "{{range .IPAM.Config}}{{.Subnet}}"],
          'template: unexpected EOF (missing {{end}}) in "{{range .IPAM.Config}}{{.Subnet}}"',
        ),
      );
    });
  });

  describe("afterwards", () => {
    it("the CLI's lists are unchanged", async () => {
      assert.deepEqual(await cliSnapshot(env), cliBefore);
    });

    it("nothing a refused request half-took stays taken", async () => {
      // The refused `-p 9090:80 -p 8080:81` must not keep 9090.
      await env.ok("service", "create", "--detach", "--name", "w9", "-p", "9090:80");
      // Refused networks took no subnet and no VXLAN id: ov1 and ov2 have 10.0.1 and 10.0.2.
      await env.ok("network", "create", "ov3");
      const [ov3] = await env.inspect<DockerNetwork>("network", "inspect", "ov3");
      assert.equal(ov3!.IPAM.Config[0]!.Subnet, "10.0.3.0/24");
      assert.equal(vxlanId(ov3!), 4099);
    });
  });
});
