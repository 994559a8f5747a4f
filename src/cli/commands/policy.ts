// `swarmnet policy test`: checks reachability matrices against policies,
// offline — no daemon, no root: the file declares the workloads, the policies
// are read from disk and the evaluator decides every cell. With --live the
// workloads run in the cluster and real probes decide (src/cli/policy-live/live.ts).
// `policy apply | ls | inspect | rm`, `reach` and `explain`: the stored
// policies, judged by the daemon against the cluster's workloads; `reach
// --probe` checks that matrix against the kernel (policy-live/reach-probe.ts).
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { invalid } from "../../core/errors.ts";
import type { StoredPolicy } from "../../core/model.ts";
import { bootTimeMs, readKmsg } from "../../dataplane/linux/kernel-log.ts";
import {
  formatPolicyLogEntry,
  type PolicyLogEntry,
  parsePolicyLogRecord,
  parseSince,
} from "../../dataplane/policy-log.ts";
import { formatMatrix } from "../../policy/explain.ts";
import { type LoadedFile, loadPolicyPaths, readPolicyFiles } from "../../policy/load.ts";
import { PolicyError } from "../../policy/model.ts";
import { formatReport, runTestFile } from "../../policy/run-test.ts";
import { formatSelector } from "../../policy/selector.ts";
import { parseTestFile } from "../../policy/test-file.ts";
import { ApiError } from "../client.ts";
import { type Command, FORMAT_FLAGS, need, outputFormat, printRows } from "../context.ts";
import { formatDisagreements, runLiveTest } from "../policy-live/live.ts";
import { formatProbeReport, probeReach, type ReachAnswer } from "../policy-live/reach-probe.ts";
import { eachArg, inspectCommand } from "./each.ts";

