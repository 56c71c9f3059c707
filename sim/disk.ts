import type { PersistedState } from '../src/raft/host/raft-node.js';
import type { LogStorage, LogWrite } from '../src/raft/host/ready-executor.js';
import type { Entry, HardState, Snapshot } from '../src/raft/types.js';
import { emptyPersistedState } from '../src/raft/host/raft-node.js';
import { decodeHardState, decodeRun, decodeSnapshotMeta, encodeFormat, firstOfRunKey, formatKey, hardStateKey, runKey, snapshotMetaKey, storeFormat, type Run } from '../src/storage/codec.js';
import { Plan, type RecordOp } from '../src/storage/plan.js';
import { recoverRecords, type PlannedRecovery, type RecordReader } from '../src/storage/recover.js';
import { StoredLog } from '../src/storage/stored-log.js';
import type { SimClock } from './clock.js';
import type { Prng } from './prng.js';

export interface DiskFaults {
  readonly syncMinMs: number;
  readonly syncMaxMs: number;
}

export const defaultDisk: DiskFaults = { syncMinMs: 0, syncMaxMs: 2 };

/**
 * How a crash treats the writes not yet reported durable. Either way, the writes
 * reported done without a sync since the last synced one (LogWrite.mustSync
 * false) are lost but for a random prefix of them, which the OS wrote back.
 */
export type CrashMode =
  /** All of them are lost: the disk holds what was reported durable (less unsynced writes). */
  | 'lose-unsynced'
  /**
   * A prefix of them reached the disk, and the write at the cut is torn: its
   * deletions are made and its log run is written only in part. (LevelDB's
   * batches are atomic; this is a disk that is not, and it is what the CRC of each
   * run and recover.ts's torn-tail repair are for.) Only a write of entries
   * alone (no hard state or snapshot) is torn; any other write at the cut is lost
   * whole.
   */
  | 'tear-last-write';

interface PendingWrite {
  readonly ops: readonly RecordOp[];
  /** A write of log entries only, which a crash may tear. */
  readonly entriesOnly: boolean;
  /** Reported done once synced; else once written, and a crash may lose it. */
  readonly sync: boolean;
  readonly durable: () => void;
}

/** A record's key as a map key: one char (code 0-255) per byte, so string order is byte order. */
function keyOf(key: Uint8Array): string {
  return String.fromCharCode(...key);
}

/** The position of the first of `sorted` not below `n`. */
function lowerBound(sorted: readonly number[], n: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < n) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function bytesOf(key: string): Uint8Array {
  const out = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) out[i] = key.charCodeAt(i);
  return out;
}

/**
 * One node's simulated disk, holding the very records the real store writes
 * (src/storage/plan.ts encodes writes with src/storage/codec.ts), so a restarted
 * node recovers through src/storage/recover.ts like a real one. Writes become
 * durable in order, each after a random sync latency (an unsynced one at once);
 * a crash loses what was not reported durable, or tears the last write, and all
 * but a prefix of the unsynced writes since the last sync (see CrashMode); a
 * failed sync stops the node (`onFatal`), as a failed fsync does in production.
 */
export class SimDisk implements LogStorage, RecordReader {
  faults: DiskFaults = defaultDisk;
  /** Called when a sync fails: the node must stop (set by the cluster). */
  onFatal: (error: Error) => void = (e) => {
    throw e;
  };
  private readonly records = new Map<string, Uint8Array>();
  /** The first indexes of the log runs on disk, ascending (for durableEntry). */
  private runStarts: number[] = [];
  /** The run durableEntry decoded last, until its record changes. */
  private lastRead: { readonly first: number; readonly run: Run | null } | null = null;
  /** What the disk will hold once every write made so far is durable. */
  private stored = StoredLog.empty();
  private pending: PendingWrite[] = [];
  /** Unsynced writes reported done since the last synced one: in the OS's cache, not yet on the records. */
  private unsynced: (readonly RecordOp[])[] = [];
  /** Unsynced writes a crash lost, for tests to know the case happened. */
  unsyncedLost = 0;
  private generation = 0;
  private lastDurableAtMs = 0;
  /** The next sync fails. */
  private failNextSync = false;
  /** Called once the next write is on disk, before the node is told it is durable. */
  private onNextSync: (() => void) | null = null;

