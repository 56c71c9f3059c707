// Buffered answers (JSON, a value's bytes), written to Node's response directly.
// Koa's body setter and respond() re-derive the type (a MIME lookup, a regex test),
// validate the status twice and set each header through arrays built per call; on
// the routes every request takes, that was a measurable share of the API's CPU.
// Streamed answers (watches, events, snapshots, the recording) still go through
// Koa's body. Headers set on the context before (ETag, Location, CORS…) go along.
import type Koa from 'koa';

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Answers `status` with `body` of `type`, with the ETag of `revision` when given; a
 * HEAD gets the same head and no body (Node drops it). The head goes to writeHead as
 * one list: no header object per response and no setHeader validation per header
 * (writeHead validates the list once as it writes it); headers set on the response
 * before are merged in by writeHead.
 */
export function answer(ctx: Koa.Context, status: number, type: string, body: string | Buffer, revision?: number): void {
  const res = ctx.res;
  ctx.respond = false;
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  res.writeHead(status, revision === undefined ? ['Content-Type', type, 'Content-Length', length] : ['ETag', `"${revision}"`, 'Content-Type', type, 'Content-Length', length]);
  res.end(body);
}

/** Answers `status` with `body` as JSON, with the ETag of `revision` when given. */
export function answerJson(ctx: Koa.Context, status: number, body: unknown, revision?: number): void {
  answer(ctx, status, JSON_TYPE, JSON.stringify(body), revision);
}
