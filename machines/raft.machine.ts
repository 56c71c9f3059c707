import { assign, raise, setup } from 'xstate';
import type { RaftConfig } from '../src/raft/config.js';
import type { RaftCounterName, RaftCounters } from '../src/raft/counters.js';
import type { RaftEnv } from '../src/raft/env.js';
import { RaftLog } from '../src/raft/log.js';
import type { Outbox } from '../src/raft/outbox.js';
import { Progress } from '../src/raft/progress.js';
import { committedIndex, quorumValue, voteOutcome } from '../src/raft/quorum.js';
import { ReadIndexTracker, type ReadState } from '../src/raft/read-index.js';
import { SnapshotReceiver } from '../src/raft/snapshot-receiver.js';
import { appendsFor, heartbeatFor } from '../src/raft/replication.js';
import type {
  AppendEntries,
  AppendEntriesResponse,
  Entry,
  Heartbeat,
  InstallSnapshot,
  LogIndex,
  Message,
  NodeId,
  RequestVote,
  RequestVoteResponse,
  MessageType,
  Snapshot,
  Term,
} from '../src/raft/types.js';
import { logIndex, term as toTerm } from '../src/raft/types.js';

/**
 * The Raft role machine: one XState machine whose states are the roles.
 *
 * Rules every role shares (stale terms, newer terms, leader stickiness) sit in the
 * root `message` handler, which then re-raises the message as a role event
 * (`appendEntries`, `requestVote`, ...) for the active role to handle. The machine
 * does no I/O: it mutates its log and progress objects, and writes messages to the
 * outbox; the host persists, sends and applies (see src/raft/node.ts).
 */

export interface RaftInput {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly config: RaftConfig;
  readonly env: RaftEnv;
  readonly log: RaftLog;
  readonly outbox: Outbox;
  readonly counters: RaftCounters;
  readonly term: Term;
  readonly votedFor: NodeId | null;
  readonly snapshot: Snapshot | null;
}

export interface RaftContext {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly peers: readonly NodeId[];
  readonly config: RaftConfig;
  readonly env: RaftEnv;
  readonly log: RaftLog;
  readonly outbox: Outbox;
  /** Event counts for the host's metrics; only incremented, never read, by the core. */
  readonly counters: RaftCounters;
  readonly term: Term;
  readonly votedFor: NodeId | null;
  readonly leaderId: NodeId | null;
  /** When the node last heard from the leader it follows (for leader stickiness). */
  readonly leaderHeardAtMs: number;
  /** Votes (or pre-votes) received in the current election. */
  readonly votes: ReadonlyMap<NodeId, boolean>;
  /** Leader only: what we know of each voter's log, ourselves included. */
  readonly progress: ReadonlyMap<NodeId, Progress>;
  /** The outcome of the last `propose` event, read back synchronously by the host. */
  readonly lastProposal: ProposeResult | null;
  /** Leader only: linearizable reads waiting for confirmation of leadership. */
  readonly reads: ReadIndexTracker;
  /** The outcome of the last `readIndex` event, read back synchronously by the host. */
  readonly lastRead: ReadResult | null;
  /** The latest snapshot the log was compacted behind (taken here or installed from a leader). */
  readonly snapshot: Snapshot | null;
  /** A snapshot arriving from the leader, chunk by chunk. */
  readonly receiver: SnapshotReceiver;
}

/** Accepted reads are answered later, as ReadStates in a Ready; refused ones at once. */
export type ReadResult = { readonly ok: true } | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderId: NodeId | null };

export type ProposeResult =
  | { readonly ok: true; readonly term: Term; readonly firstIndex: LogIndex }
  | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderId: NodeId | null }
  | { readonly ok: false; readonly reason: 'overloaded'; readonly leaderId: NodeId };

