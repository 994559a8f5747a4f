// `swarmnet reach --probe`: the model's matrix (the daemon's `/v1/reach`)
// checked cell by cell with real connections from inside the row workload's
// sandbox to the column workload's addresses, and the cells where the kernel
// and the model disagree. The CLI probes (root, sandboxes on this machine);
// the daemon only answers what it knows: the matrix, each workload's task and
// addresses.
//
// Choices, and why:
// - The question is whether the kernel lets the packet through, not whether
//   something answers: the cluster's services may not listen on the port.
//   TCP: connected or refused (a RST: the SYN got there) = reached; a timeout
//   (dropped), EPERM (dropped on the way out), no route = blocked. UDP: an
//   answer or ICMP port unreachable (ECONNREFUSED on a connected socket) =
//   reached; silence = blocked, which is ambiguous when the column's task
//   listens on the port but does not answer (said in the output).
// - A cell is probed on every network the two share (every column address
//   there); when they share none the model says X and the column's addresses
//   are probed anyway: that checks the networks' isolation, which the model
//   relies on. Probes that split (some reach, some not) always disagree.
// - The diagonal is not probed: a workload's connections to its own address
//   stay on its loopback, which policies do not filter.
// - A row whose sandbox is not on this machine is "not probed (sandbox on
//   another host)", never guessed.
// - A first packet can be lost (ARP, VXLAN): a disagreeing cell is probed
//   again, up to ROUNDS rounds, and only the last round counts.
import { invalid } from "../../core/errors.ts";
import { cellSymbol } from "../../policy/run-test.ts";
import {
  localSandbox as findLocalSandbox,
  type LiveProbe,
  type LiveProbeResult,
  probeFrom as runProbes,
} from "./live-probe.ts";

/** One workload of `/v1/reach`'s answer (manager/http/policy-routes.ts). */
export interface ReachWorkload {
  id: string;
  /** The task's (or container's) id, which names its sandbox; "" when unknown. */
  owner: string;
  /** The hostname of its node. */
  node: string;
  addresses: { network: string; networkId: string; address: string }[];
}

/** `/v1/reach`'s answer. */
export interface ReachAnswer {
  port: string;
  ids: string[];
  cells: boolean[][];
  /** Absent from daemons older than `reach --probe`. */
  workloads?: ReachWorkload[];
}

export interface ProbeDetail {
  network: string;
  addr: string;
  reached: boolean;
  /** What the probe saw, in words. */
  how: string;
}

export interface ProbedCell {
  from: string;
  to: string;
  /** The model's answer. */
  model: boolean;
  /** The kernel's: true reached, false blocked, null not probed. */
  probed: boolean | null;
  disagree: boolean;
  /** Why it was not probed, or what the probes saw. */
  why: string;
  sharedNetwork: boolean;
  probes: ProbeDetail[];
}

export interface ProbeReport {
  port: string;
  ids: string[];
  /** The model's matrix, as `reach --json` gives it. */
  model: boolean[][];
  cells: ProbedCell[][];
  /** Cells probed, and how many of them disagree. */
  probed: number;
  disagree: number;
}

/** Whether a probe's packet got to the column's task, and how it looked. */
export function classifyProbe(r: LiveProbeResult): { reached: boolean; how: string } {
  if (r.ok) return { reached: true, how: "answered" };
  if (r.connected) return { reached: true, how: `connected (${r.error ?? "no answer"} after)` };
  switch (r.error) {
    case "ECONNREFUSED":
      return r.kind === "tcp"
        ? { reached: true, how: "refused (RST: nothing listens, the SYN got there)" }
        : { reached: true, how: "port unreachable (nothing listens, the datagram got there)" };
    case "TIMEOUT":
      return r.kind === "tcp"
        ? { reached: false, how: "timeout (dropped)" }
        : { reached: false, how: "no answer (dropped, or a listener that does not answer)" };
    case "EPERM":
      return { reached: false, how: "EPERM (dropped on the way out)" };
    case "ENETUNREACH":
    case "EHOSTUNREACH":
      return { reached: false, how: `${r.error} (no route)` };
    default:
      return { reached: false, how: r.error ?? "failed" };
  }
}

/** What one cell needs: the sandbox to probe from and the probes, or why not. */
export interface PlannedCell {
  from: string;
  to: string;
  model: boolean;
  netns?: string;
  probes: { network: string; probe: LiveProbe }[];
  notProbed?: string;
  sharedNetwork: boolean;
}

