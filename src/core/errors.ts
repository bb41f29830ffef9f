import {
  ERROR_CODES,
  type ErrorCode,
  type ErrorKind,
  EXIT_CODES,
  HTTP_STATUSES,
} from './error-codes.ts';

/**
 * The one error class of VDC. `code` is stable and documented; `message` says what was
 * wrong and what to do about it; `cause` keeps the underlying error.
 */
export class VdcError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VdcError';
    this.code = code;
  }

  get kind(): ErrorKind {
    return ERROR_CODES[this.code];
  }

  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** Wraps anything thrown into a VdcError, keeping VdcErrors as they are. */
export function asVdcError(err: unknown): VdcError {
  if (err instanceof VdcError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new VdcError('INTERNAL', `unexpected failure: ${message}`, { cause: err });
}

/** The process exit code for an error: see docs/cli.md. */
export function exitCodeOf(err: unknown): number {
  return EXIT_CODES[asVdcError(err).kind];
}

/** The HTTP status for an error, for servers mapping errors at their edge. */
export function httpStatusOf(err: unknown): number {
  return HTTP_STATUSES[asVdcError(err).kind];
}
