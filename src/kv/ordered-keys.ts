import { lowerBound } from './lower-bound.js';
import type { BinaryKey } from './sharded-map.js';

/** A chunk that grows past this splits in two. */
export const orderedChunkMax = 256;
/** A chunk that shrinks below this merges with a neighbour, when the two fit in one. */
const orderedChunkMin = orderedChunkMax / 8;

/**
 * Every key of the store in byte order, beside the sharded map, for range and
 * prefix listing. Keys are latin1 strings (one char per byte), so JavaScript's
 * string order is exactly the byte order of the keys.
 *
 * A list of sorted chunks of at most `orderedChunkMax` keys (a two-level B+tree):
 * an insert or delete is a binary search over the chunks, one within the chunk
 * and a splice of at most `orderedChunkMax` references. Only writes that create or
 * remove a key touch it; overwrites, point reads and deletes of absent keys never
 * do, so point operations pay for it only when the key set changes.
 *
 * Invariants:
 *   every chunk is non-empty and strictly increasing, and every key of chunk i
 *   is below every key of chunk i + 1; lasts[i] === the last key of chunks[i]
 *   size() === the sum of the chunks' lengths
 */
export class OrderedKeys {
  private chunks: BinaryKey[][] = [];
  /** lasts[i] is the last key of chunks[i]: the top-level search reads one array, not every chunk. */
  private lasts: BinaryKey[] = [];
  private count = 0;

  /** From keys in any order, without duplicates: one sort instead of n inserts. */
  static of(keys: BinaryKey[]): OrderedKeys {
    const index = new OrderedKeys();
    keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (let i = 1; i < keys.length; i++) if (keys[i - 1] === keys[i]) throw new Error('OrderedKeys.of: a key appears twice');
    const half = orderedChunkMax / 2;
    for (let i = 0; i < keys.length; i += half) index.chunks.push(keys.slice(i, i + half));
    index.lasts = index.chunks.map((c) => c[c.length - 1]!);
    index.count = keys.length;
    return index;
  }

  size(): number {
    return this.count;
  }

  /** Adds `key`; false if it was already there. */
  insert(key: BinaryKey): boolean {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.lasts.push(key);
      this.count = 1;
      return true;
    }
    const c = Math.min(this.chunkFor(key), this.chunks.length - 1);
    const chunk = this.chunks[c]!;
    const at = lowerBound<string>(chunk, key);
    if (chunk[at] === key) return false;
    chunk.splice(at, 0, key);
    this.count++;
    if (at === chunk.length - 1) this.lasts[c] = key;
    if (chunk.length > orderedChunkMax) {
      const upper = chunk.splice(chunk.length >> 1);
      this.chunks.splice(c + 1, 0, upper);
      this.lasts.splice(c, 0, chunk[chunk.length - 1]!);
    }
    return true;
  }

  /** Removes `key`; false if it was not there. */
  delete(key: BinaryKey): boolean {
    const c = this.chunkFor(key);
    const chunk = this.chunks[c];
    if (chunk === undefined) return false;
    const at = lowerBound<string>(chunk, key);
    if (chunk[at] !== key) return false;
    chunk.splice(at, 1);
    this.count--;
    if (chunk.length === 0) {
      this.chunks.splice(c, 1);
      this.lasts.splice(c, 1);
      return true;
    }
    if (at === chunk.length) this.lasts[c] = chunk[at - 1]!;
    if (chunk.length < orderedChunkMin) this.mergeAround(c);
    return true;
  }

  /**
   * Calls `visit` with the keys from `start` on (after it, when `exclusive`), in
   * order, until it returns false or the keys run out.
   */
  forEachFrom(start: BinaryKey | '', exclusive: boolean, visit: (key: BinaryKey) => boolean): void {
    let c = this.chunkFor(start);
    if (c >= this.chunks.length) return;
    let at = lowerBound<string>(this.chunks[c]!, start);
    if (exclusive && this.chunks[c]![at] === start) at++;
    for (; c < this.chunks.length; c++, at = 0) {
      const chunk = this.chunks[c]!;
      for (; at < chunk.length; at++) if (!visit(chunk[at]!)) return;
    }
  }

  /** The first chunk whose last key is >= key (chunks.length if there is none). */
  private chunkFor(key: string): number {
    return lowerBound<string>(this.lasts, key);
  }

  private mergeAround(c: number): void {
    const chunk = this.chunks[c]!;
    const next = this.chunks[c + 1];
    if (next !== undefined && chunk.length + next.length <= orderedChunkMax / 2) {
      chunk.push(...next);
      this.chunks.splice(c + 1, 1);
      this.lasts.splice(c, 1);
      return;
    }
    const prev = this.chunks[c - 1];
    if (prev !== undefined && chunk.length + prev.length <= orderedChunkMax / 2) {
      prev.push(...chunk);
      this.chunks.splice(c, 1);
      this.lasts.splice(c - 1, 1);
    }
  }
}