/**
 * The probes of every cell. `sandboxOf` finds a task's sandbox on this
 * machine (undefined: elsewhere).
 */
export function planCells(
  answer: Required<ReachAnswer>,
  kind: "tcp" | "udp",
  port: number,
  sandboxOf: (owner: string) => string | undefined,
): PlannedCell[][] {
  const { ids, cells, workloads } = answer;
  const netns = workloads.map((w) => (w.owner ? sandboxOf(w.owner) : undefined));
  return ids.map((from, i) =>
    ids.map((to, j): PlannedCell => {
      const src = workloads[i]!;
      const dst = workloads[j]!;
      const mine = new Set(src.addresses.map((a) => a.networkId));
      const shared = dst.addresses.filter((a) => mine.has(a.networkId));
      const base = { from, to, model: cells[i]![j]!, probes: [], sharedNetwork: shared.length > 0 };
      if (i === j)
        return {
          ...base,
          notProbed: "itself (stays on its loopback, which policies do not filter)",
        };
      if (!src.owner) return { ...base, notProbed: `${from}: no task or container found` };
      if (!netns[i])
        return { ...base, notProbed: `sandbox on another host${src.node ? ` (${src.node})` : ""}` };
      const targets = shared.length > 0 ? shared : dst.addresses;
      if (targets.length === 0) return { ...base, notProbed: `${to} has no address` };
      return {
        ...base,
        netns: netns[i]!,
        probes: targets.map((a) => ({
          network: a.network,
          probe: { kind, addr: a.address, port },
        })),
      };
    }),
  );
}

/** A planned cell and its probes' results (in the plan's order) → the verdict. */
export function judgeCell(cell: PlannedCell, results: LiveProbeResult[]): ProbedCell {
  const { from, to, model, sharedNetwork } = cell;
  if (cell.notProbed !== undefined)
    return {
      from,
      to,
      model,
      probed: null,
      disagree: false,
      why: cell.notProbed,
      sharedNetwork,
      probes: [],
    };
  const probes = cell.probes.map(({ network, probe }, k): ProbeDetail => {
    const c = classifyProbe(results[k]!);
    return { network, addr: probe.addr, reached: c.reached, how: c.how };
  });
  const reached = probes.filter((p) => p.reached).length;
  // Split: some paths reach, some do not; whatever the model says, one disagrees.
  const split = reached > 0 && reached < probes.length;
  const probed = split ? !model : reached === probes.length;
  const how = probes.map((p) => `${p.network} ${p.addr}: ${p.how}`).join("; ");
  return {
    from,
    to,
    model,
    probed,
    disagree: probed !== model,
    why: `${split ? "split: " : ""}${sharedNetwork ? "" : "no shared network; "}${how}`,
    sharedNetwork,
    probes,
  };
}

/** The report from judged cells. */
export function buildReport(answer: ReachAnswer, cells: ProbedCell[][]): ProbeReport {
  const flat = cells.flat();
  return {
    port: answer.port,
    ids: answer.ids,
    model: answer.cells,
    cells,
    probed: flat.filter((c) => c.probed !== null).length,
    disagree: flat.filter((c) => c.disagree).length,
  };
}

export const ROUNDS = 3;
/** Probe processes running at once (one per source sandbox). */
const SANDBOXES_AT_ONCE = 16;

export interface ProbeOptions {
  /** Defaults: live-probe.ts's, the real ones. */
  probeFrom?: (netns: string, probes: LiveProbe[]) => Promise<LiveProbeResult[]>;
  sandboxOf?: (owner: string) => string | undefined;
  rounds?: number;
}

/** Probes the model's matrix: one process per source sandbox and round, all its probes at once. */
export async function probeReach(
  answer: ReachAnswer,
  opts: ProbeOptions = {},
): Promise<ProbeReport> {
  if (!answer.workloads)
    throw invalid(
      "the daemon's /v1/reach gives no workload addresses (an older daemon): --probe needs a newer one",
    );
  const slash = answer.port.indexOf("/");
  const port = Number(slash < 0 ? answer.port : answer.port.slice(0, slash));
  const proto = slash < 0 ? "tcp" : answer.port.slice(slash + 1);
  if (proto !== "tcp" && proto !== "udp")
    throw invalid(`reach --probe probes TCP and UDP only, not ${answer.port}`);
  const probeFrom = opts.probeFrom ?? runProbes;
  const plan = planCells(
    answer as Required<ReachAnswer>,
    proto,
    port,
    opts.sandboxOf ?? findLocalSandbox,
  );
  // Cells to probe are judged by the first round (which probes all of them).
  const judged = plan.map((row) =>
    row.map((c) => judgeCell(c.netns ? { ...c, notProbed: "" } : c, [])),
  );
  let todo = plan.flatMap((row, i) =>
    row.flatMap((cell, j) => (cell.netns === undefined ? [] : [{ cell, i, j }])),
  );
  const rounds = opts.rounds ?? ROUNDS;
  for (let round = 0; round < rounds && todo.length > 0; round++) {
    const results = await probeRound(
      todo.map((t) => t.cell),
      probeFrom,
    );
    for (const [k, { cell, i, j }] of todo.entries()) judged[i]![j] = judgeCell(cell, results[k]!);
    todo = todo.filter(({ i, j }) => judged[i]![j]!.disagree);
  }
  return buildReport(answer, judged);
}

