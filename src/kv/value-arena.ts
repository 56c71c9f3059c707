import type { LeaseId } from './command.js';
import type { KvEntry } from './sharded-map.js';

/** The largest arena block; blocks start small and double up to it. */
export const arenaBlockBytesMax = 64 * 1024;
const arenaBlockBytesMin = 4 * 1024;
/** Values longer than this get a buffer of their own instead of a share of a block. */
export const arenaValueBytesMax = arenaBlockBytesMax / 8;

/**
 * An entry whose value bytes live in an arena block. Why not a Uint8Array per
 * value: each one is an ArrayBuffer, a backing store and a view, about 200 bytes
 * of overhead besides the bytes (bench/snapshot-lag.ts: 587 B per key of 288 raw
 * with one per value); here a value costs its bytes and this object's two fields.
 * Immutable, and the bytes of its range are never written again, so a reader
 * holding it (a snapshot, a response being written) sees the same value forever;
 * the block lives as long as any entry or view of it does.
 */
export class StoredEntry implements KvEntry {
  constructor(
    private readonly block: ArrayBuffer,
    private readonly offset: number,
    readonly valueLength: number,
    readonly revision: number,
    readonly lease: LeaseId,
  ) {}

  get value(): Uint8Array {
    return new Uint8Array(this.block, this.offset, this.valueLength);
  }

  /** Whether the value shares a block with others (and so is garbage there once replaced). */
  inBlock(): boolean {
    return this.valueLength <= arenaValueBytesMax;
  }
}

/**
 * Append-only storage of value bytes in blocks, shared by every shard of a map.
 * Nothing is ever freed or rewritten in place: a block is collected with the last
 * entry that points into it, so the bytes of overwritten and deleted values stay
 * until the entries still in their block move out. `ShardedMap` moves them when
 * it rebuilds a shard (`copy`), which is what compacts the arena.
 */
export class ValueArena {
  private block = new ArrayBuffer(0);
  private bytes = new Uint8Array(this.block);
  private used = 0;

  /** A new entry holding a copy of `value`. */
  store(value: Uint8Array, revision: number, lease: LeaseId): StoredEntry {
    const n = value.length;
    if (n > arenaValueBytesMax) {
      const own = new Uint8Array(n);
      own.set(value);
      return new StoredEntry(own.buffer, 0, n, revision, lease);
    }
    if (this.used + n > this.bytes.length) this.nextBlock();
    const at = this.used;
    this.bytes.set(value, at);
    this.used += n;
    return new StoredEntry(this.block, at, n, revision, lease);
  }

  /** The same entry with its value moved to the arena's newest block; an entry with a buffer of its own is kept. */
  copy(e: StoredEntry): StoredEntry {
    return e.inBlock() ? this.store(e.value, e.revision, e.lease) : e;
  }

  private nextBlock(): void {
    const size = Math.min(arenaBlockBytesMax, Math.max(arenaBlockBytesMin, this.bytes.length * 2));
    this.block = new ArrayBuffer(size);
    this.bytes = new Uint8Array(this.block);
    this.used = 0;
  }
}
