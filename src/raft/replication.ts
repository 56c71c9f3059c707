import type { RaftConfig } from './config.js';
import type { RaftCounters } from './counters.js';
import type { Departures } from './departures.js';
import type { RaftEnv } from './env.js';
import type { RaftLog } from './log.js';
import type { Outbox } from './outbox.js';
import type { Progress } from './progress.js';
import { committedIndex, majority, quorumValue } from './quorum.js';
import type { ConfirmedRead, ReadIndexTracker } from './read-index.js';
import type { LatestSnapshot } from './snapshot-store.js';
import type { AppendEntries, AppendEntriesResponse, Heartbeat, NodeId, Term } from './types.js';
import { logIndex } from './types.js';

/**
 * The leader's side of log replication, as plain functions over the core's data
 * structures: appends and snapshot chunks to each follower, heartbeats (which also
 * confirm leadership for reads), and the commit rule. The role machine calls them
 * from its named actions; they never call back into it.
 */

/** What replication works on: the leader's term and the core's data structures. */
export interface Leader {
  readonly id: NodeId;
  readonly term: Term;
  readonly voters: readonly NodeId[];
  readonly peers: readonly NodeId[];
  readonly config: RaftConfig;
  readonly env: RaftEnv;
  readonly log: RaftLog;
  readonly outbox: Outbox;
  readonly counters: RaftCounters;
  readonly progress: ReadonlyMap<NodeId, Progress>;
  /** Removed members still replicated to (appends and heartbeats) until they hold their removal. */
  readonly departing: Departures;
  readonly reads: ReadIndexTracker;
  readonly snapshot: LatestSnapshot;
}

/**
 * The appends to send to `to` now: as many as its window allows in replicate mode,
 * one in probe mode. With `sendIfEmpty`, an append without entries still goes out
 * (it carries the commit index, or probes where the follower's log ends).
 */
export function appendsFor(leader: Pick<Leader, 'id' | 'term' | 'log' | 'config'>, to: NodeId, pr: Progress, sendIfEmpty: boolean): AppendEntries[] {
  const out: AppendEntries[] = [];
  const { log, config } = leader;
  while (!pr.isPaused()) {
    const prevLogIndex = logIndex(pr.next - 1);
    const prevLogTerm = log.term(prevLogIndex);
    if (prevLogTerm === null) throw new Error(`appendsFor: no term at ${prevLogIndex} (next ${pr.next}, last ${log.lastIndex()})`);
    const entries = pr.next <= log.lastIndex() ? log.slice(pr.next, log.lastIndex(), config.appendEntriesMax, config.appendBytesMax) : [];
    if (entries.length === 0 && !(sendIfEmpty && out.length === 0)) break;
    const lastIndex = logIndex(prevLogIndex + entries.length);
    out.push({ type: 'appendEntries', from: leader.id, to, term: leader.term, prevLogIndex, prevLogTerm, entries, leaderCommit: log.committed() });
    pr.sentAppend(lastIndex, entries.length);
    pr.commitSent = log.committed();
    if (entries.length === 0) break;
  }
  return out;
}

export function heartbeatFor(leader: Pick<Leader, 'id' | 'term' | 'log'>, to: NodeId, pr: Progress, seq: number): Heartbeat {
  return { type: 'heartbeat', from: leader.id, to, term: leader.term, commit: logIndex(Math.min(pr.match, leader.log.committed())), seq };
}

/** A follower's refusal of an append whose term is stale (or whose prefix it lacks): where its log ends. */
export function rejectAppend(follower: { readonly id: NodeId; readonly term: Term; readonly log: RaftLog }, msg: AppendEntries): AppendEntriesResponse {
  return { type: 'appendEntriesResponse', from: follower.id, to: msg.from, term: follower.term, success: false, rejectedIndex: msg.prevLogIndex, hint: { index: logIndex(follower.log.lastIndex() + 1), term: null } };
}

/** Sends `to` what it needs next: appends, or snapshot chunks when those entries were compacted away. */
export function sendAppends(leader: Leader, to: NodeId, sendIfEmpty: boolean): void {
  if (to === leader.id) return;
  const pr = leader.progress.get(to)!;
  if (pr.state !== 'snapshot' && pr.next <= leader.log.base().index) pr.becomeSnapshot(leader.snapshot.get()!.meta.index);
  if (pr.state === 'snapshot') return sendSnapshotChunks(leader, to, pr);
  for (const m of appendsFor(leader, to, pr, sendIfEmpty)) leader.outbox.send(m);
}

export function broadcastAppends(leader: Leader, sendIfEmpty: boolean): void {
  for (const peer of leader.peers) sendAppends(leader, peer, sendIfEmpty);
  for (const id of leader.departing.ids()) sendAppends(leader, id, sendIfEmpty);
}

