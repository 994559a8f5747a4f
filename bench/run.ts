// Runs named benchmarks (all by default: `npm run bench [-- NAME...]`),
// prints a table and writes bench/results/latest.json with the machine's
// facts, so every figure in the README can be traced to a run.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import type { Benchmark, BenchResult } from "./types.ts";

const modules = [
  "./ipam.bench.ts",
  "./api.bench.ts",
  "./dataplane.bench.ts",
  "./dns.bench.ts",
  "./vip.bench.ts",
  "./convergence.bench.ts",
  "./policy.bench.ts",
];

function commit(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
    const dirty =
      execFileSync("git", ["status", "--porcelain"], { encoding: "utf8" }).trim() !== "";
    return dirty ? `${sha}-dirty` : sha;
  } catch {
    return "unknown";
  }
}

function fmt(n: number): string {
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString("en-US");
  return Number(n.toPrecision(4)).toString();
}

function verdict(r: BenchResult): string {
  if (!r.target) return "";
  const v = r.metrics[r.target.metric];
  if (v === undefined) return "no metric";
  const ok =
    (r.target.min === undefined || v >= r.target.min) &&
    (r.target.max === undefined || v <= r.target.max);
  const goal = r.target.min !== undefined ? `>= ${fmt(r.target.min)}` : `<= ${fmt(r.target.max!)}`;
  return `${ok ? "met" : "MISSED"} (${r.target.metric} ${goal})`;
}

const wanted = process.argv.slice(2);
const benches: Benchmark[] = [];
for (const m of modules)
  benches.push(...((await import(m)) as { benchmarks: Benchmark[] }).benchmarks);
const selected = wanted.length
  ? benches.filter((b) => wanted.some((w) => b.name.includes(w)))
  : benches;
if (selected.length === 0) {
  console.error(
    `no benchmark matches ${wanted.join(" ")}; known: ${benches.map((b) => b.name).join(", ")}`,
  );
  process.exit(1);
}

const results: (BenchResult & { name: string })[] = [];
// A benchmark that fails (say, a feature it measures is missing) is reported
// and the others still run; the exit code is then 1.
const failures: { name: string; error: string }[] = [];
for (const b of selected) {
  process.stderr.write(`running ${b.name}...\n`);
  try {
    results.push({ name: b.name, ...(await b.run()) });
  } catch (err) {
    const error = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${b.name} FAILED: ${error}\n`);
    failures.push({ name: b.name, error });
  }
}

const rows: string[][] = [["benchmark", "metric", "value", "unit", "baseline", "target"]];
for (const r of results) {
  let first = true;
  for (const [metric, value] of Object.entries(r.metrics)) {
    const base = r.baseline?.[metric];
    rows.push([
      first ? r.name : "",
      metric,
      fmt(value),
      r.units?.[metric] ?? "",
      base === undefined ? "" : fmt(base),
      r.target?.metric === metric ? verdict(r) : "",
    ]);
    first = false;
  }
}
for (const f of failures) rows.push([f.name, "FAILED", "", "", "", ""]);
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
for (const row of rows)
  console.log(
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );

const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? "",
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
  commit: commit(),
  date: new Date().toISOString(),
};
const dir = join(import.meta.dirname, "results");
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, "latest.json"),
  `${JSON.stringify({ machine, results, ...(failures.length ? { failures } : {}) }, null, 2)}\n`,
);
for (const f of failures) console.log(`\n${f.name} FAILED: ${f.error}`);
if (failures.length) process.exitCode = 1;
console.log(
  `\nwrote ${join("bench", "results", "latest.json")} (${machine.cores} cores, kernel ${machine.kernel}, node ${machine.node}, commit ${machine.commit})`,
);
