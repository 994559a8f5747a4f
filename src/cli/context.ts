// What every command gets: the API client, output streams and the helpers
// that make output look like Docker's (tables, JSON, one-line errors).

import { invalid } from "../core/errors.ts";
import type { Client } from "./client.ts";
import type { FlagSpec, Parsed } from "./flags.ts";
import { table } from "./table.ts";
import { compileTemplate } from "./template.ts";

export interface Ctx {
  client: Client;
  hostText: string;
  out: (text: string) => void;
  err: (text: string) => void;
  isTty: boolean;
}

export interface Command {
  /** Words after `swarmnet`, e.g. "network create". */
  name: string;
  synopsis: string;
  summary: string;
  flags: FlagSpec[];
  /** Stop flag parsing at the first positional (commands that take a command line). */
  interspersed?: boolean;
  /** Runs without a reachable daemon (daemon, init start one themselves). */
  run(ctx: Ctx, args: Parsed): Promise<number | undefined>;
}

export const FORMAT_FLAGS: FlagSpec[] = [
  {
    name: "format",
    short: "f",
    kind: "string",
    help: "Format output: table (default), json, or a Go template ('{{.Name}}', 'table {{.ID}}\\t{{.Name}}')",
  },
  { name: "json", kind: "bool", help: "Same as --format json" },
];

export type OutputFormat =
  | { kind: "default" }
  | { kind: "json" }
  | { kind: "template"; table: boolean; source: string };

/** Reads --format / --json; a bad template fails here, before any request is sent. */
export function outputFormat(args: Parsed): OutputFormat {
  const format = (args.flags.format as string | undefined)?.trim();
  if (args.flags.json === true || format === "json") return { kind: "json" };
  if (format === undefined || format === "" || format === "table") return { kind: "default" };
  const table = format.startsWith("table ");
  const source = table ? format.slice(6) : format;
  if (!source.includes("{{"))
    throw invalid(`unsupported format "${format}": use table, json or a Go template`);
  compileTemplate(source);
  return { kind: "template", table, source };
}

/** Prints list rows (objects keyed as Docker's `--format` fields) as a table, JSON lines or a template. */
export type Column = [key: string | ((row: Record<string, unknown>) => string), header: string];

export function printRows(
  ctx: Ctx,
  fmt: OutputFormat,
  columns: Column[],
  rows: Record<string, unknown>[],
): void {
  if (fmt.kind === "json") {
    for (const row of rows) ctx.out(JSON.stringify(row));
  } else if (fmt.kind === "default") {
    ctx.out(
      table(
        columns.map(([, h]) => h),
        rows.map((r) =>
          columns.map(([k]) => (typeof k === "function" ? k(r) : String(r[k] ?? ""))),
        ),
      ),
    );
  } else {
    const render = compileTemplate(fmt.source);
    const lines = rows.map((r) => render(r));
    if (fmt.table) {
      const headerOf = new Map(
        columns.filter((c): c is [string, string] => typeof c[0] === "string"),
      );
      const header = fmt.source.replace(
        /\{\{-?\s*(?:\w+\s+)?\.(\w+)[^}]*\}\}/g,
        (_, k: string) => headerOf.get(k) ?? k.toUpperCase(),
      );
      const cells = [header, ...lines].map((l) => l.replaceAll("\\t", "\t").split("\t"));
      ctx.out(table(cells[0]!, cells.slice(1)));
    } else for (const line of lines) ctx.out(line);
  }
}

/** Prints inspected objects: Docker's indented JSON array, or one template rendering per object. */
export function printObjects(ctx: Ctx, fmt: OutputFormat, objects: unknown[]): void {
  if (fmt.kind === "template") {
    const render = compileTemplate(fmt.source);
    for (const o of objects) ctx.out(render(o));
  } else ctx.out(JSON.stringify(objects, null, 4));
}

export function need(args: Parsed, count: number, what: string, command: string): void {
  if (args.positionals.length < count) {
    throw invalid(
      `"swarmnet ${command}" requires at least ${count} argument${count === 1 ? "" : "s"} (${what})`,
    );
  }
}
