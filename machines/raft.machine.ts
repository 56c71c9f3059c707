import { and, assertEvent, assign, emit, raise, setup } from 'xstate';
import type { RaftConfig } from '../src/raft/config.js';
import type { RaftCounterName, RaftCounters } from '../src/raft/counters.js';
import { canGrantVote, inLease, leaderHeardRecently, voteResponse } from '../src/raft/election.js';
import type { RaftEnv } from '../src/raft/env.js';
import type { RaftLog } from '../src/raft/log.js';
import type { Outbox } from '../src/raft/outbox.js';
import { Progress } from '../src/raft/progress.js';
import { voteOutcome } from '../src/raft/quorum.js';
import { encodeConfiguration } from '../src/raft/configuration-codec.js';
import { pickTransferTarget, type TransferRefusal } from '../src/raft/leadership-transfer.js';
import { planChange, type ChangeRefusal, type ConfigChange } from '../src/raft/membership.js';
import { followAppend, Membership, syncProgress } from '../src/raft/membership-log.js';
import { DEPARTURE_ROUNDS_MAX, Departures } from '../src/raft/departures.js';
import { ForwardedReads, ReadIndexTracker } from '../src/raft/read-index.js';
import { broadcastAppends, broadcastHeartbeats, commitAdvanced, committedInTerm, flushAppends, maybeCommit, rejectAppend, releaseReads, requesterCompletesQuorum, sendAppends, sendSnapshotChunks } from '../src/raft/replication.js';
import { LeaderContact } from '../src/raft/leader-contact.js';
import { QuorumCheck, quorumActive } from '../src/raft/check-quorum.js';
import { LatestSnapshot } from '../src/raft/snapshot-store.js';
import { SnapshotReceiver } from '../src/raft/snapshot-receiver.js';
import type { Entry, LogIndex, Message, MessageType, NodeId, Snapshot, Term } from '../src/raft/types.js';
import { logIndex, term as toTerm } from '../src/raft/types.js';

/**
 * The Raft role machine: one XState machine whose states are the roles.
 *
 * Every peer message is an event of its own kind (`appendEntries`, `requestVote`,
 * ...). Role states take the messages of the current term they expect; whatever
 * they leave falls through to the rules every role shares, at the root: stale
 * terms are answered, a newer term makes us a follower (and the message is handled
 * again at that term), leader stickiness ignores vote requests. The machine does no
 * I/O. `assign` only computes the next context; every effect is a named action:
 * sending (into the outbox), changing the log, progress and read tracking. Answers
 * to the host's requests (`propose`, `readIndex`) are emitted events. The host
 * persists, sends and applies (src/raft/host/).
 */

export interface RaftInput {
  readonly id: NodeId;
  /** The node's configurations, recovered from its snapshot and log (or its bootstrap configuration). */
  readonly membership: Membership;
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
  /** Configurations, kept in step with the log; `voters` and `peers` are its arrays, updated in place. */
  readonly membership: Membership;
  /** The voters of the configuration in effect: they elect and count toward quorums. */
  readonly voters: readonly NodeId[];
  /** Every other member, learners included: whom a leader replicates to. */
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
  /** When the node last heard from the leader it follows (for leader stickiness), updated in place. */
  readonly leaderContact: LeaderContact;
  /** Votes (or pre-votes) received in the current election. */
  readonly votes: ReadonlyMap<NodeId, boolean>;
  /** Leader only: what we know of each member's log, ourselves included (it follows the configuration). */
  readonly progress: Map<NodeId, Progress>;
  /** Leader only: removed members still replicated to until they hold their removal (their acknowledgements count toward no quorum). */
  readonly departing: Departures;
  /** Leader only: the leadership transfer under way, if any. */
  readonly transfer: TransferInProgress | null;
  /** Leader only: when CheckQuorum next looks at who was heard from (the env clock), updated in place. */
  readonly quorumCheck: QuorumCheck;
  /** This candidacy was started by the leader's TimeoutNow: its vote requests say so. */
  readonly campaignForTransfer: boolean;
  /** Leader only: linearizable reads (its own and followers') waiting for confirmation of leadership. */
  readonly reads: ReadIndexTracker;
  /** Follower only: reads forwarded to the leader, waiting for its read index. */
  readonly forwardedReads: ForwardedReads;
  /** The latest snapshot the log was compacted behind (taken here or installed from a leader). */
  readonly snapshot: LatestSnapshot;
  /** A snapshot arriving from the leader, chunk by chunk. */
  readonly receiver: SnapshotReceiver;
}

/** Leadership is being handed to `to`; given up at the first heartbeat tick from `endsAtMs` on (an election timeout after it started). */
export interface TransferInProgress {
  readonly to: NodeId;
  readonly endsAtMs: number;
}

/** Accepted reads are answered later, as ReadStates in a Ready; refused ones at once. */
export type ReadResult = { readonly ok: true } | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderId: NodeId | null };

/** A membership change: appended at `index` (answered once committed, by the host), or refused. */
export type ChangeResult =
  | { readonly ok: true; readonly index: LogIndex; readonly term: Term }
  | { readonly ok: false; readonly reason: 'refused'; readonly refusal: ChangeRefusal }
  | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderId: NodeId | null };

/** A leadership transfer: started towards `to` (the host waits for it to lead), or refused. */
export type TransferResult =
  | { readonly ok: true; readonly to: NodeId }
  | { readonly ok: false; readonly reason: 'refused'; readonly refusal: TransferRefusal }
  | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderId: NodeId | null };

export type ProposeResult =
  | { readonly ok: true; readonly term: Term; readonly firstIndex: LogIndex }
  /** A follower sent the commands to its leader; the answer comes later (forwardedProposals). */
  | { readonly ok: false; readonly reason: 'forwarded'; readonly leaderId: NodeId }
  | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderId: NodeId | null }
  | { readonly ok: false; readonly reason: 'overloaded'; readonly leaderId: NodeId };

/** A peer message, or a request from the host. */
export type RaftEvent =
  | Message
  | { readonly type: 'snapshotTaken'; readonly snapshot: Snapshot }
  | { readonly type: 'propose'; readonly commands: readonly Uint8Array[]; readonly forwardBatchId?: number | null }
  | { readonly type: 'readIndex'; readonly requestId: number; readonly lease: boolean }
  | { readonly type: 'changeMembers'; readonly change: ConfigChange }
  | { readonly type: 'transferLeadership'; readonly to: NodeId | null }
  /** The host's turn ends (it is about to drain the effects) and appends are due: see Outbox.appendsDue. */
  | { readonly type: 'flushAppends' };

