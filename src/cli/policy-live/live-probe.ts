// Real connections from inside a task's sandbox, for `policy test --live`:
// one short node process per sandbox and round (entered with nsenter, network
// namespace only), every probe of the round at once, one JSON line back. The
// sandbox must be on this machine: /run/netns/<node prefix>sb-<task id 12>.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";

export interface LiveProbe {
  kind: "tcp" | "udp";
  addr: string;
  port: number;
}

export interface LiveProbeResult extends LiveProbe {
  ok: boolean;
  /** Why it failed: TIMEOUT, ECONNREFUSED, EPERM, … */
  error?: string;
  /** TCP: the handshake completed (even if no line was answered after). */
  connected?: boolean;
}

/** Long enough for a cross-node first packet (ARP, VXLAN), short enough that a
 * dropped flow does not make a round slow. */
export const PROBE_TIMEOUT_MS = 1500;

// TCP: connected and a line answered (the responder answers every line), so a
// half-open or refused connection never counts as ok (`connected` says the
// handshake completed, for `reach --probe`, which asks only whether packets got there). UDP: a datagram answered on a
// connected socket (a reply from any other address is not an answer), sent
// again every 300 ms because a first datagram can be lost to ARP.
const PROBE_SCRIPT = `const net = require("node:net"), dgram = require("node:dgram");
const probes = JSON.parse(process.argv[1]), T = Number(process.argv[2]);
function tcp(p) {
  return new Promise((resolve) => {
    let over = false, buf = "", connected = false;
    const s = net.connect(p.port, p.addr);
    const done = (ok, error) => { if (over) return; over = true; clearTimeout(t); s.destroy(); resolve({ ...p, ok, error, connected }); };
    const t = setTimeout(() => done(false, "TIMEOUT"), T);
    s.setEncoding("utf8");
    s.on("connect", () => { connected = true; s.write("policy-test\\n"); });
    s.on("data", (c) => { buf += c; if (buf.includes("\\n")) done(true); });
    s.on("error", (e) => done(false, e.code || e.message));
    s.on("end", () => done(false, "EOF"));
  });
}
function udp(p) {
  return new Promise((resolve) => {
    const s = dgram.createSocket("udp4");
    let over = false, again;
    const done = (ok, error) => { if (over) return; over = true; clearTimeout(t); clearInterval(again); s.close(); resolve({ ...p, ok, error }); };
    const t = setTimeout(() => done(false, "TIMEOUT"), T);
    const send = () => { try { s.send("policy-test\\n", (e) => e && done(false, e.code || e.message)); } catch (e) { done(false, e.code || e.message); } };
    s.on("message", () => done(true));
    s.on("error", (e) => done(false, e.code || e.message));
    s.connect(p.port, p.addr, (e) => { if (e) return done(false, e.code || e.message); again = setInterval(send, 300); send(); });
  });
}
Promise.all(probes.map((p) => (p.kind === "udp" ? udp(p) : tcp(p)))).then((r) => console.log(JSON.stringify(r)));`;

/** The sandbox namespace of a task on this machine, whatever node prefix its agent uses (as `exec` finds it). */
export function localSandbox(taskId: string): string | undefined {
  if (!existsSync("/run/netns")) return undefined;
  const suffix = `sb-${taskId.slice(0, 12)}`;
  return readdirSync("/run/netns").find((n) => n.endsWith(suffix));
}

/** Runs probes inside a sandbox; one result per probe, in order. */
export function probeFrom(netns: string, probes: LiveProbe[]): Promise<LiveProbeResult[]> {
  if (probes.length === 0) return Promise.resolve([]);
  const argv = [
    "nsenter",
    `--net=/run/netns/${netns}`,
    "--",
    process.execPath,
    "-e",
    PROBE_SCRIPT,
    JSON.stringify(probes),
    String(PROBE_TIMEOUT_MS),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: PROBE_TIMEOUT_MS + 15_000,
    });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      out += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      err += c;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) {
        reject(new Error(`probing from ${netns} failed (${code}): ${err.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as LiveProbeResult[]);
      } catch {
        reject(new Error(`probing from ${netns}: unreadable answer ${JSON.stringify(out)}`));
      }
    });
  });
}
