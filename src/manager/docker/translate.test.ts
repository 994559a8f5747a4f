import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  fromDockerNetworkCreate,
  fromDockerServiceSpec,
  labelsMatch,
  parseFilters,
  requestedVersion,
} from "./translate.ts";

describe("API versions", () => {
  it("takes the version from the path, the newest when there is none", () => {
    assert.deepEqual(requestedVersion("/v1.41/networks"), { version: "1.41", rest: "/networks" });
    assert.deepEqual(requestedVersion("/v1.50/_ping"), { version: "1.50", rest: "/_ping" });
    assert.deepEqual(requestedVersion("/info"), { version: "1.50", rest: "/info" });
  });

  it("refuses versions outside 1.41–1.50 in Docker's words", () => {
    assert.throws(
      () => requestedVersion("/v1.40/info"),
      /client version 1\.40 is too old\. Minimum supported API version is 1\.41/,
    );
    assert.throws(
      () => requestedVersion("/v1.51/info"),
      /client version 1\.51 is too new\. Maximum supported API version is 1\.50/,
    );
    assert.throws(() => requestedVersion("/vx/info"), /invalid API version/);
  });
});

describe("filters", () => {
  it("reads both spellings and refuses unknown keys and bad JSON", () => {
    assert.deepEqual(
      parseFilters('{"name":{"web":true,"db":false},"label":["a=b"]}', ["name", "label"]),
      new Map([
        ["name", ["web"]],
        ["label", ["a=b"]],
      ]),
    );
    assert.throws(() => parseFilters('{"colour":["red"]}', ["name"]), /invalid filter 'colour'/);
    assert.throws(() => parseFilters("{", ["name"]), /invalid filter/);
  });

  it("matches labels by key or key=value, all of them", () => {
    const labels = { "com.docker.stack.namespace": "vote", tier: "front" };
    assert.ok(labelsMatch(labels, ["com.docker.stack.namespace=vote", "tier"]));
    assert.ok(!labelsMatch(labels, ["com.docker.stack.namespace=other"]));
    assert.ok(!labelsMatch(labels, ["missing"]));
    assert.ok(labelsMatch(labels, undefined));
  });
});

