// One error type for everything a user can get wrong or ask for in vain.
// Callers branch on `code`, never on message text; the HTTP layer maps codes
// to statuses in one place (400 bad input, 404 unknown, 409 conflict, ...).
// Messages are written for users, in Docker's words where Docker has the
// same error.

export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "NOT_FOUND"
  | "CONFLICT"
  | "FAILED_PRECONDITION"
  | "NOT_MANAGER"
  | "UNAVAILABLE"
  | "INTERNAL";

export class SwarmnetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = "SwarmnetError";
    this.code = code;
  }
}

export function invalid(message: string): SwarmnetError {
  return new SwarmnetError("INVALID_ARGUMENT", message);
}
export function notFound(message: string): SwarmnetError {
  return new SwarmnetError("NOT_FOUND", message);
}
export function conflict(message: string): SwarmnetError {
  return new SwarmnetError("CONFLICT", message);
}
export function precondition(message: string): SwarmnetError {
  return new SwarmnetError("FAILED_PRECONDITION", message);
}

export function isSwarmnetError(err: unknown, code?: ErrorCode): err is SwarmnetError {
  return err instanceof SwarmnetError && (code === undefined || err.code === code);
}

export const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  FAILED_PRECONDITION: 409,
  NOT_MANAGER: 503,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export const NOT_MANAGER_MESSAGE =
  'This node is not a swarm manager. Use "swarmnet init" or "swarmnet join" to connect this node to swarm and try again.';
