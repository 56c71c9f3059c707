import type { LogIndex } from './types.js';

/** A linearizable read the leader accepted: safe to serve once the node has applied `index`. */
export interface ReadState {
  readonly requestId: number;
  readonly index: LogIndex;
}

const SENT_TIMES_MAX = 1024;

interface PendingRead {
  readonly requestId: number;
  readonly index: LogIndex;
  /** The heartbeat broadcast that must be acknowledged by a majority: one sent after the read arrived. */
  readonly needSeq: number;
}

/**
 * The leader's ReadIndex bookkeeping (Raft thesis §6.4). Every heartbeat broadcast
 * gets a sequence number; followers echo it. A read records the commit index when it
 * arrives and waits until a majority has acknowledged a broadcast sent after that,
 * which proves we were still leader when the read arrived. Reads that arrive while
 * a broadcast is in flight share the next one, so one round serves all of them.
 *
 * The same acknowledgements give the leader lease: no other leader can be elected
 * before (send time of a majority-acknowledged broadcast + election timeout), since
 * followers ignore vote requests for an election timeout after hearing from us.
 *
 * Invariants: pending reads are in arrival order, their needSeq non-decreasing;
 * quorumSeq <= seq.
 */
export class ReadIndexTracker {
  private seq = 0;
  private quorumSeq = 0;
  private readonly sentAtMs = new Map<number, number>();
  private pending: PendingRead[] = [];
  /** Reads that arrived before an entry of the leader's term was committed. */
  private beforeFirstCommit: number[] = [];

  /** Starts a heartbeat broadcast; returns the sequence number it carries. */
  broadcast(nowMs: number): number {
    this.seq++;
    this.sentAtMs.set(this.seq, nowMs);
    // Unacknowledged broadcasts of a cut-off leader: keep a bounded number (CheckQuorum ends it soon anyway).
    if (this.sentAtMs.size > SENT_TIMES_MAX) this.sentAtMs.delete(this.sentAtMs.keys().next().value!);
    return this.seq;
  }

  lastSeq(): number {
    return this.seq;
  }

  /** Does some read wait for a broadcast not yet sent? Then the caller should broadcast now. */
  needsBroadcast(): boolean {
    const last = this.pending[this.pending.length - 1];
    return last !== undefined && last.needSeq > this.seq;
  }

  /** Is a broadcast still waiting for its majority? New reads then wait for it to finish, then share the next. */
  broadcastInFlight(): boolean {
    return this.quorumSeq < this.seq;
  }

  /** Queues a read that arrived now, when the leader's commit index is `commit`. */
  add(requestId: number, commit: LogIndex | null): void {
    if (commit === null) {
      this.beforeFirstCommit.push(requestId);
      return;
    }
    this.pending.push({ requestId, index: commit, needSeq: this.seq + 1 });
  }

  /** An entry of the leader's term is committed at `commit`: reads that waited for it can start. */
  firstCommitInTerm(commit: LogIndex): void {
    for (const requestId of this.beforeFirstCommit) this.pending.push({ requestId, index: commit, needSeq: this.seq + 1 });
    this.beforeFirstCommit = [];
  }

  /** A majority has now acknowledged broadcast `seq`; returns the reads this releases. */
  quorumAcknowledged(seq: number): ReadState[] {
    if (seq <= this.quorumSeq) return [];
    this.quorumSeq = seq;
    for (const s of this.sentAtMs.keys()) {
      if (s >= seq) break;
      this.sentAtMs.delete(s);
    }
    let k = 0;
    while (k < this.pending.length && this.pending[k]!.needSeq <= seq) k++;
    const done = this.pending.slice(0, k).map((r) => ({ requestId: r.requestId, index: r.index }));
    this.pending = this.pending.slice(k);
    return done;
  }

  /** Until when (exclusive) no other leader can exist, by our clock; -Infinity without a lease. */
  leaseExpiryMs(electionTimeoutMs: number, clockDriftMs: number): number {
    const sent = this.sentAtMs.get(this.quorumSeq);
    return sent === undefined ? Number.NEGATIVE_INFINITY : sent + electionTimeoutMs - clockDriftMs;
  }

  /** Leadership ends: every read still waiting fails. */
  drain(): number[] {
    const ids = [...this.beforeFirstCommit, ...this.pending.map((r) => r.requestId)];
    this.pending = [];
    this.beforeFirstCommit = [];
    return ids;
  }
}
