import type { LogStorage, LogWrite } from '../src/raft/host/ready-executor.js';
import type { PersistedState } from '../src/raft/host/raft-node.js';
import type { Entry, HardState, Snapshot } from '../src/raft/types.js';
import { emptyPersistedState } from '../src/raft/host/raft-node.js';
import type { SimClock } from './clock.js';
import type { Prng } from './prng.js';

export interface DiskFaults {
  readonly syncMinMs: number;
  readonly syncMaxMs: number;
}

export const defaultDisk: DiskFaults = { syncMinMs: 0, syncMaxMs: 2 };

type PendingWrite = { readonly kind: 'write'; readonly w: LogWrite } | { readonly kind: 'compact'; readonly snapshot: Snapshot };

/**
 * One node's simulated disk. Writes become durable in order, each after a random sync
 * latency; a crash loses every write not yet reported durable (like a real fsync'd
 * log with an unsynced tail), and nothing else. Each write is atomic: a snapshot
 * install is all there or not at all.
 */
export class SimDisk implements LogStorage {
  faults: DiskFaults = defaultDisk;
  private hardState: HardState = emptyPersistedState.hardState;
  private snapshot: Snapshot | null = null;
  /** Durable entries after the snapshot: entries[k].index === base + 1 + k. */
  private entries: Entry[] = [];
  private pending: { readonly write: PendingWrite; readonly durable: () => void }[] = [];
  private generation = 0;
  private lastDurableAtMs = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly rng: Prng,
  ) {}

  write(w: LogWrite, durable: () => void): void {
    this.enqueue({ kind: 'write', w }, durable);
  }

  /** Makes `snapshot` the durable base of the log, dropping the entries it covers. */
  compact(snapshot: Snapshot, durable: () => void): void {
    this.enqueue({ kind: 'compact', snapshot }, durable);
  }

  private enqueue(write: PendingWrite, durable: () => void): void {
    this.pending.push({ write, durable });
    const gen = this.generation;
    // Syncs complete in order: never before the previous one.
    const at = Math.max(this.clock.now() + this.rng.range(this.faults.syncMinMs, this.faults.syncMaxMs), this.lastDurableAtMs);
    this.lastDurableAtMs = at;
    this.clock.setTimeout(() => {
      if (gen !== this.generation) return;
      const p = this.pending.shift()!;
      this.apply(p.write);
      p.durable();
    }, at - this.clock.now());
  }

  private base(): number {
    return this.snapshot === null ? 0 : this.snapshot.meta.index;
  }

  private apply(p: PendingWrite): void {
    if (p.kind === 'compact') {
      const drop = p.snapshot.meta.index - this.base();
      if (drop <= 0) return;
      this.entries = this.entries.slice(drop);
      this.snapshot = p.snapshot;
      return;
    }
    const { hardState, snapshot, entries } = p.w;
    if (hardState !== null) this.hardState = hardState;
    if (snapshot !== null) {
      this.snapshot = snapshot;
      this.entries = [];
    }
    if (entries.length > 0) {
      this.entries.length = entries[0]!.index - this.base() - 1;
      for (const e of entries) this.entries.push(e);
    }
  }

  /** The node crashed: unsynced writes are gone. */
  crash(): void {
    this.pending = [];
    this.generation++;
  }

  /** The disk was replaced by an empty one (an operator wiped the data directory). */
  wipe(): void {
    this.crash();
    this.hardState = emptyPersistedState.hardState;
    this.snapshot = null;
    this.entries = [];
  }

  durableHardState(): HardState {
    return this.hardState;
  }

  durableLastIndex(): number {
    return this.base() + this.entries.length;
  }

  durableSnapshotIndex(): number {
    return this.base();
  }

  /** The durable entry at `index`, or undefined when it is not on disk (or behind the snapshot). */
  durableEntry(index: number): Entry | undefined {
    return this.entries[index - this.base() - 1];
  }

  recover(): PersistedState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }
}
