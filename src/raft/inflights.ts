import type { LogIndex } from './types.js';

/**
 * The AppendEntries messages sent to one follower and not yet acknowledged, as the
 * last index each one carried: a bounded ring, so a leader never has more than
 * `capacity` appends in flight to a peer (pipelining with a window).
 *
 * Invariant: the stored indexes are strictly increasing from oldest to newest.
 */
export class Inflights {
  private readonly ring: Float64Array;
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`Inflights capacity ${capacity}`);
    this.ring = new Float64Array(capacity);
  }

  size(): number {
    return this.count;
  }

  full(): boolean {
    return this.count === this.capacity;
  }

  add(lastIndex: LogIndex): void {
    if (this.full()) throw new Error('Inflights.add on a full window');
    if (this.count > 0 && lastIndex <= this.ring[(this.start + this.count - 1) % this.capacity]!) {
      throw new Error(`Inflights.add(${lastIndex}) is not after the newest in flight`);
    }
    this.ring[(this.start + this.count) % this.capacity] = lastIndex;
    this.count++;
  }

  /** Forgets every append whose last index is <= `index` (acknowledged, directly or by a later ack). */
  freeTo(index: LogIndex): void {
    while (this.count > 0 && this.ring[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.count--;
    }
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
  }
}
