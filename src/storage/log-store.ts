// The durable Raft log and hard state on LevelDB: the real counterpart of
// sim/disk.ts, with the same semantics (writes are atomic and become durable in
// call order; a crash loses only writes never reported durable).
//
// Group commit: a write is durable once the LevelDB batch holding it was written
// with { sync: true } (an fsync). Writes are turned into batch operations as they
// are made, in call order, and collected while a sync is in flight; when it
// finishes, everything collected goes into the next single synced batch. So under
// load one fsync covers many writes, and an idle store still syncs each write
// promptly (the first write of a tick starts a batch at the end of that tick).
// A batch whose writes all may be lost in a crash (LogWrite.mustSync false: only
// the commit index moved) is not written by itself: it is reported durable when
// its turn comes, and its hard state goes to disk at the front of the next batch
// written (or at close), so what is on disk is still a prefix of the writes made.
// Its own LevelDB write would cost a thread-pool round trip, a wake-up and a
// place in the one-at-a-time queue before the next fsync, for every commit move.
//
// The writes of one batch are planned into one Plan (plan.ts): the entries they
// append make one log run, one LevelDB value, and the hard state is put once.
//
// Invariant: `log` describes the store as it will be once every write made so
// far is durable; each write is planned against it, in call order, which is the
// order LevelDB applies the batches in.
//
// Compaction is sliced. A snapshot of a large state is hundreds of MB, and one
// LevelDB batch of it blocks the event loop for as long as it takes to encode and
// copy it all (the binding copies a batch into its WriteBatch in the call). So its
// chunks are stored a slice at a time, each slice a synced batch of chunk puts
// under keys of that snapshot alone (codec.ts), one slice per event-loop turn,
// alternating with the group commits waiting; once the last slice is handed to
// LevelDB, the switch (the new metadata, deleting the old chunks and the runs it
// covers) is planned into the next batch like any write. A crash before the
// switch is durable recovers the old snapshot and the whole log, and deletes the
// new snapshot's chunks; after it, the new snapshot. The log is compacted only by
// the switch. Writes made after compact() may so become durable before it.
//
// A follower's install of a snapshot from the leader is sliced the same way, but
// its switch (the metadata, the deletions, and the write's hard state and entries)
// is planned when it is written, in call order, into a batch of its own that waits
// until the last slice is handed to LevelDB; the writes after it join that batch or
// later ones, so none becomes durable before the install. A crash before the switch
// is durable recovers the old state whole. An install no bigger than a slice, or
// to a snapshot index not above every snapshot the store may hold (its chunk keys
// could be another snapshot's), is one batch.

import { ClassicLevel } from 'classic-level';
import type { LogStorage, LogWrite } from '../raft/host/ready-executor.js';
import type { PersistedState } from '../raft/host/raft-node.js';
import type { Snapshot } from '../raft/types.js';
import { chunkKey, chunkValueBytes, encodeChunkInto } from './codec.js';
import { Plan, type RecordOp } from './plan.js';
import { recover, type Db } from './recover.js';
import type { StoredLog } from './stored-log.js';

export interface StorageMetrics {
  /** Called once per synced batch: the log entries in it and the fsync'd write's latency. */
  onSync(entries: number, seconds: number): void;
  /** Called once per batch that held only commit-index moves, kept for the next batch rather than synced. */
  onUnsyncedWrite(): void;
}

export type OpenResult =
  | { readonly ok: true; readonly store: LogStore; readonly recovered: PersistedState; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly error: string };

/**
 * A batch stops taking more writes once it holds this many bytes of keys and
 * values, and later writes wait for the next one (a single write is never split:
 * it is atomic).
 */
export const syncBatchBytesMax = 16 * 1024 * 1024;

/**
 * The chunk bytes one slice of a compaction stores (at least one chunk): one
 * synced batch, and the JS work (a CRC and two copies of them) of one turn.
 */
export const snapshotSliceBytesDefault = 1024 * 1024;

export interface LogStoreTuning {
  readonly snapshotSliceBytes?: number;
}

/** Writes that go to disk in one synced batch. */
interface Batch {
  readonly plan: Plan;
  /** In call order. */
  readonly durables: (() => void)[];
  /** Some write in it must be synced before it is reported durable. */
  sync: boolean;
  /** The sliced install this batch switches to: the batch waits until all its chunks are handed to LevelDB. */
  readonly install: Sliced | null;
}

