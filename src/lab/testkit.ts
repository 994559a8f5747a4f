// Helpers for the lab's root tests: a unique lab config per test file, real
// traffic between nodes, and a check that nothing of a lab is left anywhere.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onNodeArgv } from "./commands.ts";
import { listNetns, run } from "./kernel.ts";
import type { LabConfig, NodePlan } from "./plan.ts";

export const IS_ROOT = process.getuid?.() === 0;

/** A config no real lab and no other test uses: its own namespace prefix and directories. */
export function testConfig(): { config: LabConfig; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "swarmnet-labtest-"));
  const prefix = `snlt${process.pid.toString(36)}${randomBytes(2).toString("hex")}-`;
  return {
    config: { namePrefix: prefix, stateDir: join(dir, "state"), labDir: join(dir, "lab") },
    dir,
  };
}

const SERVER = `const net = require("node:net"), os = require("node:os");
net.createServer((c) => c.end(os.hostname() + "\\n")).listen(Number(process.argv[1]), "0.0.0.0", () => console.log("ready"));`;

const CLIENT = `const [port, addr] = process.argv.slice(1);
const s = require("node:net").connect(Number(port), addr);
let d = ""; s.setEncoding("utf8");
s.on("data", (c) => (d += c));
s.on("end", () => console.log("OK " + d.trim()));
s.on("error", (e) => console.log("ERR " + e.code));
s.setTimeout(3000, () => { console.log("ERR TIMEOUT"); s.destroy(); });`;

/** Starts a TCP server on the node that answers every connection with the
 * node's hostname; resolves once it listens, with a function that stops it. */
export async function serveHostname(node: NodePlan, port: number): Promise<() => void> {
  const argv = onNodeArgv(node, [process.execPath, "-e", SERVER, String(port)]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      if (c.toString().includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`server on ${node.name} exited (${code})`)));
  });
  return () => child.kill("SIGKILL");
}

/** From `from`, a TCP connection to addr:port: "OK <what the peer said>" or "ERR <code>". */
export async function tcpProbe(from: NodePlan, addr: string, port: number): Promise<string> {
  const r = await run(onNodeArgv(from, [process.execPath, "-e", CLIENT, String(port), addr]), {
    timeoutMs: 10_000,
  });
  return r.stdout.trim() || `ERR exit ${r.code}: ${r.stderr.trim()}`;
}

/** Everything of this test lab still on the machine: namespaces, mounts, processes. */
export async function leftovers(config: LabConfig, dir: string): Promise<string[]> {
  const found: string[] = [];
  const agentPrefix = `sn-${config.namePrefix}`;
  for (const ns of await listNetns()) {
    if (ns.startsWith(config.namePrefix) || ns.startsWith(agentPrefix)) found.push(`netns ${ns}`);
  }
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const target = line.split(" ")[4];
    if (target?.startsWith(dir)) found.push(`mount ${target}`);
  }
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      if (cmd.includes(dir) || cmd.includes(config.namePrefix)) {
        found.push(`process ${pid}: ${cmd.replaceAll("\0", " ").trim()}`);
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}