export const policyTest: Command = {
  name: "policy test",
  synopsis: "-f FILE [--json]",
  summary:
    "Check expected reachability matrices against policies (offline, or --live in the cluster)",
  flags: [
    {
      name: "file",
      short: "f",
      kind: "string",
      help: "Test file (YAML: workloads, policies, cases)",
    },
    { name: "json", kind: "bool", help: "Print the results as JSON" },
    {
      name: "live",
      kind: "bool",
      help: "Deploy the workloads in the running cluster, apply the policies and probe for real (run on a host of every node, as root)",
    },
  ],
  async run(ctx, args) {
    if (args.positionals.length)
      throw invalid(`"swarmnet policy test" accepts no arguments (the file goes after -f)`);
    const file = args.flags.file as string | undefined;
    if (file === undefined || file === "")
      throw invalid(`"swarmnet policy test" requires -f FILE (see 'swarmnet policy test --help')`);
    const tf = parseTestFile(readText(file), file);
    const policies = loadPolicyPaths(tf.policies, dirname(file));
    if (args.flags.live === true) {
      // The daemon parses and stores the policies from their text, as `policy apply` sends them.
      const files = readPolicyFiles(tf.policies, dirname(file));
      const report = await runLiveTest({
        api: ctx.client,
        tf,
        policies,
        files,
        log: (line) => ctx.err(line),
      });
      ctx.out(
        args.flags.json === true
          ? JSON.stringify(report, null, 2)
          : `${formatReport({ ...report, file: `live: ${report.file}` })}\n${formatDisagreements(report)}`,
      );
      return report.ok ? 0 : 1;
    }
    const report = runTestFile(tf, policies);
    ctx.out(args.flags.json === true ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok ? 0 : 1;
  },
};

export const policyApply: Command = {
  name: "policy apply",
  synopsis: "-f FILE|DIR [-f FILE|DIR...]",
  summary: "Create or replace network policies from files (all or nothing)",
  flags: [
    {
      name: "file",
      short: "f",
      kind: "list",
      help: "Policy file, or folder of *.yaml/*.yml files (repeatable)",
    },
  ],
  async run(ctx, args) {
    if (args.positionals.length)
      throw invalid(`"swarmnet policy apply" accepts no arguments (files go after -f)`);
    const paths = args.flags.file as string[];
    if (paths.length === 0)
      throw invalid(
        `"swarmnet policy apply" requires -f FILE (see 'swarmnet policy apply --help')`,
      );
    // Read here, parsed by the daemon: the daemon may not see the client's files.
    let files: LoadedFile[];
    try {
      files = readPolicyFiles(paths, process.cwd());
    } catch (err) {
      if (err instanceof PolicyError) throw invalid(err.message);
      throw err;
    }
    const result = await ctx.client.call<{
      applied: { name: string; created: boolean }[];
      warnings: string[];
    }>("POST", "/v1/policies", { files });
    for (const a of result.applied) ctx.out(`${a.name} ${a.created ? "created" : "configured"}`);
    for (const w of result.warnings) ctx.err(`warning: ${w}`);
    return 0;
  },
};

export const policyLs: Command = {
  name: "policy ls",
  synopsis: "[OPTIONS]",
  summary: "List network policies, in evaluation order",
  flags: [...FORMAT_FLAGS],
  async run(ctx, args) {
    const fmt = outputFormat(args);
    const stored = await ctx.client.call<StoredPolicy[]>("GET", "/v1/policies");
    const rows = stored.map(({ policy: p }) => ({
      Name: p.name,
      Kind: p.kind,
      Namespace: p.namespace ?? "",
      Order: p.order === undefined ? "" : String(p.order),
      Selector: formatSelector(p.selector),
    }));
    printRows(
      ctx,
      fmt,
      [
        ["Name", "NAME"],
        ["Kind", "KIND"],
        ["Namespace", "NAMESPACE"],
        ["Order", "ORDER"],
        ["Selector", "SELECTOR"],
      ],
      rows,
    );
    return 0;
  },
};

export const policyInspect = inspectCommand({
  noun: "policy",
  synopsis: "[OPTIONS] POLICY [POLICY...]",
  summary: "Display detailed information on one or more network policies",
  notFound: (ref) => `Error: No such policy: ${ref}`,
  fetch: (ctx, ref) => ctx.client.call("GET", `/v1/policies/${encodeURIComponent(ref)}`),
});

export const policyRm: Command = {
  name: "policy rm",
  synopsis: "POLICY [POLICY...]",
  summary: "Remove one or more network policies",
  flags: [],
  async run(ctx, args) {
    need(args, 1, "POLICY", this.name);
    return eachArg(
      ctx,
      args.positionals,
      async (ref) => {
        await ctx.client.call("DELETE", `/v1/policies/${encodeURIComponent(ref)}`);
        ctx.out(ref);
      },
      (ref) => `Error: No such policy: ${ref}`,
    );
  },
};

const PORT_FLAG = {
  name: "port",
  short: "p",
  kind: "string",
  help: "Destination port and protocol (default 80/tcp)",
} as const;

export const reach: Command = {
  name: "reach",
  synopsis: "[--stack STACK] [--port PORT/PROTO] [--probe] [--json]",
  summary: "Show who can reach whom under the stored policies",
  flags: [
    { name: "stack", kind: "string", help: "Only the workloads of this stack" },
    PORT_FLAG,
    {
      name: "probe",
      kind: "bool",
      help: "Check every cell with real connections from the rows' sandboxes and show where the kernel and the model disagree (as root, on the host of the sandboxes; exit 1 on any disagreement)",
    },
    { name: "json", kind: "bool", help: "Print the matrix as JSON" },
  ],
  async run(ctx, args) {
    if (args.positionals.length) throw invalid(`"swarmnet reach" accepts no arguments`);
    const query = new URLSearchParams();
    if (args.flags.stack) query.set("stack", args.flags.stack as string);
    if (args.flags.port) query.set("port", args.flags.port as string);
    const m = await ctx.client.call<ReachAnswer>("GET", `/v1/reach?${query}`);
    if (args.flags.probe === true) {
      if (m.ids.length === 0) {
        ctx.err("no workloads");
        return 0;
      }
      const report = await probeReach(m);
      ctx.out(
        args.flags.json === true ? JSON.stringify(report, null, 2) : formatProbeReport(report),
      );
      return report.disagree > 0 ? 1 : 0;
    }
    if (args.flags.json === true) ctx.out(JSON.stringify(m, null, 2));
    else if (m.ids.length === 0) ctx.err("no workloads");
    else
      ctx.out(`port ${m.port} (rows reach columns: . yes, X no)\n${formatMatrix(m.ids, m.cells)}`);
    return 0;
  },
};

export const explain: Command = {
  name: "explain",
  synopsis: "FROM TO [--port PORT/PROTO] [--json]",
  summary: "Explain why one workload can or cannot reach another",
  flags: [PORT_FLAG, { name: "json", kind: "bool", help: "Print the verdict and trace as JSON" }],
  async run(ctx, args) {
    need(args, 2, "FROM TO", this.name);
    if (args.positionals.length > 2)
      throw invalid(`"swarmnet explain" requires exactly 2 arguments`);
    const [from, to] = args.positionals as [string, string];
    const query = new URLSearchParams({ from, to });
    if (args.flags.port) query.set("port", args.flags.port as string);
    try {
      const r = await ctx.client.call<{ lines: string[] }>("GET", `/v1/explain?${query}`);
      ctx.out(args.flags.json === true ? JSON.stringify(r, null, 2) : r.lines.join("\n"));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) throw invalid(err.message);
      throw err;
    }
    return 0;
  },
};

