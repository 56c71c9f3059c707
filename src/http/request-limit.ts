import { HttpError } from './http-error.js';

/** What a 429 tells the client to wait, in seconds: requests finish in milliseconds, so soon. */
export const TOO_MANY_REQUESTS_RETRY_AFTER_SECONDS = 1;

/**
 * At most `max` requests in progress (http.requests_max); the next one is answered
 * 429 at once, before its body is read. Health probes and watches are not counted
 * (the caller decides which): an overloaded node is still alive.
 */
export class RequestLimit {
  private inProgress = 0;

  constructor(private readonly max: number) {}

  /** Counts a request in, or throws the 429; each `enter` is followed by one `leave`. */
  enter(): void {
    if (this.inProgress >= this.max) {
      throw new HttpError('too_many_requests', `${this.max} requests are in progress (http.requests_max); not applied`, { 'Retry-After': String(TOO_MANY_REQUESTS_RETRY_AFTER_SECONDS) });
    }
    this.inProgress++;
  }

  leave(): void {
    this.inProgress--;
  }
}