/** Sends the snapshot's next chunks, up to `snapshotChunksInflightMax` unacknowledged. */
export function sendSnapshotChunks(leader: Leader, to: NodeId, pr: Progress): void {
  const snap = leader.snapshot.get()!;
  // A newer snapshot replaced the one in transfer: start over with it.
  if (pr.snapshotIndex !== snap.meta.index) pr.becomeSnapshot(snap.meta.index);
  const count = snap.chunks.length;
  while (pr.snapshotNextChunk < count && pr.snapshotNextChunk - pr.snapshotAckedChunk < leader.config.snapshotChunksInflightMax) {
    const chunk = pr.snapshotNextChunk++;
    leader.outbox.send({ type: 'installSnapshot', from: leader.id, to, term: leader.term, meta: snap.meta, chunk, chunkCount: count, data: snap.chunks[chunk]! });
  }
}

/**
 * The commit index advanced: a follower whose forwarded batch it now covers is to
 * be told with this turn's appends (flushAppends), as etcd's bcastAppend tells
 * everyone; the others learn it with the next append or heartbeat, which keeps an
 * idle leader-only workload at one round trip per write.
 */
export function commitAdvanced(leader: Leader): void {
  const commit = leader.log.committed();
  for (const peer of leader.peers) if (leader.progress.get(peer)!.awaitsUpTo(commit)) leader.outbox.commitDue = true;
}

/**
 * The turn ends: each follower is sent, as one append where its window allows,
 * every entry appended during the turn (the leader's batch and the batches its
 * followers forwarded); a follower waiting for entries it forwarded that no
 * append has told of the commit index yet gets it in an empty append.
 */
export function flushAppends(leader: Leader): void {
  const out = leader.outbox;
  if (out.appendsDue) {
    out.appendsDue = false;
    broadcastAppends(leader, false);
  }
  if (out.commitDue) {
    out.commitDue = false;
    const commit = leader.log.committed();
    for (const peer of leader.peers) {
      const pr = leader.progress.get(peer)!;
      if (pr.state !== 'replicate' || !pr.awaitsUpTo(commit)) continue;
      pr.toldCommit(commit);
      // An append of this turn may already have carried it.
      if (pr.commitSent < commit) sendAppends(leader, peer, true);
    }
  }
}

/** Has an entry of the leader's own term been committed? Until then its commit index may lag. */
export function committedInTerm(leader: Pick<Leader, 'term' | 'log'>): boolean {
  return leader.log.term(leader.log.committed()) === leader.term;
}

/** A heartbeat to every follower, numbered so that their answers confirm leadership for reads. */
export function broadcastHeartbeats(leader: Leader): void {
  const seq = leader.reads.broadcast(leader.env.nowMs());
  for (const peer of leader.peers) leader.outbox.send(heartbeatFor(leader, peer, leader.progress.get(peer)!, seq));
  for (const id of leader.departing.ids()) leader.outbox.send(heartbeatFor(leader, id, leader.progress.get(id)!, seq));
  releaseReads(leader);
}

/** Serves the reads a majority's acknowledgements now allow, and starts the next round if reads wait for one. */
export function releaseReads(leader: Leader): void {
  const seq = quorumValue(leader.voters, (id) => (id === leader.id ? leader.reads.lastSeq() : leader.progress.get(id)!.heartbeatAcked));
  const ready: ConfirmedRead[] = leader.reads.quorumAcknowledged(seq);
  for (const r of ready) {
    if (r.from === null) leader.outbox.readStates.push({ requestId: r.requestId, index: r.index });
    else leader.outbox.send({ type: 'readIndexResponse', from: leader.id, to: r.from, term: leader.term, requestId: r.requestId, index: r.index });
  }
  if (ready.length > 0) {
    leader.counters.readIndexRounds++;
    leader.counters.readIndexReads += ready.length;
  }
  if (leader.reads.needsBroadcast() && !leader.reads.broadcastInFlight()) broadcastHeartbeats(leader);
}

/**
 * Does a follower's read need no heartbeat round, because we and the follower
 * that asks already make a majority (a 3-node cluster)? Our answer then serves as
 * the round: we are still leader of our term when we send it, so we have not
 * voted in a later one; the follower takes it only while in our term (a later
 * term fails its forwarded reads), so it had not voted in a later one either when
 * we sent it. A later leader needs a majority of votes, so none can have existed
 * when the read arrived, and our commit index then covered every committed write
 * (Raft thesis §6.4, with the requester's acceptance as its acknowledgement).
 */
export function requesterCompletesQuorum(leader: Pick<Leader, 'id' | 'voters'>, from: NodeId): boolean {
  const { voters } = leader;
  return majority(voters.length) <= 2 && voters.includes(leader.id) && voters.includes(from);
}

/** Figure 8 rule: only an entry of the current term is committed by counting replicas. */
export function maybeCommit(leader: Leader): boolean {
  const n = committedIndex(leader.voters, (id) => leader.progress.get(id)!.match);
  if (n <= leader.log.committed() || leader.log.term(n) !== leader.term) return false;
  const first = !committedInTerm(leader);
  leader.log.commitTo(n);
  if (first) {
    leader.reads.firstCommitInTerm(n);
    releaseReads(leader);
  }
  return true;
}