/** The machine's answers to the host's requests, emitted while it handles them. */
export type RaftEmitted =
  | { readonly type: 'proposed'; readonly result: ProposeResult }
  | { readonly type: 'readAnswered'; readonly result: ReadResult }
  | { readonly type: 'membersChanged'; readonly result: ChangeResult }
  | { readonly type: 'transferAnswered'; readonly result: TransferResult };

export const messageTypes: readonly MessageType[] = [
  'timeoutNow',
  'requestVote',
  'requestVoteResponse',
  'appendEntries',
  'appendEntriesResponse',
  'heartbeat',
  'heartbeatResponse',
  'installSnapshot',
  'installSnapshotResponse',
  'readIndexRequest',
  'readIndexResponse',
  'proposeRequest',
  'proposeResponse',
];

/** The message an event carries; only message events reach the guards that call this. */
function messageOf(event: RaftEvent): Message {
  assertEvent(event, messageTypes);
  return event;
}

/** What the leader's rules say of a change now (planChange over what the leader knows). */
function planOf(c: RaftContext, change: ConfigChange) {
  const cur = c.membership.current();
  return planChange(
    {
      current: cur.config,
      currentIndex: cur.index,
      committed: c.log.committed(),
      lastIndex: c.log.lastIndex(),
      matchOf: (id) => c.progress.get(id)?.match ?? logIndex(0),
      promotionDistanceMax: c.config.learnerPromotionDistanceEntries,
    },
    change,
  );
}

function targetOf(c: RaftContext, to: NodeId | null) {
  return pickTransferTarget(c.membership.current().config, c.id, (id) => c.progress.get(id)?.match ?? logIndex(0), to);
}

/** The leader's TimeoutNow to a member whose log is as long as ours, or else the appends it still needs. */
/** A follower's read, answered with our commit index now (from our lease, or with the asker completing the majority). */
function answerReadAtCommit(c: RaftContext, to: NodeId, requestId: number): void {
  c.outbox.send({ type: 'readIndexResponse', from: c.id, to, term: c.term, requestId, index: c.log.committed() });
}

function nudgeTransferTarget(c: RaftContext, to: NodeId): void {
  const pr = c.progress.get(to);
  if (pr === undefined) return;
  if (pr.match === c.log.lastIndex()) c.outbox.send({ type: 'timeoutNow', from: c.id, to, term: c.term });
  else sendAppends(c, to, true);
}

