import type { Message } from '../raft/types.js';

/**
 * One peer's outgoing messages, oldest first, in a ring bounded by count and by
 * bytes (each message's encoded-size bound, from the codec). Pushing past either
 * bound drops the oldest messages: Raft retransmits whatever it still needs, and
 * the newest messages are the ones worth sending.
 *
 * Invariants: length <= countMax; bytes <= bytesMax unless length === 1 (one
 * message larger than the byte bound is kept alone, so that it is refused at
 * encoding, visibly, rather than vanishing here).
 */
export class SendQueue {
  private readonly messages: (Message | undefined)[] = [];
  private readonly sizes: number[] = [];
  private head = 0;
  private count = 0;
  private bytesTotal = 0;

  constructor(
    readonly countMax: number,
    readonly bytesMax: number,
  ) {
    if (!Number.isSafeInteger(countMax) || countMax < 1) throw new RangeError(`SendQueue: countMax ${countMax} must be a positive integer`);
    if (!(bytesMax > 0)) throw new RangeError(`SendQueue: bytesMax ${bytesMax} must be positive`);
  }

  get length(): number {
    return this.count;
  }

  get bytes(): number {
    return this.bytesTotal;
  }

  /** Appends `m` (of at most `size` encoded bytes); returns how many older messages were dropped. */
  push(m: Message, size: number): number {
    let dropped = 0;
    if (this.count === this.countMax) {
      this.shift();
      dropped++;
    }
    // The ring grows to countMax slots and then stays: `head + count` wraps within it.
    const slot = (this.head + this.count) % this.countMax;
    this.messages[slot] = m;
    this.sizes[slot] = size;
    this.count++;
    this.bytesTotal += size;
    while (this.bytesTotal > this.bytesMax && this.count > 1) {
      this.shift();
      dropped++;
    }
    return dropped;
  }

  /** The encoded-size bound of the oldest message, or undefined when empty. */
  peekSize(): number | undefined {
    return this.count === 0 ? undefined : this.sizes[this.head];
  }

  shift(): Message | undefined {
    if (this.count === 0) return undefined;
    const m = this.messages[this.head];
    this.bytesTotal -= this.sizes[this.head] ?? 0;
    this.messages[this.head] = undefined;
    this.head = (this.head + 1) % this.countMax;
    this.count--;
    return m;
  }
}
