import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  deleteNamespacesBatch,
  dnsUpstreamArgs,
  initArgs,
  joinArgs,
  joinTokenArgs,
  namespacesBatch,
  namespacesToDelete,
  nodeBatch,
  nodeSetupArgv,
  onNodeArgv,
  parseNetnsList,
  underlayBatch,
  unlinkBatch,
} from "./commands.ts";
import { DEFAULT_CONFIG, planLab } from "./plan.ts";

const plan = planLab(DEFAULT_CONFIG, 2);
const [n1, n2] = plan.nodes as [(typeof plan.nodes)[0], (typeof plan.nodes)[0]];

describe("lab command lines", () => {
  it("creates every namespace in one ip -batch", () => {
    assert.equal(
      namespacesBatch(plan),
      "netns add sn-lab-underlay\nnetns add node1\nnetns add node2\n",
    );
  });

  it("builds the underlay bridge and one veth per node, eth0 landing in the node", () => {
    assert.equal(
      underlayBatch(plan),
      [
        "link add name br0 type bridge",
        "link set br0 up",
        "link add name node1 type veth peer name eth0 netns node1",
        "link set node1 master br0",
        "link set node1 up",
        "link add name node2 type veth peer name eth0 netns node2",
        "link set node2 master br0",
        "link set node2 up",
        "",
      ].join("\n"),
    );
  });

  it("gives a node loopback and its address, and no route out", () => {
    assert.equal(
      nodeBatch(n2),
      "link set lo up\naddr add 198.18.0.2/15 dev eth0\nlink set eth0 up\n",
    );
    assert.doesNotMatch(nodeBatch(n2), /route/);
  });

  it("sets hostname and forwarding through nsenter + unshare, the name as $1", () => {
    const argv = nodeSetupArgv(n1);
    assert.deepEqual(argv.slice(0, 4), [
      "nsenter",
      "--net=/run/netns/node1",
      "unshare",
      "--uts=/run/swarmnet-lab/uts/node1",
    ]);
    assert.equal(argv.at(-1), "node1");
    assert.match(argv[6]!, /kernel\/hostname/);
    assert.match(argv[6]!, /ip_forward/);
  });

  it("runs commands on a node with nsenter (net + UTS), never ip netns exec", () => {
    assert.deepEqual(onNodeArgv(n2, ["ip", "-br", "a"]), [
      "nsenter",
      "--net=/run/netns/node2",
      "--uts=/run/swarmnet-lab/uts/node2",
      "--",
      "ip",
      "-br",
      "a",
    ]);
  });

  it("runs init, join-token and join as a user would", () => {
    assert.deepEqual(initArgs(n1), [
      "init",
      "--advertise-addr",
      "198.18.0.1",
      "--dns-upstream",
      "none",
      "--data-dir",
      "/var/lib/swarmnet-lab/node1",
      "--host",
      "unix:///var/lib/swarmnet-lab/node1/swarmnet.sock",
    ]);
    assert.deepEqual(joinTokenArgs(n1), [
      "join-token",
      "-q",
      "worker",
      "--host",
      "unix:///var/lib/swarmnet-lab/node1/swarmnet.sock",
    ]);
    assert.deepEqual(joinArgs(n2, "TOKEN", n1), [
      "join",
      "--token",
      "TOKEN",
      "198.18.0.1:2377",
      "--dns-upstream",
      "none",
      "--data-dir",
      "/var/lib/swarmnet-lab/node2",
      "--host",
      "unix:///var/lib/swarmnet-lab/node2/swarmnet.sock",
    ]);
  });

  it("never leaves a node's DNS upstreams to the machine's resolv.conf", () => {
    assert.deepEqual(dnsUpstreamArgs([]), ["--dns-upstream", "none"]);
    assert.deepEqual(dnsUpstreamArgs(["198.18.1.250:53", "198.18.1.251:5353"]), [
      "--dns-upstream",
      "198.18.1.250:53",
      "--dns-upstream",
      "198.18.1.251:5353",
    ]);
    assert.deepEqual(joinArgs(n2, "T", n1, ["198.18.1.250:53"]).slice(4, 6), [
      "--dns-upstream",
      "198.18.1.250:53",
    ]);
  });

  it("reads ip netns list with and without ids", () => {
    assert.deepEqual(parseNetnsList("node2 (id: 1)\nnode1\n\nsn-lab-underlay (id: 0)\n"), [
      "node2",
      "node1",
      "sn-lab-underlay",
    ]);
  });

  it("deletes the agents' namespaces, then nodes, then the underlay, and nothing else", () => {
    const names = { underlayNs: "sn-lab-underlay", nodes: plan.nodes };
    const existing = [
      "node1",
      "sn-node2-sb-abc",
      "sn-node1-net-xyz",
      "sn-net-host",
      "sn-lab-underlay",
      "node10",
      "node3",
      "xa",
      "sn-node3-sb-1",
    ];
    assert.deepEqual(namespacesToDelete(names, existing), [
      "sn-node1-net-xyz",
      "sn-node2-sb-abc",
      "node1",
      "sn-lab-underlay",
    ]);
    assert.deepEqual(namespacesToDelete(names, []), []);
  });

  it("tears down links then namespaces as batch text", () => {
    assert.equal(
      unlinkBatch({ bridge: "br0", underlayIfs: ["node1", "node2"] }),
      "link del dev node1\nlink del dev node2\nlink del dev br0\n",
    );
    assert.equal(deleteNamespacesBatch(["a", "b"]), "netns del a\nnetns del b\n");
  });
});
