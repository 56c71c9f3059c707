// The JSON forms of keys and values the REST API uses (src/http/kv-json.ts): keys
// percent-encoded as in a path, values base64.
import { bytesOf, type Key, type Value } from './common.js';

/** Percent-encodes every byte but unreserved ones, so any key (slashes included) is one path segment. */
export function encodeKey(key: Key): string {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  let out = '';
  for (const b of bytes) {
    const unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f || b === 0x7e;
    out += unreserved ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export const valueToJson = (value: Value): string => bytesOf(value).toString('base64');

/** A key the server sent in its JSON form, as bytes; null if it is not that form. */
export function keyFromJson(v: unknown): Uint8Array | null {
  if (typeof v !== 'string') return null;
  const out: number[] = [];
  for (let i = 0; i < v.length; i++) {
    const ch = v.charCodeAt(i);
    if (ch === 0x25) {
      const hex = v.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null;
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (ch < 0x80) out.push(ch);
    else return null;
  }
  return Uint8Array.from(out);
}

export function valueFromJson(v: unknown): Uint8Array | null {
  return typeof v === 'string' ? new Uint8Array(Buffer.from(v, 'base64')) : null;
}
