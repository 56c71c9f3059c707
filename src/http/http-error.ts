import { errorCatalog, type ErrorCode } from '../errors.js';

/** An answer from the error catalog, with the headers it needs (Allow, Retry-After, WWW-Authenticate…). */
export class HttpError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.status = errorCatalog[code].http;
  }
}