export type RaftEvent =
  | { readonly type: 'message'; readonly msg: Message }
  | { readonly type: 'snapshotTaken'; readonly snapshot: Snapshot }
  | { readonly type: 'propose'; readonly commands: readonly Uint8Array[] }
  | { readonly type: 'readIndex'; readonly requestId: number; readonly lease: boolean };

type MessageEvent = Extract<RaftEvent, { type: 'message' }>;

/** The message carried by a `message` event, as the type a guard has already established. */
function msgOf<T extends MessageType>(event: RaftEvent): Extract<Message, { type: T }> {
  return (event as MessageEvent).msg as Extract<Message, { type: T }>;
}

const isLeaderMessage = (m: Message): m is AppendEntries | Heartbeat | InstallSnapshot => m.type === 'appendEntries' || m.type === 'heartbeat' || m.type === 'installSnapshot';

/**
 * A leader, or a node that heard from a leader within the (minimum) election timeout.
 * A node counts its own start as hearing from a leader, so a restarted node cannot
 * help elect a rival while the leader's lease may still hold.
 */
function inLease(ctx: RaftContext): boolean {
  if (ctx.leaderId === ctx.id) return true;
  return ctx.env.nowMs() - ctx.leaderHeardAtMs < ctx.config.electionTimeoutMs;
}

/** Has an entry of the leader's own term been committed? Until then its commit index may lag. */
function committedInTerm(ctx: RaftContext): boolean {
  return ctx.log.term(ctx.log.committed()) === ctx.term;
}

function broadcastHeartbeats(ctx: RaftContext): void {
  const seq = ctx.reads.broadcast(ctx.env.nowMs());
  for (const peer of ctx.peers) ctx.outbox.send(heartbeatFor(ctx, peer, ctx.progress.get(peer)!, seq));
  releaseReads(ctx);
}

/** Serves the reads a majority's acknowledgements now allow, and starts the next round if reads wait for one. */
function releaseReads(ctx: RaftContext): void {
  const seq = quorumValue(ctx.voters, (id) => (id === ctx.id ? ctx.reads.lastSeq() : ctx.progress.get(id)!.heartbeatAcked));
  const ready: ReadState[] = ctx.reads.quorumAcknowledged(seq);
  for (const r of ready) ctx.outbox.readStates.push(r);
  if (ready.length > 0) {
    ctx.counters.readIndexRounds++;
    ctx.counters.readIndexReads += ready.length;
  }
  if (ctx.reads.needsBroadcast() && !ctx.reads.broadcastInFlight()) broadcastHeartbeats(ctx);
}

function voteResponse(ctx: RaftContext, req: RequestVote, granted: boolean): RequestVoteResponse {
  // A granted pre-vote answers at the term asked about; everything else at ours.
  const t = req.preVote && granted ? req.term : ctx.term;
  return { type: 'requestVoteResponse', from: ctx.id, to: req.from, term: t, preVote: req.preVote, granted };
}

function canGrantVote(ctx: RaftContext, req: RequestVote): boolean {
  if (!ctx.log.isUpToDate(req.lastLogIndex, req.lastLogTerm)) return false;
  if (req.preVote) return req.term > ctx.term;
  // A vote request of a newer term is granted only after the root adopted that term.
  if (req.term !== ctx.term) return false;
  return ctx.votedFor === req.from || (ctx.votedFor === null && ctx.leaderId === null);
}

function rejectAppend(ctx: RaftContext, msg: AppendEntries): AppendEntriesResponse {
  return { type: 'appendEntriesResponse', from: ctx.id, to: msg.from, term: ctx.term, success: false, rejectedIndex: msg.prevLogIndex, hint: { index: logIndex(ctx.log.lastIndex() + 1), term: null } };
}

