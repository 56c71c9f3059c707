import { bytesToBinary } from './bytes.js';
import type { LeaseId } from './command.js';
import type { StoredEntry } from './value-arena.js';
import { ValueArena } from './value-arena.js';

/** A key's bytes as a latin1 ("binary") string: one char per byte, codes 0..255. */
export type BinaryKey = string & { readonly __brand: 'BinaryKey' };

export const binaryKey = (key: Uint8Array): BinaryKey => bytesToBinary(key) as BinaryKey;

/** What the store holds per key. Immutable: shards are cloned by reference. */
export interface KvEntry {
  /** A view of the stored bytes (made on each read of the property): do not mutate it. */
  readonly value: Uint8Array;
  /** The log index of the command that last wrote the key. */
  readonly revision: number;
  /** The lease the key is attached to, 0 for none. */
  readonly lease: LeaseId;
}

export interface ShardedMapOptions {
  /**
   * A shard is rebuilt once its deletions since the last rebuild exceed
   * max(reclaimDeletionsMin, its live size), ...
   */
  readonly reclaimDeletionsMin: number;
  /**
   * ... or once the value bytes it replaced or deleted since then (garbage in the
   * arena's blocks) exceed max(reclaimGarbageBytesMin, its live value bytes).
   */
  readonly reclaimGarbageBytesMin: number;
}

export const shardedMapDefaults: ShardedMapOptions = { reclaimDeletionsMin: 1024, reclaimGarbageBytesMin: 4096 };

export const shardCountMax = 1 << 16;

