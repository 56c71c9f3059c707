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
//
// Invariant: `range` describes the store as it will be once every write made so
// far is durable; each write is planned against it, in call order, which is the
// order LevelDB applies the batches in.

import { ClassicLevel, type BatchOperation } from 'classic-level';
import type { LogStorage, LogWrite } from '../raft/host/ready-executor.js';
import type { PersistedState } from '../raft/host/raft-node.js';
import type { Entry, Snapshot } from '../raft/types.js';
import { chunkKey, encodeChunk, encodeEntry, encodeHardState, encodeSnapshotMeta, entryKey, hardStateKey, snapshotMetaKey } from './codec.js';
import { recover, type Db, type StoredRange } from './recover.js';

export interface StorageMetrics {
  /** Called once per synced batch: the log entries in it and the fsync'd write's latency. */
  onSync(entries: number, seconds: number): void;
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

type Op = BatchOperation<Db, Uint8Array, Uint8Array>;

/** Writes that go to disk in one synced batch. */
interface Batch {
  readonly ops: Op[];
  bytes: number;
  entries: number;
  /** In call order. */
  readonly durables: (() => void)[];
}

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

  private constructor(
    private readonly db: Db,
    private range: StoredRange,
    private readonly metrics: StorageMetrics | undefined,
    private readonly onFatal: (error: Error) => void,
  ) {}

  /**
   * Opens (or creates) the store in `dir`, which holds one LevelDB and nothing else,
   * and recovers what is durable. `onFatal` is called if a synced write fails: the
   * write and every later one never become durable, and the node must stop.
   */
  static async open(dir: string, metrics?: StorageMetrics, onFatal: (error: Error) => void = throwAsync): Promise<OpenResult> {
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view', createIfMissing: true });
    try {
      await db.open();
      const r = await recover(db);
      if (!r.ok) {
        await db.close();
        return { ok: false, error: `${r.error} (log store ${dir})` };
      }
      return { ok: true, store: new LogStore(db, r.range, metrics, onFatal), recovered: r.state, warnings: r.warnings };
    } catch (e) {
      if (!isLevelError(e)) throw e;
      await db.close().catch(() => {});
      return { ok: false, error: `cannot read the log store ${dir}: ${describeLevelError(e)}` };
    }
  }

  write(w: LogWrite, durable: () => void): void {
    // Planned in full before anything changes: a write that breaks the log's
    // invariants throws and leaves the store as it was.
    const plan = new Plan(this.range);
    if (w.snapshot !== null) plan.snapshot(w.snapshot, 'install');
    if (w.entries.length > 0) plan.entries(w.entries);
    if (w.hardState !== null) plan.put(hardStateKey, encodeHardState(w.hardState));
    this.enqueue(plan, durable);
  }

  /** Makes `snapshot` the durable base of the log, dropping the entries it covers and keeping later ones. */
  compact(snapshot: Snapshot, durable: () => void): void {
    const plan = new Plan(this.range);
    if (snapshot.meta.index > this.range.snapshotIndex) plan.snapshot(snapshot, 'compact');
    this.enqueue(plan, durable);
  }

  /** Waits until every write made so far is durable (or failed), then closes the database. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      if (this.flushing) await new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      await this.db.close();
    })();
    return this.closed;
  }

  /**
   * Adds a planned write to the newest batch and schedules a flush if none is under
   * way. Once a synced write failed, the node is stopping and nothing becomes
   * durable any more: the write is dropped.
   */
  private enqueue(plan: Plan, durable: () => void): void {
    if (this.failed) return;
    // While close() waits for the last batches, their callbacks may still write.
    if (this.closed !== null && !this.flushing) throw new Error('LogStore: write after close');
    let batch = this.batches[this.batches.length - 1];
    if (batch === undefined || batch.bytes >= syncBatchBytesMax) {
      batch = { ops: [], bytes: 0, entries: 0, durables: [] };
      this.batches.push(batch);
    }
    for (const op of plan.ops) batch.ops.push(op);
    batch.bytes += plan.bytes;
    batch.entries += plan.entryCount;
    batch.durables.push(durable);
    this.range = plan.range;
    if (!this.flushing) {
      this.flushing = true;
      // Writes made later in this tick join the batch before it starts.
      queueMicrotask(() => this.flushNext());
    }
  }

  /** Syncs the oldest batch, reports its writes durable in call order, and goes on to the next. */
  private flushNext(): void {
    for (;;) {
      const batch = this.batches.shift();
      if (batch === undefined) {
        this.flushing = false;
        for (const resolve of this.drainWaiters.splice(0)) resolve();
        return;
      }
      // Only barriers (or no-op compactions): durable now that everything before is.
      if (batch.ops.length === 0) {
        for (const durable of batch.durables) durable();
        continue;
      }
      const startedNs = process.hrtime.bigint();
      this.db
        .batch(batch.ops, { sync: true })
        .then(
          () => {
            this.metrics?.onSync(batch.entries, Number(process.hrtime.bigint() - startedNs) / 1e9);
            for (const durable of batch.durables) durable();
            this.flushNext();
          },
          (e: unknown) => this.fail(e),
        )
        // A durable callback that throws is a bug of its caller: make it uncaught.
        .catch(throwAsync);
      return;
    }
  }

  private fail(e: unknown): void {
    this.failed = true;
    this.batches.length = 0;
    this.flushing = false;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    this.onFatal(new Error(`log store: a synced write failed, so it and every later write are lost; the node must stop: ${describeLevelError(e)}`, { cause: e }));
  }
}

/** The batch operations of one write, and the stored range once they are applied. */
class Plan {
  readonly ops: Op[] = [];
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
      throw new Error(`LogStore.write: entries from ${first} do not fit a log holding (${snapshotIndex}, ${lastIndex}]`);
    }
    entries.forEach((e, k) => {
      if (e.index !== first + k) throw new Error(`LogStore.write: entries are not contiguous at ${e.index} (expected ${first + k})`);
    });
    const last = first + entries.length - 1;
    for (let i = last + 1; i <= lastIndex; i++) this.del(entryKey(i));
    for (const e of entries) this.put(entryKey(e.index), encodeEntry(e));
    this.entryCount += entries.length;
    this.range = { ...this.range, lastIndex: last };
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
