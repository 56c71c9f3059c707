// GET /v1/watch/{key} (or {prefix}?prefix): Server-Sent Events from a revision on,
// resumable with Last-Event-ID; or, with ?index=N, a Consul-style blocking query.
import { PassThrough } from 'node:stream';
import type Koa from 'koa';
import type { KvChange } from '../kv/change-window.js';
import { keyBytesMax } from '../kv/limits.js';
import type { BinaryKey } from '../kv/sharded-map.js';
import type { WatchEnd, WatchEvent, WatchHub, WatchSelector } from '../watch/watch-hub.js';
import { answerJson } from './answer.js';
import { HttpError } from './http-error.js';
import { keyToJson, valueToJson } from './kv-json.js';
import { keyOf, queryOf } from './request.js';

export const WATCH_PREFIX = '/v1/watch/';
/** An SSE comment this often keeps proxies and idle timers from closing a quiet stream. */
const HEARTBEAT_MS = 15_000;
/** Past this many bytes buffered for a slow reader, the watch pauses (and the window decides its fate). */
const STREAM_BUFFER_BYTES = 256 * 1024;
/** A blocking query waits at most this long (Consul's own maximum), 5 minutes unless `wait` says. */
const WAIT_MS_MAX = 10 * 60 * 1000;
const WAIT_MS_DEFAULT = 5 * 60 * 1000;
/** A blocking query answers at most this many revisions; the next query goes on from its index. */
const BLOCKING_REVISIONS_MAX = 100;

/** A revision's changes as JSON: keys percent-encoded as in a path, values base64. */
export function eventJson(e: WatchEvent): object {
  return {
    revision: e.revision,
    events: e.changes.map((c: KvChange) =>
      c.value === null ? { type: 'delete', key: keyToJson(c.key), revision: e.revision } : { type: 'put', key: keyToJson(c.key), value: valueToJson(c.value), revision: e.revision, lease: c.lease },
    ),
  };
}

function revisionParam(v: string | undefined, name: string): number | null {
  if (v === undefined) return null;
  if (!/^\d{1,15}$/.test(v)) throw new HttpError('bad_request', `${name} is a revision (a non-negative integer)`);
  return Number(v);
}

/** Consul's wait: 10s, 5m, 250ms, or seconds. */
function waitMsOf(v: string | undefined): number {
  if (v === undefined) return WAIT_MS_DEFAULT;
  const m = /^(\d{1,7})(ms|s|m)?$/.exec(v);
  if (m === null) throw new HttpError('bad_request', 'wait is a duration like 10s, 5m or 250ms');
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  return Math.min(ms, WAIT_MS_MAX);
}

function endError(why: Exclude<WatchEnd, { kind: 'stopping' }>): { error: string; message: string; oldest_revision: number } {
  return why.kind === 'compacted'
    ? { error: 'compacted', message: `revision ${why.oldestRevision - 1} and older are compacted: list again, then watch from the listing's revision + 1`, oldest_revision: why.oldestRevision }
    : { error: 'watch_too_slow', message: `the watcher fell behind the change window (which now starts at revision ${why.oldestRevision}) and was cut off`, oldest_revision: why.oldestRevision };
}

function refused(r: { error: 'compacted'; oldestRevision: number } | { error: 'too_many_watchers' }): never {
  if (r.error === 'too_many_watchers') throw new HttpError('too_many_watchers', 'this node serves as many watches as it may; try another node', { 'Retry-After': '1' });
  throw new HttpError('compacted', endError({ kind: 'compacted', oldestRevision: r.oldestRevision }).message, { 'X-Kvstore-Oldest-Revision': String(r.oldestRevision) });
}

/** The watch of a request, from the path and the `prefix` flag. */
function selectorOf(rawKey: string, prefix: boolean): WatchSelector {
  if (prefix) return { kind: 'prefix', prefix: rawKey === '' ? '' : (Buffer.from(keyOf(rawKey, 'the prefix')).toString('latin1') as BinaryKey) };
  const key = keyOf(rawKey);
  if (key.length > keyBytesMax) throw new HttpError('bad_key', `keys are 1 to ${keyBytesMax} bytes`);
  return { kind: 'key', key: Buffer.from(key).toString('latin1') as BinaryKey };
}

