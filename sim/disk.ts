import type { PersistedState } from '../src/raft/node.js';
import type { LogStorage } from '../src/raft/executor.js';
import type { Entry, HardState } from '../src/raft/types.js';
import { emptyPersistedState } from '../src/raft/node.js';
import type { SimClock } from './clock.js';
import type { Prng } from './prng.js';

export interface DiskFaults {
  readonly syncMinMs: number;
  readonly syncMaxMs: number;
}

export const defaultDisk: DiskFaults = { syncMinMs: 0, syncMaxMs: 2 };

interface PendingWrite {
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly durable: () => void;
}

/**
 * One node's simulated disk. Writes become durable in order, each after a random sync
 * latency; a crash loses every write not yet reported durable (like a real fsync'd
 * log with an unsynced tail), and nothing else.
 */
export class SimDisk implements LogStorage {
  faults: DiskFaults = defaultDisk;
  syncs = 0;
  private hardState: HardState = emptyPersistedState.hardState;
  private entries: Entry[] = [];
  private pending: PendingWrite[] = [];
  private generation = 0;
  private lastDurableAtMs = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly rng: Prng,
  ) {}

  write(hardState: HardState | null, entries: readonly Entry[], durable: () => void): void {
    this.pending.push({ hardState, entries, durable });
    const gen = this.generation;
    // Syncs complete in order: never before the previous one.
    const at = Math.max(this.clock.now() + this.rng.range(this.faults.syncMinMs, this.faults.syncMaxMs), this.lastDurableAtMs);
    this.lastDurableAtMs = at;
    this.clock.setTimeout(() => {
      if (gen !== this.generation) return;
      const w = this.pending.shift()!;
      this.apply(w);
      w.durable();
    }, at - this.clock.now());
  }

  private apply(w: PendingWrite): void {
    if (w.hardState !== null) this.hardState = w.hardState;
    if (w.entries.length > 0) {
      this.entries.length = w.entries[0]!.index - 1;
      for (const e of w.entries) this.entries.push(e);
    }
    if (w.hardState !== null || w.entries.length > 0) this.syncs++;
  }

  /** The node crashed: unsynced writes are gone. */
  crash(): void {
    this.pending = [];
    this.generation++;
  }

  durableHardState(): HardState {
    return this.hardState;
  }

  durableLastIndex(): number {
    return this.entries.length;
  }

  durableEntry(index: number): Entry | undefined {
    return this.entries[index - 1];
  }

  recover(): PersistedState {
    return { hardState: this.hardState, entries: [...this.entries] };
  }
}
