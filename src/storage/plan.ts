// Turning a log write into record operations: which records to put (encoded by
// codec.ts) and which to delete, planned against what the store holds. The real
// store (log-store.ts) gives them to LevelDB as one synced batch; the simulator's
// disk (sim/disk.ts) keeps the same records, so a restarted simulated node
// recovers through the same code (recover.ts) as a real one.

import type { LogWrite } from '../raft/host/ready-executor.js';
import type { Entry, Snapshot } from '../raft/types.js';
import { chunkKey, encodeChunk, encodeEntry, encodeHardState, encodeSnapshotMeta, entryKey, hardStateKey, snapshotMetaKey } from './codec.js';
import type { StoredRange } from './recover.js';

export type RecordOp = { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: Uint8Array };

/** The record operations of one atomic write from the Ready executor. */
export function planWrite(range: StoredRange, w: LogWrite): Plan {
  const plan = new Plan(range);
  if (w.snapshot !== null) plan.snapshot(w.snapshot, 'install');
  if (w.entries.length > 0) plan.entries(w.entries);
  if (w.hardState !== null) plan.put(hardStateKey, encodeHardState(w.hardState));
  return plan;
}

/** The record operations that make `snapshot` the base of the log (none if the store already has a newer one). */
export function planCompaction(range: StoredRange, snapshot: Snapshot): Plan {
  const plan = new Plan(range);
  if (snapshot.meta.index > range.snapshotIndex) plan.snapshot(snapshot, 'compact');
  return plan;
}

/** The batch operations of one write, and the stored range once they are applied. */
export class Plan {
  readonly ops: RecordOp[] = [];
  bytes = 0;
  entryCount = 0;

  constructor(public range: StoredRange) {}

  put(key: Uint8Array, value: Uint8Array): void {
    this.ops.push({ type: 'put', key, value });
    this.bytes += key.length + value.length;
  }

  del(key: Uint8Array): void {
    this.ops.push({ type: 'del', key });
    this.bytes += key.length;
  }

  /** Stores `snapshot` (metadata and chunks, replacing the old one) and deletes the entries it replaces. */
  snapshot(snapshot: Snapshot, how: 'install' | 'compact'): void {
    const { snapshotIndex, lastIndex, snapshotChunks } = this.range;
    const index = snapshot.meta.index;
    // An install replaces the whole log; a compaction only the entries up to its index.
    const deleteThrough = how === 'install' ? lastIndex : Math.min(lastIndex, index);
    for (let i = snapshotIndex + 1; i <= deleteThrough; i++) this.del(entryKey(i));
    this.put(snapshotMetaKey, encodeSnapshotMeta(snapshot.meta, snapshot.chunks.length));
    snapshot.chunks.forEach((data, k) => this.put(chunkKey(k), encodeChunk(index, data)));
    for (let k = snapshot.chunks.length; k < snapshotChunks; k++) this.del(chunkKey(k));
    this.range = {
      snapshotIndex: index,
      lastIndex: how === 'install' ? index : Math.max(lastIndex, index),
      snapshotChunks: snapshot.chunks.length,
    };
  }

  /** Overwrites the log from entries[0].index on. */
  entries(entries: readonly Entry[]): void {
    const { snapshotIndex, lastIndex } = this.range;
    const first = entries[0]!.index;
    if (first <= snapshotIndex || first > lastIndex + 1) {
      throw new Error(`write: entries from ${first} do not fit a log holding (${snapshotIndex}, ${lastIndex}]`);
    }
    entries.forEach((e, k) => {
      if (e.index !== first + k) throw new Error(`write: entries are not contiguous at ${e.index} (expected ${first + k})`);
    });
    const last = first + entries.length - 1;
    for (let i = last + 1; i <= lastIndex; i++) this.del(entryKey(i));
    for (const e of entries) this.put(entryKey(e.index), encodeEntry(e));
    this.entryCount += entries.length;
    this.range = { ...this.range, lastIndex: last };
  }
}