export async function watchRoute(ctx: Koa.Context, hub: WatchHub, rawKey: string): Promise<void> {
  const query = queryOf(ctx, { prefix: 'flag', from_revision: 'value', index: 'value', wait: 'value' });
  const selector = selectorOf(rawKey, query.has('prefix'));
  const index = revisionParam(query.get('index'), 'index');
  if (index !== null) return blockingQuery(ctx, hub, selector, index, waitMsOf(query.get('wait')));
  if (query.has('wait')) throw new HttpError('bad_request', 'wait goes with index (a blocking query)');
  const lastEventId = ctx.get('Last-Event-ID');
  const resumeAfter = lastEventId === '' ? null : revisionParam(lastEventId.trim(), 'Last-Event-ID');
  const from = resumeAfter !== null ? resumeAfter + 1 : revisionParam(query.get('from_revision'), 'from_revision');
  stream(ctx, hub, selector, from === null ? null : Math.max(1, from));
}

function stream(ctx: Koa.Context, hub: WatchHub, selector: WatchSelector, from: number | null): void {
  const out = new PassThrough({ highWaterMark: STREAM_BUFFER_BYTES });
  const write = (text: string): boolean => out.write(text);
  let heartbeat: NodeJS.Timeout | null = null;
  const finish = (): void => {
    if (heartbeat !== null) clearInterval(heartbeat);
    heartbeat = null;
    out.end();
  };
  const started = hub.watch(selector, from, {
    deliver: (e) => write(`id: ${e.revision}\nevent: change\ndata: ${JSON.stringify(eventJson(e))}\n\n`),
    end: (why) => {
      if (why.kind === 'stopping') write(`event: error\ndata: ${JSON.stringify({ error: 'node_stopping', message: 'this node is stopping; resume at another with Last-Event-ID' })}\n\n`);
      else write(`event: error\ndata: ${JSON.stringify(endError(why))}\n\n`);
      finish();
    },
  });
  if (!started.ok) return refused(started);
  const watch = started.watch;
  out.on('drain', () => watch.resume());
  ctx.req.once('close', () => {
    watch.cancel();
    finish();
  });
  heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  ctx.status = 200;
  ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
  ctx.set('Cache-Control', 'no-cache');
  ctx.set('X-Accel-Buffering', 'no');
  write(`: watching from revision ${watch.fromRevision}\nretry: 1000\n\n`);
  ctx.body = out;
}

/**
 * `?index=N&wait=D`: answers as soon as a revision above N changes a watched key
 * (with every such revision then available, up to a bound), or after D with none;
 * `index` in the answer (and X-Kvstore-Index) is where the next query goes on from.
 */
async function blockingQuery(ctx: Koa.Context, hub: WatchHub, selector: WatchSelector, index: number, waitMs: number): Promise<void> {
  const events: WatchEvent[] = [];
  const answer = await new Promise<{ events: WatchEvent[]; index: number } | { end: WatchEnd }>((resolve, reject) => {
    let timer: NodeJS.Timeout | null = null;
    let settled = false;
    const settle = (v: { events: WatchEvent[]; index: number } | { end: WatchEnd }): void => {
      if (settled) return;
      settled = true;
      if (timer !== null) clearTimeout(timer);
      if (started.ok) started.watch.cancel();
      resolve(v);
    };
    const started = hub.watch(selector, index + 1, {
      deliver: (e) => {
        events.push(e);
        // More revisions may come in the same poll: answer once it is done.
        if (events.length === 1) setImmediate(() => settle({ events, index: events[events.length - 1]!.revision }));
        return events.length < BLOCKING_REVISIONS_MAX;
      },
      end: (why) => settle({ end: why }),
    });
    if (!started.ok) {
      try {
        refused(started);
      } catch (e) {
        reject(e as Error);
      }
      return;
    }
    timer = setTimeout(() => settle({ events: [], index: Math.max(index, hub.headRevision()) }), waitMs);
    ctx.req.once('close', () => settle({ events: [], index }));
  });
  if ('end' in answer) {
    if (answer.end.kind === 'stopping') throw new HttpError('node_stopping', 'this node is stopping; ask another');
    const e = endError(answer.end);
    throw new HttpError(e.error === 'compacted' ? 'compacted' : 'watch_too_slow', e.message, { 'X-Kvstore-Oldest-Revision': String(e.oldest_revision) });
  }
  ctx.res.setHeader('X-Kvstore-Index', String(answer.index));
  answerJson(ctx, 200, { index: answer.index, events: answer.events.map(eventJson) });
}