const raftSetup = setup({
  types: {
    context: {} as RaftContext,
    events: {} as RaftEvent,
    input: {} as RaftInput,
    emitted: {} as RaftEmitted,
  },
  delays: {
    /** Randomised per use from the injected PRNG, so that split votes resolve. */
    randomizedElectionTimeout: ({ context }) => context.config.electionTimeoutMs + context.env.randomInt(context.config.electionTimeoutMs),
    electionTimeout: ({ context }) => context.config.electionTimeoutMs,
    heartbeatInterval: ({ context }) => context.config.heartbeatIntervalMs,
  },
  guards: {
    /** A message at our current term: what role states handle. */
    isCurrentTerm: ({ context, event }) => messageOf(event).term === context.term,
    /** A message at our current term from the leader we already follow. */
    isFromOurLeader: ({ context, event }) => {
      const m = messageOf(event);
      return m.term === context.term && m.from === context.leaderId;
    },
    termIsStale: ({ context, event }) => messageOf(event).term < context.term,
    /** Leader stickiness: while a leader is known to be alive, requests to replace it are ignored. */
    voteRequestInLease: ({ context, event }) => {
      assertEvent(event, 'requestVote');
      // A transfer campaign is the old leader's wish: the lease it would protect is handed over.
      return event.term > context.term && inLease(context) && !event.transfer;
    },
    /** A newer term makes us a follower, except for pre-votes, which change nobody's term. */
    termIsNewer: ({ context, event }) => {
      const m = messageOf(event);
      if (m.term <= context.term) return false;
      if (m.type === 'requestVote' && m.preVote) return false;
      if (m.type === 'requestVoteResponse' && m.preVote && m.granted) return false;
      return true;
    },
    leaderHeardRecently: ({ context }) => leaderHeardRecently(context),
    canGrantVote: ({ context, event }, params: { preVote: boolean }) => {
      assertEvent(event, 'requestVote');
      return event.preVote === params.preVote && context.membership.mayVote() && canGrantVote(context, event);
    },
    /** Only a voter that is not catching up campaigns (a learner, a removed node or one joining never does). */
    mayCampaign: ({ context }) => context.membership.mayVote(),
    /** TimeoutNow from the leader we follow, to a voter: campaign at once. */
    isTransferToUs: ({ context, event }) => {
      assertEvent(event, 'timeoutNow');
      // A term at the largest safe integer cannot grow: no campaign (a peer could otherwise force one past it).
      return event.term === context.term && event.from === context.leaderId && context.membership.mayVote() && context.term < Number.MAX_SAFE_INTEGER;
    },
    /** A vote request from a node that is neither a member nor already being told of its removal. */
    fromFormerMember: ({ context, event }) => {
      assertEvent(event, 'requestVote');
      return event.from !== context.id && !context.progress.has(event.from);
    },
    /** A leader's answers from a member it replicates to, departing ones included (others' late answers are dropped). */
    fromTrackedMember: ({ context, event }) => {
      const m = messageOf(event);
      return m.term === context.term && context.progress.has(m.from);
    },
    changeAllowed: ({ context, event }) => {
      assertEvent(event, 'changeMembers');
      return planOf(context, event.change).ok;
    },
    transferAllowed: ({ context, event }) => {
      assertEvent(event, 'transferLeadership');
      return targetOf(context, event.to).ok;
    },
    /** While leadership is being handed over, the leader takes no proposals and no changes (at most an election timeout). */
    transferring: ({ context }) => context.transfer !== null,
    /** A transfer ran for an election timeout and no new leader took over. */
    transferExpired: ({ context }) => context.transfer !== null && context.env.nowMs() >= context.transfer.endsAtMs,
    /** CheckQuorum is due, and a majority was not heard from since the last check: we may be cut off. */
    quorumLost: ({ context }) => context.quorumCheck.due(context.env.nowMs()) && !quorumActive(context),
    /** This leader's removal is committed: it steps down (Raft dissertation §4.2.2). */
    removalCommitted: ({ context }) => !context.membership.isSelfVoter() && !context.membership.history.pendingAfter(context.log.committed()),
    electionWon: ({ context }) => voteOutcome(context.voters, context.votes) === 'won',
    electionLost: ({ context }) => voteOutcome(context.voters, context.votes) === 'lost',
    isPreVoteAnswerToUs: ({ context, event }) => {
      assertEvent(event, 'requestVoteResponse');
      // A grant comes back at the term we asked about; a refusal at the voter's term. A
      // refusal from a newer term is left to the root, which adopts that term: a
      // pre-candidate that only counted it as "no" could never win again.
      return event.preVote && (event.granted ? event.term === context.term + 1 : event.term === context.term);
    },
    isVoteAnswerToUs: ({ context, event }) => {
      assertEvent(event, 'requestVoteResponse');
      return !event.preVote && event.term === context.term;
    },
    /** The snapshot covers nothing we do not already hold as committed. */
    snapshotCovered: ({ context, event }) => {
      assertEvent(event, 'installSnapshot');
      return event.meta.index <= context.log.committed();
    },
    tooManyUncommitted: ({ context, event }) => {
      assertEvent(event, ['propose', 'proposeRequest']);
      return context.log.lastIndex() - context.log.committed() + event.commands.length > context.config.uncommittedEntriesMax;
    },
    /** A new leader serves no read and takes no membership change until an entry of its own term is committed: its commit index (and configuration) may lag. */
    awaitsFirstCommit: ({ context }) => !committedInTerm(context),
    /** A lease read while the lease holds: no other leader can exist yet, so our commit index is current. */
    leaseHolds: ({ context, event }) => {
      assertEvent(event, ['readIndex', 'readIndexRequest']);
      return event.lease && context.env.nowMs() < context.reads.leaseExpiryMs(context.config.electionTimeoutMs, context.config.leaseClockDriftMs);
    },
    /** A follower's read that its own acceptance of our answer confirms, with no heartbeat round. */
    requesterCompletesQuorum: ({ context, event }) => {
      assertEvent(event, 'readIndexRequest');
      return requesterCompletesQuorum(context, event.from);
    },
    /** A follower that knows its leader can ask it for a read index. */
    leaderKnown: ({ context }) => context.leaderId !== null && context.leaderId !== context.id,
    /** The host asked for a refused proposal to be forwarded, and this follower knows where to. */
    canForwardProposal: ({ context, event }) => {
      assertEvent(event, 'propose');
      return event.forwardBatchId !== undefined && event.forwardBatchId !== null && context.leaderId !== null && context.leaderId !== context.id;
    },
  },
  actions: {
    // Answers to messages of a stale term: tell an old leader or candidate about the
    // newer term so it steps down. (Stale answers to our own requests are dropped.)
    rejectStaleAppend: ({ context, event }) => {
      assertEvent(event, 'appendEntries');
      context.outbox.send(rejectAppend(context, event));
    },
    answerStaleHeartbeat: ({ context, event }) => {
      assertEvent(event, 'heartbeat');
      context.outbox.send({ type: 'heartbeatResponse', from: context.id, to: event.from, term: context.term, seq: event.seq, logEnd: null });
    },
    rejectStaleSnapshot: ({ context, event }) => {
      assertEvent(event, 'installSnapshot');
      context.outbox.send({ type: 'installSnapshotResponse', from: context.id, to: event.from, term: context.term, snapshotIndex: event.meta.index, done: false, nextChunk: 0 });
    },
    adoptNewerTerm: assign(({ event }) => {
      const m = messageOf(event);
      const fromLeader = m.type === 'appendEntries' || m.type === 'heartbeat' || m.type === 'installSnapshot';
      return { term: m.term, votedFor: null, leaderId: fromLeader ? m.from : null, votes: new Map<NodeId, boolean>() };
    }),
    /** After adopting a newer term, the message is handled again, now by the role at that term. */
    redeliver: raise(({ event }) => event),

    recordVoteFor: assign(({ event }) => {
      assertEvent(event, 'requestVote');
      return { votedFor: event.from };
    }),
    sendVoteGranted: ({ context, event }) => {
      assertEvent(event, 'requestVote');
      context.outbox.send(voteResponse(context, event, true));
    },
    sendVoteRejected: ({ context, event }) => {
      assertEvent(event, 'requestVote');
      context.outbox.send(voteResponse(context, event, false));
    },

    followLeader: assign(({ event }) => ({ leaderId: messageOf(event).from })),
    /** The clock reading is an input, injected like the rest: it decides leader stickiness later. */
    noteLeaderHeard: ({ context }) => {
      context.leaderContact.heardAtMs = context.env.nowMs();
    },
    acceptAppend: ({ context, event }) => {
      assertEvent(event, 'appendEntries');
      const r = context.log.maybeAppend(event.prevLogIndex, event.prevLogTerm, event.entries);
      if (!r.ok) {
        context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: event.from, term: context.term, success: false, rejectedIndex: event.prevLogIndex, hint: r.hint });
        return;
      }
      // Configurations take effect when they enter the log, and leave it with an overwritten tail.
      followAppend(context.membership.history, context.log, logIndex(Math.max(event.prevLogIndex + 1, context.log.base().index + 1)), event.entries);
      context.membership.refresh();
      context.membership.heardCommit(r.lastNewIndex, event.leaderCommit);
      // Only what this append proved to match may be committed (our log may run longer).
      context.log.commitTo(logIndex(Math.min(event.leaderCommit, r.lastNewIndex)));
      context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: event.from, term: context.term, success: true, matchIndex: r.lastNewIndex });
    },
    acceptHeartbeat: ({ context, event }) => {
      assertEvent(event, 'heartbeat');
      const last = context.log.lastIndex();
      context.log.commitTo(logIndex(Math.min(event.commit, last)));
      context.outbox.send({ type: 'heartbeatResponse', from: context.id, to: event.from, term: context.term, seq: event.seq, logEnd: last < event.commit ? last : null });
    },
    /** We already hold everything the snapshot covers (the committed prefix matches the leader's). */
    confirmSnapshotCovered: ({ context, event }) => {
      assertEvent(event, 'installSnapshot');
      context.outbox.send({ type: 'installSnapshotResponse', from: context.id, to: event.from, term: context.term, snapshotIndex: event.meta.index, done: true, nextChunk: event.chunkCount });
    },
    /** Keeps a chunk; with the last one, the snapshot replaces the log and becomes our latest. */
    acceptSnapshotChunk: ({ context, event }) => {
      assertEvent(event, 'installSnapshot');
      const r = context.receiver.receive(event);
      const reply = (done: boolean, nextChunk: number): void =>
        context.outbox.send({ type: 'installSnapshotResponse', from: context.id, to: event.from, term: context.term, snapshotIndex: event.meta.index, done, nextChunk });
      if ('nextChunk' in r) return reply(false, r.nextChunk);
      context.log.restore(r.complete.meta.index, r.complete.meta.term);
      context.membership.history.restored({ index: r.complete.meta.index, config: r.complete.meta.config });
      context.membership.refresh();
      context.snapshot.offer(r.complete);
      context.outbox.installSnapshot = r.complete;
      reply(true, event.chunkCount);
    },

    startPreVote: assign(({ context }) => ({ votes: new Map<NodeId, boolean>([[context.id, true]]), leaderId: null, campaignForTransfer: false })),
    markTransferCampaign: assign({ campaignForTransfer: true }),
    /** Asks every peer "would you vote for me at term + 1?", without changing anyone's term. */
    sendPreVoteRequests: ({ context }) => {
      const t = toTerm(context.term + 1);
      for (const to of context.voters) {
        if (to === context.id) continue;
        context.outbox.send({ type: 'requestVote', from: context.id, to, term: t, preVote: true, transfer: false, lastLogIndex: context.log.lastIndex(), lastLogTerm: context.log.lastTerm() });
      }
    },
    startElection: assign(({ context }) => ({ term: toTerm(context.term + 1), votedFor: context.id, leaderId: null, votes: new Map<NodeId, boolean>() })),
    /** Vote requests go to the voters only; a learner's vote would not count. */
    sendVoteRequests: ({ context }) => {
      for (const to of context.voters) {
        if (to === context.id) continue;
        context.outbox.send({ type: 'requestVote', from: context.id, to, term: context.term, preVote: false, transfer: context.campaignForTransfer, lastLogIndex: context.log.lastIndex(), lastLogTerm: context.log.lastTerm() });
      }
      // Our own vote counts only once it is durable: it comes back to us after the write.
      context.outbox.send({ type: 'requestVoteResponse', from: context.id, to: context.id, term: context.term, preVote: false, granted: true });
    },
    recordVote: assign(({ context, event }) => {
      assertEvent(event, 'requestVoteResponse');
      const votes = new Map(context.votes);
      if (!votes.has(event.from)) votes.set(event.from, event.granted);
      return { votes };
    }),

    becomeLeader: assign(({ context }) => {
      const next = logIndex(context.log.lastIndex() + 1);
      const progress = new Map<NodeId, Progress>([[context.id, new Progress(next, context.config.inflightAppendsMax)]]);
      const departing = new Departures(DEPARTURE_ROUNDS_MAX);
      syncProgress(progress, context.membership.current().config, context.id, next, context.config.inflightAppendsMax, departing);
      const quorumCheck = new QuorumCheck(context.env.nowMs() + context.config.electionTimeoutMs);
      return { progress, departing, leaderId: context.id, votes: new Map<NodeId, boolean>(), reads: new ReadIndexTracker(), transfer: null, quorumCheck };
    }),
    /** Emitted before the append, so it names the index the configuration entry takes. */
    answerChangeAccepted: emit(({ context }) => ({ type: 'membersChanged', result: { ok: true, index: logIndex(context.log.lastIndex() + 1), term: context.term } }) as const),
    answerChangeRefused: emit(({ context, event }) => {
      assertEvent(event, 'changeMembers');
      const plan = planOf(context, event.change);
      if (plan.ok) throw new Error('answerChangeRefused: the change is allowed');
      return { type: 'membersChanged', result: { ok: false, reason: 'refused', refusal: plan.refusal } } as const;
    }),
    answerChangeUnsettled: emit({ type: 'membersChanged', result: { ok: false, reason: 'refused', refusal: { reason: 'leader_not_settled' } } } as const),
    refuseChange: emit(({ context }) => ({ type: 'membersChanged', result: { ok: false, reason: 'not_leader', leaderId: context.leaderId === context.id ? null : context.leaderId } }) as const),
    /** A single-server change: the new configuration is in effect from its append on (§4.1). */
    appendConfigChange: ({ context, event }) => {
      assertEvent(event, 'changeMembers');
      const plan = planOf(context, event.change);
      if (!plan.ok) throw new Error(`appendConfigChange: refused (${plan.refusal.reason})`);
      const entry: Entry = { index: logIndex(context.log.lastIndex() + 1), term: context.term, kind: 'config', data: encodeConfiguration(plan.next) };
      context.log.append([entry]);
      context.membership.history.appended(entry.index, plan.next);
      context.membership.refresh();
      // A removed member keeps being replicated to until it holds this entry: then it knows, and says so.
      if (event.change.kind === 'remove' && event.change.id !== context.id) context.departing.add(event.change.id, entry.index);
      context.departing.follow(plan.next);
      syncProgress(context.progress, plan.next, context.id, entry.index, context.config.inflightAppendsMax, context.departing);
      context.counters.membershipChanges++;
      context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: context.id, term: context.term, success: true, matchIndex: entry.index });
      broadcastAppends(context, false);
    },
    startTransfer: assign(({ context, event }) => {
      assertEvent(event, 'transferLeadership');
      const t = targetOf(context, event.to);
      if (!t.ok) throw new Error(`startTransfer: refused (${t.refusal.reason})`);
      return { transfer: { to: t.to, endsAtMs: context.env.nowMs() + context.config.electionTimeoutMs } };
    }),
    answerTransferStarted: emit(({ context }) => ({ type: 'transferAnswered', result: { ok: true, to: context.transfer!.to } }) as const),
    answerTransferRefused: emit(({ context, event }) => {
      assertEvent(event, 'transferLeadership');
      const t = targetOf(context, event.to);
      if (t.ok) throw new Error('answerTransferRefused: the transfer is allowed');
      return { type: 'transferAnswered', result: { ok: false, reason: 'refused', refusal: t.refusal } } as const;
    }),
    refuseTransfer: emit(({ context }) => ({ type: 'transferAnswered', result: { ok: false, reason: 'not_leader', leaderId: context.leaderId === context.id ? null : context.leaderId } }) as const),
    nudgeTransferTarget: ({ context }) => {
      context.counters.transfersStarted++;
      nudgeTransferTarget(context, context.transfer!.to);
    },
    abortTransfer: assign({ transfer: null }),
    /** A removed leader hands over to the most up-to-date voter, so the cluster need not wait for an election timeout. */
    handOver: ({ context }) => {
      const t = targetOf(context, null);
      if (t.ok) context.outbox.send({ type: 'timeoutNow', from: context.id, to: t.to, term: context.term });
    },
    /** A leader commits nothing of earlier terms until an entry of its own term is committed, so it appends a no-op at once (Raft §8). */
    appendNoop: ({ context }) => {
      const noop: Entry = { index: logIndex(context.log.lastIndex() + 1), term: context.term, kind: 'noop', data: new Uint8Array(0) };
      context.log.append([noop]);
      context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: context.id, term: context.term, success: true, matchIndex: noop.index });
    },
    broadcastAppends: ({ context }) => broadcastAppends(context, true),
    handleAppendResponse: ({ context, event }) => {
      assertEvent(event, 'appendEntriesResponse');
      const pr = context.progress.get(event.from)!;
      pr.recentActive = true;
      if (event.from === context.id) {
        // Our own write is durable: followers learn the new commit index with the next append or heartbeat.
        if (event.success && pr.maybeUpdate(event.matchIndex) && maybeCommit(context)) commitAdvanced(context);
        return;
      }
      if (!event.success) {
        if (pr.maybeDecrTo(event.rejectedIndex, context.log.nextIndexFromHint(event.hint))) sendAppends(context, event.from, true);
        return;
      }
      const wasPaused = pr.isPaused();
      if (pr.maybeUpdate(event.matchIndex)) {
        if (pr.state === 'probe' || (pr.state === 'snapshot' && pr.match >= pr.snapshotIndex)) pr.becomeReplicate();
        if (maybeCommit(context)) commitAdvanced(context);
        if (context.transfer?.to === event.from) nudgeTransferTarget(context, event.from);
        sendAppends(context, event.from, false);
      } else if (wasPaused && !pr.isPaused()) {
        sendAppends(context, event.from, false);
      }
    },
    handleHeartbeatResponse: ({ context, event }) => {
      assertEvent(event, 'heartbeatResponse');
      const pr = context.progress.get(event.from)!;
      pr.recentActive = true;
      pr.probeSent = false;
      if (event.seq > pr.heartbeatAcked) {
        pr.heartbeatAcked = event.seq;
        releaseReads(context);
      }
      if (event.logEnd !== null && event.logEnd < pr.match) pr.lostLog(event.logEnd);
      // Acknowledgements may have been lost: let one more append through so the window cannot stay shut.
      if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
      // Snapshot chunks may have been lost: resume from the last one the follower confirmed.
      if (pr.state === 'snapshot') pr.snapshotNextChunk = pr.snapshotAckedChunk;
      // A follower behind us may have lost an append: an (empty) append finds out where it stands.
      if (pr.match < context.log.lastIndex()) sendAppends(context, event.from, true);
    },
    handleSnapshotResponse: ({ context, event }) => {
      assertEvent(event, 'installSnapshotResponse');
      const pr = context.progress.get(event.from)!;
      pr.recentActive = true;
      if (event.done) {
        if (pr.state === 'snapshot' && event.snapshotIndex >= pr.snapshotIndex) {
          pr.snapshotInstalled(event.snapshotIndex);
          sendAppends(context, event.from, true);
        }
        return;
      }
      if (pr.state !== 'snapshot' || event.snapshotIndex !== pr.snapshotIndex) return;
      if (event.nextChunk > pr.snapshotAckedChunk) {
        pr.snapshotAckedChunk = event.nextChunk;
        if (pr.snapshotNextChunk < event.nextChunk) pr.snapshotNextChunk = event.nextChunk;
      } else if (event.nextChunk < pr.snapshotAckedChunk) {
        // The follower lost what it had received (it restarted): start over from what it asks for.
        pr.snapshotAckedChunk = event.nextChunk;
        pr.snapshotNextChunk = event.nextChunk;
      }
      // The same request again means a gap (a chunk lost or overtaken): the next
      // heartbeat answer resumes from it, rather than every report resending the window.
      sendSnapshotChunks(context, event.from, pr);
    },
    /** The host compacted the log behind a snapshot of its state machine. */
    compactLog: ({ context, event }) => {
      assertEvent(event, 'snapshotTaken');
      if (!context.snapshot.offer(event.snapshot)) return;
      // Keep a tail of entries behind the snapshot, so a follower just a little behind
      // (a lost or overtaken append) catches up from the log instead of a whole snapshot.
      const base = logIndex(Math.max(context.log.base().index, event.snapshot.meta.index - context.config.snapshotCatchUpEntries));
      context.log.compact(base);
      context.membership.history.compactedTo(base);
    },
    forgetLeader: assign({ leaderId: null }),
    /**
     * The leader's heartbeat tick: heartbeats to everyone (they also confirm leadership
     * for reads) and, once an election timeout has passed since the last check,
     * CheckQuorum's bookkeeping: who was heard from starts over, and departing members
     * that stay silent age.
     */
    leaderTick: ({ context }) => {
      broadcastHeartbeats(context);
      const now = context.env.nowMs();
      if (!context.quorumCheck.due(now)) return;
      context.quorumCheck.rearm(now + context.config.electionTimeoutMs);
      for (const pr of context.progress.values()) pr.recentActive = false;
      for (const id of context.departing.age()) context.progress.delete(id);
    },
    /**
     * A node outside our configuration asks for votes: a member removed that never
     * learnt it (it was cut off while we tried, or another leader removed it). It is
     * departing again, until its log holds the configuration in effect.
     */
    tellOfRemoval: ({ context, event }) => {
      assertEvent(event, 'requestVote');
      context.departing.add(event.from, context.membership.current().index);
      syncProgress(context.progress, context.membership.current().config, context.id, logIndex(context.log.lastIndex() + 1), context.config.inflightAppendsMax, context.departing);
      sendAppends(context, event.from, true);
    },
    /** A departing member whose log now holds its removal is told all it needs: the leader stops replicating to it. */
    releaseDeparted: ({ context, event }) => {
      const m = messageOf(event);
      if (context.departing.reached(m.from, context.progress.get(m.from)!.match)) context.progress.delete(m.from);
    },
    appendProposals: ({ context, event }) => {
      assertEvent(event, ['propose', 'proposeRequest']);
      const firstIndex = context.log.lastIndex() + 1;
      const entries: Entry[] = event.commands.map((data, k) => ({ index: logIndex(firstIndex + k), term: context.term, kind: 'command', data }));
      context.log.append(entries);
      context.outbox.send({ type: 'appendEntriesResponse', from: context.id, to: context.id, term: context.term, success: true, matchIndex: context.log.lastIndex() });
      // Sent when the turn ends (flushAppends), with whatever else the turn appends.
      if (context.progress.size > 1) context.outbox.appendsDue = true;
    },
    flushAppends: ({ context }) => flushAppends(context),
    /** A leader that stepped down during the turn: nothing is due from it any more. */
    dropDueAppends: ({ context }) => {
      context.outbox.appendsDue = false;
      context.outbox.commitDue = false;
    },
    /** Emitted before the append, so it names the first index the commands take. */
    answerProposed: emit(({ context }) => ({ type: 'proposed', result: { ok: true, term: context.term, firstIndex: logIndex(context.log.lastIndex() + 1) } }) as const),
    answerOverloaded: emit(({ context }) => ({ type: 'proposed', result: { ok: false, reason: 'overloaded', leaderId: context.id } }) as const),
    refuseProposals: emit(({ context }) => ({ type: 'proposed', result: { ok: false, reason: 'not_leader', leaderId: context.leaderId } }) as const),
    refuseRead: emit(({ context }) => ({ type: 'readAnswered', result: { ok: false, reason: 'not_leader', leaderId: context.leaderId } }) as const),
    answerReadAccepted: emit({ type: 'readAnswered', result: { ok: true } } as const),
    /** Until an entry of our term commits, a read waits without a commit index. */
    holdRead: ({ context, event }) => {
      assertEvent(event, 'readIndex');
      context.reads.add(event.requestId, null);
    },
    serveLeaseRead: ({ context, event }) => {
      assertEvent(event, 'readIndex');
      context.outbox.readStates.push({ requestId: event.requestId, index: context.log.committed() });
      context.counters.leaseReads++;
    },
    /** ReadIndex: the read waits for a majority to acknowledge a heartbeat sent after it arrived. */
    queueRead: ({ context, event }) => {
      assertEvent(event, 'readIndex');
      context.reads.add(event.requestId, context.log.committed());
      releaseReads(context);
    },
    /** Write forwarding: the commands go to the leader, which answers where it appended them. */
    forwardProposal: ({ context, event }) => {
      assertEvent(event, 'propose');
      context.outbox.send({ type: 'proposeRequest', from: context.id, to: context.leaderId!, term: context.term, batchId: event.forwardBatchId!, commands: event.commands });
      context.counters.proposalsForwarded += event.commands.length;
    },
    answerForwarded: emit(({ context }) => ({ type: 'proposed', result: { ok: false, reason: 'forwarded', leaderId: context.leaderId! } }) as const),
    /** Sent before the append, so it names the first index the commands take. */
    acceptForwardedProposal: ({ context, event }) => {
      assertEvent(event, 'proposeRequest');
      const result = { accepted: true, firstIndex: logIndex(context.log.lastIndex() + 1) } as const;
      context.outbox.send({ type: 'proposeResponse', from: context.id, to: event.from, term: context.term, batchId: event.batchId, result });
      context.progress.get(event.from)!.awaitCommit(logIndex(context.log.lastIndex() + event.commands.length));
      context.counters.proposalsAccepted += event.commands.length;
    },
    /** Not appended: the follower may answer "not applied". A stale request is refused at our term, which tells its sender about it. */
    refuseForwardedProposal: ({ context, event }, params: { reason: 'not_leader' | 'overloaded' }) => {
      assertEvent(event, 'proposeRequest');
      context.outbox.send({ type: 'proposeResponse', from: context.id, to: event.from, term: context.term, batchId: event.batchId, result: { accepted: false, reason: params.reason } });
    },
    /** Any term: an acceptance names entries by (index, term), which stays meaningful; a refusal means nothing was appended. */
    takeForwardedAnswer: ({ context, event }) => {
      assertEvent(event, 'proposeResponse');
      context.outbox.forwardedProposals.push({ batchId: event.batchId, leaderId: event.from, term: event.term, result: event.result });
    },
    /** Follower ReadIndex: the leader is asked for an index at which the read may be served here. */
    forwardRead: ({ context, event }) => {
      assertEvent(event, 'readIndex');
      context.forwardedReads.add(event.requestId);
      context.outbox.send({ type: 'readIndexRequest', from: context.id, to: context.leaderId!, term: context.term, requestId: event.requestId, lease: event.lease });
      context.counters.readsForwarded++;
    },
    /** A follower's read, like our own: it waits for an entry of our term to commit. */
    holdRemoteRead: ({ context, event }) => {
      assertEvent(event, 'readIndexRequest');
      context.reads.add(event.requestId, null, event.from);
    },
    serveRemoteLeaseRead: ({ context, event }) => {
      assertEvent(event, 'readIndexRequest');
      answerReadAtCommit(context, event.from, event.requestId);
      context.counters.leaseReads++;
    },
    /** With the follower, we make a majority: our answer confirms the read, no round needed (requesterCompletesQuorum). */
    answerRemoteRead: ({ context, event }) => {
      assertEvent(event, 'readIndexRequest');
      answerReadAtCommit(context, event.from, event.requestId);
      context.counters.readsConfirmedByRequester++;
    },
    /** A follower's read joins the next heartbeat round, as our own reads do. */
    queueRemoteRead: ({ context, event }) => {
      assertEvent(event, 'readIndexRequest');
      context.reads.add(event.requestId, context.log.committed(), event.from);
      releaseReads(context);
    },
    confirmForwardedRead: ({ context, event }) => {
      assertEvent(event, 'readIndexResponse');
      if (context.forwardedReads.answered(event.requestId)) context.outbox.readStates.push({ requestId: event.requestId, index: event.index });
    },
    /** We stop following the leader we asked: its answers may never come, so the reads fail now. */
    failForwardedReads: ({ context }) => {
      for (const requestId of context.forwardedReads.drain()) context.outbox.readFailures.push(requestId);
    },
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

