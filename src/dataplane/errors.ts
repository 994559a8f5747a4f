// Errors of the data plane, one tree with stable `code`s (undici's lesson):
// callers branch on `code` or the predicates below, never on message text.
// Command failures are classified once, in linux/exec.ts, from stderr; no
// caller looks at stderr again.

export type DataplaneErrorCode =
  /** A name the kernel would refuse (IFNAMSIZ, characters) or swarmnet cannot own. */
  | "DP_INVALID_NAME"
  /** render() got a view or options it cannot turn into kernel state. */
  | "DP_RENDER_INPUT"
  /** A command could not be started (not installed?). */
  | "DP_SPAWN_FAILED"
  /** A command failed for a reason not classified below. */
  | "DP_EXEC_FAILED"
  /** The object (device, namespace, table) does not exist. */
  | "DP_NOT_FOUND"
  /** The object already exists. */
  | "DP_EXISTS"
  /** Not root / missing capability. */
  | "DP_PERMISSION"
  /** A command's output was not what the parser expects. */
  | "DP_PARSE_FAILED";

export interface ExecDetails {
  argv: string[];
  exitCode: number | null;
  stderr: string;
  /** For `-batch` / `-f -` runs: the 1-based input line the tool reported as failing. */
  line?: number;
  /** The input line itself, and the reason of the plan step it came from. */
  command?: string;
  reason?: string;
}

export class DataplaneError extends Error {
  readonly code: DataplaneErrorCode;
  readonly exec?: ExecDetails;
  constructor(code: DataplaneErrorCode, message: string, exec?: ExecDetails) {
    super(message);
    this.name = "DataplaneError";
    this.code = code;
    if (exec) this.exec = exec;
  }
}

export function isDataplaneError(err: unknown, code?: DataplaneErrorCode): err is DataplaneError {
  return err instanceof DataplaneError && (code === undefined || err.code === code);
}

export function isNotFound(err: unknown): boolean {
  return isDataplaneError(err, "DP_NOT_FOUND");
}

export function isExists(err: unknown): boolean {
  return isDataplaneError(err, "DP_EXISTS");
}

/** Any failure of a command that ran (as opposed to bad input or a parse error). */
export function isExecError(err: unknown): err is DataplaneError {
  return (
    isDataplaneError(err) &&
    (err.code === "DP_EXEC_FAILED" ||
      err.code === "DP_NOT_FOUND" ||
      err.code === "DP_EXISTS" ||
      err.code === "DP_PERMISSION")
  );
}
