import { createActor, type Actor, type InspectionEvent, type Subscription } from 'xstate';
import { historyOf, Membership } from '../membership-log.js';
import type { ConfigChange, Configuration, IndexedConfiguration } from '../membership.js';
import { raftMachine, type ChangeResult, type ProposeResult, type RaftEvent, type ReadResult, type TransferResult } from '../../../machines/raft.machine.js';
import { validateRaftConfig, type RaftConfig } from '../config.js';
import { RaftCounters } from '../counters.js';
import type { RaftEnv } from '../env.js';
import { RaftLog } from '../log.js';
import { Outbox, type ForwardedProposal } from '../outbox.js';
import type { ReadState } from '../read-index.js';
import type { Entry, HardState, LogIndex, Message, NodeId, Role, Snapshot, Term } from '../types.js';
import { logIndex, term as toTerm } from '../types.js';
import { copyCoreState, injectedContextFields, type CoreCheckpoint } from './core-checkpoint.js';
import { describeCause, type CoreInput, type CoreTap, type CoreTransition } from './core-tap.js';

export type { ChangeResult, ForwardedProposal, ProposeResult, ReadResult, ReadState, TransferResult };

const readyInput: CoreInput = Object.freeze({ kind: 'ready' });
const flushAppendsEvent: RaftEvent = Object.freeze({ type: 'flushAppends' });

/** The host's requests that the machine answers, by an emitted event, while it handles them. */
type Request = Extract<CoreInput, { kind: 'propose' | 'readIndex' | 'changeMembers' | 'transferLeadership' }>;
interface Answers {
  readonly propose: ProposeResult;
  readonly readIndex: ReadResult;
  readonly changeMembers: ChangeResult;
  readonly transferLeadership: TransferResult;
}
type Answer = { [K in keyof Answers]: { readonly kind: K; readonly result: Answers[K] } }[keyof Answers];

/** XState's scheduler interface: the host decides what time is. */
export interface Clock {
  setTimeout(fn: () => void, timeoutMs: number): unknown;
  clearTimeout(id: unknown): void;
}

/** What a node recovers from its disk when it starts: the entries follow the snapshot, if any. */
export interface PersistedState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
}

export const emptyPersistedState: PersistedState = {
  hardState: { term: toTerm(0), votedFor: null, commit: logIndex(0) },
  snapshot: null,
  entries: [],
};

/**
 * Everything the host must do after the core handled some events, in this order:
 * persist `hardState`, `snapshot` (which replaces the whole log) and `entries`
 * (which overwrite the log from their first index), restore the state machine from
 * `snapshot` if there is one, send `messages` (they need not wait for the write), and once the write is
 * durable send `messagesAfterPersist` (those addressed to this node go back into
 * `step`); apply `committed` in order. A read in `readStates` may be served once
 * the node has applied its index; one in `readFailures` must be retried elsewhere.
 * The write need not be synced when `mustSync` is false (etcd's MustSync).
 */
export interface Ready {
  readonly hardState: HardState | null;
  /**
   * False when the write holds nothing a crash may lose: no entries, no snapshot,
   * and a hard state (if any) whose term and vote are those last written, only its
   * commit index moved. A commit index is learned again from the leader, and one
   * recovered lower only means replaying less at start (RaftLog keeps it at least
   * the snapshot's index), so such a write may go to disk without an fsync.
   */
  readonly mustSync: boolean;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly readFailures: readonly number[];
  /** Answers to batches this node forwarded to its leader (see `propose`). */
  readonly forwardedProposals: readonly ForwardedProposal[];
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  /**
   * The configuration a node with no snapshot starts from (raft.peers, all voters);
   * the empty configuration for a node that joins a running cluster. Configuration
   * entries in the recovered log override it.
   */
  readonly bootstrap: Configuration;
  /** Started empty to join (raft.join): it takes no part in elections until it has caught up. */
  readonly catchingUp?: boolean;
  readonly config: RaftConfig;
  readonly env: RaftEnv;
  readonly clock: Clock;
  readonly persisted: PersistedState;
  /** Called after the core handled an event (a message, a request, a timer): a Ready may be waiting. */
  readonly onReady: () => void;
  /** Called when the core changes role, with the input that caused it. */
  readonly onTransition?: (t: CoreTransition) => void;
  /** Sees every input and environment reading (the flight recorder, traces); without one nothing is spent on it. */
  readonly tap?: CoreTap;
  /** Build the core as it was at this checkpoint instead of from `persisted` (replays). */
  readonly resume?: CoreCheckpoint;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: Term;
  readonly votedFor: NodeId | null;
  readonly leaderId: NodeId | null;
  readonly commitIndex: LogIndex;
  readonly appliedIndex: LogIndex;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
}