/** Every cell's probes, one process per sandbox; results per cell, in its probes' order. */
async function probeRound(
  cells: PlannedCell[],
  probeFrom: NonNullable<ProbeOptions["probeFrom"]>,
): Promise<LiveProbeResult[][]> {
  const bySandbox = new Map<string, LiveProbe[]>();
  for (const c of cells) {
    const list = bySandbox.get(c.netns!) ?? [];
    bySandbox.set(c.netns!, list);
    list.push(...c.probes.map((p) => p.probe));
  }
  const got = new Map<string, LiveProbeResult[]>();
  // A bounded number of sandboxes at once: each is a node process.
  const queue = [...bySandbox];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift())
      got.set(next[0], await probeFrom(next[0], next[1]));
  };
  await Promise.all(Array.from({ length: Math.min(SANDBOXES_AT_ONCE, queue.length) }, worker));
  const taken = new Map<string, number>();
  return cells.map((c) => {
    const at = taken.get(c.netns!) ?? 0;
    taken.set(c.netns!, at + c.probes.length);
    return got.get(c.netns!)!.slice(at, at + c.probes.length);
  });
}

/** A cell's symbol: the model's where they agree, `!` and the kernel's where not, `?` and the model's when not probed. */
export function probedSymbol(c: ProbedCell): string {
  if (c.probed === null) return `?${cellSymbol(c.model)}`;
  return c.disagree ? `!${cellSymbol(c.probed)}` : cellSymbol(c.model);
}

/** The human report: the matrix as `reach` prints it, marked, then the details. */
export function formatProbeReport(r: ProbeReport): string {
  const header = ["-", ...r.ids];
  const rows = r.ids.map((id, i) => [id, ...r.cells[i]!.map(probedSymbol)]);
  const widths = header.map((_, c) => Math.max(...[header, ...rows].map((row) => row[c]!.length)));
  const matrix = [header, ...rows].map((row) =>
    row
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join("  ")
      .trimEnd(),
  );
  const lines = [
    `port ${r.port} (rows reach columns: . yes, X no; probed from the rows' sandboxes)`,
    ...matrix,
    "",
    ".  X   the kernel agrees with the model",
    "!X     the model says it reaches, the kernel blocked it",
    "!.     the model says it does not, the kernel let it through",
    "?. ?X  not probed (the model's answer shown; the diagonal never is)",
  ];
  const flat = r.cells.flat();
  const disagreeing = flat.filter((c) => c.disagree);
  if (disagreeing.length > 0) {
    lines.push("disagreements:");
    for (const c of disagreeing)
      lines.push(
        `  ${c.from} -> ${c.to} ${r.port}: model ${cellSymbol(c.model)}, kernel ${cellSymbol(c.probed!)} (${c.why})`,
      );
  }
  const notProbed = flat.filter((c) => c.probed === null && c.from !== c.to);
  if (notProbed.length > 0) {
    lines.push("not probed:");
    // One line per row and reason: a remote sandbox affects its whole row.
    const grouped = new Map<string, string[]>();
    for (const c of notProbed) {
      const key = `${c.from}: ${c.why}`;
      grouped.set(key, [...(grouped.get(key) ?? []), c.to]);
    }
    for (const [key, tos] of grouped)
      lines.push(`  ${key} (${tos.length === r.ids.length - 1 ? "whole row" : tos.join(", ")})`);
  }
  if (r.port.endsWith("/udp"))
    lines.push(
      "udp: silence counts as blocked; it is ambiguous when the column's task listens on the port but does not answer",
    );
  lines.push(`${r.probed} cells probed, ${r.disagree} disagree`);
  return lines.join("\n");
}