/**
 * A snapshot whose chunks are being stored, a slice at a time (`stored`: the
 * chunks in slices handed to LevelDB so far): a compaction, whose switch is
 * planned once its last slice is handed to LevelDB, or an install, whose switch
 * is planned already, in the batch that waits for it.
 */
type Sliced = { readonly kind: 'compaction'; readonly snapshot: Snapshot; stored: number; readonly durable: () => void } | { readonly kind: 'install'; readonly snapshot: Snapshot; stored: number };

/** classic-level's native batch, below abstract-level's `batch` (untyped there: it is the implementation's side). */
interface NativeBatch {
  _batch(ops: readonly RecordOp[], options: { readonly sync: boolean }): Promise<void>;
}

const syncWrite = { sync: true } as const;
const unsyncedWrite = { sync: false } as const;

/** The default fatal hook: an uncaught exception, which stops the process. */
const throwAsync = (error: unknown): void => {
  process.nextTick(() => {
    throw error;
  });
};

export class LogStore implements LogStorage {
  /** Batches not yet started, oldest first; only the last one takes new writes. */
  private readonly batches: Batch[] = [];
  /** A flush is scheduled or a batch is being synced. */
  private flushing = false;
  private failed = false;
  private closed: Promise<void> | null = null;
  private readonly drainWaiters: (() => void)[] = [];
  /** Snapshots whose chunks are not all stored yet, oldest first; the first one is being stored. */
  private slicing: Sliced[] = [];
  /** The highest snapshot index planned or recovered: a sliced install goes above it, to keys no other snapshot has. */
  private snapshotIndexMax: number;
  /** The last write handed to LevelDB was a slice: a waiting batch goes next. */
  private sliceLast = false;
  /** The hard state of the last batch that only moved the commit index, reported durable and not written yet. */
  private deferredHardState: RecordOp | null = null;
  /** Where a slice's chunk values are encoded, reused: LevelDB copies them in the batch call. */
  private sliceBuffer = new Uint8Array(0);

  private constructor(
    private readonly db: Db,
    private readonly log: StoredLog,
    private readonly metrics: StorageMetrics | undefined,
    private readonly onFatal: (error: Error) => void,
    private readonly sliceBytes: number,
  ) {
    this.snapshotIndexMax = log.snapshotIndex;
  }

  /**
   * Opens (or creates) the store in `dir`, which holds one LevelDB and nothing else,
   * and recovers what is durable. `onFatal` is called if a write fails: the
   * write and every later one never become durable, and the node must stop.
   */
  static async open(dir: string, metrics?: StorageMetrics, onFatal: (error: Error) => void = throwAsync, tuning: LogStoreTuning = {}): Promise<OpenResult> {
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', createIfMissing: true });
    try {
      await db.open();
      const r = await recover(db);
      if (!r.ok) {
        await db.close();
        return { ok: false, error: `${r.error} (log store ${dir})` };
      }
      const store = new LogStore(db, r.log, metrics, onFatal, tuning.snapshotSliceBytes ?? snapshotSliceBytesDefault);
      return { ok: true, store, recovered: r.state, warnings: r.warnings };
    } catch (e) {
      if (!isLevelError(e)) throw e;
      await db.close().catch(() => {});
      return { ok: false, error: `cannot read the log store ${dir}: ${describeLevelError(e)}` };
    }
  }