/** What the leader knows of one follower, as metrics show it. */
export interface PeerProgress {
  readonly peer: NodeId;
  readonly match: LogIndex;
  readonly next: LogIndex;
  readonly inflightAppends: number;
  readonly state: 'probe' | 'replicate' | 'snapshot';
}

/** One Raft node's core: the role machine running on an injected clock, fed events, drained as Readys. */
export class RaftNode {
  readonly id: NodeId;
  readonly log: RaftLog;
  /** Event counts for metrics, incremented by the core only. */
  readonly counters = new RaftCounters();
  private readonly outbox: Outbox = new Outbox();
  private readonly actor: Actor<typeof raftMachine>;
  private readonly onReady: () => void;
  private readonly onTransition: ((t: CoreTransition) => void) | null;
  private readonly tap: CoreTap | null;
  /** The host's clock, read for the tap's timestamps (not a reading of the core's). */
  private readonly envNowMs: () => number;
  private persistedHardState: HardState;
  private inputSeq = 0;
  /** The input being handled, or the last one handled: the cause of a change of role. */
  private cause: CoreInput = readyInput;
  private lastRole: Role | null;
  /** The machine's answer to the request being sent, emitted while it handles it. */
  private answer: Answer | null = null;

  constructor(opts: RaftNodeOptions) {
    // The node's config was checked key by key at start; a config that breaks the core's rules here is a bug.
    const problem = validateRaftConfig(opts.config);
    if (problem !== null) throw new Error(`RaftNode: ${problem}`);
    this.id = opts.id;
    this.onReady = opts.onReady;
    this.onTransition = opts.onTransition ?? null;
    const tap = opts.tap ?? null;
    this.tap = tap;
    const env = tap === null ? opts.env : tappedEnv(opts.env, tap);
    this.envNowMs = () => opts.env.nowMs();
    const clock: Clock = {
      setTimeout: (fn, ms) => {
        // XState files a delayed event under its id just before it asks for the timer: the newest one is this timer's.
        const event = newestScheduledEvent(this.actor);
        return opts.clock.setTimeout(() => {
          this.taken({ kind: 'timer', event });
          fn();
          this.handled();
        }, ms);
      },
      clearTimeout: (id) => opts.clock.clearTimeout(id),
    };
    const resume = opts.resume;
    if (resume === undefined) {
      const hs = opts.persisted.hardState;
      this.persistedHardState = hs;
      const snap = opts.persisted.snapshot;
      this.log = new RaftLog(opts.persisted.entries, hs.commit, snap === null ? undefined : { index: snap.meta.index, term: snap.meta.term });
      const base = snap === null ? { index: logIndex(0), config: opts.bootstrap } : { index: snap.meta.index, config: snap.meta.config };
      const membership = new Membership(historyOf(base, opts.persisted.entries), opts.id, opts.catchingUp ?? false);
      this.actor = createActor(raftMachine, {
        clock,
        input: { id: opts.id, membership, config: opts.config, env, log: this.log, outbox: this.outbox, counters: this.counters, term: hs.term, votedFor: hs.votedFor, snapshot: snap },
      });
    } else {
      this.persistedHardState = resume.hardState;
      this.log = copyCoreState(resume.log);
      this.outbox = copyCoreState(resume.outbox);
      this.inputSeq = resume.seq;
      const copied = copyCoreState(resume.context);
      // The voter and peer lists are the membership's own arrays, updated in place: keep them one object.
      const membership = copied['membership'] as Membership;
      const context = { ...copied, voters: membership.voters, peers: membership.peers, config: opts.config, env, log: this.log, outbox: this.outbox, counters: this.counters } as never;
      // A restored snapshot carries its context: XState reads no input then.
      this.actor = createActor(raftMachine, { clock, snapshot: raftMachine.resolveState({ value: resume.value as never, context }), input: undefined as never });
    }
    this.lastRole = null;
    // A broken invariant inside an action stops the actor; XState would report it
    // later and out of band. Observing errors here and rethrowing them from the call
    // that caused them makes a core bug fail loudly, where it happened.
    this.actor.subscribe({ error: () => undefined });
    this.actor.on('proposed', (e) => (this.answer = { kind: 'propose', result: e.result }));
    this.actor.on('readAnswered', (e) => (this.answer = { kind: 'readIndex', result: e.result }));
    this.actor.on('membersChanged', (e) => (this.answer = { kind: 'changeMembers', result: e.result }));
    this.actor.on('transferAnswered', (e) => (this.answer = { kind: 'transferLeadership', result: e.result }));
    this.actor.start();
    this.lastRole = this.role();
    tap?.attached?.(this);
  }

