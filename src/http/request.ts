// Reading a REST request: the key in the path, the body, the query, the
// precondition and idempotency headers. Every problem is an HttpError from the
// catalog, so a bad request never reaches the node.
import type Koa from 'koa';
import { idempotencyTag, type Condition, type RequestTag } from '../kv/command.js';
import { idempotencyKeyBytesMax, keyBytesMax } from '../kv/limits.js';
import { HttpError } from './http-error.js';

/** An Idempotency-Key header: visible ASCII, so its characters are its bytes. */
const IDEMPOTENCY_KEY_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${idempotencyKeyBytesMax}}$`);

export type Consistency = 'linearizable' | 'lease' | 'stale';

/** Percent-decodes a path into raw bytes (any byte may be sent as %XX), or null if malformed. */
export function decodePathBytes(raw: string): Uint8Array | null {
  return plainAsciiBytes(raw) ?? decodeEscapedBytes(raw);
}

/** The bytes of a path of plain ASCII (no escape, no longer than a key), the common case, without building a list; else null. */
function plainAsciiBytes(raw: string): Uint8Array | null {
  if (raw.length > keyBytesMax) return null;
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const ch = raw.charCodeAt(i);
    if (ch === 0x25 || ch >= 0x80) return null;
    out[i] = ch;
  }
  return out;
}

function decodeEscapedBytes(raw: string): Uint8Array | null {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const ch = raw.charCodeAt(i);
    if (ch === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (ch < 0x80) {
      out.push(ch);
    } else {
      for (const b of Buffer.from(raw[i]!, 'utf8')) out.push(b);
    }
    if (out.length > keyBytesMax) return Uint8Array.from(out);
  }
  return Uint8Array.from(out);
}

/** A key from the path (or a JSON field in the same form): 1..keyBytesMax bytes, or a bad_key error. */
export function keyOf(raw: string, what = 'the key'): Uint8Array {
  const key = decodePathBytes(raw);
  if (key === null) throw new HttpError('bad_key', `${what} has a malformed percent escape`);
  if (key.length < 1 || key.length > keyBytesMax) throw new HttpError('bad_key', `${what} must be 1 to ${keyBytesMax} bytes`);
  return key;
}

/**
 * Reads a request body, refusing (413) as soon as it is known to exceed `limit`:
 * from Content-Length before reading anything, else when the streamed total does.
 * Past the limit nothing more is kept: the rest is drained and dropped, so the
 * client can read the answer on its connection instead of seeing a reset.
 */
export function readBody(ctx: Koa.Context, limit: number): Promise<Uint8Array> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) return Promise.reject(new HttpError('value_too_large', `value is ${declared} bytes; the limit is ${limit}`));
  const req = ctx.req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      req.resume();
      reject(new HttpError('value_too_large', `value exceeds the limit of ${limit} bytes`));
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new HttpError('bad_request', `the body could not be read: ${e.message}`));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** The query of a request without one (most), shared: nothing reads it but to look a parameter up. */
const NO_QUERY: ReadonlyMap<string, string> = new Map();

/** How a query parameter is written: a flag (`?list`, `?list=true`) or one with a value. */
export type ParamKind = 'flag' | 'value';

/**
 * The query, checked against the parameters a route takes: each at most once,
 * flags empty or `true`. Anything else is a 400, so a typo never silently weakens
 * or widens a request.
 */
export function queryOf(ctx: Koa.Context, allowed: Readonly<Record<string, ParamKind>>): ReadonlyMap<string, string> {
  if (ctx.querystring === '') return NO_QUERY;
  const out = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(ctx.querystring)) {
    const kind = Object.hasOwn(allowed, name) ? allowed[name] : undefined;
    if (kind === undefined) throw new HttpError('bad_request', `unknown query parameter ${JSON.stringify(name.slice(0, 64))}`);
    if (out.has(name)) throw new HttpError('bad_request', `${name} is given twice`);
    if (kind === 'flag' && value !== '' && value !== 'true') throw new HttpError('bad_request', `${name} is a flag: give it without a value`);
    out.set(name, value);
  }
  return out;
}

/** The `consistency` of a read: linearizable (the default), lease or stale. */
export function consistencyOf(query: ReadonlyMap<string, string>): Consistency {
  const c = query.get('consistency') ?? 'linearizable';
  if (c !== 'linearizable' && c !== 'lease' && c !== 'stale') throw new HttpError('bad_request', 'consistency is linearizable, lease or stale');
  return c;
}

/** A positive integer parameter no larger than `max`, or `fallback` when absent. */
export function intParam(query: ReadonlyMap<string, string>, name: string, max: number, fallback: number): number {
  const v = query.get(name);
  if (v === undefined) return fallback;
  if (!/^\d{1,15}$/.test(v) || Number(v) < 1 || Number(v) > max) throw new HttpError('bad_request', `${name} is an integer from 1 to ${max}`);
  return Number(v);
}

export function conditionOf(ctx: Koa.Context): Condition {
  const ifMatch = ctx.req.headers['if-match'];
  const ifNoneMatch = ctx.req.headers['if-none-match'];
  if (ifMatch !== undefined && ifNoneMatch !== undefined) throw new HttpError('bad_precondition', 'use If-Match or If-None-Match, not both');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new HttpError('bad_precondition', 'If-None-Match supports only *');
    return { kind: 'absent' };
  }
  if (ifMatch !== undefined) {
    const m = /^\s*"(\d{1,15})"\s*$/.exec(ifMatch);
    if (m === null) throw new HttpError('bad_precondition', 'If-Match must be one revision in quotes, like "42"');
    return { kind: 'revision', revision: Number(m[1]) };
  }
  return { kind: 'none' };
}

export function tagOf(ctx: Koa.Context): RequestTag | null {
  const key = ctx.req.headers['idempotency-key'];
  if (key === undefined) return null;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) throw new HttpError('bad_request', `Idempotency-Key is 1 to ${idempotencyKeyBytesMax} visible ASCII characters`);
  return idempotencyTag(key);
}

