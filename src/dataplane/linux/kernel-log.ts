// The kernel log, for policy logging (render-policy.ts, policy-log.ts).
//
// nft `log` statements in a namespace other than the initial one write
// nothing unless net.netfilter.nf_log_all_netns=1 (verified on kernel 6.18:
// with 0, a sandbox's log rule matches and counts but no line appears). The
// sysctl exists only in the initial namespace and is machine-wide. swarmnet
// turns it on when a sandbox it renders has a log statement (the agent does,
// `enableSandboxLogging`), remembers the value it found in the node's state
// directory, and `restoreSandboxLogging` (node cleanup) puts that value back
// if, and only if, swarmnet changed it. An agent that runs in a network
// namespace of its own (a lab node) reaches the initial one's sysctl through
// the machine's namespace (SWARMNET_HOST_NETNS, else PID 1's), with nsenter:
// the setting is the machine's either way.
import { execFileSync } from "node:child_process";
import {
  closeSync,
  constants,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  writeFileSync,
} from "node:fs";

export const NF_LOG_ALL_NETNS = "/proc/sys/net/netfilter/nf_log_all_netns";
const SAVED = "nf_log_all_netns.orig";

/** The sysctl's value; undefined: not available here (not the initial
 * namespace, or nf_log not built). */
export function nfLogAllNetns(path = NF_LOG_ALL_NETNS): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    if (path !== NF_LOG_ALL_NETNS) return undefined;
    try {
      return inInitialNetns(["cat", path]).trim();
    } catch {
      return undefined;
    }
  }
}

/** Writes the sysctl, from the initial network namespace if this one lacks it. */
function setNfLogAllNetns(path: string, value: string): void {
  if (existsSync(path) || path !== NF_LOG_ALL_NETNS) {
    writeFileSync(path, `${value}\n`);
    return;
  }
  inInitialNetns(["sh", "-c", `echo ${value === "1" ? 1 : 0} > ${NF_LOG_ALL_NETNS}`]);
}

/** Runs argv in the machine's own network namespace: SWARMNET_HOST_NETNS
 * when given (a lab hands its nodes one), else PID 1's. */
function inInitialNetns(argv: string[]): string {
  const netns = process.env.SWARMNET_HOST_NETNS || "/proc/1/ns/net";
  return execFileSync("nsenter", [`--net=${netns}`, "--", ...argv], {
    encoding: "utf8",
    timeout: 5_000,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Turns sandbox logging on; the value found is kept under `stateDir` the
 * first time swarmnet changes it. "on": it is on now; "unavailable": the
 * sysctl cannot be read or written here (log lines stay invisible). */
export function enableSandboxLogging(
  stateDir: string,
  path = NF_LOG_ALL_NETNS,
): "on" | "unavailable" {
  const found = nfLogAllNetns(path);
  if (found === undefined) return "unavailable";
  if (found === "1") return "on";
  try {
    if (!existsSync(`${stateDir}/${SAVED}`)) writeFileSync(`${stateDir}/${SAVED}`, `${found}\n`);
    setNfLogAllNetns(path, "1");
    return "on";
  } catch {
    return "unavailable";
  }
}

/** Puts back the value `enableSandboxLogging` found, if it changed it. */
export function restoreSandboxLogging(stateDir: string, path = NF_LOG_ALL_NETNS): boolean {
  const saved = `${stateDir}/${SAVED}`;
  if (!existsSync(saved)) return false;
  setNfLogAllNetns(path, readFileSync(saved, "utf8").trim());
  rmSync(saved);
  return true;
}

/** Boot time, ms since the epoch (kmsg times are µs since boot). */
export function bootTimeMs(): number {
  const up = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  return Date.now() - up * 1000;
}

/** Reads /dev/kmsg records: every record still in the buffer, then (follow)
 * each new one as it comes, until `signal` aborts. One read is one record.
 * Non-blocking reads polled every 250 ms keep node's threads free. */
export async function readKmsg(
  onRecord: (record: string) => void,
  opts: { follow?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const fd = openSync("/dev/kmsg", constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(8192);
  try {
    for (;;) {
      if (opts.signal?.aborted) return;
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EPIPE") continue; // records overwritten meanwhile: go on
        if (code !== "EAGAIN") throw err;
        if (!opts.follow) return;
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      onRecord(buf.toString("utf8", 0, n));
    }
  } finally {
    closeSync(fd);
  }
}
