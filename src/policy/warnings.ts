// What `policy apply` warns about: legal policies that likely do not do what
// their author meant. Pure; never an error (the policies are applied anyway).
import type { Policy, Rule, Workload } from "./model.ts";
import { formatSelector, matchesSelector } from "./selector.ts";

export function policyWarnings(policies: Policy[], workloads: Workload[]): string[] {
  const out: string[] = [];
  for (const p of policies) {
    const selects = workloads.some(
      (w) =>
        (p.namespace === undefined || p.namespace === w.namespace) &&
        matchesSelector(p.selector, w.labels),
    );
    if (!selects) {
      const scope = p.namespace === undefined ? "" : ` in namespace ${p.namespace}`;
      out.push(
        `policy ${p.name}: selector ${formatSelector(p.selector)} matches no current workload${scope}`,
      );
    }
    for (const direction of ["ingress", "egress"] as const) {
      const rules = p[direction];
      // One pass: the first deciding rule with no criteria, and the first
      // deciding rule per criteria (keyed by their JSON — the compiled model
      // is plain data), so thousands of rules cost thousands of steps.
      let catchAll: Rule | undefined;
      const firstWith = new Map<string, Rule>();
      for (const rule of rules) {
        if (rule.action === "Allow" && !hasCriteria(rule)) {
          out.push(
            `policy ${p.name}: ${direction}[${rule.index}] allows all ${direction} (an Allow rule with no criteria)`,
          );
        }
        const key = JSON.stringify(criteria(rule));
        const earlier = catchAll ?? firstWith.get(key);
        if (earlier) {
          out.push(
            `policy ${p.name}: ${direction}[${rule.index}] is shadowed by ${direction}[${earlier.index}] (it can never match first)`,
          );
        }
        // Log rules never decide, so they shadow nothing.
        if (rule.action === "Log") continue;
        if (!hasCriteria(rule)) catchAll ??= rule;
        if (!firstWith.has(key)) firstWith.set(key, rule);
      }
    }
  }
  return out;
}

function criteria(rule: Rule): unknown {
  const { action: _a, index: _i, origin: _o, ...rest } = rule;
  return rest;
}

/** Whether the rule constrains the flow at all. */
function hasCriteria(rule: Rule): boolean {
  return (
    rule.protocol !== undefined ||
    rule.notProtocol !== undefined ||
    rule.icmp !== undefined ||
    rule.notIcmp !== undefined ||
    Object.values(rule.source).some((v) => v !== undefined) ||
    Object.values(rule.destination).some((v) => v !== undefined)
  );
}
