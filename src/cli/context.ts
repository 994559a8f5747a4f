// What every command gets: the API client, output streams and the helpers
// that make output look like Docker's (tables, JSON, one-line errors).

import { invalid } from "../core/errors.ts";
import type { Client } from "./client.ts";
import type { FlagSpec, Parsed } from "./flags.ts";

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
  { name: "format", short: "f", kind: "string", help: "Format output: table (default) or json" },
  { name: "json", kind: "bool", help: "Same as --format json" },
];

export function wantsJson(args: Parsed): boolean {
  const format = args.flags.format as string | undefined;
  if (format !== undefined && format !== "json" && format !== "table") {
    throw invalid(`unsupported format "${format}": use json or table`);
  }
  return args.flags.json === true || format === "json";
}

export function printJsonLines(ctx: Ctx, rows: unknown[]): void {
  for (const row of rows) ctx.out(JSON.stringify(row));
}

export function printInspect(ctx: Ctx, objects: unknown[]): void {
  ctx.out(JSON.stringify(objects, null, 4));
}

export function need(args: Parsed, count: number, what: string, command: string): void {
  if (args.positionals.length < count) {
    throw invalid(
      `"swarmnet ${command}" requires at least ${count} argument${count === 1 ? "" : "s"} (${what})`,
    );
  }
}
