// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are compose interpolation under test
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ComposeError } from "./errors.ts";
import {
  formatNotApplied,
  type LoadStackInput,
  loadStack,
  STACK_IMAGE_LABEL,
  STACK_NAMESPACE_LABEL,
  type StackPlan,
} from "./load.ts";

const VOTING = `${process.env.SWARMNET_CONFORMANCE ?? "/work/shared/conformance"}/compose/voting-app-stack.yml`;

function load(text: string, env: Record<string, string> = {}, stack = "s"): StackPlan {
  return loadStack({ stack, files: [{ file: "stack.yml", text }], env });
}

function svc(plan: StackPlan, key: string) {
  const s = plan.services.find((x) => x.key === key);
  assert.ok(s, `service ${key} in the plan`);
  return s;
}

/** Asserts a ComposeError with this exact message (position included). */
function throwsAt(f: () => unknown, message: string | RegExp) {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof ComposeError, `a ComposeError, got ${String(e)}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe("loadStack: the voting app", {
  skip: !existsSync(VOTING) && "no voting-app stack file",
}, () => {
  const plan = () =>
    loadStack({
      stack: "voting",
      files: [{ file: VOTING, text: readFileSync(VOTING, "utf8") }],
      env: {},
    });

  it("creates voting_frontend, voting_backend and voting_default, labelled with the stack", () => {
    const p = plan();
    assert.deepEqual(
      p.networks.map((n) => [n.key, n.name, n.external]),
      [
        ["backend", "voting_backend", false],
        ["default", "voting_default", false],
        ["frontend", "voting_frontend", false],
      ],
    );
    for (const n of p.networks) {
      assert.equal(n.create?.name, n.name);
      assert.equal(n.create?.driver, "overlay");
      assert.deepEqual(n.create?.labels, { [STACK_NAMESPACE_LABEL]: "voting" });
    }
  });

  it("puts each service on its networks, with its short name as an alias", () => {
    const p = plan();
    const nets = (key: string) => svc(p, key).spec.networks;
    assert.deepEqual(nets("visualizer"), [{ target: "voting_default", aliases: ["visualizer"] }]);
    assert.deepEqual(nets("vote"), [{ target: "voting_frontend", aliases: ["vote"] }]);
    assert.deepEqual(nets("redis"), [{ target: "voting_frontend", aliases: ["redis"] }]);
    assert.deepEqual(nets("result"), [{ target: "voting_backend", aliases: ["result"] }]);
    assert.deepEqual(nets("db"), [{ target: "voting_backend", aliases: ["db"] }]);
    assert.deepEqual(
      nets("worker").map((n) => n.target),
      ["voting_backend", "voting_frontend"],
    );
  });

  it("names services <stack>_<service> and labels them as docker stack deploy does", () => {
    const p = plan();
    assert.deepEqual(
      p.services.map((s) => s.name),
      [
        "voting_db",
        "voting_redis",
        "voting_result",
        "voting_visualizer",
        "voting_vote",
        "voting_worker",
      ],
    );
    const worker = svc(p, "worker").spec;
    assert.deepEqual(worker.labels, {
      APP: "VOTING",
      [STACK_NAMESPACE_LABEL]: "voting",
      [STACK_IMAGE_LABEL]: "dockersamples/examplevotingapp_worker",
    });
    assert.deepEqual(worker.containerLabels, { [STACK_NAMESPACE_LABEL]: "voting" });
  });

  it("reads ports, replicas and placement", () => {
    const p = plan();
    assert.deepEqual(svc(p, "redis").spec.endpoint.ports, [
      { protocol: "tcp", targetPort: 6379, publishedPort: 0, publishMode: "ingress" },
    ]);
    assert.deepEqual(svc(p, "vote").spec.endpoint.ports, [
      { protocol: "tcp", targetPort: 80, publishedPort: 5000, publishMode: "ingress" },
    ]);
    assert.deepEqual(svc(p, "redis").spec.mode, { replicated: { replicas: 2 } });
    assert.deepEqual(svc(p, "db").spec.mode, { replicated: { replicas: 1 } });
    assert.deepEqual(svc(p, "db").spec.placement.constraints, ["node.role == manager"]);
    // No command anywhere: every service runs the built-in responder.
    assert.ok(p.services.every((s) => s.responder && s.spec.command.length === 0));
  });

  it("lists what it does not apply, once each, sorted", () => {
    const p = plan();
    assert.deepEqual(p.notApplied, [
      "services.db.volumes",
      "services.redis.deploy.restart_policy",
      "services.redis.deploy.update_config",
      "services.result.depends_on",
      "services.result.deploy.restart_policy",
      "services.result.deploy.update_config",
      "services.visualizer.stop_grace_period",
      "services.visualizer.volumes",
      "services.vote.depends_on",
      "services.vote.deploy.restart_policy",
      "services.vote.deploy.update_config",
      "services.worker.deploy.restart_policy",
      "volumes",
    ]);
    assert.deepEqual(p.warnings, []);
    assert.match(
      formatNotApplied(p.notApplied),
      /^Ignoring options swarmnet does not apply: services\.db\.volumes, /,
    );
  });
});

describe("loadStack: interpolation", () => {
  const text = [
    "services:",
    "  web:",
    "    image: ${IMAGE:-nginx}:${TAG}",
    "    command: echo $$HOME ${GREETING-hi}",
    "    deploy:",
    "      replicas: ${REPLICAS:-3}",
    "      labels:",
    "        ${NOT_A_KEY}: x",
    "",
  ].join("\n");

  it("substitutes values, not keys, before validation", () => {
    const p = load(text, { TAG: "1.2", GREETING: "" });
    const web = svc(p, "web").spec;
    assert.equal(web.image, "nginx:1.2");
    assert.deepEqual(web.command, ["echo", "$HOME"], "$$ is a dollar; GREETING is set (empty)");
    assert.deepEqual(
      web.mode,
      { replicated: { replicas: 3 } },
      "a string from ${…} read as a number",
    );
    assert.equal(web.labels["${NOT_A_KEY}"], "x");
    assert.deepEqual(p.warnings, []);
  });

  it("warns once for an unset variable", () => {
    const p = load(`${text}  other:\n    image: x:\${TAG}\n`, { REPLICAS: "1" });
    assert.deepEqual(p.warnings, ['The "TAG" variable is not set. Defaulting to a blank string.']);
    assert.equal(svc(p, "web").spec.image, "nginx:");
  });

  it("fails with position on ${VAR:?message}", () => {
    throwsAt(
      () => load("services:\n  web:\n    image: ${IMAGE:?set IMAGE}\n"),
      "stack.yml:3:12: services.web.image: required variable IMAGE is missing a value: set IMAGE",
    );
  });

  it("refuses a replicas value that interpolates to something else than a number", () => {
    throwsAt(
      () => load(text, { REPLICAS: "many", TAG: "x" }),
      "stack.yml:6:17: services.web.deploy.replicas must be a non-negative integer",
    );
  });
});

describe("loadStack: ports", () => {
  const ports = (...specs: string[]) =>
    svc(
      load(`services:\n  web:\n    ports:\n${specs.map((s) => `      - ${s}\n`).join("")}`),
      "web",
    ).spec.endpoint.ports;

  it("reads the short syntax", () => {
    assert.deepEqual(ports('"80"', '"8080:81"', '"53:53/udp"', '"0.0.0.0:9000:90"'), [
      { protocol: "tcp", targetPort: 80, publishedPort: 0, publishMode: "ingress" },
      { protocol: "tcp", targetPort: 81, publishedPort: 8080, publishMode: "ingress" },
      { protocol: "udp", targetPort: 53, publishedPort: 53, publishMode: "ingress" },
      { protocol: "tcp", targetPort: 90, publishedPort: 9000, publishMode: "ingress" },
    ]);
  });

  it("expands ranges", () => {
    assert.deepEqual(
      ports('"8000-8002:9000-9002"').map((p) => [p.publishedPort, p.targetPort]),
      [
        [8000, 9000],
        [8001, 9001],
        [8002, 9002],
      ],
    );
    assert.deepEqual(
      ports('"7000-7001"').map((p) => [p.publishedPort, p.targetPort]),
      [
        [0, 7000],
        [0, 7001],
      ],
    );
    throwsAt(
      () => ports('"8000-8001:9000-9002"'),
      /^stack\.yml:4:9: invalid port range: 8000-8001:9000-9002/,
    );
  });

  it("refuses a host IP, which swarm mode cannot honour", () => {
    throwsAt(
      () => ports('"127.0.0.1:8080:80"'),
      /^stack\.yml:4:9: host IP 127\.0\.0\.1 in port "127\.0\.0\.1:8080:80" is not supported in swarm mode/,
    );
  });

  it("reads the long syntax", () => {
    const text = [
      "services:",
      "  web:",
      "    ports:",
      "      - target: 80",
      "        published: 8080",
      "        protocol: udp",
      "        mode: host",
      "        app_protocol: http",
      "      - target: 443",
      '        published: "8443"',
      "      - target: 22",
      "",
    ].join("\n");
    const p = load(text);
    assert.deepEqual(svc(p, "web").spec.endpoint.ports, [
      { protocol: "udp", targetPort: 80, publishedPort: 8080, publishMode: "host" },
      { protocol: "tcp", targetPort: 443, publishedPort: 8443, publishMode: "ingress" },
      { protocol: "tcp", targetPort: 22, publishedPort: 0, publishMode: "ingress" },
    ]);
    assert.deepEqual(p.notApplied, ["services.web.ports.0.app_protocol"]);
  });

  it("refuses bad long-syntax values with their position", () => {
    throwsAt(
      () => load("services:\n  web:\n    ports:\n      - target: 80\n        mode: bridge\n"),
      /^stack\.yml:5:15: services\.web\.ports\.0: invalid publish mode value \(bridge\)/,
    );
    throwsAt(
      () => load("services:\n  web:\n    ports:\n      - published: 80\n"),
      "stack.yml:4:9: services.web.ports.0 missing property target",
    );
  });

  it("refuses ingress ports on a dnsrr service, as the manager would", () => {
    throwsAt(
      () =>
        load('services:\n  web:\n    ports: ["80:80"]\n    deploy:\n      endpoint_mode: dnsrr\n'),
      /^stack\.yml:3:5: service "web": EndpointSpec: port published with ingress mode can't be used with dnsrr mode/,
    );
  });
});

describe("loadStack: several files", () => {
  const base = [
    "services:",
    "  web:",
    "    image: web:1",
    "    entrypoint: [/bin/app, --quiet]",
    "    command: [serve, --port, '80']",
    "    labels: [a=1, b=2]",
    "    ports: ['80:80']",
    "    networks: [front]",
    "    deploy:",
    "      replicas: 2",
    "      placement:",
    "        constraints: [node.role == worker]",
    "networks:",
    "  front:",
    "",
  ].join("\n");
  const override = [
    "services:",
    "  web:",
    "    image: web:2",
    "    entrypoint: [/bin/app2]",
    "    command: serve --verbose",
    "    labels:",
    "      b: two",
    "      c: '3'",
    "    ports: ['443:443', '80:80']",
    "    networks:",
    "      back:",
    "        aliases: [api]",
    "    deploy:",
    "      placement:",
    "        constraints: [node.role == worker, node.labels.zone == a]",
    "  cache:",
    "    image: redis",
    "networks:",
    "  back:",
    "    driver_opts:",
    "      encrypted: ''",
    "",
  ].join("\n");
  const plan = () =>
    loadStack({
      stack: "app",
      files: [
        { file: "a.yml", text: base },
        { file: "b.yml", text: override },
      ],
      env: {},
    });

  it("overrides scalars, replaces commands, merges mappings and appends lists", () => {
    const web = svc(plan(), "web").spec;
    assert.equal(web.image, "web:2");
    assert.deepEqual(
      web.command,
      ["/bin/app2", "serve", "--verbose"],
      "lists replaced, not appended",
    );
    assert.deepEqual(web.containerLabels, {
      a: "1",
      b: "two",
      c: "3",
      [STACK_NAMESPACE_LABEL]: "app",
    });
    assert.deepEqual(
      web.endpoint.ports.map((p) => p.targetPort),
      [80, 443],
      "80:80 given twice is one port",
    );
    assert.deepEqual(web.mode, { replicated: { replicas: 2 } });
    assert.deepEqual(web.placement.constraints, ["node.role == worker", "node.labels.zone == a"]);
    assert.deepEqual(web.networks, [
      { target: "app_back", aliases: ["web", "api"] },
      { target: "app_front", aliases: ["web"] },
    ]);
  });

  it("adds services and networks of the later file", () => {
    const p = plan();
    assert.deepEqual(
      p.services.map((s) => s.key),
      ["cache", "web"],
    );
    assert.deepEqual(
      p.networks.map((n) => n.name),
      ["app_back", "app_default", "app_front"],
    );
    assert.deepEqual(p.networks[0]!.create?.options, { encrypted: "" });
  });

  it("names the file a mistake is in", () => {
    throwsAt(
      () =>
        loadStack({
          stack: "app",
          files: [
            { file: "a.yml", text: base },
            { file: "b.yml", text: "services:\n  web:\n    imgae: x\n" },
          ],
          env: {},
        }),
      "b.yml:3:5: services.web Additional property imgae is not allowed",
    );
  });
});

describe("loadStack: networks", () => {
  it("uses external networks by name and never creates them", () => {
    const p = load(
      [
        "services:",
        "  web:",
        "    networks: [shared, legacy, own]",
        "networks:",
        "  shared:",
        "    external: true",
        "    name: proxy_net",
        "  legacy:",
        "    external:",
        "      name: old_net",
        "  own:",
        "    name: exactly-this",
        "  unused:",
        "",
      ].join("\n"),
    );
    assert.deepEqual(
      p.networks.map((n) => [n.key, n.name, n.external, n.create?.name]),
      [
        ["legacy", "old_net", true, undefined],
        ["own", "exactly-this", false, "exactly-this"],
        ["shared", "proxy_net", true, undefined],
      ],
    );
    assert.deepEqual(
      svc(p, "web").spec.networks.map((n) => n.target),
      ["exactly-this", "old_net", "proxy_net"],
    );
    assert.deepEqual(p.warnings, [
      "network legacy: external.name is deprecated. Please set name and external: true",
      "network unused is declared but no service uses it: not created",
    ]);
  });

  it("does not create the default network when no service uses it", () => {
    const p = load("services:\n  web:\n    networks: [a]\nnetworks:\n  a:\n");
    assert.deepEqual(
      p.networks.map((n) => n.name),
      ["s_a"],
    );
  });

  it("reads driver options, flags and IPAM", () => {
    const p = load(
      [
        "services:",
        "  web:",
        "networks:",
        "  default:",
        "    driver: overlay",
        "    attachable: true",
        "    internal: true",
        "    labels: [team=net]",
        "    driver_opts:",
        "      encrypted: true",
        "      com.docker.network.driver.mtu: 1400",
        "    ipam:",
        "      driver: default",
        "      config:",
        "        - subnet: 10.20.0.0/24",
        "          gateway: 10.20.0.1",
        "          ip_range: 10.20.0.128/25",
        "          aux_addresses:",
        "            router: 10.20.0.2",
        "",
      ].join("\n"),
    );
    assert.deepEqual(p.networks, [
      {
        key: "default",
        name: "s_default",
        external: false,
        create: {
          name: "s_default",
          driver: "overlay",
          attachable: true,
          internal: true,
          ipam: [
            {
              subnet: "10.20.0.0/24",
              gateway: "10.20.0.1",
              ipRange: "10.20.0.128/25",
              auxAddresses: { router: "10.20.0.2" },
            },
          ],
          options: { encrypted: "true", "com.docker.network.driver.mtu": "1400" },
          labels: { team: "net", [STACK_NAMESPACE_LABEL]: "s" },
        },
      },
    ]);
  });

  it("refuses what swarmnet cannot make, with positions", () => {
    throwsAt(
      () => load("services:\n  web:\n    networks: [b]\nnetworks:\n  b:\n    driver: bridge\n"),
      /^stack\.yml:6:13: network "b" uses driver "bridge": a stack's networks must use the overlay driver/,
    );
    throwsAt(
      () =>
        load(
          "services:\n  web:\n    networks: [b]\nnetworks:\n  b:\n    driver_opts:\n      foo: bar\n",
        ),
      /^stack\.yml:6:5: network "b": unknown option "foo" for the overlay driver/,
    );
    throwsAt(
      () =>
        load(
          "services:\n  web:\n    networks: [b]\nnetworks:\n  b:\n    external: true\n    driver: overlay\n",
        ),
      'stack.yml:7:13: conflicting parameters "external" and "driver" specified for network "b"',
    );
    throwsAt(
      () => load("services:\n  web:\n    networks:\n      - frontend\n"),
      'stack.yml:4:9: service "web" refers to undefined network frontend: invalid compose project',
    );
  });
});

describe("loadStack: services", () => {
  it("runs entrypoint + command, split as a shell would", () => {
    const p = load(
      [
        "services:",
        "  a:",
        "    entrypoint: /bin/sh -c",
        `    command: "'echo \\"hi there\\"; sleep 1'"`,
        "  b:",
        "    command: [python, -m, http.server, '8000']",
        "  c:",
        "    entrypoint: [/usr/bin/env]",
        "",
      ].join("\n"),
    );
    assert.deepEqual(svc(p, "a").spec.command, ["/bin/sh", "-c", 'echo "hi there"; sleep 1']);
    assert.deepEqual(svc(p, "b").spec.command, ["python", "-m", "http.server", "8000"]);
    assert.deepEqual(svc(p, "c").spec.command, ["/usr/bin/env"]);
    assert.ok(!svc(p, "a").responder);
    throwsAt(
      () => load("services:\n  a:\n    command: echo 'oops\n"),
      "stack.yml:3:14: services.a.command: EOF found when expecting closing quote",
    );
  });

  it("gives the responder its expose ports when there is no command", () => {
    const p = load(
      'services:\n  web:\n    ports: ["8080:80"]\n    expose: ["9000", "7000-7001/udp", 9000]\n',
    );
    const web = svc(p, "web");
    assert.ok(web.responder);
    assert.deepEqual(web.spec.command, []);
    assert.deepEqual(web.expose, [7000, 7001, 9000]);
  });

  it("reads global mode, endpoint mode, labels of both kinds and environment", () => {
    const p = load(
      [
        "services:",
        "  agent:",
        "    image: agent",
        "    labels: {role: agent}",
        "    environment:",
        "      - FROM_SHELL",
        "      - MISSING",
        "      - FIXED=1",
        "    deploy:",
        "      mode: global",
        "      endpoint_mode: dnsrr",
        "      labels: {tier: infra}",
        "",
      ].join("\n"),
      { FROM_SHELL: "yes" },
    );
    const a = svc(p, "agent");
    assert.deepEqual(a.spec.mode, { global: {} });
    assert.equal(a.spec.endpoint.mode, "dnsrr");
    assert.deepEqual(a.spec.labels, {
      tier: "infra",
      [STACK_NAMESPACE_LABEL]: "s",
      [STACK_IMAGE_LABEL]: "agent",
    });
    assert.deepEqual(a.spec.containerLabels, { role: "agent", [STACK_NAMESPACE_LABEL]: "s" });
    assert.deepEqual(a.environment, { FROM_SHELL: "yes", FIXED: "1" });
    assert.deepEqual(a.spec.env, ["FROM_SHELL=yes", "FIXED=1"]);
    assert.deepEqual(p.notApplied, []);
  });

  it("refuses replicas in global mode", () => {
    throwsAt(
      () => load("services:\n  a:\n    deploy:\n      mode: global\n      replicas: 2\n"),
      "stack.yml:5:17: replicas can only be used with replicated mode",
    );
  });

  it("ignores x- keys everywhere", () => {
    const p = load(
      [
        "x-common: &common",
        "  image: shared:1",
        "  x-note: anything",
        "services:",
        "  web:",
        "    <<: *common",
        "    x-owner: me",
        "    networks:",
        "      x-not-a-network:",
        "      net:",
        "    deploy:",
        "      x-hint: 1",
        "networks:",
        "  net:",
        "    x-whatever: {a: b}",
        "",
      ].join("\n"),
    );
    assert.equal(svc(p, "web").spec.image, "shared:1");
    assert.deepEqual(svc(p, "web").spec.networks, [{ target: "s_net", aliases: ["web"] }]);
    assert.deepEqual(p.notApplied, []);
  });

  it("catches typos with their position", () => {
    throwsAt(
      () => load("services:\n  web:\n    deploy:\n      replica: 2\n"),
      "stack.yml:4:7: services.web.deploy Additional property replica is not allowed",
    );
    throwsAt(
      () => load("servics:\n  web:\n"),
      "stack.yml:1:1: (root) Additional property servics is not allowed",
    );
    throwsAt(
      () =>
        load("services:\n  web:\n    networks:\n      a:\n        alias: [x]\nnetworks:\n  a:\n"),
      "stack.yml:5:9: services.web.networks.a Additional property alias is not allowed",
    );
  });

  it("refuses include and extends rather than ignore them", () => {
    throwsAt(
      () => load("include: [other.yml]\nservices: {}\n"),
      /^stack\.yml:1:1: include: not supported by stack deploy/,
    );
    throwsAt(
      () => load("services:\n  web:\n    extends: base\n"),
      "stack.yml:3:5: services.web.extends: not supported by stack deploy",
    );
  });

  it("reports YAML syntax errors with their position", () => {
    throwsAt(() => load("services:\n  web:\n    ports: [\n"), /^stack\.yml:4:1: /);
    throwsAt(
      () => load("services:\n  web: {}\n  web: {}\n"),
      /^stack\.yml:3:3: Map keys must be unique/,
    );
  });

  it("refuses names that do not make service names", () => {
    throwsAt(
      () => load("services:\n  web.1:\n"),
      /^stack\.yml:2:3: invalid service name "s_web\.1"/,
    );
    assert.throws(() => load("services: {}\n", {}, "bad name"), /invalid stack name "bad name"/);
  });
});

it("LoadStackInput with no files is refused", () => {
  const input: LoadStackInput = { stack: "s", files: [], env: {} };
  assert.throws(() => loadStack(input), ComposeError);
});

describe("keys Docker applies that would change how a service is wired", () => {
  it("refuses dns and extra_hosts at their key, rather than ignore them", () => {
    for (const key of [
      "dns: [192.0.2.1]",
      "dns_search: [x.test]",
      "extra_hosts: ['a:192.0.2.1']",
    ]) {
      assert.throws(
        () =>
          loadStack({
            stack: "s",
            files: [{ file: "s.yml", text: `services:\n  web:\n    image: nginx\n    ${key}\n` }],
            env: {},
          }),
        /s\.yml:4:5: services\.web\.(dns|dns_search|extra_hosts): is not supported by swarmnet/,
        key,
      );
    }
  });
});
