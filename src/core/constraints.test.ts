import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nodeMatches, parseConstraint } from "./constraints.ts";
import type { Node } from "./model.ts";

const node = (over: Partial<Node> = {}): Node => ({
  id: "n1",
  version: 1,
  createdAt: "",
  updatedAt: "",
  hostname: "node1",
  role: "worker",
  availability: "active",
  advertiseAddr: "198.18.0.1",
  dataPathAddr: "198.18.0.1",
  state: "ready",
  message: "",
  labels: { zone: "east" },
  leader: false,
  ...over,
});

describe("constraints", () => {
  it("parses the forms swarmkit accepts", () => {
    assert.deepEqual(parseConstraint("node.hostname==node1"), {
      key: "node.hostname",
      op: "==",
      value: "node1",
    });
    assert.deepEqual(parseConstraint("node.labels.zone != east"), {
      key: "node.labels.zone",
      op: "!=",
      value: "east",
    });
  });
  for (const [text, message] of [
    ["node.hostname", /expected one operator from ==, !=/],
    ["node.hostname=~x", /expected one operator/],
    ["node.hostname==a==b", /expected one operator/],
    ["node.colour==red", /unknown key 'node.colour'/],
    ["node.role==boss", /manager or worker/],
    ["node.hostname==", /value '' is invalid/],
  ] as const) {
    it(`refuses ${text}`, () => assert.throws(() => parseConstraint(text), message));
  }
  it("matches hostnames case-insensitively and labels exactly", () => {
    assert.ok(nodeMatches(node(), [parseConstraint("node.hostname==NODE1")]));
    assert.ok(!nodeMatches(node(), [parseConstraint("node.labels.zone==EAST")]));
    assert.ok(nodeMatches(node(), [parseConstraint("node.labels.missing!=x")]));
    assert.ok(!nodeMatches(node(), [parseConstraint("node.labels.missing==x")]));
    assert.ok(
      nodeMatches(node(), [parseConstraint("node.role==worker"), parseConstraint("node.id!=n2")]),
    );
  });
});