/** Rules for every message of a stale or newer term, shared by every role. */
const newerTermRule = { guard: 'termIsNewer', target: '.follower', actions: ['failForwardedReads', 'adoptNewerTerm', 'redeliver'] } as const;
/** A stale answer to a request of ours: dropped. */
const staleAnswerRule = { guard: 'termIsStale' } as const;

/** Leader messages of the current term, which a follower takes and a (pre-)candidate follows. */
const fromCurrentLeader = {
  // The leader we already follow (every append and heartbeat but the first): no new context.
  appendEntries: [
    { guard: 'isFromOurLeader', actions: ['noteLeaderHeard', 'acceptAppend'] },
    { guard: 'isCurrentTerm', actions: ['followLeader', 'noteLeaderHeard', 'acceptAppend'] },
  ],
  heartbeat: [
    { guard: 'isFromOurLeader', actions: ['noteLeaderHeard', 'acceptHeartbeat'] },
    { guard: 'isCurrentTerm', actions: ['followLeader', 'noteLeaderHeard', 'acceptHeartbeat'] },
  ],
  installSnapshot: [
    { guard: and(['isCurrentTerm', 'snapshotCovered']), actions: ['followLeader', 'noteLeaderHeard', 'confirmSnapshotCovered'] },
    { guard: 'isCurrentTerm', actions: ['followLeader', 'noteLeaderHeard', 'acceptSnapshotChunk'] },
  ],
} as const;

