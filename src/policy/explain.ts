// What `swarmnet reach` and `swarmnet explain` print, from the evaluator's
// answers. Pure text shaping; the daemon computes, the CLI prints.
import type { DirectionVerdict, Verdict } from "./evaluate.ts";
import type { Policy, Workload } from "./model.ts";
import { cellSymbol } from "./run-test.ts";

/** The matrix in `policy test`'s notation: rows clients, columns servers. */
export function formatMatrix(ids: string[], cells: boolean[][]): string {
  const header = ["-", ...ids];
  const rows = ids.map((id, i) => [id, ...cells[i]!.map(cellSymbol)]);
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((r) => r[c]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Every step that led to the verdict, one line each, for a human. */
export function explainLines(
  v: Verdict,
  from: Workload,
  to: Workload,
  port: string,
  policies: Policy[],
  networkNames: Map<string, string> = new Map(),
): string[] {
  const lines = [`${from.id} -> ${to.id} ${port}: ${v.allowed ? "allowed" : "denied"}`];
  const shared = from.addresses
    .map((a) => a.networkId)
    .filter((n) => to.addresses.some((b) => b.networkId === n));
  lines.push(
    v.sharedNetwork
      ? `network: ${from.id} and ${to.id} share ${[...new Set(shared)].map((n) => networkNames.get(n) ?? n).join(", ")}`
      : `network: ${from.id} and ${to.id} share no network (denied whatever the policies say)`,
  );
  const byName = new Map(policies.map((p) => [p.name, p]));
  lines.push(...directionLines("egress", from, v.egress, byName));
  lines.push(...directionLines("ingress", to, v.ingress, byName));
  return lines;
}

function directionLines(
  direction: "egress" | "ingress",
  at: Workload,
  d: DirectionVerdict,
  policies: Map<string, Policy>,
): string[] {
  const verdict = d.allowed ? "allowed" : "denied";
  let why: string;
  if (d.reason === "no policy selects") {
    why = `no policy selects ${at.id}`;
  } else if (d.decidedBy) {
    const policy = policies.get(d.decidedBy.policy);
    const rule = policy?.[direction].find((r) => r.index === d.decidedBy!.ruleIndex);
    const where = rule ? ` (${rule.origin.file}:${rule.origin.line}:${rule.origin.column})` : "";
    why = `${d.reason}: policy ${d.decidedBy.policy} ${direction}[${d.decidedBy.ruleIndex}]${where}`;
  } else {
    why = "end of tier: selected by a policy but no rule matched (implicit deny)";
  }
  const lines = [`${direction} at ${at.id}: ${verdict}, ${why}`];
  for (const step of d.trace) {
    if (!step.selected) {
      lines.push(`  policy ${step.policy}: does not apply (${step.why})`);
      continue;
    }
    lines.push(`  policy ${step.policy}: selects ${at.id}`);
    if (step.rules.length === 0) lines.push(`    no ${direction} rules`);
    for (const r of step.rules) {
      const what = r.matched ? (r.note ?? "matched") : `no match: ${r.mismatch}`;
      lines.push(`    ${direction}[${r.index}] ${r.action}: ${what}`);
    }
  }
  return lines;
}