  write(w: LogWrite, durable: () => void): void {
    // Planned in full before anything changes: a write that breaks the log's
    // invariants throws and leaves the store as it was.
    if (w.snapshot === null) {
      // Entries always sync: so a batch that need not holds at most a hard state.
      this.enqueue((plan) => plan.write(w), [durable], w.mustSync || w.entries.length > 0);
      return;
    }
    // An install replaces the log: the compactions under way are cancelled, their
    // stored chunks deleted, and they are reported durable with it. (Installs
    // sliced before it are not: their switches are planned.)
    if (this.failed) return;
    this.checkNotClosed();
    const { meta, chunks } = w.snapshot;
    const cancelled = this.slicing.filter((c) => c.kind === 'compaction');
    const unfinished = cancelled.map((c) => ({ snapshotIndex: c.snapshot.meta.index, count: c.stored }));
    const durables = [durable, ...cancelled.map((c) => c.durable)];
    let bytes = 0;
    for (const c of chunks) bytes += chunkValueBytes(c.length);
    if (bytes <= this.sliceBytes || meta.index <= this.snapshotIndexMax) {
      this.enqueue((plan) => plan.write(w, unfinished), durables, true);
    } else {
      const plan = new Plan(this.log);
      plan.write(w, unfinished, true);
      const install: Sliced = { kind: 'install', snapshot: w.snapshot, stored: 0 };
      this.batches.push({ plan, durables, sync: true, install });
      this.slicing.push(install);
      this.startFlushing();
    }
    this.slicing = this.slicing.filter((c) => c.kind === 'install');
    this.snapshotIndexMax = Math.max(this.snapshotIndexMax, meta.index);
  }

  /**
   * Makes `snapshot` the durable base of the log, dropping the entries it covers
   * and keeping later ones; stored in slices (see above), so writes made after
   * this call may become durable before it. Nothing if the log already has a
   * snapshot as new; cancelled by a later install, and then durable with it.
   */
  compact(snapshot: Snapshot, durable: () => void): void {
    if (this.failed) return;
    this.checkNotClosed();
    this.slicing.push({ kind: 'compaction', snapshot, stored: 0, durable });
    this.startFlushing();
  }

  /** Waits until every write made so far is durable (or failed), then closes the database. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      if (this.flushing) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      // A crash may lose it, so may a failed write here: the next start learns the commit index again.
      if (this.deferredHardState !== null && !this.failed) await this.batchWrite([this.deferredHardState], false).catch(() => {});
      await this.db.close();
    })();
    return this.closed;
  }

  /**
   * Plans a write into the newest batch and schedules a flush if none is under
   * way. Once a write failed, the node is stopping and nothing becomes
   * durable any more: the write is dropped.
   */
  private enqueue(planInto: (plan: Plan) => void, durables: readonly (() => void)[], sync: boolean): void {
    if (this.failed) return;
    this.checkNotClosed();
    let batch = this.batches[this.batches.length - 1];
    if (batch === undefined || batch.plan.bytes >= syncBatchBytesMax) {
      batch = { plan: new Plan(this.log), durables: [], sync: false, install: null };
      this.batches.push(batch);
    }
    planInto(batch.plan);
    batch.durables.push(...durables);
    batch.sync ||= sync;
    this.startFlushing();
  }

  private checkNotClosed(): void {
    // While close() waits for the last batches, their callbacks may still write.
    if (this.closed !== null && !this.flushing) throw new Error('LogStore: write after close');
  }

  private startFlushing(): void {
    if (this.flushing) return;
    this.flushing = true;
    // Writes made later in this tick join the batch before it starts.
    queueMicrotask(() => this.flushNext());
  }

  /**
   * Hands LevelDB the next write: the oldest batch, or the next slice of
   * the snapshot being stored, alternately while both wait; goes on when it is
   * done. A batch waiting for its install's chunks lets the slices go first.
   */
  private flushNext(): void {
    for (;;) {
      const head = this.batches[0];
      const headReady = head !== undefined && (head.install === null || head.install.stored === head.install.snapshot.chunks.length);
      if (headReady && (this.sliceLast || this.slicing.length === 0)) {
        this.sliceLast = false;
        const batch = this.batches.shift()!;
        // Only barriers (or no-op compactions), or commit moves kept for the next batch: durable now that everything before is.
        if (batch.plan.isEmpty() || !batch.sync) {
          if (!batch.plan.isEmpty()) {
            this.deferredHardState = batch.plan.records()[0]!;
            this.metrics?.onUnsyncedWrite();
          }
          for (const durable of batch.durables) durable();
          continue;
        }
        const records = batch.plan.records();
        // In front: the batch's own hard state, if it has one, is newer and wins.
        if (this.deferredHardState !== null) records.unshift(this.deferredHardState);
        this.deferredHardState = null;
        const startedNs = process.hrtime.bigint();
        this.afterWrite(this.batchWrite(records, true), () => {
          this.metrics?.onSync(batch.plan.entryCount, Number(process.hrtime.bigint() - startedNs) / 1e9);
          for (const durable of batch.durables) durable();
        });
        return;
      }
      const slice = this.nextSlice();
      if (slice === null) {
        if (this.batches.length > 0) continue;
        this.flushing = false;
        for (const resolve of this.drainWaiters.splice(0)) resolve();
        return;
      }
      this.sliceLast = true;
      this.afterWrite(this.batchWrite(slice, true), () => {});
      return;
    }
  }

