// The one place swarmnet starts kernel tools (ip, bridge, nft, nsenter).
// Failures become DataplaneErrors classified here, once, from stderr: callers
// branch on `code` (or isNotFound / isExists), never on message text.
import { spawn } from "node:child_process";
import { DataplaneError, type DataplaneErrorCode } from "../errors.ts";
import { checkNsName } from "../names.ts";

export interface ExecResult {
  stdout: string;
  stderr: string;
}

// What the tools print; kept in one table so a new iproute2 wording is one edit.
const CLASSIFY: [RegExp, DataplaneErrorCode][] = [
  [
    /Cannot find device|does not exist|No such file or directory|No such device|Object not found|Cannot open network namespace/,
    "DP_NOT_FOUND",
  ],
  [/File exists|already exists/, "DP_EXISTS"],
  [/Operation not permitted|Permission denied/, "DP_PERMISSION"],
];

export function classify(stderr: string): DataplaneErrorCode {
  for (const [re, code] of CLASSIFY) if (re.test(stderr)) return code;
  return "DP_EXEC_FAILED";
}

/** `ip -batch` reports "Command failed -:N"; `nft -f -` reports "-:N:". */
export function failedLine(stderr: string): number | undefined {
  const m = /Command failed -:(\d+)|^(?:-|\/dev\/stdin):(\d+):/m.exec(stderr);
  return m ? Number(m[1] ?? m[2]) : undefined;
}

/** Runs argv, feeding `input` on stdin; rejects with a classified DataplaneError. */
export function run(argv: string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => out.push(c));
    child.stderr.on("data", (c: Buffer) => err.push(c));
    // A tool that exits before reading all of stdin closes the pipe: EPIPE is
    // reported through its exit status, not here.
    child.stdin.on("error", () => {});
    child.on("error", (e: NodeJS.ErrnoException) => {
      reject(
        new DataplaneError("DP_SPAWN_FAILED", `cannot run ${argv[0]}: ${e.message}`, {
          argv,
          exitCode: null,
          stderr: "",
        }),
      );
    });
    child.on("close", (code) => {
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code === 0) return resolve({ stdout, stderr });
      const kind = classify(stderr);
      const line = failedLine(stderr);
      const first = stderr.trim().split("\n")[0] ?? "";
      const details = { argv, exitCode: code, stderr, ...(line !== undefined ? { line } : {}) };
      reject(
        new DataplaneError(kind, `${argv.join(" ")} failed (exit ${code}): ${first}`, details),
      );
    });
    child.stdin.end(input ?? "");
  });
}

/** `ip` in a namespace ("" = the caller's). */
export function ip(ns: string, ...args: string[]): string[] {
  return checkNsName(ns) ? ["ip", "-n", ns, ...args] : ["ip", ...args];
}

export function bridge(ns: string, ...args: string[]): string[] {
  return checkNsName(ns) ? ["bridge", "-n", ns, ...args] : ["bridge", ...args];
}

/** Any other command in a namespace. nsenter rather than `ip netns exec`: it
 * does not remount /sys in a new mount namespace, and costs one exec less. */
export function inNs(ns: string, argv: string[]): string[] {
  return checkNsName(ns) ? ["nsenter", `--net=/run/netns/${ns}`, "--", ...argv] : argv;
}

/** Splits the concatenated JSON documents `ip -j -batch` prints (one per command). */
export function splitJson(text: string): unknown[] {
  const docs: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "[" || c === "{") {
      if (depth++ === 0) start = i;
    } else if (c === "]" || c === "}") {
      if (--depth === 0) docs.push(parseJson(text.slice(start, i + 1)));
    }
  }
  if (depth !== 0) throw new DataplaneError("DP_PARSE_FAILED", "truncated JSON from ip");
  return docs;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DataplaneError("DP_PARSE_FAILED", `bad JSON from ip: ${(e as Error).message}`);
  }
}