  constructor(
    private readonly clock: SimClock,
    private readonly rng: Prng,
  ) {
    // As LogStore.open makes a new store.
    this.put(formatKey, encodeFormat(storeFormat));
  }

  /** Each write is its own batch here: one Plan per write. */
  write(w: LogWrite, durable: () => void): void {
    const plan = new Plan(this.stored);
    plan.write(w);
    this.enqueue({ ops: plan.records(), entriesOnly: w.snapshot === null && w.hardState === null && w.entries.length > 0, sync: w.mustSync, durable });
  }

  /** Makes `snapshot` the durable base of the log, dropping the entries it covers. */
  compact(snapshot: Snapshot, durable: () => void): void {
    const plan = new Plan(this.stored);
    plan.compact(snapshot);
    this.enqueue({ ops: plan.records(), entriesOnly: false, sync: true, durable });
  }

  /** The next synced write to complete fails instead. */
  failNextWrite(): void {
    this.failNextSync = true;
  }

  /** Calls off an armed failNextWrite or atNextSync. */
  disarm(): void {
    this.failNextSync = false;
    this.onNextSync = null;
  }

  /** Calls `fn` once the next synced write is on disk, before its durable callback (which it may prevent by crashing the node). */
  atNextSync(fn: () => void): void {
    this.onNextSync = fn;
  }

  private enqueue(write: PendingWrite): void {
    this.pending.push(write);
    const gen = this.generation;
    // Writes complete in order: never before the previous one.
    const latency = write.sync ? this.rng.range(this.faults.syncMinMs, this.faults.syncMaxMs) : 0;
    const at = Math.max(this.clock.now() + latency, this.lastDurableAtMs);
    this.lastDurableAtMs = at;
    this.clock.setTimeout(() => {
      if (gen !== this.generation) return;
      if (this.pending[0]!.sync && this.failNextSync) {
        this.failNextSync = false;
        // The write and every later one are lost; the node must stop (LogStore's onFatal).
        this.crash('lose-unsynced');
        this.onFatal(new Error('simulated disk: a synced write failed'));
        return;
      }
      const p = this.pending.shift()!;
      if (!p.sync) {
        this.unsynced.push(p.ops);
        p.durable();
        return;
      }
      // A sync writes back the unsynced writes before it too.
      for (const ops of this.unsynced.splice(0)) this.apply(ops);
      this.apply(p.ops);
      const hook = this.onNextSync;
      this.onNextSync = null;
      hook?.();
      if (gen === this.generation) p.durable();
    }, at - this.clock.now());
  }

  private apply(ops: readonly RecordOp[]): void {
    for (const op of ops) {
      if (op.type === 'put') this.put(op.key, op.value);
      else this.del(op.key);
    }
  }

  private put(key: Uint8Array, value: Uint8Array): void {
    const k = keyOf(key);
    if (!this.records.has(k)) this.runStartsChange(key, 'add');
    this.records.set(k, value);
    this.forgetRead(key);
  }

  private del(key: Uint8Array): void {
    if (this.records.delete(keyOf(key))) this.runStartsChange(key, 'remove');
    this.forgetRead(key);
  }

  private runStartsChange(key: Uint8Array, how: 'add' | 'remove'): void {
    const first = firstOfRunKey(key);
    if (first === null) return;
    const at = lowerBound(this.runStarts, first);
    if (how === 'add') this.runStarts.splice(at, 0, first);
    else this.runStarts.splice(at, 1);
  }

  private forgetRead(key: Uint8Array): void {
    if (this.lastRead !== null && this.lastRead.first === firstOfRunKey(key)) this.lastRead = null;
  }

