// apply(plan) runs a plan with as few processes as possible: phase by phase,
// one process per (tool, namespace), the processes of a phase in parallel.
// The first failing phase stops the run; the error names the failing line and
// the step it came from. The caller then observes and diffs again (a full
// resync), which repairs whatever the failed phase left half done.
import { DataplaneError, isDataplaneError } from "../errors.ts";
import type { Plan } from "../plan.ts";
import { type Batch, compile } from "./commands.ts";
import { bridge, inNs, ip, run } from "./exec.ts";

export interface ApplyResult {
  /** The batches that ran, in order (each one process). */
  batches: Batch[];
  processes: number;
}

// Only keys and values render() can produce reach the shell
// (net/ipv4/ip_forward=0|1, net/ipv4/conf/all/rp_filter=0|1|2).
const SYSCTL_LINE = /^(net\/ipv4\/ip_forward=[01]|net\/ipv4\/conf\/all\/rp_filter=[012])$/;

function argvFor(b: Batch): { argv: string[]; input: string } {
  const input = `${b.lines.join("\n")}\n`;
  switch (b.tool) {
    case "netns":
      return { argv: ["ip", "-batch", "-"], input };
    case "ip":
      return { argv: ip(b.ns, "-batch", "-"), input };
    case "bridge":
      return { argv: bridge(b.ns, "-batch", "-"), input };
    case "nft":
      // One transaction: all of it applies, or none of it.
      return { argv: inNs(b.ns, ["nft", "-f", "-"]), input };
    case "sysctl": {
      const script = b.lines
        .map((l) => {
          const m = SYSCTL_LINE.exec(l);
          if (!m) throw new DataplaneError("DP_RENDER_INPUT", `refusing sysctl line ${l}`);
          const [key, value] = m[1]!.split("=");
          return `echo ${value} > /proc/sys/${key}`;
        })
        .join(" && ");
      return { argv: inNs(b.ns, ["sh", "-c", script]), input: "" };
    }
  }
}

async function runBatch(b: Batch): Promise<void> {
  const { argv, input } = argvFor(b);
  try {
    await run(argv, input);
  } catch (err) {
    if (!isDataplaneError(err) || !err.exec) throw err;
    const line = err.exec.line;
    const step = line !== undefined ? b.from[line - 1] : undefined;
    const command = line !== undefined ? b.lines[line - 1] : undefined;
    const where = b.ns === "" ? "" : ` in ${b.ns}`;
    throw new DataplaneError(
      err.code,
      `${b.phase}: ${command ?? b.tool}${where}: ${err.exec.stderr.trim().split("\n")[0]}` +
        (step ? ` (${step.reason})` : ""),
      {
        ...err.exec,
        ...(command !== undefined ? { command } : {}),
        ...(step ? { reason: step.reason } : {}),
      },
    );
  }
}

export async function apply(plan: Plan): Promise<ApplyResult> {
  const done: Batch[] = [];
  for (const phase of compile(plan)) {
    const results = await Promise.allSettled(phase.map(runBatch));
    done.push(...phase);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
  return { batches: done, processes: done.length };
}
