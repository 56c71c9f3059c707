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
 * - `snapshot`: the entries the follower needs are compacted away; send it the
 *   snapshot at `snapshotIndex` chunk by chunk, a bounded window at a time, resuming
 *   from the last chunk it acknowledged.
 *
 * Invariant: match < next. `recentActive` is set by any message from the follower and
 * cleared by each CheckQuorum round.
 */
export class Progress {
  state: 'probe' | 'replicate' | 'snapshot' = 'probe';
  snapshotIndex: LogIndex = logIndex(0);
  /** Snapshot chunks: the next one to send, and the next one the follower asked for. */
  snapshotNextChunk = 0;
  snapshotAckedChunk = 0;
  match: LogIndex = logIndex(0);
  next: LogIndex;
  probeSent = false;
  recentActive = false;
  /** The newest heartbeat broadcast this follower acknowledged (see ReadIndexTracker). */
  heartbeatAcked = 0;
  /**
   * The last entries of the batches this follower forwarded to us, in log order,
   * that it has not been told are committed. It answers its clients once it
   * applies them, so it is told as soon as the commit index reaches one, rather
   * than with the next heartbeat (and not at each advance that reaches none).
   */
  readonly awaitedEnds: LogIndex[] = [];
  /** The commit index the last append to this follower carried: a waiting follower needs no empty append to learn it again. */
  commitSent: LogIndex = logIndex(0);
  readonly inflights: Inflights;

  constructor(next: LogIndex, inflightMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightMax);
  }

  /** A batch this follower forwarded was appended, ending at `end`. */
  awaitCommit(end: LogIndex): void {
    this.awaitedEnds.push(end);
  }

  /** Does `commit` reach the end of a batch this follower waits for? */
  awaitsUpTo(commit: LogIndex): boolean {
    return this.awaitedEnds.length > 0 && this.awaitedEnds[0]! <= commit;
  }

  /** The follower is being told of `commit`: the batches it ends are no longer waited for. */
  toldCommit(commit: LogIndex): void {
    let k = 0;
    while (k < this.awaitedEnds.length && this.awaitedEnds[k]! <= commit) k++;
    if (k > 0) this.awaitedEnds.splice(0, k);
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

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.state = 'snapshot';
    this.snapshotIndex = snapshotIndex;
    this.snapshotNextChunk = 0;
    this.snapshotAckedChunk = 0;
    this.probeSent = false;
    this.inflights.reset();
  }

  /** The follower installed the snapshot at `index`: it now matches up to there. */
  snapshotInstalled(index: LogIndex): void {
    if (index > this.match) this.match = index;
    this.becomeProbe();
  }

  /**
   * The follower no longer holds entries it acknowledged (it lost its log): forget
   * them and probe from where its log ends.
   */
  lostLog(logEnd: LogIndex): void {
    if (logEnd >= this.match) return;
    this.match = logEnd;
    this.becomeProbe();
  }

  becomeReplicate(): void {
    this.state = 'replicate';
    this.next = logIndex(this.match + 1);
    this.probeSent = false;
    this.inflights.reset();
  }

  /** May we send an append now? */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
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
    if (this.state === 'snapshot') return false;
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