export const policyLogging: Command = {
  name: "policy logging",
  synopsis: "[on|off]",
  summary: "Show, or turn on or off, logging of denied packets with the rule that denied them",
  flags: [],
  async run(ctx, args) {
    const [want, ...rest] = args.positionals;
    if (rest.length || (want !== undefined && want !== "on" && want !== "off"))
      throw invalid(`"swarmnet policy logging" takes "on", "off" or nothing`);
    const r =
      want === undefined
        ? await ctx.client.call<{ denied: boolean }>("GET", "/v1/policy-logging")
        : await ctx.client.call<{ denied: boolean }>("POST", "/v1/policy-logging", {
            denied: want === "on",
          });
    ctx.out(`denied packets: ${r.denied ? "logged" : "not logged"}`);
    return 0;
  },
};

export const policyLog: Command = {
  name: "policy log",
  synopsis: "[--follow] [--since 10m|DATE] [--json]",
  summary:
    "Show the packets policies logged on this host (Log rules; denied packets with `policy logging on`), from the kernel log (as root)",
  flags: [
    { name: "follow", short: "f", kind: "bool", help: "Keep printing new lines" },
    { name: "since", kind: "string", help: "Only lines since then: 30s, 10m, 2h, or a date" },
    { name: "json", kind: "bool", help: "One JSON object per line" },
  ],
  async run(ctx, args) {
    if (args.positionals.length) throw invalid(`"swarmnet policy log" accepts no arguments`);
    const since =
      typeof args.flags.since === "string" && args.flags.since !== ""
        ? parseSince(args.flags.since)
        : undefined;
    if (since === null)
      throw invalid(`invalid --since "${args.flags.since}": expected 30s, 10m, 2h or a date`);
    const boot = bootTimeMs();
    const print = (e: PolicyLogEntry) => {
      if (since !== undefined && e.time !== undefined && Date.parse(e.time) < since) return;
      ctx.out(args.flags.json === true ? JSON.stringify(e) : formatPolicyLogEntry(e));
    };
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once("SIGINT", onSignal);
    try {
      await readKmsg(
        (record) => {
          const e = parsePolicyLogRecord(record, boot);
          if (e) print(e);
        },
        { follow: args.flags.follow === true, signal: stop.signal },
      );
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM")
        throw invalid("reading the kernel log (/dev/kmsg) needs root");
      throw err;
    } finally {
      process.off("SIGINT", onSignal);
    }
    return 0;
  },
};

export const POLICY_COMMANDS: Command[] = [
  policyApply,
  policyLs,
  policyInspect,
  policyRm,
  policyTest,
  policyLog,
  policyLogging,
  reach,
  explain,
];

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw invalid(`open ${file}: no such file or directory`);
    if (code === "EISDIR") throw invalid(`read ${file}: is a directory`);
    if (code === "EACCES") throw invalid(`open ${file}: permission denied`);
    throw err;
  }
}
