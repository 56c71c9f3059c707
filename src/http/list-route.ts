// GET /v1/kv/{prefix}?list: the keys under a prefix, a page at a time.
import type Koa from 'koa';
import { keyBytesMax, rangeLimitDefault, rangeLimitMax } from '../kv/limits.js';
import { answerJson } from './answer.js';
import type { Gateway } from './gateway.js';
import { HttpError } from './http-error.js';
import { keyToJson, valueToJson } from './kv-json.js';
import { consistencyOf, intParam, type ParamKind } from './request.js';

/** The query a listing takes; `list` (a flag) is what makes a GET of a key route a listing. */
export const LIST_PARAMS: Readonly<Record<string, ParamKind>> = { list: 'flag', limit: 'value', page_token: 'value', keys_only: 'flag', consistency: 'value' };

/** A page token: the last key of the page, base64url. Opaque to clients. */
export function pageTokenOf(lastKey: string): string {
  return Buffer.from(lastKey, 'latin1').toString('base64url');
}

function afterOf(token: string): Uint8Array {
  const key = Buffer.from(token, 'base64url');
  if (!/^[A-Za-z0-9_-]+$/.test(token) || key.length < 1 || key.length > keyBytesMax || key.toString('base64url') !== token) {
    throw new HttpError('bad_request', 'page_token is not one this API gave out');
  }
  return key;
}

/**
 * One page: keys in byte order with values (unless keys_only), revisions and
 * leases, the revision (applied index) it was read at, and a token for the next
 * page. Each page is one consistent read; pages read at different revisions, so a
 * key written between two pages shows in a later page only if it sorts after the
 * token (README "Listing").
 */
export async function listPrefix(ctx: Koa.Context, gateway: Gateway, prefix: Uint8Array, query: ReadonlyMap<string, string>): Promise<void> {
  const consistency = consistencyOf(query);
  const limit = intParam(query, 'limit', rangeLimitMax, rangeLimitDefault);
  const keysOnly = query.has('keys_only');
  const token = query.get('page_token');
  const after = token === undefined ? null : afterOf(token);
  const listing = await gateway.read(ctx, 'list', consistency, (state) => {
    const page = state.range({ prefix, after, limit, keysOnly });
    const last = page.entries[page.entries.length - 1];
    return {
      revision: state.appliedIndex(),
      entries: page.entries.map(({ key, entry }) => ({
        key: keyToJson(key),
        ...(keysOnly ? {} : { value: valueToJson(entry.value) }),
        revision: entry.revision,
        lease: entry.lease,
      })),
      next_page_token: page.more && last !== undefined ? pageTokenOf(last.key) : null,
    };
  });
  answerJson(ctx, 200, listing);
}
