import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDataplaneError } from "./errors.ts";
import {
  checkIfName,
  GATEWAY_PEER,
  gatewayPeerName,
  IFNAME_MAX,
  macFromIp,
  networkNsName,
  overlayPeerName,
  parseNsName,
  sandboxNsName,
} from "./names.ts";

describe("names", () => {
  it("names namespaces by prefix, role and the id's first 12 characters", () => {
    assert.equal(networkNsName("sn-", "abcdefghijklmnop"), "sn-net-abcdefghijkl");
    assert.equal(sandboxNsName("sn-node1-", "x1"), "sn-node1-sb-x1");
  });

  it("claims only namespaces of its own prefix", () => {
    assert.equal(parseNsName("sn-", "sn-net-abc"), "network");
    assert.equal(parseNsName("sn-", "sn-sb-abc"), "sandbox");
    assert.equal(parseNsName("sn-", "sn-node1-net-abc"), undefined, "a lab host's namespace");
    assert.equal(parseNsName("sn-node1-", "sn-node10-net-abc"), undefined);
    assert.equal(parseNsName("sn-", "sn-net-abcdefghijklm"), undefined, "longer than 12");
    assert.equal(parseNsName("sn-", "other"), undefined);
  });

  it("keeps veth peer names within IFNAMSIZ and distinct per network", () => {
    const v = overlayPeerName("task1", "net1");
    assert.ok(v.length <= IFNAME_MAX);
    assert.notEqual(v, overlayPeerName("task1", "net2"));
    assert.equal(v, overlayPeerName("task1", "net1"));
    assert.match(gatewayPeerName("task1"), GATEWAY_PEER);
  });

  it("refuses names the kernel would refuse", () => {
    for (const bad of ["", "a".repeat(16), "a/b", "a:b", "a b", ".."]) {
      assert.throws(
        () => checkIfName(bad),
        (e) => isDataplaneError(e, "DP_INVALID_NAME"),
        bad,
      );
    }
    assert.equal(checkIfName("docker_gwbridge"), "docker_gwbridge");
  });

  it("derives Docker's MAC from the IPv4 address", () => {
    assert.equal(macFromIp("10.0.1.3"), "02:42:0a:00:01:03");
    assert.equal(macFromIp("255.254.1.0"), "02:42:ff:fe:01:00");
  });
});