  /** Before each input: count it, remember it as the cause of what follows, show it to the tap. */
  private taken(input: CoreInput): void {
    const seq = this.inputSeq + 1;
    // Before the count moves: a tap that checkpoints here records the state before this input.
    this.tap?.input(seq, this.envNowMs(), input);
    this.inputSeq = seq;
    this.cause = input;
  }

  /** Sends a request and returns the machine's answer to it. */
  private ask<R extends Request>(request: R, event: RaftEvent): Answers[R['kind']] {
    this.taken(request);
    this.actor.send(event);
    this.handled();
    const a = this.answer;
    this.answer = null;
    if (a === null || a.kind !== request.kind) throw new Error(`RaftNode: the machine did not answer ${request.kind}`);
    return a.result as Answers[R['kind']];
  }

  /** After each event: rethrow a core failure where it happened, report a change of role, then tell the host a Ready may be waiting. */
  private handled(): void {
    const snap = this.actor.getSnapshot();
    if (snap.status === 'error') throw snap.error;
    const role = this.role();
    if (role !== this.lastRole) {
      const from = this.lastRole!;
      this.lastRole = role;
      const t: CoreTransition = { input: this.inputSeq, from, to: role, term: snap.context.term, event: describeCause(this.cause) };
      this.tap?.transition?.(t);
      this.onTransition?.(t);
    }
    this.onReady();
  }

  /** A peer's message: each kind is an event of its own. One the node sent itself comes back once its write is durable. */
  step(msg: Message): void {
    this.taken({ kind: msg.from === this.id ? 'persisted' : 'message', message: msg });
    this.actor.send(msg);
    this.handled();
  }

  /**
   * Replays only: fires the machine's delayed event `event` now, as its timer did
   * in the recorded run (the replay's clock never fires by itself; a timer that was
   * pending at the checkpoint exists only in the recording).
   */
  fireTimer(event: string): void {
    this.taken({ kind: 'timer', event });
    this.actor.send({ type: event } as unknown as RaftEvent);
    this.handled();
  }

  /** XState's inspection events of the core's actor (the Stately inspector); the observer must be cheap: it runs inside each event. */
  inspect(observer: (e: InspectionEvent) => void): Subscription {
    return this.actor.system.inspect(observer);
  }

  /** Inputs taken since the core was first built (a resumed core continues the count). */
  inputsTaken(): number {
    return this.inputSeq;
  }

