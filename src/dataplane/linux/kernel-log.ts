// The kernel log, for policy logging (render-policy.ts, policy-log.ts).
//
// nft `log` statements in a namespace other than the initial one write
// nothing unless net.netfilter.nf_log_all_netns=1 (verified on kernel 6.18:
// with 0, a sandbox's log rule matches and counts but no line appears). The
// sysctl exists only in the initial namespace and is machine-wide. swarmnet
// turns it on when a sandbox it renders has a log statement (the agent does,
// `enableSandboxLogging`), remembers the value it found in the node's state
// directory, and `restoreSandboxLogging` (node cleanup) puts that value back
// if, and only if, swarmnet changed it.
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
    return undefined;
  }
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
    writeFileSync(path, "1\n");
    return "on";
  } catch {
    return "unavailable";
  }
}

/** Puts back the value `enableSandboxLogging` found, if it changed it. */
export function restoreSandboxLogging(stateDir: string, path = NF_LOG_ALL_NETNS): boolean {
  const saved = `${stateDir}/${SAVED}`;
  if (!existsSync(saved)) return false;
  writeFileSync(path, `${readFileSync(saved, "utf8").trim()}\n`);
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
