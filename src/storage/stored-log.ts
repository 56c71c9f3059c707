// Where a store's log is on disk: the snapshot it starts after, its last index and
// the first index of each stored run (codec.ts), which is all planning a write
// needs (plan.ts). No entries are kept here: the Raft log holds them in memory.

/**
 * Invariants: `starts` ascends; every start is at most `lastIndex`; run k holds the
 * entries [starts[k], starts[k + 1]) that count (its later ones, if any, were
 * overwritten by run k + 1) and the last run those up to `lastIndex`; each run's
 * counted entries reach past `snapshotIndex` (runs wholly behind the snapshot are
 * deleted), and the first run starts at or before `snapshotIndex + 1`.
 */
export class StoredLog {
  private constructor(
    /** The snapshot's index, 0 without one: the log holds (snapshotIndex, lastIndex]. */
    public snapshotIndex: number,
    public lastIndex: number,
    public snapshotChunks: number,
    private readonly starts: number[],
  ) {}

  static empty(): StoredLog {
    return new StoredLog(0, 0, 0, []);
  }

  /** A log as recovery found it; `starts` as the invariants above say. */
  static of(snapshotIndex: number, lastIndex: number, snapshotChunks: number, starts: readonly number[]): StoredLog {
    const log = new StoredLog(snapshotIndex, lastIndex, snapshotChunks, [...starts]);
    log.check();
    return log;
  }

  /** The first index of the last run, or null when no run is stored. */
  lastStart(): number | null {
    return this.starts.length === 0 ? null : this.starts[this.starts.length - 1]!;
  }

  /**
   * Records a run of the entries from `first` to `last`, which overwrite the log from
   * `first` on; returns the runs that no longer count: those starting after `first`,
   * and the one before it if what it still counts is behind the snapshot. (A run
   * already starting at `first` is overwritten by the new one.)
   */
  startRun(first: number, last: number): number[] {
    let k = this.starts.length;
    while (k > 0 && this.starts[k - 1]! > first) k--;
    const dropped = this.starts.splice(k);
    if (first - 1 <= this.snapshotIndex) dropped.unshift(...this.starts.splice(0, this.lastStart() === first ? this.starts.length - 1 : this.starts.length));
    if (this.lastStart() !== first) this.starts.push(first);
    this.lastIndex = last;
    return dropped;
  }

  /** Extends the last run, which starts at or before `first`, to hold the entries from `first` to `last` instead of its own from there on. */
  extendLast(first: number, last: number): void {
    const start = this.lastStart();
    if (start === null || start > first) throw new Error(`StoredLog: no run to extend at ${first}`);
    this.lastIndex = last;
  }

  /** Removes and returns every run (a snapshot install replaces the whole log). */
  dropAll(): number[] {
    return this.starts.splice(0);
  }

  /** Removes and returns the runs whose counted entries all are at or before `index` (a compaction to a snapshot there). */
  dropThrough(index: number): number[] {
    let k = 0;
    while (k < this.starts.length && this.countedEnd(k) <= index) k++;
    return this.starts.splice(0, k);
  }

  /** The last index run k counts. */
  private countedEnd(k: number): number {
    return k + 1 < this.starts.length ? this.starts[k + 1]! - 1 : this.lastIndex;
  }

  private check(): void {
    const s = this.starts;
    for (let k = 0; k < s.length; k++) {
      if ((k > 0 && s[k]! <= s[k - 1]!) || s[k]! > this.lastIndex || this.countedEnd(k) <= this.snapshotIndex) {
        throw new Error(`StoredLog: runs from ${s.join(',')} do not fit a log holding (${this.snapshotIndex}, ${this.lastIndex}]`);
      }
    }
    if (s.length > 0 && s[0]! > this.snapshotIndex + 1) throw new Error(`StoredLog: the first run starts at ${s[0]}, after ${this.snapshotIndex + 1}`);
    if (s.length === 0 && this.lastIndex !== this.snapshotIndex) throw new Error(`StoredLog: no runs for (${this.snapshotIndex}, ${this.lastIndex}]`);
  }
}
