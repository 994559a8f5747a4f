// Errors of the compose loader: a message in Docker's words, and where in
// which file it was written when that is known.

export interface Position {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

export class ComposeError extends Error {
  /** The message without the position prefix. */
  readonly detail: string;
  readonly position?: Position;
  constructor(detail: string, position?: Position) {
    super(position ? `${position.file}:${position.line}:${position.column}: ${detail}` : detail);
    this.name = "ComposeError";
    this.detail = detail;
    this.position = position;
  }
}
