// `swarmnet policy test`: checks reachability matrices against policies,
// offline — no daemon, no root: the file declares the workloads, the policies
// are read from disk and the evaluator decides every cell.
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { invalid } from "../../core/errors.ts";
import { loadPolicyPaths } from "../../policy/load.ts";
import { formatReport, runTestFile } from "../../policy/run-test.ts";
import { parseTestFile } from "../../policy/test-file.ts";
import type { Command } from "../context.ts";

export const policyTest: Command = {
  name: "policy test",
  synopsis: "-f FILE [--json]",
  summary: "Check expected reachability matrices against policies (offline)",
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
      help: "Probe the running cluster instead of evaluating (not implemented yet)",
    },
  ],
  async run(ctx, args) {
    if (args.positionals.length)
      throw invalid(`"swarmnet policy test" accepts no arguments (the file goes after -f)`);
    if (args.flags.live === true)
      throw invalid(
        "policy test --live deploys the workloads on the running cluster and probes them; it is not implemented yet (run without --live to evaluate offline)",
      );
    const file = args.flags.file as string | undefined;
    if (file === undefined || file === "")
      throw invalid(`"swarmnet policy test" requires -f FILE (see 'swarmnet policy test --help')`);
    const tf = parseTestFile(readText(file), file);
    const policies = loadPolicyPaths(tf.policies, dirname(file));
    const report = runTestFile(tf, policies);
    ctx.out(args.flags.json === true ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.ok ? 0 : 1;
  },
};

export const POLICY_COMMANDS: Command[] = [policyTest];

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
