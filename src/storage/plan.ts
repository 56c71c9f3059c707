// Turning log writes into record operations: which records to put (encoded by
// codec.ts) and which to delete, planned against what the store holds
// (stored-log.ts). The real store (log-store.ts) plans every write of one group
// commit into one Plan and gives its records to LevelDB as one synced batch; the
// simulator's disk (sim/disk.ts) plans each write alone and keeps the same records,
// so a restarted simulated node recovers through the same code (recover.ts) as a
// real one.

import type { LogWrite } from '../raft/host/ready-executor.js';
import type { Entry, HardState, Snapshot, SnapshotMeta } from '../raft/types.js';
import { chunkKey, encodeChunk, encodeHardState, encodeRun, encodeSnapshotMeta, hardStateKey, runKey, snapshotMetaKey } from './codec.js';
import type { StoredLog } from './stored-log.js';

export type RecordOp = { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array } | { readonly type: 'del'; readonly key: Uint8Array };

/** A run this batch puts, encoded once the batch is complete (a later write of the batch may still extend it). */
interface PendingRun {
  readonly first: number;
  readonly entries: Entry[];
}

/** The first `count` chunks of a snapshot at `snapshotIndex`, stored by earlier batches. */
export interface StoredChunks {
  readonly snapshotIndex: number;
  readonly count: number;
}

type PlannedOp = RecordOp | { readonly type: 'run'; readonly run: PendingRun };

/** Bytes a record costs beyond its data, for the batch's size estimate. */
const recordOverheadBytes = 32;

/**
 * The record operations of writes that go to disk as one atomic batch, in call
 * order, and the StoredLog kept up to date as each write is planned. The entries a
 * batch appends from the end of its last run on join that run, so a group commit
 * of many appends is one run; the hard state is put once, the last one written.
 */
export class Plan {
  private readonly ops: PlannedOp[] = [];
  /** The run this batch put last, while later writes may extend it. */
  private open: PendingRun | null = null;
  private hardState: HardState | null = null;
  private done = false;
  /** About what the batch's records take, keys and values. */
  bytes = 0;
  /** Log entries the batch's writes hold. */
  entryCount = 0;

  constructor(private readonly log: StoredLog) {}

  /**
   * Adds one write from the Ready executor. An install also deletes the
   * `unfinished` chunks: those earlier batches stored for compactions it cancels.
   * With `chunksStored`, earlier batches stored the install's own chunks (LogStore's
   * sliced install) and this batch only switches to them. Checked in full before
   * anything changes: a write that breaks the log's invariants throws and leaves
   * plan and log as they were.
   */
  write(w: LogWrite, unfinished: readonly StoredChunks[] = [], chunksStored = false): void {
    this.checkOpen();
    if (w.entries.length > 0) {
      const after = w.snapshot === null ? this.log.snapshotIndex : w.snapshot.meta.index;
      const last = w.snapshot === null ? this.log.lastIndex : w.snapshot.meta.index;
      checkEntries(w.entries, after, last);
    }
    if (w.snapshot !== null) {
      const { meta, chunks } = w.snapshot;
      // Before the install's own chunks, which may have the same keys; those it stored already are its own.
      for (const u of unfinished) {
        const from = chunksStored && u.snapshotIndex === meta.index ? chunks.length : 0;
        for (let k = from; k < u.count; k++) this.del(chunkKey(u.snapshotIndex, k));
      }
      if (chunksStored) this.switchTo(meta, chunks.length, 'install');
      else this.snapshot(w.snapshot, 'install');
    }
    if (w.entries.length > 0) this.entries(w.entries);
    if (w.hardState !== null) {
      if (this.hardState === null) this.bytes += hardStateKey.length + recordOverheadBytes;
      this.hardState = w.hardState;
    }
  }

  /** Makes `snapshot` the base of the log (nothing if the log already has a newer one), keeping the entries after it. */
  compact(snapshot: Snapshot): void {
    this.checkOpen();
    if (snapshot.meta.index <= this.log.snapshotIndex) return;
    this.putChunks(snapshot);
    this.switchTo(snapshot.meta, snapshot.chunks.length, 'compact');
  }

