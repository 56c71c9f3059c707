import { errorCatalog, type ErrorCode } from '../errors.js';

/**
 * An answer from the error catalog, with the headers it needs (Allow, Retry-After, WWW-Authenticate…).
 * Thrown to answer, not because something broke: it takes no stack trace, which would cost more than
 * the whole answer on hot paths (a follower's 307, a GET of a missing key), and nothing ever reads it.
 */
export class HttpError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.status = errorCatalog[code].http;
  }
}
