import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_CONFIG, planLab } from "./plan.ts";
import {
  envLines,
  findNode,
  initialState,
  managerNode,
  nodeRange,
  parseState,
  serializeState,
  statusRows,
} from "./state.ts";

const state = initialState(planLab(DEFAULT_CONFIG, 3), new Date("2026-01-02T03:04:05Z"));

describe("lab state file", () => {
  it("starts as 'creating', node1 the manager, no pids yet", () => {
    assert.equal(state.phase, "creating");
    assert.equal(state.createdAt, "2026-01-02T03:04:05.000Z");
    assert.deepEqual(
      state.nodes.map((n) => [n.name, n.role, n.daemonPid]),
      [
        ["node1", "manager", null],
        ["node2", "worker", null],
        ["node3", "worker", null],
      ],
    );
    assert.equal(managerNode(state).name, "node1");
    assert.equal(findNode(state, "node3")?.address, "198.18.0.3");
    assert.equal(findNode(state, "node4"), undefined);
    assert.equal(nodeRange(state), "node1..node3");
  });

  it("round-trips through JSON", () => {
    const up = {
      ...state,
      phase: "up" as const,
      nodes: state.nodes.map((n, i) => ({ ...n, daemonPid: 100 + i })),
    };
    assert.deepEqual(parseState(serializeState(up)), up);
  });

  it("refuses what lab down must not act on", () => {
    const text = serializeState(state);
    assert.throws(() => parseState("{"), /not JSON/);
    assert.throws(() => parseState("[]"), /not an object/);
    assert.throws(() => parseState(text.replace('"version": 1', '"version": 2')), /version/);
    assert.throws(
      () => parseState(text.replace('"netns": "node2"', '"netns": "-a x"')),
      /safe name/,
    );
    assert.throws(
      () => parseState(text.replace('"utsFile": "/run', '"utsFile": "run')),
      /absolute path/,
    );
    assert.throws(
      () => parseState(text.replace('"daemonPid": null', '"daemonPid": 1')),
      /daemonPid/,
    );
    const o = JSON.parse(text);
    o.nodes = [];
    assert.throws(() => parseState(JSON.stringify(o)), /nodes/);
  });

  it("prints env lines for node1's sockets", () => {
    assert.deepEqual(
      envLines(state).filter((l) => l.startsWith("export")),
      [
        "export SWARMNET_HOST=unix:///var/lib/swarmnet-lab/node1/swarmnet.sock",
        "export DOCKER_HOST=unix:///var/lib/swarmnet-lab/node1/docker.sock",
      ],
    );
    assert.ok(envLines(state).every((l) => l.startsWith("export ") || l.startsWith("# ")));
  });

  it("status rows say pid and running/stopped, or none", () => {
    const rows = statusRows(state, (n) =>
      n.name === "node1"
        ? { pid: 42, running: true }
        : n.name === "node2"
          ? { pid: 43, running: false }
          : { pid: null, running: false },
    );
    assert.deepEqual(
      rows.map((r) => [r.Node, r.Address, r.Daemon, r.Log]),
      [
        ["node1", "198.18.0.1/15", "42 running", "/var/lib/swarmnet-lab/node1/daemon.log"],
        ["node2", "198.18.0.2/15", "43 stopped", "/var/lib/swarmnet-lab/node2/daemon.log"],
        ["node3", "198.18.0.3/15", "none", "/var/lib/swarmnet-lab/node3/daemon.log"],
      ],
    );
  });
});
