/**
 * Append-only storage of small byte strings that never change once written,
 * packed into shared blocks. Why not a Uint8Array of its own per string: each one
 * is an ArrayBuffer with a backing store outside the heap, about 200 bytes of
 * overhead besides the bytes, and V8 keeps every ArrayBuffer on a list that each
 * collection sweeps. A leader's in-memory log of encoded commands, one buffer
 * each, made that sweep 3.5–3.7 ms of every full collection's pause at 1750 ops/s
 * (BENCHMARKS.md, tenth session); with the commands in blocks it is 0.2–0.3 ms.
 *
 * Nothing is freed or rewritten: a block is collected with the last view or
 * reference into it, so what is kept together should die together (a log's
 * entries, compacted in order), or be moved out by its owner (ShardedMap's
 * rebuilds). Blocks start at `minBlockBytes` and double up to `maxBlockBytes`;
 * a string longer than an eighth of that gets a buffer of its own.
 */
export class ByteBlocks {
  private current = new ArrayBuffer(0);
  private bytes = new Uint8Array(this.current);
  private used = 0;
  /** Strings longer than this get a buffer of their own. */
  readonly sharedBytesMax: number;

  constructor(
    private readonly minBlockBytes: number,
    private readonly maxBlockBytes: number,
  ) {
    if (!Number.isSafeInteger(minBlockBytes) || minBlockBytes < 1 || !Number.isSafeInteger(maxBlockBytes) || maxBlockBytes < minBlockBytes) {
      throw new Error(`ByteBlocks: block sizes ${minBlockBytes}..${maxBlockBytes} are not 1 <= min <= max`);
    }
    this.sharedBytesMax = sharedBytesMaxOf(maxBlockBytes);
  }

  /** A copy of `b`: in a shared block if it is at most `sharedBytesMax` long, else in a buffer of its own. */
  copy(b: Uint8Array): Uint8Array {
    if (b.length > this.sharedBytesMax) return ownCopy(b);
    const at = this.append(b);
    return new Uint8Array(this.current, at, b.length);
  }

  /**
   * Copies `b` (at most `sharedBytesMax` long) into the current block and returns
   * its offset there; `block()` is that block until the next append. For owners
   * that keep (block, offset) rather than a view.
   */
  append(b: Uint8Array): number {
    const n = b.length;
    if (n > this.sharedBytesMax) throw new Error(`ByteBlocks.append: ${n} bytes, more than the ${this.sharedBytesMax} a block shares`);
    if (this.used + n > this.bytes.length) this.nextBlock();
    const at = this.used;
    this.bytes.set(b, at);
    this.used += n;
    return at;
  }

  /** The block the last append went to. */
  block(): ArrayBuffer {
    return this.current;
  }

  private nextBlock(): void {
    const size = Math.min(this.maxBlockBytes, Math.max(this.minBlockBytes, this.bytes.length * 2));
    this.current = new ArrayBuffer(size);
    this.bytes = new Uint8Array(this.current);
    this.used = 0;
  }
}

/** The longest string blocks of at most `maxBlockBytes` share: an eighth of a block, so a block's unused tail stays small. */
export function sharedBytesMaxOf(maxBlockBytes: number): number {
  return Math.floor(maxBlockBytes / 8);
}

/**
 * A copy of `b` in a buffer of exactly its length. Not `b.slice()`: on a Buffer
 * (a frame's bytes, and the views decoded from them) that is a view of the same
 * memory, not a copy.
 */
export function ownCopy(b: Uint8Array): Uint8Array<ArrayBuffer> {
  const own = new Uint8Array(b.length);
  own.set(b);
  return own;
}
