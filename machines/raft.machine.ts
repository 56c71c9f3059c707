import { assign, raise, setup } from 'xstate';
import type { RaftConfig } from '../src/raft/config.js';
import type { RaftEnv } from '../src/raft/env.js';
import { RaftLog } from '../src/raft/log.js';
import type { Outbox } from '../src/raft/outbox.js';
import { Progress } from '../src/raft/progress.js';
import { committedIndex, voteOutcome } from '../src/raft/quorum.js';
import { appendsFor, heartbeatFor } from '../src/raft/replication.js';
import type {
  AppendEntries,
  AppendEntriesResponse,
  Entry,
  Heartbeat,
  LogIndex,
  Message,
  NodeId,
  RequestVote,
  RequestVoteResponse,
  MessageType,
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
  readonly term: Term;
  readonly votedFor: NodeId | null;
}

export interface RaftContext {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly peers: readonly NodeId[];
  readonly config: RaftConfig;
  readonly env: RaftEnv;
  readonly log: RaftLog;
  readonly outbox: Outbox;
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
}

export type ProposeResult =
  | { readonly ok: true; readonly term: Term; readonly firstIndex: LogIndex }
  | { readonly ok: false; readonly reason: 'not_leader'; readonly leaderId: NodeId | null }
  | { readonly ok: false; readonly reason: 'overloaded'; readonly leaderId: NodeId };

export type RaftEvent = { readonly type: 'message'; readonly msg: Message } | { readonly type: 'propose'; readonly commands: readonly Uint8Array[] };

type MessageEvent = Extract<RaftEvent, { type: 'message' }>;

/** The message carried by a `message` event, as the type a guard has already established. */
function msgOf<T extends MessageType>(event: RaftEvent): Extract<Message, { type: T }> {
  return (event as MessageEvent).msg as Extract<Message, { type: T }>;
}

const isLeaderMessage = (m: Message): m is AppendEntries | Heartbeat => m.type === 'appendEntries' || m.type === 'heartbeat';

/** A leader, or a follower that heard from its leader within the (minimum) election timeout. */
function inLease(ctx: RaftContext): boolean {
  if (ctx.leaderId === ctx.id) return true;
  return ctx.leaderId !== null && ctx.env.nowMs() - ctx.leaderHeardAtMs < ctx.config.electionTimeoutMs;
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
  for (const m of appendsFor(ctx, to, pr, sendIfEmpty)) ctx.outbox.send(m);
}

function broadcastAppends(ctx: RaftContext, sendIfEmpty: boolean): void {
  for (const peer of ctx.peers) sendAppends(ctx, peer, sendIfEmpty);
}

/** Figure 8 rule: only an entry of the current term is committed by counting replicas. */
function maybeCommit(ctx: RaftContext): boolean {
  const n = committedIndex(ctx.voters, (id) => ctx.progress.get(id)!.match);
  if (n <= ctx.log.committed() || ctx.log.term(n) !== ctx.term) return false;
  return ctx.log.commitTo(n);
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
      else if (m.type === 'heartbeat') context.outbox.send({ type: 'heartbeatResponse', from: context.id, to: m.from, term: context.term });
      else if (m.type === 'requestVote') context.outbox.send(voteResponse(context, m, false));
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
      const m = msgOf<'appendEntries' | 'heartbeat'>(event);
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
      context.log.commitTo(logIndex(Math.min(m.commit, context.log.lastIndex())));
      context.outbox.send({ type: 'heartbeatResponse', from: context.id, to: m.from, term: context.term });
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
      return { progress, leaderId: context.id, votes: new Map<NodeId, boolean>() };
    }),
    broadcastAppends: ({ context }) => broadcastAppends(context, true),
    broadcastHeartbeats: ({ context }) => {
      for (const peer of context.peers) context.outbox.send(heartbeatFor(context, peer, context.progress.get(peer)!));
    },
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
        if (pr.state === 'probe') pr.becomeReplicate();
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
      // Acknowledgements may have been lost: let one more append through so the window cannot stay shut.
      if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
      // A follower behind us may have lost an append: an (empty) append finds out where it stands.
      if (pr.match < context.log.lastIndex()) sendAppends(context, m.from, true);
    },
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
  },
});

/** A (pre-)candidate that hears from a leader of its own term becomes its follower. */
const followCurrentLeader = [
  { guard: { type: 'isCurrent', params: { type: 'appendEntries' } }, target: 'follower', actions: ['followLeader', 'acceptAppend'] },
  { guard: { type: 'isCurrent', params: { type: 'heartbeat' } }, target: 'follower', actions: ['followLeader', 'acceptHeartbeat'] },
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
    term: input.term,
    votedFor: input.votedFor,
    leaderId: null,
    leaderHeardAtMs: Number.NEGATIVE_INFINITY,
    votes: new Map(),
    progress: new Map(),
    lastProposal: null,
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
          // Granting a vote restarts the election timer; a pre-vote does not.
          { guard: { type: 'canGrantVote', params: { preVote: false } }, target: 'follower', reenter: true, actions: 'grantVote' },
        ],
      },
    },
    preCandidate: {
      entry: 'startPreVote',
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
      entry: 'startElection',
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
      type: 'parallel',
      on: {
        message: [
          { guard: { type: 'isCurrent', params: { type: 'appendEntriesResponse' } }, actions: 'handleAppendResponse' },
          { guard: { type: 'isCurrent', params: { type: 'heartbeatResponse' } }, actions: 'handleHeartbeatResponse' },
        ],
        propose: { actions: 'appendProposals' },
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
                  { target: '#raft.follower', actions: 'forgetLeader' },
                ],
              },
            },
          },
        },
      },
    },
  },
});
