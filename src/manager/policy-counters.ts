// The policy counters agents report (POST /v1/agent/policy-counters): per
// node, the latest per-rule sums of that node's sandboxes (the agent adds up
// its kernel's element counters, dataplane/render-policy.ts
// sumPolicyCounters). Kept in memory only: counters are kernel facts that
// change with every packet, reset when an element is re-created, and come
// back within one report period after a manager restart — the store is for
// what the cluster decided, not for what the kernels saw.
import { invalid } from "../core/errors.ts";

export interface ReportedCounter {
  /** As `explain` names it: "back/big ingress[3]". */
  rule: string;
  packets: number;
  bytes: number;
}

export interface EndOfTierReport {
  owner: string;
  direction: "ingress" | "egress";
  packets: number;
  bytes: number;
}

/** What one agent sends. */
export interface PolicyCounterReport {
  /** When the agent read its kernel (ISO 8601). */
  at: string;
  rules: ReportedCounter[];
  endOfTier: EndOfTierReport[];
}

/** What `GET /v1/policies/<name>` adds: the policy's rules summed over nodes. */
export interface PolicyCounterTotals {
  /** "ingress[0]", … in rule order; rules no packet reached are absent. */
  counters: { rule: string; packets: number; bytes: number }[];
  /** The oldest report the sums include (ISO 8601); absent: no report yet. */
  countersAt?: string;
}

const count = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);

/** Checks an agent's body; throws `invalid` on anything else. */
export function checkCounterReport(body: unknown): PolicyCounterReport {
  const b = body as Partial<PolicyCounterReport> | undefined;
  if (!b || typeof b.at !== "string" || !Array.isArray(b.rules) || !Array.isArray(b.endOfTier)) {
    throw invalid("policy counters must be {at, rules: [...], endOfTier: [...]}");
  }
  return {
    at: b.at,
    rules: b.rules
      .filter((r) => r && typeof r.rule === "string")
      .map((r) => ({ rule: r.rule, packets: count(r.packets), bytes: count(r.bytes) })),
    endOfTier: b.endOfTier
      .filter((e) => e && typeof e.owner === "string")
      .map((e) => ({
        owner: e.owner,
        direction: e.direction === "egress" ? "egress" : "ingress",
        packets: count(e.packets),
        bytes: count(e.bytes),
      })),
  };
}

/** "back/big ingress[3]" → ["back/big", "ingress[3]"]. */
export function splitRule(rule: string): [string, string] {
  const at = rule.lastIndexOf(" ");
  return at < 0 ? [rule, ""] : [rule.slice(0, at), rule.slice(at + 1)];
}

/** Sums one policy's rules over the reports given. Pure. */
export function totalsFor(policy: string, reports: PolicyCounterReport[]): PolicyCounterTotals {
  const sums = new Map<string, { packets: number; bytes: number }>();
  let oldest: string | undefined;
  for (const r of reports) {
    if (oldest === undefined || r.at < oldest) oldest = r.at;
    for (const c of r.rules) {
      const [name, rule] = splitRule(c.rule);
      if (name !== policy || rule === "") continue;
      const s = sums.get(rule) ?? { packets: 0, bytes: 0 };
      s.packets += c.packets;
      s.bytes += c.bytes;
      sums.set(rule, s);
    }
  }
  const order = (rule: string): [string, number] => {
    const m = /^(\w+)\[(\d+)\]$/.exec(rule);
    return m ? [m[1]!, Number(m[2])] : [rule, 0];
  };
  const counters = [...sums]
    .sort(([a], [b]) => {
      const [da, ia] = order(a);
      const [db, ib] = order(b);
      return da < db ? -1 : da > db ? 1 : ia - ib;
    })
    .map(([rule, s]) => ({ rule, ...s }));
  return oldest === undefined ? { counters } : { counters, countersAt: oldest };
}

/** The latest report per node. */
export class PolicyCounterBook {
  private readonly byNode = new Map<string, PolicyCounterReport>();

  record(nodeId: string, report: PolicyCounterReport): void {
    this.byNode.set(nodeId, report);
  }

  forget(nodeId: string): void {
    this.byNode.delete(nodeId);
  }

  /** One policy's totals over the nodes `keep` accepts (default: all). */
  totals(policy: string, keep: (nodeId: string) => boolean = () => true): PolicyCounterTotals {
    return totalsFor(
      policy,
      [...this.byNode].filter(([id]) => keep(id)).map(([, r]) => r),
    );
  }

  /** End-of-tier drops per sandbox over the nodes `keep` accepts. */
  endOfTier(keep: (nodeId: string) => boolean = () => true): EndOfTierReport[] {
    return [...this.byNode].filter(([id]) => keep(id)).flatMap(([, r]) => r.endOfTier);
  }
}