  /**
   * Makes the snapshot `meta` names, whose `chunkCount` chunks earlier batches
   * stored (LogStore's sliced compaction), the base of the log. It must be newer
   * than the log's: the caller checks, in the same tick as it stored the last chunk.
   */
  compactOnto(meta: SnapshotMeta, chunkCount: number): void {
    this.checkOpen();
    if (meta.index <= this.log.snapshotIndex) throw new Error(`Plan.compactOnto: the snapshot at ${meta.index} is not newer than the log's at ${this.log.snapshotIndex}`);
    this.switchTo(meta, chunkCount, 'compact');
  }


  /** Whether the batch holds no operation: its writes were barriers, or compactions to older snapshots. */
  isEmpty(): boolean {
    return this.ops.length === 0 && this.hardState === null;
  }

  /** The batch's records, runs encoded, in the order they must be applied; the plan takes no more writes. */
  records(): RecordOp[] {
    this.checkOpen();
    this.done = true;
    const out: RecordOp[] = this.ops.map((op) => (op.type === 'run' ? { type: 'put', key: runKey(op.run.first), value: encodeRun(op.run.first, op.run.entries) } : op));
    if (this.hardState !== null) out.push({ type: 'put', key: hardStateKey, value: encodeHardState(this.hardState) });
    return out;
  }

  private checkOpen(): void {
    if (this.done) throw new Error('Plan: the batch was already written');
  }

  private put(key: Uint8Array, value: Uint8Array): void {
    this.ops.push({ type: 'put', key, value });
    this.bytes += key.length + value.length + recordOverheadBytes;
  }

  private del(key: Uint8Array): void {
    this.ops.push({ type: 'del', key });
    this.bytes += recordOverheadBytes;
  }

  private delRuns(starts: readonly number[]): void {
    for (const first of starts) {
      if (this.open !== null && this.open.first === first) this.open = null;
      this.del(runKey(first));
    }
  }

  private putChunks(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    snapshot.chunks.forEach((data, k) => this.put(chunkKey(index, k), encodeChunk(index, data)));
  }

  /** Stores `snapshot` (metadata and chunks, replacing the old one) and deletes the runs it replaces. */
  private snapshot(snapshot: Snapshot, how: 'install'): void {
    this.putChunks(snapshot);
    this.switchTo(snapshot.meta, snapshot.chunks.length, how);
  }

  /**
   * Puts the metadata of the snapshot at meta.index, whose chunks are stored or put
   * before, and deletes the old snapshot's chunks and the runs the new one replaces.
   */
  private switchTo(meta: SnapshotMeta, chunkCount: number, how: 'install' | 'compact'): void {
    const log = this.log;
    const index = meta.index;
    // An install replaces the whole log; a compaction only the entries up to its index.
    this.delRuns(how === 'install' ? log.dropAll() : log.dropThrough(index));
    this.put(snapshotMetaKey, encodeSnapshotMeta(meta, chunkCount));
    // An install at the old snapshot's own index put its chunks over the old ones.
    for (let k = log.snapshotIndex === index ? chunkCount : 0; k < log.snapshotChunks; k++) this.del(chunkKey(log.snapshotIndex, k));
    log.lastIndex = how === 'install' ? index : Math.max(log.lastIndex, index);
    log.snapshotIndex = index;
    log.snapshotChunks = chunkCount;
  }

  /** Overwrites the log from entries[0].index on (checked by checkEntries). */
  private entries(entries: readonly Entry[]): void {
    const first = entries[0]!.index;
    const last = first + entries.length - 1;
    const open = this.open;
    if (open !== null && open.first <= first) {
      // The batch's own last run: cut it where these entries start and extend it (nothing is stored after it).
      open.entries.length = first - open.first;
      for (const e of entries) open.entries.push(e);
      this.log.extendLast(first, last);
    } else {
      this.delRuns(this.log.startRun(first, last));
      const run: PendingRun = { first, entries: [...entries] };
      this.ops.push({ type: 'run', run });
      this.open = run;
      this.bytes += recordOverheadBytes;
    }
    for (const e of entries) this.bytes += e.data.length + recordOverheadBytes;
    this.entryCount += entries.length;
  }
}

/** Entries must be consecutive and start inside the log (after), or right after its end (last). */
function checkEntries(entries: readonly Entry[], after: number, last: number): void {
  const first = entries[0]!.index;
  if (first <= after || first > last + 1) throw new Error(`write: entries from ${first} do not fit a log holding (${after}, ${last}]`);
  entries.forEach((e, k) => {
    if (e.index !== first + k) throw new Error(`write: entries are not contiguous at ${e.index} (expected ${first + k})`);
  });
}
