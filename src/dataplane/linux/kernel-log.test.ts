import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, it } from "node:test";
import { enableSandboxLogging, nfLogAllNetns, restoreSandboxLogging } from "./kernel-log.ts";

describe("nf_log_all_netns", () => {
  it("is turned on, the value found kept once, and restored only if swarmnet changed it", () => {
    const dir = mkdtempSync(`${tmpdir()}/t-nflog-`);
    try {
      const sysctl = `${dir}/sysctl`;
      writeFileSync(sysctl, "0\n");
      assert.equal(enableSandboxLogging(dir, sysctl), "on");
      assert.equal(nfLogAllNetns(sysctl), "1");
      assert.equal(enableSandboxLogging(dir, sysctl), "on"); // already on: nothing saved again
      assert.equal(readFileSync(`${dir}/nf_log_all_netns.orig`, "utf8"), "0\n");
      assert.equal(restoreSandboxLogging(dir, sysctl), true);
      assert.equal(nfLogAllNetns(sysctl), "0");
      assert.equal(restoreSandboxLogging(dir, sysctl), false);
      // Found on: never touched, nothing to restore.
      writeFileSync(sysctl, "1\n");
      assert.equal(enableSandboxLogging(dir, sysctl), "on");
      assert.equal(restoreSandboxLogging(dir, sysctl), false);
      assert.equal(enableSandboxLogging(dir, `${dir}/absent`), "unavailable");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
