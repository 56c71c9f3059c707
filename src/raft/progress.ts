import { Inflights } from './inflights.js';
import type { LogIndex } from './types.js';
import { logIndex } from './types.js';

/**
 * What the leader knows of one follower's log (etcd's tracker.Progress).
 *
 * - `probe`: we do not know where the follower's log matches ours; send one append
 *   at a time (`probeSent`) and wait for its answer or the next heartbeat.
 * - `replicate`: the follower is known to match up to `match`; stream appends
 *   optimistically from `next`, at most `inflights.capacity` at a time.
 *
 * Invariant: match < next. `recentActive` is set by any message from the follower and
 * cleared by each CheckQuorum round.
 */
export class Progress {
  state: 'probe' | 'replicate' = 'probe';
  match: LogIndex = logIndex(0);
  next: LogIndex;
  probeSent = false;
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: LogIndex, inflightMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightMax);
  }

  private assertInvariant(): void {
    if (!(this.match < this.next)) throw new Error(`Progress: match ${this.match} >= next ${this.next}`);
  }

  becomeProbe(): void {
    this.state = 'probe';
    this.next = logIndex(this.match + 1);
    this.probeSent = false;
    this.inflights.reset();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = logIndex(this.match + 1);
    this.probeSent = false;
    this.inflights.reset();
  }

  /** May we send an append now? */
  isPaused(): boolean {
    return this.state === 'probe' ? this.probeSent : this.inflights.full();
  }

  /** Records an append carrying entries up to `lastIndex` (or an empty probe at next-1). */
  sentAppend(lastIndex: LogIndex, entryCount: number): void {
    if (this.state === 'replicate') {
      if (entryCount > 0) {
        this.next = logIndex(lastIndex + 1);
        this.inflights.add(lastIndex);
      }
    } else {
      this.probeSent = true;
    }
  }

  /** A success acknowledgement up to `index`. Returns false when it tells us nothing new. */
  maybeUpdate(index: LogIndex): boolean {
    const updated = index > this.match;
    if (updated) {
      this.match = index;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = logIndex(index + 1);
    this.inflights.freeTo(index);
    this.assertInvariant();
    return updated;
  }

  /**
   * A rejection of the append whose prevLogIndex was `rejected`; `hintNext` is the
   * leader's next index computed from the follower's conflict hint. Returns false for
   * a stale rejection (a duplicate, or an answer to an append we have moved past).
   */
  maybeDecrTo(rejected: LogIndex, hintNext: LogIndex): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.becomeProbe();
      return true;
    }
    if (rejected !== this.next - 1) return false;
    this.next = logIndex(Math.max(Math.min(rejected, hintNext), this.match + 1));
    this.probeSent = false;
    this.assertInvariant();
    return true;
  }
}