function sendAppends(ctx: RaftContext, to: NodeId, sendIfEmpty: boolean): void {
  if (to === ctx.id) return;
  const pr = ctx.progress.get(to)!;
  // The entries this follower needs next are compacted away: it gets the snapshot instead.
  if (pr.state !== 'snapshot' && pr.next <= ctx.log.base().index) pr.becomeSnapshot(ctx.snapshot!.meta.index);
  if (pr.state === 'snapshot') return sendSnapshotChunks(ctx, to, pr);
  for (const m of appendsFor(ctx, to, pr, sendIfEmpty)) ctx.outbox.send(m);
}

function sendSnapshotChunks(ctx: RaftContext, to: NodeId, pr: Progress): void {
  const snap = ctx.snapshot!;
  // A newer snapshot replaced the one in transfer: start over with it.
  if (pr.snapshotIndex !== snap.meta.index) pr.becomeSnapshot(snap.meta.index);
  const count = snap.chunks.length;
  while (pr.snapshotNextChunk < count && pr.snapshotNextChunk - pr.snapshotAckedChunk < ctx.config.snapshotChunksInflightMax) {
    const chunk = pr.snapshotNextChunk++;
    ctx.outbox.send({ type: 'installSnapshot', from: ctx.id, to, term: ctx.term, meta: snap.meta, chunk, chunkCount: count, data: snap.chunks[chunk]! });
  }
}

function broadcastAppends(ctx: RaftContext, sendIfEmpty: boolean): void {
  for (const peer of ctx.peers) sendAppends(ctx, peer, sendIfEmpty);
}

/** Figure 8 rule: only an entry of the current term is committed by counting replicas. */
function maybeCommit(ctx: RaftContext): boolean {
  const n = committedIndex(ctx.voters, (id) => ctx.progress.get(id)!.match);
  if (n <= ctx.log.committed() || ctx.log.term(n) !== ctx.term) return false;
  const first = !committedInTerm(ctx);
  ctx.log.commitTo(n);
  if (first) {
    ctx.reads.firstCommitInTerm(n);
    releaseReads(ctx);
  }
  return true;
}

