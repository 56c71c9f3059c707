// Keys and values in JSON bodies (listings, transactions, watch events, leases).
// Keys are percent-encoded as in the URL path, keeping letters, digits, "-._~" and
// "/" as they are, so `config/app/db` reads as itself and any byte survives;
// values are base64 (standard alphabet, padded), as etcd's JSON API and Consul's
// Value field carry them.
import { HttpError } from './http-error.js';
import { keyOf } from './request.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function keptAsIs(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e || b === 0x2f;
}

/** A key's JSON form; `key` as bytes, or as the latin1 string the store holds. */
export function keyToJson(key: Uint8Array | string): string {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'latin1') : key;
  let out = '';
  for (const b of bytes) out += keptAsIs(b) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** A key from its JSON form (percent escapes, or plain text as UTF-8). */
export function keyFromJson(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string') throw new HttpError('bad_request', `${what} must be a string (the key, percent-encoded as in a URL path)`);
  return keyOf(v, what);
}

export function valueToJson(value: Uint8Array): string {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
}

export function valueFromJson(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || !BASE64.test(v)) throw new HttpError('bad_request', `${what} must be base64 (standard alphabet, padded)`);
  return Buffer.from(v, 'base64');
}

/** A JSON object, or a bad_request naming what is wrong. */
export function objectFromJson(body: Uint8Array, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new HttpError('bad_request', `${what} is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError('bad_request', `${what} must be a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Refuses fields a JSON object may not have, so a typo is an error rather than ignored. */
export function onlyFields(o: Record<string, unknown>, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new HttpError('bad_request', `${what} has an unknown field ${JSON.stringify(k.slice(0, 64))}`);
}
