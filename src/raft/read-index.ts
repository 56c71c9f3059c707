import type { LogIndex, NodeId } from './types.js';

/** A linearizable read the leader accepted: safe to serve once the node has applied `index`. */
export interface ReadState {
  readonly requestId: number;
  readonly index: LogIndex;
}

/** A read the leader confirmed: its own (`from` null) or a follower's, to be answered with a ReadIndexResponse. */
export interface ConfirmedRead extends ReadState {
  readonly from: NodeId | null;
}

const SENT_TIMES_MAX = 1024;

interface PendingRead {
  readonly requestId: number;
  readonly from: NodeId | null;
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
  private beforeFirstCommit: { readonly requestId: number; readonly from: NodeId | null }[] = [];

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

  /**
   * Queues a read that arrived now, when the leader's commit index is `commit`:
   * the leader's own (`from` null) or one a follower forwarded (its request id is
   * the follower's, so reads are told apart by both).
   */
  add(requestId: number, commit: LogIndex | null, from: NodeId | null = null): void {
    if (commit === null) {
      this.beforeFirstCommit.push({ requestId, from });
      return;
    }
    this.pending.push({ requestId, from, index: commit, needSeq: this.seq + 1 });
  }

  /** An entry of the leader's term is committed at `commit`: reads that waited for it can start. */
  firstCommitInTerm(commit: LogIndex): void {
    for (const { requestId, from } of this.beforeFirstCommit) this.pending.push({ requestId, from, index: commit, needSeq: this.seq + 1 });
    this.beforeFirstCommit = [];
  }

  /** A majority has now acknowledged broadcast `seq`; returns the reads this releases. */
  quorumAcknowledged(seq: number): ConfirmedRead[] {
    if (seq <= this.quorumSeq) return [];
    this.quorumSeq = seq;
    for (const s of this.sentAtMs.keys()) {
      if (s >= seq) break;
      this.sentAtMs.delete(s);
    }
    let k = 0;
    while (k < this.pending.length && this.pending[k]!.needSeq <= seq) k++;
    const done = this.pending.slice(0, k).map((r) => ({ requestId: r.requestId, from: r.from, index: r.index }));
    this.pending = this.pending.slice(k);
    return done;
  }

  /** Until when (exclusive) no other leader can exist, by our clock; -Infinity without a lease. */
  leaseExpiryMs(electionTimeoutMs: number, clockDriftMs: number): number {
    const sent = this.sentAtMs.get(this.quorumSeq);
    return sent === undefined ? Number.NEGATIVE_INFINITY : sent + electionTimeoutMs - clockDriftMs;
  }

  /**
   * Leadership ends: every read still waiting fails. Returns the leader's own;
   * followers fail theirs when they see the term change.
   */
  drain(): number[] {
    const ids = [...this.beforeFirstCommit, ...this.pending].filter((r) => r.from === null).map((r) => r.requestId);
    this.pending = [];
    this.beforeFirstCommit = [];
    return ids;
  }
}

/**
 * A follower's reads forwarded to the leader and not yet answered. They fail when
 * the follower stops following that leader (a new term, or an election of its
 * own), since that leader's answer may never come; a late answer then finds
 * nothing here and is dropped.
 */
export class ForwardedReads {
  // A Map, not a Set: core checkpoints copy and encode maps (src/raft/host/core-checkpoint.ts).
  private readonly ids = new Map<number, true>();

  add(requestId: number): void {
    this.ids.set(requestId, true);
  }

  /** The leader answered `requestId`: true if the read was still waiting (it is no longer). */
  answered(requestId: number): boolean {
    return this.ids.delete(requestId);
  }

  drain(): number[] {
    const ids = [...this.ids.keys()];
    this.ids.clear();
    return ids;
  }
}