const raftSetup = setup({
  types: {
    context: {} as RaftContext,
    events: {} as RaftEvent,
    input: {} as RaftInput,
  },
  delays: {
    /** Randomised per use from the injected PRNG, so that split votes resolve. */
    randomizedElectionTimeout: ({ context }) => context.config.electionTimeoutMs + context.env.randomInt(context.config.electionTimeoutMs),
    electionTimeout: ({ context }) => context.config.electionTimeoutMs,
    heartbeatInterval: ({ context }) => context.config.heartbeatIntervalMs,
  },
  guards: {
    /** A message of the given type at our current term: what role states handle. */
    isCurrent: ({ context, event }, params: { type: MessageType }) => {
      const m = (event as MessageEvent).msg;
      return m.type === params.type && m.term === context.term;
    },
    termIsStale: ({ context, event }) => (event as MessageEvent).msg.term < context.term,
    /** Leader stickiness: while a leader is known to be alive, requests to replace it are ignored. */
    voteRequestInLease: ({ context, event }) => {
      const m = (event as MessageEvent).msg;
      return m.type === 'requestVote' && m.term > context.term && inLease(context);
    },
    /** A newer term makes us a follower, except for pre-votes, which change nobody's term. */
    termIsNewer: ({ context, event }) => {
      const m = (event as MessageEvent).msg;
      if (m.term <= context.term) return false;
      if (m.type === 'requestVote' && m.preVote) return false;
      if (m.type === 'requestVoteResponse' && m.preVote && m.granted) return false;
      return true;
    },
    leaderHeardRecently: ({ context }) => context.env.nowMs() - context.leaderHeardAtMs < context.config.electionTimeoutMs,
    isVoteRequest: ({ event }) => (event as MessageEvent).msg.type === 'requestVote',
    canGrantVote: ({ context, event }, params: { preVote: boolean }) => {
      const m = (event as MessageEvent).msg;
      return m.type === 'requestVote' && m.preVote === params.preVote && canGrantVote(context, m);
    },
    electionWon: ({ context }) => voteOutcome(context.voters, context.votes) === 'won',
    electionLost: ({ context }) => voteOutcome(context.voters, context.votes) === 'lost',
    isPreVoteAnswerToUs: ({ context, event }) => {
      const m = (event as MessageEvent).msg;
      // A grant comes back at the term we asked about; a refusal at the voter's term. A
      // refusal from a newer term is left to the root, which adopts that term: a
      // pre-candidate that only counted it as "no" could never win again.
      return m.type === 'requestVoteResponse' && m.preVote && (m.granted ? m.term === context.term + 1 : m.term === context.term);
    },
    isVoteAnswerToUs: ({ context, event }) => {
      const m = (event as MessageEvent).msg;
      return m.type === 'requestVoteResponse' && !m.preVote && m.term === context.term;
    },
    quorumActive: ({ context }) => {
      let active = 0;
      for (const id of context.voters) if (id === context.id || context.progress.get(id)!.recentActive) active++;
      return active * 2 > context.voters.length;
    },
  },
  actions: {
    answerStaleTerm: ({ context, event }) => {
      const m = (event as MessageEvent).msg;
      // Tell an old leader or candidate about the newer term so it steps down; drop stale answers.
      if (m.type === 'appendEntries') context.outbox.send(rejectAppend(context, m));
      else if (m.type === 'heartbeat') context.outbox.send({ type: 'heartbeatResponse', from: context.id, to: m.from, term: context.term, seq: m.seq, logEnd: null });
      else if (m.type === 'requestVote') context.outbox.send(voteResponse(context, m, false));
      else if (m.type === 'installSnapshot') {
        context.outbox.send({ type: 'installSnapshotResponse', from: context.id, to: m.from, term: context.term, snapshotIndex: m.meta.index, done: false, nextChunk: 0 });
      }
    },
    adoptNewerTerm: assign(({ event }) => {
      const m = (event as MessageEvent).msg;
      return { term: m.term, votedFor: null, leaderId: isLeaderMessage(m) ? m.from : null, votes: new Map() };
    }),
    /** After adopting a newer term, the message is handled again, now by the role at that term. */
    redeliver: raise(({ event }) => event),

    grantVote: assign(({ context, event }) => {
      const req = msgOf<'requestVote'>(event);
      context.outbox.send(voteResponse(context, req, true));
      return req.preVote ? {} : { votedFor: req.from };
    }),
    rejectVote: ({ context, event }) => {
      context.outbox.send(voteResponse(context, msgOf<'requestVote'>(event), false));
    },

    followLeader: assign(({ context, event }) => {
      const m = msgOf<'appendEntries' | 'heartbeat' | 'installSnapshot'>(event);
      return { leaderId: m.from, leaderHeardAtMs: context.env.nowMs() };
    }),
    acceptAppend: ({ context, event }) => {
      const m = msgOf<'appendEntries'>(event);
      const r = context.log.maybeAppend(m.prevLogIndex, m.prevLogTerm, m.entries);
      if (!r.ok) {
        context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: m.from, term: context.term, success: false, rejectedIndex: m.prevLogIndex, hint: r.hint });
        return;
      }
      // Only what this append proved to match may be committed (our log may run longer).
      context.log.commitTo(logIndex(Math.min(m.leaderCommit, r.lastNewIndex)));
      context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: m.from, term: context.term, success: true, matchIndex: r.lastNewIndex });
    },
    acceptHeartbeat: ({ context, event }) => {
      const m = msgOf<'heartbeat'>(event);
      const last = context.log.lastIndex();
      context.log.commitTo(logIndex(Math.min(m.commit, last)));
      context.outbox.send({ type: 'heartbeatResponse', from: context.id, to: m.from, term: context.term, seq: m.seq, logEnd: last < m.commit ? last : null });
    },

    startPreVote: assign(({ context }) => {
      const votes = new Map<NodeId, boolean>([[context.id, true]]);
      const t = toTerm(context.term + 1);
      for (const to of context.peers) {
        context.outbox.send({ type: 'requestVote', from: context.id, to, term: t, preVote: true, lastLogIndex: context.log.lastIndex(), lastLogTerm: context.log.lastTerm() });
      }
      return { votes, leaderId: null };
    }),
    startElection: assign(({ context }) => {
      const t = toTerm(context.term + 1);
      for (const to of context.peers) {
        context.outbox.send({ type: 'requestVote', from: context.id, to, term: t, preVote: false, lastLogIndex: context.log.lastIndex(), lastLogTerm: context.log.lastTerm() });
      }
      // Our own vote counts only once it is durable: it comes back to us after the write.
      context.outbox.send({ type: 'requestVoteResponse', from: context.id, to: context.id, term: t, preVote: false, granted: true });
      return { term: t, votedFor: context.id, leaderId: null, votes: new Map<NodeId, boolean>() };
    }),
    recordVote: assign(({ context, event }) => {
      const m = msgOf<'requestVoteResponse'>(event);
      const votes = new Map(context.votes);
      if (!votes.has(m.from)) votes.set(m.from, m.granted);
      return { votes };
    }),

    becomeLeader: assign(({ context }) => {
      const next = logIndex(context.log.lastIndex() + 1);
      const progress = new Map<NodeId, Progress>();
      for (const id of context.voters) progress.set(id, new Progress(next, context.config.inflightAppendsMax));
      // A leader commits nothing of earlier terms until an entry of its own term is
      // committed, so it appends a no-op right away (Raft §8).
      const noop: Entry = { index: next, term: context.term, kind: 'noop', data: new Uint8Array(0) };
      context.log.append([noop]);
      context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: context.id, term: context.term, success: true, matchIndex: noop.index });
      return { progress, leaderId: context.id, votes: new Map<NodeId, boolean>(), reads: new ReadIndexTracker() };
    }),
    broadcastAppends: ({ context }) => broadcastAppends(context, true),
    broadcastHeartbeats: ({ context }) => broadcastHeartbeats(context),
    handleAppendResponse: ({ context, event }) => {
      const m = msgOf<'appendEntriesResponse'>(event);
      const pr = context.progress.get(m.from)!;
      pr.recentActive = true;
      if (m.from === context.id) {
        // Our own write is durable: followers learn the new commit index with the next append or heartbeat.
        if (m.success && pr.maybeUpdate(m.matchIndex)) maybeCommit(context);
        return;
      }
      if (!m.success) {
        if (pr.maybeDecrTo(m.rejectedIndex, context.log.nextIndexFromHint(m.hint))) sendAppends(context, m.from, true);
        return;
      }
      const wasPaused = pr.isPaused();
      if (pr.maybeUpdate(m.matchIndex)) {
        if (pr.state === 'probe' || (pr.state === 'snapshot' && pr.match >= pr.snapshotIndex)) pr.becomeReplicate();
        maybeCommit(context);
        sendAppends(context, m.from, false);
      } else if (wasPaused && !pr.isPaused()) {
        sendAppends(context, m.from, false);
      }
    },
    handleHeartbeatResponse: ({ context, event }) => {
      const m = msgOf<'heartbeatResponse'>(event);
      const pr = context.progress.get(m.from)!;
      pr.recentActive = true;
      pr.probeSent = false;
      if (m.seq > pr.heartbeatAcked) {
        pr.heartbeatAcked = m.seq;
        releaseReads(context);
      }
      if (m.logEnd !== null && m.logEnd < pr.match) pr.lostLog(m.logEnd);
      // Acknowledgements may have been lost: let one more append through so the window cannot stay shut.
      if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
      // Snapshot chunks may have been lost: resume from the last one the follower confirmed.
      if (pr.state === 'snapshot') pr.snapshotNextChunk = pr.snapshotAckedChunk;
      // A follower behind us may have lost an append: an (empty) append finds out where it stands.
      if (pr.match < context.log.lastIndex()) sendAppends(context, m.from, true);
    },
    handleSnapshotResponse: ({ context, event }) => {
      const m = msgOf<'installSnapshotResponse'>(event);
      const pr = context.progress.get(m.from)!;
      pr.recentActive = true;
      if (m.done) {
        if (pr.state === 'snapshot' && m.snapshotIndex >= pr.snapshotIndex) {
          pr.snapshotInstalled(m.snapshotIndex);
          sendAppends(context, m.from, true);
        }
        return;
      }
      if (pr.state !== 'snapshot' || m.snapshotIndex !== pr.snapshotIndex) return;
      if (m.nextChunk > pr.snapshotAckedChunk) {
        pr.snapshotAckedChunk = m.nextChunk;
        if (pr.snapshotNextChunk < m.nextChunk) pr.snapshotNextChunk = m.nextChunk;
      } else if (m.nextChunk < pr.snapshotAckedChunk) {
        // The follower lost what it had received (it restarted): start over from what it asks for.
        pr.snapshotAckedChunk = m.nextChunk;
        pr.snapshotNextChunk = m.nextChunk;
      }
      // The same request again means a gap (a chunk lost or overtaken): the next
      // heartbeat answer resumes from it, rather than every report resending the window.
      sendSnapshotChunks(context, m.from, pr);
    },
    acceptSnapshotChunk: assign(({ context, event }) => {
      const m = msgOf<'installSnapshot'>(event);
      const reply = (done: boolean, nextChunk: number): void =>
        context.outbox.send({ type: 'installSnapshotResponse', from: context.id, to: m.from, term: context.term, snapshotIndex: m.meta.index, done, nextChunk });
      // Already hold everything it covers (the committed prefix matches the leader's).
      if (m.meta.index <= context.log.committed()) {
        reply(true, m.chunkCount);
        return {};
      }
      const r = context.receiver.receive(m);
      if ('nextChunk' in r) {
        reply(false, r.nextChunk);
        return {};
      }
      context.log.restore(r.complete.meta.index, r.complete.meta.term);
      context.outbox.installSnapshot = r.complete;
      reply(true, m.chunkCount);
      // It is now our latest snapshot: the one we would send if we came to lead.
      return { snapshot: r.complete };
    }),
    /** The host compacted the log behind a snapshot of its state machine. */
    compactLog: assign(({ context, event }) => {
      const { snapshot } = event as Extract<RaftEvent, { type: 'snapshotTaken' }>;
      if (context.snapshot !== null && snapshot.meta.index <= context.snapshot.meta.index) return {};
      // Keep a tail of entries behind the snapshot, so a follower just a little behind
      // (a lost or overtaken append) catches up from the log instead of a whole snapshot.
      context.log.compact(logIndex(Math.max(context.log.base().index, snapshot.meta.index - context.config.snapshotCatchUpEntries)));
      return { snapshot };
    }),
    forgetLeader: assign({ leaderId: null }),
    resetRecentActive: ({ context }) => {
      for (const pr of context.progress.values()) pr.recentActive = false;
    },
    appendProposals: assign(({ context, event }) => {
      const { commands } = event as Extract<RaftEvent, { type: 'propose' }>;
      const uncommitted = context.log.lastIndex() - context.log.committed();
      if (uncommitted + commands.length > context.config.uncommittedEntriesMax) {
        return { lastProposal: { ok: false, reason: 'overloaded', leaderId: context.id } as const };
      }
      const firstIndex = logIndex(context.log.lastIndex() + 1);
      const entries: Entry[] = commands.map((data, k) => ({ index: logIndex(firstIndex + k), term: context.term, kind: 'command', data }));
      context.log.append(entries);
      context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: context.id, term: context.term, success: true, matchIndex: context.log.lastIndex() });
      broadcastAppends(context, false);
      return { lastProposal: { ok: true, term: context.term, firstIndex } as const };
    }),
    refuseProposals: assign(({ context }) => ({ lastProposal: { ok: false, reason: 'not_leader', leaderId: context.leaderId } as const })),
    refuseRead: assign(({ context }) => ({ lastRead: { ok: false, reason: 'not_leader', leaderId: context.leaderId } as const })),
    acceptRead: assign(({ context, event }) => {
      const { requestId, lease } = event as Extract<RaftEvent, { type: 'readIndex' }>;
      const now = context.env.nowMs();
      if (!committedInTerm(context)) context.reads.add(requestId, null);
      else if (lease && now < context.reads.leaseExpiryMs(context.config.electionTimeoutMs, context.config.leaseClockDriftMs)) {
        // Lease read: no other leader can exist yet, so our commit index is current.
        context.outbox.readStates.push({ requestId, index: context.log.committed() });
        context.counters.leaseReads++;
      } else {
        context.reads.add(requestId, context.log.committed());
        releaseReads(context);
      }
      return { lastRead: { ok: true } as const };
    }),
    count: ({ context }, params: { counter: RaftCounterName }) => {
      context.counters[params.counter]++;
    },
    /** On leaving a (pre-)candidacy: it was won only if the votes say so (they are reset after exit). */
    countCampaignOutcome: ({ context }, params: { preVote: boolean }) => {
      const won = voteOutcome(context.voters, context.votes) === 'won';
      if (params.preVote) {
        if (!won) context.counters.preVotesRefused++;
      } else if (won) context.counters.electionsWon++;
      else context.counters.electionsLost++;
    },
    /** Leadership ended: reads still waiting cannot be confirmed any more. */
    failReads: ({ context }) => {
      for (const requestId of context.reads.drain()) context.outbox.readFailures.push(requestId);
    },
  },
});

