// Buffered answers (JSON, a value's bytes), written to Node's response directly.
// Koa's body setter and respond() re-derive the type (a MIME lookup, a regex test),
// validate the status twice and set each header through arrays built per call; on
// the routes every request takes, that was a measurable share of the API's CPU.
// Streamed answers (watches, events, snapshots, the recording) still go through
// Koa's body. Headers set on the context before (ETag, Location, CORS…) go along.
import type Koa from 'koa';

const JSON_TYPE = 'application/json; charset=utf-8';

/** Answers `status` with `body` of `type`; a HEAD gets the same head and no body (Node drops it). */
export function answer(ctx: Koa.Context, status: number, type: string, body: string | Buffer): void {
  const res = ctx.res;
  ctx.respond = false;
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', typeof body === 'string' ? Buffer.byteLength(body) : body.length);
  res.end(body);
}

/** Answers `status` with `body` as JSON. */
export function answerJson(ctx: Koa.Context, status: number, body: unknown): void {
  answer(ctx, status, JSON_TYPE, JSON.stringify(body));
}
