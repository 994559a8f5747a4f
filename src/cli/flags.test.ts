import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { FlagSpec } from "./flags.ts";
import { keyValues, parseFlags } from "./flags.ts";

const specs: FlagSpec[] = [
  { name: "name", kind: "string", help: "" },
  { name: "replicas", kind: "int", help: "" },
  { name: "publish", short: "p", kind: "list", help: "" },
  { name: "detach", short: "d", kind: "bool", help: "" },
];

describe("flags", () => {
  it("reads Docker's spellings", () => {
    const p = parseFlags(
      ["--name=web", "-p", "80:80", "-p8081:81", "--detach=false", "--replicas", "3"],
      specs,
      "x",
    );
    assert.deepEqual(p.flags.publish, ["80:80", "8081:81"]);
    assert.equal(p.flags.name, "web");
    assert.equal(p.flags.detach, false);
    assert.equal(p.flags.replicas, 3);
  });
  it("stops at the command when not interspersed, and at --", () => {
    assert.deepEqual(parseFlags(["--name", "w", "sh", "-c", "x"], specs, "x", false).positionals, [
      "sh",
      "-c",
      "x",
    ]);
    assert.deepEqual(parseFlags(["--", "--name"], specs, "x").positionals, ["--name"]);
  });
  it("explains mistakes", () => {
    assert.throws(
      () => parseFlags(["--colour"], specs, "service create"),
      /unknown flag: --colour/,
    );
    assert.throws(() => parseFlags(["-z"], specs, "x"), /unknown shorthand flag: 'z'/);
    assert.throws(() => parseFlags(["--name"], specs, "x"), /flag needs an argument: --name/);
    assert.throws(() => parseFlags(["--replicas", "x"], specs, "x"), /invalid argument "x"/);
    assert.throws(() => keyValues(["=v"], "label"), /invalid label/);
  });
});
