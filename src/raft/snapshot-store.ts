import type { Snapshot } from './types.js';

/**
 * The latest snapshot the log was compacted behind, taken by the host or installed
 * from a leader: the one a leader sends to followers whose entries it compacted away.
 * Invariant: its index only grows.
 */
export class LatestSnapshot {
  constructor(private current: Snapshot | null) {}

  get(): Snapshot | null {
    return this.current;
  }

  /** Keeps `s` if it is newer than the one held; returns whether it did. */
  offer(s: Snapshot): boolean {
    if (this.current !== null && s.meta.index <= this.current.meta.index) return false;
    this.current = s;
    return true;
  }
}
