// /v1/kv/{key}: GET (or a listing with ?list), PUT, DELETE.
import type Koa from 'koa';
import type { KvResult } from '../kv/command.js';
import { answer, answerJson } from './answer.js';
import type { Gateway } from './gateway.js';
import { HttpError } from './http-error.js';
import { LIST_PARAMS, listPrefix } from './list-route.js';
import { conditionOf, consistencyOf, keyOf, queryOf, readBody, tagOf } from './request.js';

function answerWrite(ctx: Koa.Context, r: Extract<KvResult, { op: 'put' | 'delete' }>): void {
  if (!r.ok) {
    if (r.error === 'lease_not_found') throw new HttpError('lease_not_found', `lease ${r.lease} does not exist; nothing was written`);
    if (r.currentRevision !== null) ctx.res.setHeader('ETag', `"${r.currentRevision}"`);
    throw new HttpError('revision_mismatch', `the key's revision is ${r.currentRevision ?? 'none (absent)'}`);
  }
  if (r.op === 'put') {
    answerJson(ctx, 200, { revision: r.revision }, r.revision);
  } else {
    answerJson(ctx, 200, { deleted: r.deleted, revision: r.revision });
  }
}

export async function getKey(ctx: Koa.Context, gateway: Gateway, rawKey: string): Promise<void> {
  if (ctx.querystring !== '' && new URLSearchParams(ctx.querystring).has('list')) {
    // A listing's prefix may be empty: GET /v1/kv/?list lists every key.
    const query = queryOf(ctx, LIST_PARAMS);
    return listPrefix(ctx, gateway, rawKey === '' ? new Uint8Array(0) : keyOf(rawKey, 'the prefix'), query);
  }
  const key = keyOf(rawKey);
  const consistency = consistencyOf(queryOf(ctx, { consistency: 'value' }));
  const got = await gateway.read(ctx, 'get', consistency, (state) => state.get(key));
  if (got === undefined) throw new HttpError('key_not_found', 'no such key');
  answer(ctx, 200, 'application/octet-stream', Buffer.from(got.value.buffer, got.value.byteOffset, got.value.byteLength), got.revision);
}

/** `?lease=ID` attaches the key to a lease: deleted when the lease ends. */
function leaseParam(query: ReadonlyMap<string, string>): number | undefined {
  const v = query.get('lease');
  if (v === undefined) return undefined;
  if (!/^[1-9]\d{0,15}$/.test(v) || !Number.isSafeInteger(Number(v))) throw new HttpError('bad_request', 'lease is a lease id (a positive integer)');
  return Number(v);
}

export async function putKey(ctx: Koa.Context, gateway: Gateway, rawKey: string, valueBytesMax: number): Promise<void> {
  const key = keyOf(rawKey);
  const lease = leaseParam(queryOf(ctx, { lease: 'value' }));
  const condition = conditionOf(ctx);
  const tag = tagOf(ctx);
  const h = ctx.req.headers;
  if (h['content-length'] === undefined && h['transfer-encoding'] === undefined) throw new HttpError('length_required', 'PUT needs Content-Length or a chunked body');
  const encoding = (h['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity') throw new HttpError('unsupported_media_type', 'values are stored as sent: Content-Encoding must be identity');
  if (ctx.request.length !== undefined && ctx.request.length > valueBytesMax) throw new HttpError('value_too_large', `value is ${ctx.request.length} bytes; the limit is ${valueBytesMax}`);
  gateway.redirectWriteIfFollower(ctx);
  const value = await readBody(ctx, valueBytesMax);
  answerWrite(ctx, await gateway.propose(ctx, 'put', lease === undefined ? { op: 'put', key, value, condition, tag } : { op: 'put', key, value, condition, tag, lease }));
}

export async function deleteKey(ctx: Koa.Context, gateway: Gateway, rawKey: string): Promise<void> {
  const key = keyOf(rawKey);
  queryOf(ctx, {});
  const condition = conditionOf(ctx);
  if (condition.kind === 'absent') throw new HttpError('bad_precondition', 'If-None-Match does not apply to DELETE');
  const tag = tagOf(ctx);
  gateway.redirectWriteIfFollower(ctx);
  answerWrite(ctx, await gateway.propose(ctx, 'delete', { op: 'delete', key, condition, tag }));
}
