import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkNetworkRequest } from "./network-spec.ts";
import { checkServiceSpec } from "./service-spec.ts";

const nets = (ref: string) => {
  if (ref === "ov1") return "id-ov1";
  throw new Error(`network ${ref} not found`);
};

describe("network requests", () => {
  it("defaults to a non-attachable overlay", () => {
    const r = checkNetworkRequest({ name: "ov1" });
    assert.equal(r.driver, "overlay");
    assert.equal(r.attachable, false);
  });
  it("reads MTU and VXLAN id options", () => {
    const r = checkNetworkRequest({
      name: "a",
      options: { "com.docker.network.driver.mtu": "1400", encrypted: "" },
    });
    assert.equal(r.mtu, 1400);
  });
  for (const [req, message] of [
    [{ name: "" }, /must not be empty/],
    [{ name: "bad name" }, /invalid network name/],
    [{ name: "a", driver: "foo" }, /plugin "foo" not found/],
    [{ name: "a", options: { foo: "bar" } }, /unknown option "foo"/],
    [{ name: "a", options: { "com.docker.network.driver.mtu": "9" } }, /invalid MTU/],
    [{ name: "a", ingress: true, attachable: true }, /cannot be attachable/],
    [{ name: "a", driver: "macvlan" }, /parent interface/],
    [{ name: "a", ipam: [{ gateway: "10.0.0.1" }] }, /explicit --subnet/],
  ] as const) {
    it(`refuses ${JSON.stringify(req)}`, () =>
      assert.throws(() => checkNetworkRequest(req as never), message));
  }
});

describe("service specs", () => {
  it("fills Docker's defaults", () => {
    const s = checkServiceSpec({ name: "web" }, nets);
    assert.deepEqual(s.mode, { replicated: { replicas: 1 } });
    assert.equal(s.endpoint.mode, "vip");
    assert.deepEqual(s.command, []);
  });
  it("resolves networks and keeps aliases", () => {
    const s = checkServiceSpec(
      { name: "web", networks: [{ target: "ov1", aliases: ["www"] }] },
      nets,
    );
    assert.deepEqual(s.networks, [{ target: "id-ov1", aliases: ["www"] }]);
  });
  for (const [spec, message] of [
    [{ name: "web.1" }, /DNS name component/],
    [{ name: "web_" }, /DNS name component/],
    [{ name: "web", mode: { replicated: { replicas: -1 } } }, /invalid replicas value -1/],
    [{ name: "web", mode: { replicated: { replicas: 1.5 } } }, /invalid replicas value/],
    [{ name: "web", endpoint: { ports: [{ targetPort: 0 }] } }, /invalid target port/],
    [
      { name: "web", endpoint: { mode: "dnsrr", ports: [{ targetPort: 80 }] } },
      /can't be used with dnsrr mode/,
    ],
    [{ name: "web", endpoint: { mode: "rr" } }, /invalid endpoint mode/],
    [{ name: "web", placement: { constraints: ["node.hostname"] } }, /expected one operator/],
    [{ name: "web", networks: ["ov1", "ov1"] }, /same network twice/],
    [
      {
        name: "web",
        endpoint: {
          ports: [
            { targetPort: 80, publishedPort: 8080 },
            { targetPort: 81, publishedPort: 8080 },
          ],
        },
      },
      /duplicate published ports/,
    ],
  ] as const) {
    it(`refuses ${JSON.stringify(spec)}`, () =>
      assert.throws(() => checkServiceSpec(spec as never, nets), message));
  }
});