  /**
   * One LevelDB write of `ops` (synced, or not), straight to classic-level's native batch
   * (`_batch`, abstract-level's implementation hook) rather than through
   * `db.batch`: for every operation that one clones the op with the options
   * spread into it, looks up and applies the (identity) view encodings and runs
   * the hook checks, which under open-model load, one write per batch, was about
   * half of the batch call's main-thread time on a follower (perf, 500/s). Our
   * ops already are what the native side reads (type, key, value as
   * Uint8Array), and every key and value is a Uint8Array. One check stays: the
   * native batch of a database that is not open crashes the process, so then
   * the write goes through `db.batch`, which rejects it (and the store fails).
   */
  private batchWrite(ops: RecordOp[], sync: boolean): Promise<void> {
    const options = sync ? syncWrite : unsyncedWrite;
    if (this.db.status !== 'open') return this.db.batch(ops, options);
    return (this.db as unknown as NativeBatch)._batch(ops, options);
  }

  private afterWrite(written: Promise<void>, done: () => void): void {
    written
      .then(
        () => {
          done();
          this.flushNext();
        },
        (e: unknown) => this.fail(e),
      )
      // A durable callback that throws is a bug of its caller: make it uncaught.
      .catch(throwAsync);
  }

  /**
   * The puts of the next slice of the oldest sliced snapshot's chunks, or null
   * when none waits. Plans the switch to a compaction once its last chunks are in
   * a slice, and a compaction to a snapshot no newer than the log's as a barrier.
   */
  private nextSlice(): RecordOp[] | null {
    for (;;) {
      const c = this.slicing[0];
      if (c === undefined) return null;
      const { meta, chunks } = c.snapshot;
      if (c.kind === 'compaction' && c.stored === 0 && meta.index <= this.log.snapshotIndex) {
        this.slicing.shift();
        this.enqueue(() => {}, [c.durable], false);
        continue;
      }
      const ops: RecordOp[] = [];
      let end = c.stored;
      let bytes = 0;
      while (end < chunks.length && (end === c.stored || bytes + chunkValueBytes(chunks[end]!.length) <= this.sliceBytes)) bytes += chunkValueBytes(chunks[end++]!.length);
      if (this.sliceBuffer.length < bytes) this.sliceBuffer = new Uint8Array(bytes);
      let at = 0;
      for (let k = c.stored; k < end; k++) {
        const value = encodeChunkInto(this.sliceBuffer.subarray(at), meta.index, chunks[k]!);
        at += value.length;
        ops.push({ type: 'put', key: chunkKey(meta.index, k), value });
      }
      c.stored = end;
      if (end === chunks.length) {
        this.slicing.shift();
        // In the tick that hands LevelDB the last slice: nothing can come between.
        if (c.kind === 'compaction') {
          this.enqueue((plan) => plan.compactOnto(meta, chunks.length), [c.durable], true);
          this.snapshotIndexMax = Math.max(this.snapshotIndexMax, meta.index);
        }
      }
      if (ops.length > 0) return ops;
    }
  }

  private fail(e: unknown): void {
    this.failed = true;
    this.batches.length = 0;
    this.slicing.length = 0;
    this.flushing = false;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    this.onFatal(new Error(`log store: a LevelDB write failed, so it and every later write are lost; the node must stop: ${describeLevelError(e)}`, { cause: e }));
  }
}

/** abstract-level errors carry a LEVEL_* code; anything else is a bug and propagates. */
function isLevelError(e: unknown): e is Error {
  if (!(e instanceof Error)) return false;
  const code: unknown = (e as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('LEVEL_');
}

function describeLevelError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const code = (e as { code?: unknown }).code;
  const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
  return `${typeof code === 'string' ? `${code} ` : ''}${e.message}${cause}`;
}
