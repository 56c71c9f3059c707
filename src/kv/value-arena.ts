import { ByteBlocks, ownCopy, sharedBytesMaxOf } from './byte-blocks.js';
import type { LeaseId } from './command.js';
import type { KvEntry } from './sharded-map.js';

/** The largest arena block; blocks start small and double up to it. */
const arenaBlockBytesMax = 64 * 1024;
const arenaBlockBytesMin = 4 * 1024;
/** Values longer than this get a buffer of their own instead of a share of a block. */
export const arenaValueBytesMax = sharedBytesMaxOf(arenaBlockBytesMax);

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
 * The value bytes of a map's entries, in shared blocks (ByteBlocks), so that a
 * value costs its bytes and its entry's two fields. Overwritten and deleted values
 * stay in their block until the entries still there move out: `ShardedMap` moves
 * them when it rebuilds a shard (`copy`), which is what compacts the arena.
 */
export class ValueArena {
  private readonly blocks = new ByteBlocks(arenaBlockBytesMin, arenaBlockBytesMax);

  /** A new entry holding a copy of `value`. */
  store(value: Uint8Array, revision: number, lease: LeaseId): StoredEntry {
    const n = value.length;
    if (n > arenaValueBytesMax) return new StoredEntry(ownCopy(value).buffer, 0, n, revision, lease);
    const at = this.blocks.append(value);
    return new StoredEntry(this.blocks.block(), at, n, revision, lease);
  }

  /** The same entry with its value moved to the arena's newest block; an entry with a buffer of its own is kept. */
  copy(e: StoredEntry): StoredEntry {
    return e.inBlock() ? this.store(e.value, e.revision, e.lease) : e;
  }
}