/** A (pre-)candidate that hears from a leader of its own term becomes its follower. */
const followCurrentLeader = [
  { guard: { type: 'isCurrent', params: { type: 'appendEntries' } }, target: 'follower', actions: ['followLeader', 'acceptAppend'] },
  { guard: { type: 'isCurrent', params: { type: 'heartbeat' } }, target: 'follower', actions: ['followLeader', 'acceptHeartbeat'] },
  { guard: { type: 'isCurrent', params: { type: 'installSnapshot' } }, target: 'follower', actions: ['followLeader', 'acceptSnapshotChunk'] },
] as const;

export const raftMachine = raftSetup.createMachine({
  id: 'raft',
  context: ({ input }) => ({
    id: input.id,
    voters: input.voters,
    peers: input.voters.filter((v) => v !== input.id),
    config: input.config,
    env: input.env,
    log: input.log,
    outbox: input.outbox,
    counters: input.counters,
    term: input.term,
    votedFor: input.votedFor,
    leaderId: null,
    leaderHeardAtMs: input.env.nowMs(),
    votes: new Map(),
    progress: new Map(),
    lastProposal: null,
    reads: new ReadIndexTracker(),
    lastRead: null,
    snapshot: input.snapshot,
    receiver: new SnapshotReceiver(),
  }),
  initial: 'follower',
  // Role states take the messages of the current term they expect; whatever they
  // leave falls through to these rules, shared by every role.
  on: {
    message: [
      { guard: 'termIsStale', actions: 'answerStaleTerm' },
      { guard: 'voteRequestInLease' },
      { guard: 'termIsNewer', target: '.follower', actions: ['adoptNewerTerm', 'redeliver'] },
      { guard: { type: 'canGrantVote', params: { preVote: true } }, actions: 'grantVote' },
      { guard: { type: 'canGrantVote', params: { preVote: false } }, actions: 'grantVote' },
      { guard: 'isVoteRequest', actions: 'rejectVote' },
      // Anything else is a late or duplicate answer this role no longer needs.
    ],
    propose: { actions: 'refuseProposals' },
    readIndex: { actions: 'refuseRead' },
    snapshotTaken: { actions: 'compactLog' },
  },
  states: {
    follower: {
      // Hearing from the leader does not re-arm the timer on every message (that would
      // cost a timer cancel and schedule per append); instead the timer re-arms itself
      // when it fires if the leader was heard from within the election timeout.
      after: {
        randomizedElectionTimeout: [
          { guard: 'leaderHeardRecently', target: 'follower', reenter: true },
          { target: 'preCandidate' },
        ],
      },
      on: {
        message: [
          { guard: { type: 'isCurrent', params: { type: 'appendEntries' } }, actions: ['followLeader', 'acceptAppend'] },
          { guard: { type: 'isCurrent', params: { type: 'heartbeat' } }, actions: ['followLeader', 'acceptHeartbeat'] },
          { guard: { type: 'isCurrent', params: { type: 'installSnapshot' } }, actions: ['followLeader', 'acceptSnapshotChunk'] },
          // Granting a vote restarts the election timer; a pre-vote does not.
          { guard: { type: 'canGrantVote', params: { preVote: false } }, target: 'follower', reenter: true, actions: 'grantVote' },
        ],
      },
    },
    preCandidate: {
      entry: ['startPreVote', { type: 'count', params: { counter: 'preVotesStarted' } }],
      exit: { type: 'countCampaignOutcome', params: { preVote: true } },
      always: [
        { guard: 'electionWon', target: 'candidate' },
        { guard: 'electionLost', target: 'follower' },
      ],
      after: { randomizedElectionTimeout: { target: 'preCandidate', reenter: true } },
      on: {
        message: [
          { guard: 'isPreVoteAnswerToUs', actions: 'recordVote' },
          ...followCurrentLeader,
        ],
      },
    },
    candidate: {
      entry: ['startElection', { type: 'count', params: { counter: 'electionsStarted' } }],
      exit: { type: 'countCampaignOutcome', params: { preVote: false } },
      after: { randomizedElectionTimeout: { target: 'preCandidate' } },
      always: [
        { guard: 'electionWon', target: 'leader' },
        { guard: 'electionLost', target: 'follower' },
      ],
      on: {
        message: [
          { guard: 'isVoteAnswerToUs', actions: 'recordVote' },
          ...followCurrentLeader,
        ],
      },
    },
    leader: {
      entry: ['becomeLeader', 'broadcastAppends'],
      exit: 'failReads',
      type: 'parallel',
      on: {
        message: [
          { guard: { type: 'isCurrent', params: { type: 'appendEntriesResponse' } }, actions: 'handleAppendResponse' },
          { guard: { type: 'isCurrent', params: { type: 'heartbeatResponse' } }, actions: 'handleHeartbeatResponse' },
          { guard: { type: 'isCurrent', params: { type: 'installSnapshotResponse' } }, actions: 'handleSnapshotResponse' },
        ],
        propose: { actions: 'appendProposals' },
        readIndex: { actions: 'acceptRead' },
      },
      states: {
        heartbeat: {
          initial: 'waiting',
          states: {
            waiting: { after: { heartbeatInterval: { target: 'waiting', reenter: true, actions: 'broadcastHeartbeats' } } },
          },
        },
        // CheckQuorum: a leader that has not heard from a majority for an election timeout steps down.
        quorum: {
          initial: 'waiting',
          states: {
            waiting: {
              after: {
                electionTimeout: [
                  { guard: 'quorumActive', target: 'waiting', reenter: true, actions: 'resetRecentActive' },
                  { target: '#raft.follower', actions: ['forgetLeader', { type: 'count', params: { counter: 'checkQuorumStepDowns' } }] },
                ],
              },
            },
          },
        },
      },
    },
  },
});
