import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  checkName,
  checkNodeCount,
  DEFAULT_CONFIG,
  nodeAddress,
  planLab,
  plannedNamespaces,
} from "./plan.ts";

describe("lab plan", () => {
  it("names the real lab's nodes exactly node1..nodeN, in 198.18.0.0/15", () => {
    const plan = planLab(DEFAULT_CONFIG, 3);
    assert.deepEqual(
      plan.nodes.map((n) => [n.name, n.netns, n.address, n.prefixLength]),
      [
        ["node1", "node1", "198.18.0.1", 15],
        ["node2", "node2", "198.18.0.2", 15],
        ["node3", "node3", "198.18.0.3", 15],
      ],
    );
    assert.equal(plan.underlay.netns, "sn-lab-underlay");
    assert.equal(plan.underlay.subnet, "198.18.0.0/15");
    assert.equal(plan.stateFile, "/run/swarmnet-lab/lab.json");
    assert.deepEqual(plannedNamespaces(plan), ["sn-lab-underlay", "node1", "node2", "node3"]);
  });

  it("puts each node's socket, log, pid file and UTS file in known places", () => {
    const n = planLab(DEFAULT_CONFIG, 2).nodes[1]!;
    assert.equal(n.dataDir, "/var/lib/swarmnet-lab/node2");
    assert.equal(n.host, "unix:///var/lib/swarmnet-lab/node2/swarmnet.sock");
    assert.equal(n.dockerHost, "unix:///var/lib/swarmnet-lab/node2/docker.sock");
    assert.equal(n.log, "/var/lib/swarmnet-lab/node2/daemon.log");
    assert.equal(n.pidFile, "/var/lib/swarmnet-lab/node2/daemon.pid");
    assert.equal(n.utsFile, "/run/swarmnet-lab/uts/node2");
    assert.equal(n.nsPrefix, "sn-node2-");
    assert.equal(n.underlayIf, "node2");
  });

  it("prefixes every namespace in a test config, but not node names or interfaces", () => {
    const plan = planLab({ namePrefix: "t1-", stateDir: "/tmp/s", labDir: "/tmp/l" }, 2);
    assert.deepEqual(plannedNamespaces(plan), ["t1-sn-lab-underlay", "t1-node1", "t1-node2"]);
    assert.equal(plan.nodes[0]!.name, "node1");
    assert.equal(plan.nodes[0]!.underlayIf, "node1");
    assert.equal(plan.nodes[0]!.nsPrefix, "sn-t1-node1-");
    assert.equal(plan.nodes[0]!.utsFile, "/tmp/s/uts/t1-node1");
  });

  it("takes 1 to 9 nodes", () => {
    assert.equal(checkNodeCount(1), 1);
    assert.equal(checkNodeCount(9), 9);
    for (const bad of [0, 10, -1, 2.5, Number.NaN]) {
      assert.throws(() => checkNodeCount(bad), /a lab has 1 to 9 nodes/);
    }
    assert.equal(planLab(DEFAULT_CONFIG, 9).nodes.at(-1)!.address, "198.18.0.9");
    assert.equal(nodeAddress(4), "198.18.0.4");
  });

  it("refuses names and directories ip or a shell could misread", () => {
    assert.throws(() => checkName("a b"));
    assert.throws(() => checkName("-n"));
    assert.throws(() => checkName("../x"));
    assert.throws(() => planLab({ namePrefix: "x/", stateDir: "/s", labDir: "/l" }, 1));
    assert.throws(() => planLab({ namePrefix: "", stateDir: "rel", labDir: "/l" }, 1));
  });
});
