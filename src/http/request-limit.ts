import type Koa from 'koa';
import { HttpError } from './http-error.js';

/** What a 429 tells the client to wait, in seconds: requests finish in milliseconds, so soon. */
export const TOO_MANY_REQUESTS_RETRY_AFTER_SECONDS = 1;

/**
 * At most `max` requests in progress (http.requests_max); the next one is answered
 * 429 at once, before its body is read. Health probes are never refused: an
 * overloaded node is still alive.
 */
export function requestLimit(max: number, exempt: (path: string) => boolean): Koa.Middleware {
  let inProgress = 0;
  return async (ctx, next) => {
    if (exempt(ctx.path)) return next();
    if (inProgress >= max) {
      throw new HttpError('too_many_requests', `${max} requests are in progress (http.requests_max); not applied`, { 'Retry-After': String(TOO_MANY_REQUESTS_RETRY_AFTER_SECONDS) });
    }
    inProgress++;
    try {
      await next();
    } finally {
      inProgress--;
    }
  };
}
