// Docker-style flag parsing: `--name v`, `--name=v`, `-p v`, repeatable
// lists, booleans with optional `=false`, and `--` ending the flags. Flags
// stop at the first positional argument when `interspersed` is false, so a
// service's command keeps its own flags (`service create --name s sh -c ...`).
import { invalid } from "../core/errors.ts";

export type FlagKind = "bool" | "string" | "int" | "list";

export interface FlagSpec {
  name: string;
  short?: string;
  kind: FlagKind;
  help: string;
}

export type FlagValues = Record<string, string | number | boolean | string[] | undefined>;

export interface Parsed {
  flags: FlagValues;
  positionals: string[];
  /** Whether `--` appeared (everything after it is positional). */
  dashdash: boolean;
}

export const HELP_FLAG: FlagSpec = { name: "help", kind: "bool", help: "Print usage" };

export function parseFlags(
  args: string[],
  specs: FlagSpec[],
  command: string,
  interspersed = true,
): Parsed {
  const all = [...specs, HELP_FLAG];
  const flags: FlagValues = {};
  for (const s of all) if (s.kind === "list") flags[s.name] = [];
  const positionals: string[] = [];
  const hint = ` (see 'swarmnet ${command} --help')`;
  let dashdash = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      dashdash = true;
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (!interspersed) {
        positionals.push(...args.slice(i));
        break;
      }
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const eq = arg.indexOf("=");
    const name = long ? arg.slice(2, eq > 0 ? eq : undefined) : arg.slice(1, eq > 0 ? eq : 2);
    let inline = eq > 0 ? arg.slice(eq + 1) : !long && arg.length > 2 ? arg.slice(2) : undefined;
    const spec = all.find((s) => (long ? s.name === name : s.short === name));
    if (!spec)
      throw invalid(
        long
          ? `unknown flag: --${name}${hint}`
          : `unknown shorthand flag: '${name}' in ${arg}${hint}`,
      );
    const label = long ? `--${spec.name}` : `-${spec.short}`;
    if (spec.kind === "bool") {
      if (inline !== undefined && !["true", "false", "1", "0"].includes(inline)) {
        throw invalid(`invalid argument "${inline}" for "${label}" flag: expected true or false`);
      }
      flags[spec.name] = inline === undefined ? true : inline === "true" || inline === "1";
      continue;
    }
    if (inline === undefined) {
      if (i + 1 >= args.length) throw invalid(`flag needs an argument: ${label}${hint}`);
      inline = args[++i]!;
    }
    if (spec.kind === "int") {
      if (!/^-?\d+$/.test(inline))
        throw invalid(`invalid argument "${inline}" for "${label}" flag: not an integer`);
      flags[spec.name] = Number(inline);
    } else if (spec.kind === "list") {
      (flags[spec.name] as string[]).push(inline);
    } else {
      flags[spec.name] = inline;
    }
  }
  return { flags, positionals, dashdash };
}

export function usage(command: string, synopsis: string, specs: FlagSpec[]): string {
  const rows = specs.map((s) => {
    const left = `${s.short ? `-${s.short}, ` : "    "}--${s.name}${s.kind === "bool" ? "" : s.kind === "int" ? " int" : " string"}`;
    return `  ${left.padEnd(36)}${s.help}`;
  });
  return `Usage:  swarmnet ${command} ${synopsis}\n${rows.length ? `\nOptions:\n${rows.join("\n")}\n` : ""}`;
}

/** Parses `k=v` strings into a record (labels, aux addresses, options). A bare `k` maps to "". */
export function keyValues(items: string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    if (key === "") throw invalid(`invalid ${what} "${item}": expected KEY=VALUE`);
    out[key] = eq < 0 ? "" : item.slice(eq + 1);
  }
  return out;
}
