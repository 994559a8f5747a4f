// Runs a `policy test` file offline: every case's matrix computed with the
// evaluator and compared with what the file expects, cell by cell, with the
// reason for each cell that differs. Pure: the caller loads the policies.
//
// A server that does not list the case's port in its `ports` is unreachable
// on it whatever the policies say: nothing listens there.
import { describeDirection, evaluateFlow, type Verdict } from "./evaluate.ts";
import type { Policy, Workload } from "./model.ts";
import { type TestFile, testNamespaces, testWorkloads } from "./test-file.ts";

export interface CellMismatch {
  from: string;
  to: string;
  port: string;
  /** true: reaches ("."). */
  expected: boolean;
  got: boolean;
  /** Why the evaluator says what it says. */
  why: string;
}

export interface CaseResult {
  name: string;
  port: string;
  ok: boolean;
  mismatches: CellMismatch[];
}

export interface TestReport {
  file: string;
  ok: boolean;
  passed: number;
  failed: number;
  cases: CaseResult[];
}

export function runTestFile(tf: TestFile, policies: Policy[]): TestReport {
  const namespaces = testNamespaces(tf);
  const endpoints = new Map(testWorkloads(tf).map((w) => [w.id, w]));
  const declared = new Map(tf.workloads.map((w) => [w.id, w]));
  const cases = tf.cases.map((c): CaseResult => {
    const mismatches: CellMismatch[] = [];
    for (const client of c.clients) {
      for (const [server, expected] of c.expect.get(client) ?? []) {
        const listens = declared
          .get(server)!
          .ports.some((p) => p.port === c.port.port && p.protocol === c.port.protocol);
        const verdict = evaluateFlow({
          policies,
          namespaces,
          from: endpoints.get(client)!,
          to: endpoints.get(server)!,
          port: c.port.port,
          protocol: c.port.protocol,
        });
        const got = listens && verdict.allowed;
        if (got !== expected) {
          const why = listens
            ? explainVerdict(verdict, endpoints.get(client)!, endpoints.get(server)!)
            : `${server} does not listen on ${c.port.text}`;
          mismatches.push({ from: client, to: server, port: c.port.text, expected, got, why });
        }
      }
    }
    return { name: c.name, port: c.port.text, ok: mismatches.length === 0, mismatches };
  });
  const failed = cases.filter((c) => !c.ok).length;
  return { file: tf.file, ok: failed === 0, passed: cases.length - failed, failed, cases };
}

/** "ingress at y/b: end of tier (selected, no rule matched)"; for an allowed
 * flow, both directions' reasons. */
export function explainVerdict(v: Verdict, from: Workload, to: Workload): string {
  if (!v.sharedNetwork) return `${from.id} and ${to.id} share no network`;
  const egress = `egress at ${from.id}: ${describeDirection(v.egress)}`;
  const ingress = `ingress at ${to.id}: ${describeDirection(v.ingress)}`;
  if (v.allowed) return `${egress}; ${ingress}`;
  return [v.egress.allowed ? undefined : egress, v.ingress.allowed ? undefined : ingress]
    .filter((s) => s !== undefined)
    .join("; ");
}

export function cellSymbol(reaches: boolean): "." | "X" {
  return reaches ? "." : "X";
}

/** The human report: one line per case, the differing cells under a failure, a summary. */
export function formatReport(report: TestReport): string {
  const lines: string[] = [];
  for (const c of report.cases) {
    lines.push(`${c.ok ? "ok  " : "FAIL"}  ${c.name}`);
    for (const m of c.mismatches) {
      lines.push(
        `      ${m.from} -> ${m.to} ${m.port}: expected ${cellSymbol(m.expected)}, got ${cellSymbol(m.got)} (${m.why})`,
      );
    }
  }
  lines.push(
    `${report.ok ? "PASS" : "FAIL"}: ${report.passed} passed, ${report.failed} failed (${report.file})`,
  );
  return lines.join("\n");
}
