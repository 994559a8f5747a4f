// Error classification at the boundary. Runs without root: reading a device
// that does not exist fails the same way for everyone.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isDataplaneError, isExecError, isNotFound } from "../errors.ts";
import { classify, failedLine, inNs, ip, run } from "./exec.ts";

describe("exec", () => {
  it("classifies a missing device as DP_NOT_FOUND, with stderr and argv", async () => {
    await assert.rejects(run(ip("", "link", "show", "dev", "sn-no-such0")), (e) => {
      assert.ok(isNotFound(e) && isExecError(e), String(e));
      assert.match(e.exec?.stderr ?? "", /does not exist/);
      assert.deepEqual(e.exec?.argv, ["ip", "link", "show", "dev", "sn-no-such0"]);
      assert.equal(e.exec?.exitCode, 1);
      return true;
    });
  });

  it("reports a tool that cannot start as DP_SPAWN_FAILED", async () => {
    await assert.rejects(run(["swarmnet-no-such-tool"]), (e) =>
      isDataplaneError(e, "DP_SPAWN_FAILED"),
    );
  });

  it("classifies what the tools print", () => {
    assert.equal(
      classify('Cannot open network namespace "x": No such file or directory'),
      "DP_NOT_FOUND",
    );
    assert.equal(classify("RTNETLINK answers: File exists"), "DP_EXISTS");
    assert.equal(classify("RTNETLINK answers: Operation not permitted"), "DP_PERMISSION");
    assert.equal(classify("Error: argument is wrong"), "DP_EXEC_FAILED");
  });

  it("finds the failing line of a batch or nft transaction", () => {
    assert.equal(failedLine('Cannot find device "x"\nCommand failed -:3\n'), 3);
    assert.equal(failedLine("/dev/stdin:2:23-23: Error: syntax error\n"), 2);
    assert.equal(failedLine("Error: something"), undefined);
  });

  it("runs commands in a namespace through ip -n or nsenter", () => {
    assert.deepEqual(ip("node1", "link"), ["ip", "-n", "node1", "link"]);
    assert.deepEqual(ip("", "link"), ["ip", "link"]);
    assert.deepEqual(inNs("node1", ["nft", "-f", "-"]), [
      "nsenter",
      "--net=/run/netns/node1",
      "--",
      "nft",
      "-f",
      "-",
    ]);
    assert.throws(
      () => ip("../etc", "link"),
      (e) => isDataplaneError(e, "DP_INVALID_NAME"),
    );
  });
});