/** FNV-1a, 32 bits, over the key's bytes (the binary string's char codes). */
export function fnv1a32(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** An incremental rebuild of one shard: `fresh` fills from `cursor` over `old`. */
interface Rebuild {
  readonly shard: number;
  readonly old: Map<BinaryKey, StoredEntry>;
  readonly fresh: Map<BinaryKey, StoredEntry>;
  readonly cursor: Iterator<[BinaryKey, StoredEntry]>;
  /** The shard's garbage count when the rebuild started, restored if it is cancelled. */
  readonly garbageBefore: number;
}

/**
 * The key space split by hash into a fixed power-of-two number of shards, each a
 * Map from key to entry, with every value's bytes in one shared `ValueArena`.
 * Shards bound the cost of the two whole-shard operations:
 *
 * - Reclamation. A shard with many deletions, or many replaced value bytes, since
 *   it was last rebuilt is copied into a fresh Map, its values into the arena's
 *   newest block, at most `budgetEntries` entries per `reclaimStep`, so the host
 *   can interleave the work with events. This is what returns the arena's
 *   garbage: a block is freed once no entry points into it. (V8 already shrinks a
 *   Map's table inside `delete` once it is less than half full, so for the Maps a
 *   rebuild only drops the slack left above that.)
 * - Pinning, for snapshots. `pinShards` hands out the current Map of every shard;
 *   a pinned Map is never mutated again: the first write to its shard clones it
 *   (copy-on-write, O(shard size)) and the writer continues on the clone.
 *   Entries and their bytes are immutable, so the clone shares them.
 *
 * Invariants:
 *   size() === sum of the shards' sizes
 *   bytes() === sum over live entries of key length + value length
 *   blockBytes[s] === sum over shard s's entries whose value is in a block of its length
 *   a Map with pins[s] > 0 is shards[s] and is not mutated until it is replaced
 *   during a rebuild of shard s: rebuild.old === shards[s], and every entry of
 *     rebuild.fresh equals (revision, lease, value bytes) the entry under the
 *     same key in rebuild.old
 */
export class ShardedMap {
  readonly shardCount: number;
  private readonly mask: number;
  private readonly shards: Map<BinaryKey, StoredEntry>[] = [];
  private readonly arena = new ValueArena();
  private readonly deletions: number[] = [];
  /** Value bytes in arena blocks that shard s replaced or deleted since its last rebuild. */
  private readonly garbage: number[] = [];
  private readonly blockBytes: number[] = [];
  /** Readers holding shards[s] (not an older Map of shard s). */
  private readonly pins: number[] = [];
  private liveSize = 0;
  private liveBytes = 0;
  private rebuildsDone = 0;
  private readonly reclaimDeletionsMin: number;
  private readonly reclaimGarbageBytesMin: number;
  private rebuild: Rebuild | null = null;
  /** Shards that crossed the deletion threshold, FIFO; `queued[s]` marks membership. */
  private readonly reclaimQueue: number[] = [];
  private readonly queued: boolean[] = [];

  constructor(shardCount: number, options: ShardedMapOptions = shardedMapDefaults) {
    if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > shardCountMax || (shardCount & (shardCount - 1)) !== 0) {
      throw new Error(`ShardedMap: shard count ${shardCount} is not a power of two in 1..${shardCountMax}`);
    }
    for (const [name, v] of Object.entries(options)) {
      if (!Number.isSafeInteger(v) || v < 0) throw new Error(`ShardedMap: ${name} ${String(v)} is not a non-negative integer`);
    }
    this.shardCount = shardCount;
    this.mask = shardCount - 1;
    this.reclaimDeletionsMin = options.reclaimDeletionsMin;
    this.reclaimGarbageBytesMin = options.reclaimGarbageBytesMin;
    for (let s = 0; s < shardCount; s++) {
      this.shards.push(new Map());
      this.deletions.push(0);
      this.garbage.push(0);
      this.blockBytes.push(0);
      this.pins.push(0);
      this.queued.push(false);
    }
  }

  shardOf(key: BinaryKey): number {
    return fnv1a32(key) & this.mask;
  }

  size(): number {
    return this.liveSize;
  }

  /** Key and value bytes stored (not counting the Maps' own overhead). */
  bytes(): number {
    return this.liveBytes;
  }

  /** Shard rebuilds completed by `reclaimStep`. */
  rebuilds(): number {
    return this.rebuildsDone;
  }

  shardSize(shard: number): number {
    return this.shard(shard).size;
  }

  deletionsSinceRebuild(shard: number): number {
    this.shard(shard);
    return this.deletions[shard]!;
  }

  /** Garbage bytes of shard s in the arena (see `ShardedMapOptions.reclaimGarbageBytesMin`). */
  garbageSinceRebuild(shard: number): number {
    this.shard(shard);
    return this.garbage[shard]!;
  }

  /** `shard` is `shardOf(key)`, passed by a caller that already has it (a read before a write hashes the key once). */
  get(key: BinaryKey, shard: number = this.shardOf(key)): StoredEntry | undefined {
    return this.shards[shard]!.get(key);
  }

  /** Stores a copy of `value` under `key`; returns the entry, whose value is the stored copy. `s`: the shard, as for `get`. */
  set(key: BinaryKey, value: Uint8Array, revision: number, lease: LeaseId, s: number = this.shardOf(key)): StoredEntry {
    const map = this.writable(s);
    const entry = this.arena.store(value, revision, lease);
    const old = map.get(key);
    map.set(key, entry);
    if (entry.inBlock()) this.blockBytes[s]! += entry.valueLength;
    if (old === undefined) {
      this.liveSize++;
      this.liveBytes += key.length + entry.valueLength;
    } else {
      this.liveBytes += entry.valueLength - old.valueLength;
      this.dropValue(s, old);
    }
    if (this.rebuild !== null && this.rebuild.shard === s) this.rebuild.fresh.set(key, entry);
    else if (old !== undefined) this.queueIfOverThreshold(s);
    return entry;
  }

  /** `s`: the shard, as for `get`. */
  delete(key: BinaryKey, s: number = this.shardOf(key)): boolean {
    const map = this.writable(s);
    const old = map.get(key);
    if (old === undefined || !map.delete(key)) return false;
    this.liveSize--;
    this.liveBytes -= key.length + old.valueLength;
    this.dropValue(s, old);
    if (this.rebuild !== null && this.rebuild.shard === s) this.rebuild.fresh.delete(key);
    this.deletions[s]!++;
    if (this.rebuild?.shard !== s) this.queueIfOverThreshold(s);
    return true;
  }

  forEachInShard(shard: number, fn: (key: BinaryKey, entry: StoredEntry) => void): void {
    for (const [key, entry] of this.shard(shard)) fn(key, entry);
  }

  /**
   * Every shard's current Map, each pinned: none of them will be mutated again.
   * Release each with `unpinShard` when done with it; a Map never released only
   * costs its shard one extra clone on the next write.
   */
  pinShards(): ReadonlyMap<BinaryKey, StoredEntry>[] {
    for (let s = 0; s < this.shardCount; s++) this.pins[s]!++;
    return [...this.shards];
  }

  unpinShard(shard: number, map: ReadonlyMap<BinaryKey, StoredEntry>): void {
    // A Map already replaced (cloned or rebuilt) no longer counts pins.
    if (this.shard(shard) === map && this.pins[shard]! > 0) this.pins[shard]!--;
  }

  /**
   * Copies at most `budgetEntries` entries into fresh Maps for shards over the
   * deletion or garbage threshold, their values into the arena's newest block,
   * swapping each in when complete. Returns whether work remains.
   *
   * Why writes during a rebuild stay correct: the old Map stays authoritative (all
   * reads go to it) and every write goes to both Maps, so each entry of `fresh`
   * equals the old Map's entry under the same key (the copy is of the old Map's
   * current entry; a set writes both; a delete removes from both). When the old
   * Map's iterator is exhausted it has visited every key present in the old Map
   * that was not added after being passed (Map iterators are live: entries added
   * during iteration are visited, deleted ones are skipped), and a key added during
   * the rebuild was written to `fresh` as well. So at the swap `fresh` holds exactly
   * the old Map's entries. A write to a pinned shard clones it first; the clone is
   * itself a compact rebuild, so that cancels the rebuild of that shard.
   */
  reclaimStep(budgetEntries: number): boolean {
    if (!Number.isSafeInteger(budgetEntries) || budgetEntries < 1) throw new Error(`reclaimStep budget ${budgetEntries}`);
    let budget = budgetEntries;
    while (budget > 0) {
      if (this.rebuild === null && !this.startRebuild()) break;
      const r = this.rebuild!;
      for (;;) {
        if (budget === 0) return true;
        const step = r.cursor.next();
        if (step.done === true) break;
        const [key, entry] = step.value;
        // An entry written during the rebuild is in both Maps, its value already in a new block.
        if (r.fresh.get(key) !== entry) r.fresh.set(key, this.arena.copy(entry));
        budget--;
      }
      this.shards[r.shard] = r.fresh;
      this.pins[r.shard] = 0;
      this.rebuild = null;
      this.rebuildsDone++;
      this.queueIfOverThreshold(r.shard);
    }
    return this.reclaimPending();
  }

  /** Whether `reclaimStep` has work: a rebuild in progress or a shard over the threshold. */
  reclaimPending(): boolean {
    if (this.rebuild !== null) return true;
    this.dropStaleCandidates();
    return this.reclaimQueue.length > 0;
  }

  private startRebuild(): boolean {
    this.dropStaleCandidates();
    const s = this.reclaimQueue.shift();
    if (s === undefined) return false;
    this.queued[s] = false;
    const old = this.shards[s]!;
    const garbageBefore = this.garbage[s]!;
    // Deletions from here on leave garbage in `fresh` too, so they count toward the next rebuild.
    this.deletions[s] = 0;
    this.garbage[s] = 0;
    this.rebuild = { shard: s, old, fresh: new Map(), cursor: old.entries(), garbageBefore };
    return true;
  }

  /** Candidates whose shard fell back under the threshold (it grew, or a clone compacted it). */
  private dropStaleCandidates(): void {
    while (this.reclaimQueue.length > 0 && !this.overThreshold(this.reclaimQueue[0]!)) {
      this.queued[this.reclaimQueue.shift()!] = false;
    }
  }

  private queueIfOverThreshold(s: number): void {
    if (this.queued[s] || !this.overThreshold(s)) return;
    this.queued[s] = true;
    this.reclaimQueue.push(s);
  }

  private overThreshold(s: number): boolean {
    return (
      this.deletions[s]! > Math.max(this.reclaimDeletionsMin, this.shards[s]!.size) ||
      this.garbage[s]! > Math.max(this.reclaimGarbageBytesMin, this.blockBytes[s]!)
    );
  }

  /** Accounts for a value that shard s no longer holds. */
  private dropValue(s: number, old: StoredEntry): void {
    if (!old.inBlock()) return;
    this.blockBytes[s]! -= old.valueLength;
    this.garbage[s]! += old.valueLength;
  }

  /**
   * Shard s's Map, cloned first if a reader holds it. The clone is a compact Map
   * but shares the entries, so it resets the deletions, not the garbage.
   */
  private writable(s: number): Map<BinaryKey, StoredEntry> {
    if (this.pins[s] === 0) return this.shards[s]!;
    const clone = new Map(this.shards[s]!);
    this.shards[s] = clone;
    this.pins[s] = 0;
    this.deletions[s] = 0;
    if (this.rebuild !== null && this.rebuild.shard === s) {
      // The old garbage is still there (and the values copied so far are more, uncounted).
      this.garbage[s]! += this.rebuild.garbageBefore;
      this.rebuild = null;
      this.queueIfOverThreshold(s);
    }
    return clone;
  }

  private shard(s: number): Map<BinaryKey, StoredEntry> {
    const map = this.shards[s];
    if (map === undefined || !Number.isInteger(s)) throw new Error(`ShardedMap: no shard ${s}`);
    return map;
  }
}
