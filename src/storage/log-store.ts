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
// The writes of one batch are planned into one Plan (plan.ts): the entries they
// append make one log run, one LevelDB value, and the hard state is put once.
//
// Invariant: `log` describes the store as it will be once every write made so
// far is durable; each write is planned against it, in call order, which is the
// order LevelDB applies the batches in.

import { ClassicLevel } from 'classic-level';
import type { LogStorage, LogWrite } from '../raft/host/ready-executor.js';
import type { PersistedState } from '../raft/host/raft-node.js';
import type { Snapshot } from '../raft/types.js';
import { Plan } from './plan.js';
import { recover, type Db } from './recover.js';
import type { StoredLog } from './stored-log.js';

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


/** Writes that go to disk in one synced batch. */
interface Batch {
  readonly plan: Plan;
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
    private readonly log: StoredLog,
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
      return { ok: true, store: new LogStore(db, r.log, metrics, onFatal), recovered: r.state, warnings: r.warnings };
    } catch (e) {
      if (!isLevelError(e)) throw e;
      await db.close().catch(() => {});
      return { ok: false, error: `cannot read the log store ${dir}: ${describeLevelError(e)}` };
    }
  }

  write(w: LogWrite, durable: () => void): void {
    // Planned in full before anything changes: a write that breaks the log's
    // invariants throws and leaves the store as it was.
    this.enqueue((plan) => plan.write(w), durable);
  }

  /** Makes `snapshot` the durable base of the log, dropping the entries it covers and keeping later ones. */
  compact(snapshot: Snapshot, durable: () => void): void {
    this.enqueue((plan) => plan.compact(snapshot), durable);
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
   * Plans a write into the newest batch and schedules a flush if none is under
   * way. Once a synced write failed, the node is stopping and nothing becomes
   * durable any more: the write is dropped.
   */
  private enqueue(planInto: (plan: Plan) => void, durable: () => void): void {
    if (this.failed) return;
    // While close() waits for the last batches, their callbacks may still write.
    if (this.closed !== null && !this.flushing) throw new Error('LogStore: write after close');
    let batch = this.batches[this.batches.length - 1];
    if (batch === undefined || batch.plan.bytes >= syncBatchBytesMax) {
      batch = { plan: new Plan(this.log), durables: [] };
      this.batches.push(batch);
    }
    planInto(batch.plan);
    batch.durables.push(durable);
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
      if (batch.plan.isEmpty()) {
        for (const durable of batch.durables) durable();
        continue;
      }
      const startedNs = process.hrtime.bigint();
      this.db
        .batch(batch.plan.records(), { sync: true })
        .then(
          () => {
            this.metrics?.onSync(batch.plan.entryCount, Number(process.hrtime.bigint() - startedNs) / 1e9);
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