  /** The core's whole state now, between inputs: see CoreCheckpoint. */
  checkpoint(): CoreCheckpoint {
    const snap = this.actor.getSnapshot();
    const context: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(snap.context)) if (!injectedContextFields.has(k)) context[k] = copyCoreState(v);
    return {
      seq: this.inputSeq,
      atMs: this.envNowMs(),
      role: this.role(),
      value: snap.value,
      context,
      log: copyCoreState(this.log),
      outbox: copyCoreState(this.outbox),
      hardState: this.persistedHardState,
    };
  }

  /**
   * Appends commands to the log if this node leads; the result says where, or who
   * leads. With a `forwardBatchId`, a follower that knows its leader forwards them
   * there instead (`forwarded`); the leader's answer comes back, under that id, in
   * a later Ready's `forwardedProposals`.
   */
  propose(commands: readonly Uint8Array[], forwardBatchId: number | null = null): ProposeResult {
    const r = this.ask({ kind: 'propose', commands, forwardBatchId }, { type: 'propose', commands, forwardBatchId });
    if (r.ok) this.counters.proposalsAccepted += commands.length;
    else if (r.reason === 'not_leader') this.counters.proposalsRefusedNotLeader += commands.length;
    else if (r.reason === 'overloaded') this.counters.proposalsRefusedOverloaded += commands.length;
    return r;
  }

  /**
   * Asks to serve a linearizable read (ReadIndex; with `lease`, by the leader lease
   * when it holds). An accepted read comes back as a ReadState in a later Ready.
   */
  readIndex(requestId: number, lease: boolean): ReadResult {
    return this.ask({ kind: 'readIndex', requestId, lease }, { type: 'readIndex', requestId, lease });
  }

  /**
   * Proposes a single-server membership change (leader only). An accepted change is
   * in effect at once and appended at the answered index; the host answers its
   * caller once that entry is committed (and still has the answered term).
   */
  changeMembers(change: ConfigChange): ChangeResult {
    return this.ask({ kind: 'changeMembers', change }, { type: 'changeMembers', change });
  }

  /** Starts handing leadership to `to` (or the most up-to-date voter); the host waits for it to lead. */
  transferLeadership(to: NodeId | null): TransferResult {
    return this.ask({ kind: 'transferLeadership', to }, { type: 'transferLeadership', to });
  }

  /** The configuration in effect (the latest in the log, committed or not) and its index. */
  configuration(): IndexedConfiguration {
    return this.actor.getSnapshot().context.membership.current();
  }

  /** The configuration in effect at `index` (what a snapshot taken there records). */
  configurationAt(index: LogIndex): IndexedConfiguration {
    return this.actor.getSnapshot().context.membership.history.at(index);
  }

  /** Does this node vote in its configuration, and may it already (it is not catching up after joining)? */
  votes(): { readonly voter: boolean; readonly catchingUp: boolean } {
    const m = this.actor.getSnapshot().context.membership;
    return { voter: m.isSelfVoter(), catchingUp: m.catchingUp };
  }

  /**
   * The host took `snapshot` of its state machine (at an applied index) and made it
   * durable: the log is compacted behind it, and lagging followers will be sent it.
   */
  snapshotTaken(snapshot: Snapshot): void {
    this.taken({ kind: 'snapshotTaken', snapshot });
    this.actor.send({ type: 'snapshotTaken', snapshot });
    this.handled();
  }

  /** The snapshot the log was last compacted behind, if any. */
  snapshot(): Snapshot | null {
    return this.actor.getSnapshot().context.snapshot.get();
  }

  stop(): void {
    this.actor.stop();
  }

  role(): Role {
    const v = this.actor.getSnapshot().value;
    // Only the leader state has a child state (its tick).
    return typeof v === 'string' ? (v as Role) : 'leader';
  }

  term(): Term {
    return this.actor.getSnapshot().context.term;
  }

  /** The leader this node knows of (itself when it leads), if any. */
  leaderId(): NodeId | null {
    return this.actor.getSnapshot().context.leaderId;
  }

  status(): RaftStatus {
    const c = this.actor.getSnapshot().context;
    return {
      id: this.id,
      role: this.role(),
      term: c.term,
      votedFor: c.votedFor,
      leaderId: c.leaderId,
      commitIndex: this.log.committed(),
      appliedIndex: this.log.applied(),
      lastLogIndex: this.log.lastIndex(),
      lastLogTerm: this.log.lastTerm(),
    };
  }

  /** Leader only (empty otherwise): each follower's replication progress, read without changing it. */
  peerProgress(): readonly PeerProgress[] {
    if (this.role() !== 'leader') return [];
    const out: PeerProgress[] = [];
    for (const [peer, pr] of this.actor.getSnapshot().context.progress) {
      if (peer !== this.id) out.push({ peer, match: pr.match, next: pr.next, inflightAppends: pr.inflights.size(), state: pr.state });
    }
    return out;
  }

  /** Drains the effects produced since the last call. */
  takeReady(): Ready {
    this.taken(readyInput);
    if (this.outbox.appendsDue || this.outbox.commitDue) {
      // The turn's appends, as one per follower, before the messages are drained.
      this.actor.send(flushAppendsEvent);
      const snap = this.actor.getSnapshot();
      if (snap.status === 'error') throw snap.error;
    }
    const c = this.actor.getSnapshot().context;
    const prev = this.persistedHardState;
    const termOrVoteMoved = c.term !== prev.term || c.votedFor !== prev.votedFor;
    let hardState: HardState | null = null;
    if (termOrVoteMoved || this.log.committed() !== prev.commit) {
      hardState = { term: c.term, votedFor: c.votedFor, commit: this.log.committed() };
      this.persistedHardState = hardState;
    }
    const out = this.outbox.drain();
    const entries = this.log.takeUnpersisted();
    return {
      hardState,
      mustSync: termOrVoteMoved || entries.length > 0 || out.installSnapshot !== null,
      snapshot: out.installSnapshot,
      entries,
      messages: out.messages,
      messagesAfterPersist: out.afterPersist,
      committed: this.log.takeCommitted(),
      readStates: out.readStates,
      readFailures: out.readFailures,
      forwardedProposals: out.forwardedProposals,
    };
  }
}

/** The environment as the core reads it, each reading shown to the tap. */
function tappedEnv(env: RaftEnv, tap: CoreTap): RaftEnv {
  return {
    nowMs: () => {
      const ms = env.nowMs();
      tap.reading({ kind: 'now', ms });
      return ms;
    },
    randomInt: (bound) => {
      const value = env.randomInt(bound);
      tap.reading({ kind: 'random', bound, value });
      return value;
    },
  };
}

/** The type of the delayed event XState filed last (its scheduled events keep their filing order). */
function newestScheduledEvent(actor: Actor<typeof raftMachine>): string {
  const scheduled = Object.values(actor.system.getSnapshot()._scheduledEvents);
  return scheduled[scheduled.length - 1]?.event.type ?? 'unknown';
}
