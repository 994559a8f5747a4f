// Task processes in a real network namespace: hostname, adoption after the
// runtime is recreated (an agent restart), stop of the whole process group.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { processStartTime, TaskRuntime } from "./task-runtime.ts";

const root = process.getuid?.() === 0;

describe("task runtime", { skip: root ? false : "needs root (network namespaces)" }, () => {
  const ns = `t-rt-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "swarmnet-rt-"));
    execFileSync("ip", ["netns", "add", ns]);
  });
  after(() => {
    execFileSync("ip", ["netns", "del", ns]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs the command in the sandbox with the task name as hostname, and adopts it after a restart", async () => {
    const rt = new TaskRuntime(dir);
    const exits: string[] = [];
    const proc = rt.start({
      id: "t1",
      hostname: "web.1.t1",
      netnsPath: `/run/netns/${ns}`,
      command: ["sh", "-c", "hostname; ip -o link show | wc -l; exec sleep 300"],
    });
    for (let i = 0; i < 100 && readFileSync(proc.logPath, "utf8").split("\n").length < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const [hostname, links] = readFileSync(proc.logPath, "utf8").trim().split("\n");
    assert.equal(hostname, "web.1.t1");
    assert.equal(links?.trim(), "1", "only lo: the process is in the sandbox's namespace");
    rt.close();

    const again = new TaskRuntime(dir);
    again.onExit((id) => exits.push(id));
    const adopted = again.adopt();
    assert.deepEqual(
      adopted.map((p) => p.pid),
      [proc.pid],
    );
    await again.stop("t1", 2000);
    assert.equal(processStartTime(proc.pid), undefined);
    assert.deepEqual(exits, ["t1"]);
    assert.deepEqual(again.adopt(), []);
    again.close();
  });

  it("reports a process that exits on its own", async () => {
    const rt = new TaskRuntime(dir);
    const exited = new Promise<number | null>((resolve) => rt.onExit((_id, code) => resolve(code)));
    rt.start({
      id: "t2",
      hostname: "x",
      netnsPath: `/run/netns/${ns}`,
      command: ["sh", "-c", "exit 3"],
    });
    assert.equal(await exited, 3);
    rt.close();
  });
});