/** A (pre-)candidate that hears from a leader of its own term becomes its follower (it follows no leader yet). */
const followCurrentLeader = {
  appendEntries: { ...fromCurrentLeader.appendEntries[1], target: 'follower' },
  heartbeat: { ...fromCurrentLeader.heartbeat[1], target: 'follower' },
  installSnapshot: fromCurrentLeader.installSnapshot.map((t) => ({ ...t, target: 'follower' })),
} as const;

export const raftMachine = raftSetup.createMachine({
  id: 'raft',
  context: ({ input }) => ({
    id: input.id,
    membership: input.membership,
    voters: input.membership.voters,
    peers: input.membership.peers,
    config: input.config,
    env: input.env,
    log: input.log,
    outbox: input.outbox,
    counters: input.counters,
    term: input.term,
    votedFor: input.votedFor,
    leaderId: null,
    leaderContact: new LeaderContact(input.env.nowMs()),
    votes: new Map(),
    progress: new Map(),
    departing: new Departures(DEPARTURE_ROUNDS_MAX),
    transfer: null,
    quorumCheck: new QuorumCheck(0),
    campaignForTransfer: false,
    reads: new ReadIndexTracker(),
    forwardedReads: new ForwardedReads(),
    snapshot: new LatestSnapshot(input.snapshot),
    receiver: new SnapshotReceiver(),
  }),
  initial: 'follower',
  // Role states take the messages of the current term they expect; whatever they
  // leave falls through to these rules, shared by every role. A message of the
  // current term that no role took is a late or duplicate answer: dropped.
  on: {
    requestVote: [
      { guard: 'termIsStale', actions: 'sendVoteRejected' },
      { guard: 'voteRequestInLease' },
      newerTermRule,
      { guard: { type: 'canGrantVote', params: { preVote: true } }, actions: 'sendVoteGranted' },
      { guard: { type: 'canGrantVote', params: { preVote: false } }, actions: ['recordVoteFor', 'sendVoteGranted'] },
      { actions: 'sendVoteRejected' },
    ],
    requestVoteResponse: [staleAnswerRule, newerTermRule],
    appendEntries: [{ guard: 'termIsStale', actions: 'rejectStaleAppend' }, newerTermRule],
    appendEntriesResponse: [staleAnswerRule, newerTermRule],
    heartbeat: [{ guard: 'termIsStale', actions: 'answerStaleHeartbeat' }, newerTermRule],
    heartbeatResponse: [staleAnswerRule, newerTermRule],
    installSnapshot: [{ guard: 'termIsStale', actions: 'rejectStaleSnapshot' }, newerTermRule],
    installSnapshotResponse: [staleAnswerRule, newerTermRule],
    // A stale read request is dropped: its follower fails the read when it learns the newer term.
    readIndexRequest: [staleAnswerRule, newerTermRule],
    readIndexResponse: [staleAnswerRule, newerTermRule],
    proposeRequest: [newerTermRule, { actions: { type: 'refuseForwardedProposal', params: { reason: 'not_leader' } } }],
    proposeResponse: [newerTermRule, { actions: 'takeForwardedAnswer' }],
    propose: [{ guard: 'canForwardProposal', actions: ['forwardProposal', 'answerForwarded'] }, { actions: 'refuseProposals' }],
    timeoutNow: [staleAnswerRule, newerTermRule],
    changeMembers: { actions: 'refuseChange' },
    transferLeadership: { actions: 'refuseTransfer' },
    readIndex: { actions: 'refuseRead' },
    snapshotTaken: { actions: 'compactLog' },
    flushAppends: { actions: 'dropDueAppends' },
  },
  states: {
    follower: {
      // Hearing from the leader does not re-arm the timer on every message (that would
      // cost a timer cancel and schedule per append); instead the timer re-arms itself
      // when it fires if the leader was heard from within the election timeout.
      after: {
        randomizedElectionTimeout: [
          { guard: 'leaderHeardRecently', target: 'follower', reenter: true },
          { guard: 'mayCampaign', target: 'preCandidate' },
          { target: 'follower', reenter: true },
        ],
      },
      on: {
        ...fromCurrentLeader,
        // Leadership transfer: the target campaigns at once, bypassing PreVote.
        timeoutNow: { guard: 'isTransferToUs', target: 'candidate', actions: ['markTransferCampaign', { type: 'count', params: { counter: 'transferCampaigns' } }] },
        // Granting a vote restarts the election timer; a pre-vote does not.
        requestVote: { guard: { type: 'canGrantVote', params: { preVote: false } }, target: 'follower', reenter: true, actions: ['recordVoteFor', 'sendVoteGranted'] },
        readIndex: { guard: 'leaderKnown', actions: ['forwardRead', 'answerReadAccepted'] },
        readIndexResponse: { guard: 'isCurrentTerm', actions: 'confirmForwardedRead' },
      },
    },
    preCandidate: {
      // Only a follower forwards reads; its leader is gone now.
      entry: ['failForwardedReads', 'startPreVote', 'sendPreVoteRequests', { type: 'count', params: { counter: 'preVotesStarted' } }],
      exit: { type: 'countCampaignOutcome', params: { preVote: true } },
      always: [
        { guard: 'electionWon', target: 'candidate' },
        { guard: 'electionLost', target: 'follower' },
      ],
      after: { randomizedElectionTimeout: { target: 'preCandidate', reenter: true } },
      on: {
        requestVoteResponse: { guard: 'isPreVoteAnswerToUs', actions: 'recordVote' },
        ...followCurrentLeader,
      },
    },
    candidate: {
      entry: ['startElection', 'sendVoteRequests', { type: 'count', params: { counter: 'electionsStarted' } }],
      exit: { type: 'countCampaignOutcome', params: { preVote: false } },
      after: { randomizedElectionTimeout: { target: 'preCandidate' } },
      always: [
        { guard: 'electionWon', target: 'leader' },
        { guard: 'electionLost', target: 'follower' },
      ],
      on: {
        requestVoteResponse: { guard: 'isVoteAnswerToUs', actions: 'recordVote' },
        ...followCurrentLeader,
      },
    },
    leader: {
      entry: ['becomeLeader', 'appendNoop', 'broadcastAppends'],
      exit: 'failReads',
      // A leader whose removal is committed steps down and hands over (dissertation §4.2.2).
      always: { guard: 'removalCommitted', target: 'follower', actions: ['handOver', 'forgetLeader', { type: 'count', params: { counter: 'removalStepDowns' } }] },
      on: {
        transferLeadership: [
          { guard: 'transferring', actions: 'refuseTransfer' },
          { guard: 'transferAllowed', actions: ['startTransfer', 'answerTransferStarted', 'nudgeTransferTarget'] },
          { actions: 'answerTransferRefused' },
        ],
        // Answers from members and departing members only: any other's late answers have no progress to update.
        appendEntriesResponse: { guard: 'fromTrackedMember', actions: ['handleAppendResponse', 'releaseDeparted'] },
        heartbeatResponse: { guard: 'fromTrackedMember', actions: 'handleHeartbeatResponse' },
        flushAppends: { actions: 'flushAppends' },
        installSnapshotResponse: { guard: 'fromTrackedMember', actions: ['handleSnapshotResponse', 'releaseDeparted'] },
        // Not a member: it cannot be elected, and is not answered; it is told of its removal instead.
        requestVote: { guard: 'fromFormerMember', actions: 'tellOfRemoval' },
        propose: [
          { guard: 'transferring', actions: 'refuseProposals' },
          { guard: 'tooManyUncommitted', actions: 'answerOverloaded' },
          { actions: ['answerProposed', 'appendProposals'] },
        ],
        changeMembers: [
          { guard: 'transferring', actions: 'refuseChange' },
          // The single-server change bug (Ongaro, raft-dev 2015): a leader that has not committed in its term may hold a configuration a rival majority never saw.
          { guard: 'awaitsFirstCommit', actions: 'answerChangeUnsettled' },
          { guard: 'changeAllowed', actions: ['answerChangeAccepted', 'appendConfigChange'] },
          { actions: 'answerChangeRefused' },
        ],
        readIndex: [
          { guard: 'awaitsFirstCommit', actions: ['holdRead', 'answerReadAccepted'] },
          { guard: 'leaseHolds', actions: ['serveLeaseRead', 'answerReadAccepted'] },
          { actions: ['queueRead', 'answerReadAccepted'] },
        ],
        proposeRequest: [
          { guard: and(['isCurrentTerm', 'transferring']), actions: { type: 'refuseForwardedProposal', params: { reason: 'not_leader' } } },
          { guard: and(['fromTrackedMember', 'tooManyUncommitted']), actions: { type: 'refuseForwardedProposal', params: { reason: 'overloaded' } } },
          { guard: 'fromTrackedMember', actions: ['acceptForwardedProposal', 'appendProposals'] },
        ],
        readIndexRequest: [
          { guard: and(['isCurrentTerm', 'awaitsFirstCommit']), actions: 'holdRemoteRead' },
          { guard: and(['isCurrentTerm', 'leaseHolds']), actions: 'serveRemoteLeaseRead' },
          { guard: and(['isCurrentTerm', 'requesterCompletesQuorum']), actions: 'answerRemoteRead' },
          { guard: 'isCurrentTerm', actions: 'queueRemoteRead' },
        ],
      },
      // One timer, as etcd's tick: XState looks at every active state on every event, so
      // parallel regions per timer cost each message of a loaded leader. Every
      // heartbeat interval the tick sends heartbeats, runs CheckQuorum once an election
      // timeout has passed since its last check (a leader that heard from no majority
      // steps down), and gives up a leadership transfer that ran for an election timeout
      // (dissertation §3.10: proposals wait while the target is brought up to date and
      // told to campaign; without a new leader by then, this one leads on).
      initial: 'ticking',
      states: {
        ticking: {
          after: {
            heartbeatInterval: [
              { guard: 'quorumLost', target: '#raft.follower', actions: ['forgetLeader', { type: 'count', params: { counter: 'checkQuorumStepDowns' } }] },
              { guard: 'transferExpired', target: 'ticking', reenter: true, actions: ['leaderTick', 'abortTransfer', { type: 'count', params: { counter: 'transfersAborted' } }] },
              { target: 'ticking', reenter: true, actions: 'leaderTick' },
            ],
          },
        },
      },
    },
  },
});