describe("a Docker ServiceSpec as swarmnet's service input", () => {
  const spec = {
    Name: "web",
    Labels: { a: "b" },
    TaskTemplate: {
      ContainerSpec: {
        Image: "nginx:latest@sha256:abc",
        Labels: { c: "d" },
        Command: ["sh", "-c"],
        Args: ["sleep 1"],
      },
      Placement: {
        Constraints: ["node.role==manager"],
        Platforms: [{ Architecture: "amd64", OS: "linux" }],
      },
      Networks: [{ Target: "front", Aliases: ["www"] }],
      ForceUpdate: 0,
    },
    Mode: { Replicated: { Replicas: 3 } },
    EndpointSpec: {
      Mode: "vip",
      Ports: [{ Protocol: "tcp", TargetPort: 80, PublishedPort: 8080, PublishMode: "ingress" }],
    },
  };

  it("maps what networking needs, command then args, and nothing to warn about", () => {
    const { input, warnings } = fromDockerServiceSpec(spec);
    assert.deepEqual(input, {
      name: "web",
      labels: { a: "b" },
      containerLabels: { c: "d" },
      image: "nginx:latest@sha256:abc",
      command: ["sh", "-c", "sleep 1"],
      env: [],
      mode: { replicated: { replicas: 3 } },
      networks: [{ target: "front", aliases: ["www"] }],
      endpoint: {
        mode: "vip",
        ports: [{ protocol: "tcp", targetPort: 80, publishedPort: 8080, publishMode: "ingress" }],
      },
      placement: { constraints: ["node.role==manager"] },
    });
    assert.deepEqual(warnings, []);
    assert.deepEqual(fromDockerServiceSpec({ ...spec, Mode: { Global: {} } }).input.mode, {
      global: {},
    });
  });

  it("ignores, with a warning each, what cannot change networking", () => {
    const { warnings } = fromDockerServiceSpec({
      ...spec,
      TaskTemplate: {
        ...spec.TaskTemplate,
        ContainerSpec: {
          ...spec.TaskTemplate.ContainerSpec,
          Env: ["A=1"],
          Mounts: [{ Type: "volume" }],
        },
        Resources: { Limits: { MemoryBytes: 1 } },
        RestartPolicy: { Condition: "on-failure" },
      },
      UpdateConfig: { Parallelism: 2 },
    });
    assert.deepEqual(warnings, [
      "TaskTemplate.ContainerSpec.Mounts is not supported by swarmnet and was ignored",
      "TaskTemplate.Resources is not supported by swarmnet and was ignored",
      "TaskTemplate.RestartPolicy is not supported by swarmnet and was ignored",
      "UpdateConfig is not supported by swarmnet and was ignored",
    ]);
  });

  it("refuses what would change names, addresses or the network stack", () => {
    const container = (extra: object) => ({
      ...spec,
      TaskTemplate: {
        ...spec.TaskTemplate,
        ContainerSpec: { ...spec.TaskTemplate.ContainerSpec, ...extra },
      },
    });
    assert.throws(
      () => fromDockerServiceSpec(container({ Hosts: ["1.2.3.4 x"] })),
      /extra \/etc\/hosts/,
    );
    assert.throws(
      () => fromDockerServiceSpec(container({ DNSConfig: { Nameservers: ["1.1.1.1"] } })),
      /custom DNS settings/,
    );
    assert.throws(
      () => fromDockerServiceSpec(container({ Sysctls: { "net.ipv4.ip_forward": "1" } })),
      /sysctls/,
    );
    assert.throws(
      () => fromDockerServiceSpec({ ...spec, Mode: { ReplicatedJob: {} } }),
      /does not run jobs/,
    );
    // A sysctl outside net.* changes no networking: ignored with a warning.
    assert.deepEqual(fromDockerServiceSpec(container({ Sysctls: { "kernel.x": "1" } })).warnings, [
      "TaskTemplate.ContainerSpec.Sysctls is not supported by swarmnet and was ignored",
    ]);
  });
});

describe("a Docker network create request", () => {
  it("maps an overlay with its IPAM config, options and labels", () => {
    const { request, warnings } = fromDockerNetworkCreate({
      Name: "front",
      Driver: "overlay",
      Attachable: true,
      IPAM: {
        Driver: "default",
        Config: [
          {
            Subnet: "10.1.0.0/24",
            Gateway: "10.1.0.1",
            IPRange: "10.1.0.128/25",
            AuxiliaryAddresses: { r: "10.1.0.2" },
          },
        ],
      },
      Options: { encrypted: "" },
      Labels: { a: "b" },
    });
    assert.deepEqual(request, {
      name: "front",
      driver: "overlay",
      attachable: true,
      internal: false,
      ingress: false,
      ipam: [
        {
          subnet: "10.1.0.0/24",
          gateway: "10.1.0.1",
          ipRange: "10.1.0.128/25",
          auxAddresses: { r: "10.1.0.2" },
        },
      ],
      options: { encrypted: "" },
      labels: { a: "b" },
    });
    assert.deepEqual(warnings, []);
  });

  it("refuses IPv6, other IPAM drivers, config-only networks and local scope", () => {
    assert.throws(() => fromDockerNetworkCreate({ Name: "n", EnableIPv6: true }), /IPv4 only/);
    assert.throws(
      () => fromDockerNetworkCreate({ Name: "n", IPAM: { Driver: "dhcp" } }),
      /IPAM driver dhcp/,
    );
    assert.throws(
      () => fromDockerNetworkCreate({ Name: "n", ConfigOnly: true }),
      /configuration-only/,
    );
    assert.throws(() => fromDockerNetworkCreate({ Name: "n", Scope: "local" }), /swarm scope/);
  });
});