  /** The node crashed: what was not reported durable is lost, or (tear) partly written; unsynced writes in part (see CrashMode). */
  crash(mode: CrashMode = 'lose-unsynced'): void {
    const cut = mode === 'tear-last-write' && this.pending.length > 0 ? this.rng.int(this.pending.length) : 0;
    // Later writes reached the disk only after the earlier ones.
    const unsyncedKept = cut > 0 ? this.unsynced.length : this.unsynced.length === 0 ? 0 : this.rng.int(this.unsynced.length + 1);
    for (let k = 0; k < unsyncedKept; k++) this.apply(this.unsynced[k]!);
    this.unsyncedLost += this.unsynced.length - unsyncedKept;
    this.unsynced = [];
    if (mode === 'tear-last-write' && this.pending.length > 0) {
      for (let k = 0; k < cut; k++) this.apply(this.pending[k]!.ops);
      const torn = this.pending[cut]!;
      if (torn.entriesOnly) {
        // Its deletions, then its one put (the run) cut short.
        const last = torn.ops.length - 1;
        this.apply(torn.ops.slice(0, last));
        const op = torn.ops[last]!;
        if (op.type !== 'put' || firstOfRunKey(op.key) === null) throw new Error('simulated disk: an entries-only write that does not end with its run');
        this.put(op.key, op.value.slice(0, this.rng.int(op.value.length)));
      }
    }
    this.pending = [];
    this.failNextSync = false;
    this.onNextSync = null;
    this.generation++;
  }

  /** The disk was replaced by an empty one (an operator wiped the data directory). */
  wipe(): void {
    this.crash();
    this.records.clear();
    this.runStarts = [];
    this.lastRead = null;
    this.stored = StoredLog.empty();
  }

  /** Whether writes reported done without a sync wait for the next sync (a crash now may lose them). */
  holdsUnsynced(): boolean {
    return this.unsynced.length > 0;
  }

  /** Whether the last write still on its way to disk holds log entries alone (one a torn crash can tear). */
  pendingEntriesOnlyWrite(): boolean {
    return this.pending[this.pending.length - 1]?.entriesOnly ?? false;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.records.get(keyOf(key));
  }

  *range(gte: Uint8Array, lt: Uint8Array): Iterable<readonly [Uint8Array, Uint8Array]> {
    const lo = keyOf(gte);
    const hi = keyOf(lt);
    const keys = [...this.records.keys()].filter((k) => k >= lo && k < hi).sort();
    for (const k of keys) yield [bytesOf(k), this.records.get(k)!];
  }

  /**
   * What a node restarting on this disk starts from, read and repaired by the real
   * recovery code (a torn or corrupt uncommitted tail is cut off). A refusal means
   * the disk lost something it had reported durable: a bug, so it throws.
   */
  recover(): PersistedState {
    const r: PlannedRecovery = recoverRecords(this);
    if (!r.ok) throw new Error(`simulated disk: ${r.error}`);
    this.apply(r.repairs);
    this.stored = r.log;
    return r.state;
  }

  durableHardState(): HardState {
    const v = this.get(hardStateKey);
    if (v === undefined) return emptyPersistedState.hardState;
    const hs = decodeHardState(v);
    if (!hs.ok) throw new Error(`simulated disk: the durable hard state does not decode: ${hs.reason}`);
    return hs.value;
  }

  durableSnapshotIndex(): number {
    const v = this.get(snapshotMetaKey);
    if (v === undefined) return 0;
    const meta = decodeSnapshotMeta(v);
    if (!meta.ok) throw new Error(`simulated disk: the durable snapshot metadata does not decode: ${meta.reason}`);
    return meta.value.meta.index;
  }

  /**
   * The durable entry at `index`, or undefined when it is not on disk (or behind
   * the snapshot, or torn): the log as recovery reads it, the run holding `index`
   * being the last one starting at or before it.
   */
  durableEntry(index: number): Entry | undefined {
    const at = lowerBound(this.runStarts, index + 1) - 1;
    if (at < 0) return undefined;
    const first = this.runStarts[at]!;
    if (this.lastRead?.first !== first) {
      const decoded = decodeRun(this.records.get(keyOf(runKey(first)))!);
      this.lastRead = { first, run: decoded.ok ? decoded.value : null };
    }
    return this.lastRead.run?.entries[index - first];
  }
}
