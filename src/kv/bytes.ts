// Byte-level building blocks shared by the command codec and the snapshot format:
// a growable writer, a bounds-checked reader over one buffer, LEB128 varints for
// non-negative safe integers, and UTF-8 strings (request tags only; keys and
// values stay raw bytes).

/**
 * Thrown only by this folder's decoders on malformed input, and caught at their
 * public boundary (`decodeCommand`, `decodeResult`, `KvStateMachine.restore`),
 * which turn it into an error value. Nothing else catches it; every other
 * exception is a programmer error and propagates.
 */
export class CorruptBytes extends Error {
  override readonly name = 'CorruptBytes';
}

/** A varint never exceeds this many bytes: 7 groups of 7 bits plus 4 bits = 53 bits. */
const varintBytesMax = 8;

/** Anything a varint, a length-prefixed field or a result can be read from. */
export interface ByteSource {
  u8(): number;
  /** The next `n` bytes; may be a view into the input, so copy before keeping it. */
  bytes(n: number): Uint8Array;
}

/**
 * A non-negative safe integer in LEB128, canonical (minimal length, no trailing
 * zero groups), so every value has exactly one encoding.
 */
export function readVarint(src: ByteSource): number {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < varintBytesMax; i++) {
    const b = src.u8();
    const low = b & 0x7f;
    if (i === varintBytesMax - 1 && b > 0x0f) throw new CorruptBytes('varint exceeds 2^53 - 1');
    result += low * scale;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) throw new CorruptBytes('varint is not minimal');
      return result;
    }
    scale *= 0x80;
  }
  throw new CorruptBytes('varint exceeds 2^53 - 1');
}

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

export class ByteWriter {
  private buf: Uint8Array;
  private head = 0;
  private end = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.end - this.head;
  }

  /** The written bytes as a view; valid until the next write or take. */
  view(): Uint8Array {
    return this.buf.subarray(this.head, this.end);
  }

  /** Forgets everything written; the buffer is kept for the next writes. */
  clear(): void {
    this.head = this.end = 0;
  }

  /** Copies out the first `n` unread bytes and forgets them. */
  take(n: number): Uint8Array {
    if (n > this.length) throw new Error(`ByteWriter.take(${n}) with ${this.length} written`);
    const out = this.buf.slice(this.head, this.head + n);
    this.head += n;
    if (this.head === this.end) this.head = this.end = 0;
    return out;
  }

  private reserve(n: number): void {
    if (this.end + n <= this.buf.length) return;
    const live = this.end - this.head;
    // Compact in place when that suffices; otherwise grow geometrically.
    if (live + n <= this.buf.length) {
      this.buf.copyWithin(0, this.head, this.end);
    } else {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, live + n));
      grown.set(this.buf.subarray(this.head, this.end));
      this.buf = grown;
    }
    this.head = 0;
    this.end = live;
  }

  u8(v: number): void {
    this.reserve(1);
    this.buf[this.end++] = v;
  }

  /** Big-endian, as the snapshot checksum is stored. */
  u32(v: number): void {
    this.reserve(4);
    this.buf[this.end++] = v >>> 24;
    this.buf[this.end++] = (v >>> 16) & 0xff;
    this.buf[this.end++] = (v >>> 8) & 0xff;
    this.buf[this.end++] = v & 0xff;
  }

  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`varint of ${n}: not a non-negative safe integer`);
    this.reserve(varintBytesMax);
    while (n >= 0x80) {
      this.buf[this.end++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.buf[this.end++] = n;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.end);
    this.end += b.length;
  }

  /** A latin1 ("binary") string, one byte per char code, as keys are held in maps. */
  binary(s: string): void {
    this.reserve(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.end++] = s.charCodeAt(i);
  }
}

/** A bounds-checked cursor over one buffer; running past the end is `CorruptBytes`. */
export class ByteReader implements ByteSource {
  private pos = 0;

  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(): number {
    if (this.pos >= this.buf.length) throw new CorruptBytes('truncated');
    return this.buf[this.pos++]!;
  }

  bytes(n: number): Uint8Array {
    if (n > this.remaining) throw new CorruptBytes('truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

const utf8Encoder = new TextEncoder();
// fatal: malformed UTF-8 is an error, not U+FFFD; ignoreBOM: a leading U+FEFF is
// kept, so every well-formed string round-trips exactly.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// A lone surrogate cannot be encoded in UTF-8 (TextEncoder would write U+FFFD), so
// such a string would not round-trip.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isWellFormed(s: string): boolean {
  return !loneSurrogate.test(s);
}

export function utf8Bytes(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/** A varint length (at most `bytesMax`) followed by that many bytes of UTF-8. */
export function readUtf8(src: ByteSource, bytesMax: number, what: string): string {
  const len = readVarint(src);
  if (len > bytesMax) throw new CorruptBytes(`${what} is ${len} bytes, more than ${bytesMax}`);
  try {
    return utf8Decoder.decode(src.bytes(len));
  } catch {
    throw new CorruptBytes(`${what} is not valid UTF-8`);
  }
}

/** Raw key bytes as the latin1 ("binary") string maps are keyed by. */
export function bytesToBinary(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}
