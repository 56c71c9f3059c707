// The few protobuf messages the gRPC targets send, encoded by hand: a request
// is a handful of length-delimited and varint fields, so a generic codec would
// only add per-request work to the load generator's side of the measurement.

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** A field of a message: bytes (wire type 2) or an unsigned varint (wire type 0; zero is left out, as proto3 does). */
export type Field = { readonly no: number; readonly bytes: Buffer } | { readonly no: number; readonly varint: number };

export function encodeMessage(fields: readonly Field[]): Buffer {
  let size = 0;
  for (const f of fields) {
    if ('bytes' in f) size += varintLength(f.no << 3) + varintLength(f.bytes.length) + f.bytes.length;
    else if (f.varint !== 0) size += varintLength(f.no << 3) + varintLength(f.varint);
  }
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (const f of fields) {
    if ('bytes' in f) {
      at = writeVarint(buf, at, (f.no << 3) | 2);
      at = writeVarint(buf, at, f.bytes.length);
      at += f.bytes.copy(buf, at);
    } else if (f.varint !== 0) {
      at = writeVarint(buf, at, f.no << 3);
      at = writeVarint(buf, at, f.varint);
    }
  }
  return buf;
}
