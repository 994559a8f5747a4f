// Traffic the throughput benchmarks share: an echo server to run in a
// namespace, and an iperf3 client run that waits for its server.
import { setTimeout as sleep } from "node:timers/promises";
import { run } from "../src/lab/kernel.ts";
import { nsArgv, stopped } from "./lab-driver.ts";

/** `node -e ECHO_SERVER PORT`: echoes every byte back, Nagle off. */
export const ECHO_SERVER = `const net = require("node:net");
net.createServer((c) => { c.setNoDelay(true); c.on("data", (d) => c.write(d)); c.on("error", () => {}); })
  .listen(Number(process.argv[1]), "0.0.0.0");`;

export interface IperfResult {
  gbps: number;
  retransmits: number;
}

/** One iperf3 TCP run from `clientNs` to addr:port for `seconds`. */
export async function iperf(
  clientNs: string,
  addr: string,
  port: number,
  seconds: number,
): Promise<IperfResult> {
  let last = "";
  for (let attempt = 0; attempt < 40; attempt++) {
    const r = await run(
      nsArgv(clientNs, ["iperf3", "-c", addr, "-p", String(port), "-t", String(seconds), "-J"]),
      { timeoutMs: (seconds + 20) * 1000, ...stopped },
    );
    try {
      const j = JSON.parse(r.stdout) as {
        error?: string;
        end?: {
          sum_received: { bits_per_second: number };
          sum_sent: { retransmits?: number };
        };
      };
      if (j.end && !j.error) {
        return {
          gbps: j.end.sum_received.bits_per_second / 1e9,
          retransmits: j.end.sum_sent.retransmits ?? 0,
        };
      }
      last = j.error ?? r.stdout;
    } catch {
      last = r.stderr || r.stdout;
    }
    // The server may not listen yet, or still be finishing the previous test.
    await sleep(250, undefined, stopped);
  }
  throw new Error(`iperf3 from ${clientNs} to ${addr} failed: ${last.trim()}`);
}
