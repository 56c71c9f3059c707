import { historyOf, Membership } from '../../src/raft/membership-log.js';
import { votersConfig } from '../raft/configs.js';
import type { Configuration } from '../../src/raft/membership.js';
import { createActor, type Actor, type AnyTransitionDefinition } from 'xstate';
import { raftMachine, type RaftEmitted, type RaftEvent } from '../../machines/raft.machine.js';
import { defaultRaftConfig, type RaftConfig } from '../../src/raft/config.js';
import { RaftCounters } from '../../src/raft/counters.js';
import { describeMessage } from '../../src/raft/describe.js';
import { RaftLog } from '../../src/raft/log.js';
import { Outbox } from '../../src/raft/outbox.js';
import type { Entry, NodeId, Role, Snapshot } from '../../src/raft/types.js';
import { logIndex, nodeId, term as toTerm } from '../../src/raft/types.js';
import { ManualClock } from '../raft/manual-clock.js';

export const [n1, n2, n3] = [nodeId('n1'), nodeId('n2'), nodeId('n3')];

export interface MachineSetup {
  readonly term?: number;
  readonly votedFor?: NodeId | null;
  readonly entries?: readonly Entry[];
  readonly commit?: number;
  readonly snapshot?: Snapshot | null;
  readonly config?: Partial<RaftConfig>;
  /** The configuration the node starts from (default: voters n1, n2, n3). */
  readonly members?: Configuration;
  /** Started empty to join: no elections until caught up. */
  readonly catchingUp?: boolean;
}

/**
 * The role machine alone, as node n1 of {n1, n2, n3}: a manual clock, election
 * jitter 0 (every election timeout is exactly electionTimeoutMs), its own log and
 * outbox. `effects()` renders what the last events did, one canonical line per
 * effect, and every transition the machine takes is recorded for coverage.
 */
export class MachineHarness {
  readonly clock = new ManualClock();
  readonly log: RaftLog;
  readonly outbox = new Outbox();
  readonly counters = new RaftCounters();
  private countedSeen = { ...new RaftCounters() };
  readonly actor: Actor<typeof raftMachine>;
  readonly config: RaftConfig;
  private emitted: RaftEmitted[] = [];
  private seen: { term: number; votedFor: NodeId | null; leaderId: NodeId | null; last: number; commit: number; base: number };

  constructor(
    readonly taken: Set<AnyTransitionDefinition>,
    setup: MachineSetup = {},
  ) {
    this.config = { ...defaultRaftConfig, ...setup.config };
    const snap = setup.snapshot ?? null;
    this.log = new RaftLog(setup.entries ?? [], logIndex(setup.commit ?? 0), snap === null ? undefined : { index: snap.meta.index, term: snap.meta.term });
    this.actor = createActor(raftMachine, {
      clock: this.clock,
      input: {
        id: n1,
        membership: new Membership(historyOf(snap === null ? { index: logIndex(0), config: setup.members ?? votersConfig([n1, n2, n3]) } : { index: snap.meta.index, config: snap.meta.config }, setup.entries ?? []), n1, setup.catchingUp ?? false),
        config: this.config,
        env: { nowMs: () => this.clock.nowMs, randomInt: () => 0 },
        log: this.log,
        outbox: this.outbox,
        counters: this.counters,
        term: toTerm(setup.term ?? 0),
        votedFor: setup.votedFor ?? null,
        snapshot: snap,
      },
      inspect: (e) => {
        if (e.type === '@xstate.microstep') for (const t of (e as unknown as { _transitions: AnyTransitionDefinition[] })._transitions) taken.add(t);
      },
    });
    this.actor.on('*', (e) => this.emitted.push(e));
    this.actor.start();
    this.seen = this.state();
  }

  private state(): MachineHarness['seen'] {
    const c = this.actor.getSnapshot().context;
    return { term: c.term, votedFor: c.votedFor, leaderId: c.leaderId, last: this.log.lastIndex(), commit: this.log.committed(), base: this.log.base().index };
  }

  role(): Role {
    const v = this.actor.getSnapshot().value;
    return (typeof v === 'string' ? v : Object.keys(v)[0]) as Role;
  }

  /** Sends `e`, then ends the turn as the host does before it drains the effects (RaftNode.takeReady): appends due go out. */
  send(e: RaftEvent): void {
    this.sendWithinTurn(e);
    if (this.outbox.appendsDue || this.outbox.commitDue) this.sendWithinTurn({ type: 'flushAppends' });
  }

  /** Sends `e` alone: the turn goes on (what is due waits for the `flushAppends` at its end). */
  sendWithinTurn(e: RaftEvent): void {
    this.actor.send(e);
    const snap = this.actor.getSnapshot();
    if (snap.status === 'error') throw snap.error;
  }

  /** What the host does with committed entries: applies them (the log may then be compacted up to there). */
  apply(): void {
    this.log.takeCommitted();
  }

  /** Lets `ms` of time pass, firing due timers. */
  advance(ms: number): void {
    this.clock.advance(ms);
  }

  /** Moves the clock without firing timers (e.g. past the startup quiet period). */
  moveClockOnly(ms: number): void {
    this.clock.nowMs += ms;
  }

  /** Renders, then forgets, everything the machine did since the last call. */
  effects(): string[] {
    const out: string[] = [];
    const o = this.outbox.drain();
    for (const m of o.messages) out.push(`send ${describeMessage(m)}`);
    for (const m of o.afterPersist) out.push(`after persist ${describeMessage(m)}`);
    for (const r of o.readStates) out.push(`read ${r.requestId} ready at ${r.index}`);
    for (const id of o.readFailures) out.push(`read ${id} failed`);
    for (const a of o.forwardedProposals) out.push(`batch ${a.batchId} answered by ${a.leaderId} t${a.term}: ${a.result.accepted ? `from ${a.result.firstIndex}` : `refused ${a.result.reason}`}`);
    if (o.installSnapshot !== null) out.push(`install snapshot ${o.installSnapshot.meta.index}@${o.installSnapshot.meta.term}`);
    for (const e of this.emitted) {
      const r = e.result;
      if (r.ok) out.push(e.type === 'proposed' && 'firstIndex' in r ? `answer proposed at ${r.firstIndex}@${r.term}` : e.type === 'membersChanged' && 'index' in r ? `answer change appended at ${r.index}@${r.term}` : e.type === 'transferAnswered' && 'to' in r ? `answer transfer to ${r.to}` : 'answer read accepted');
      else if ('refusal' in r) out.push(`answer ${e.type === 'membersChanged' ? 'change' : 'transfer'} refused: ${r.refusal.reason}`);
      else out.push(`answer ${e.type === 'proposed' ? 'proposal' : e.type === 'readAnswered' ? 'read' : e.type === 'membersChanged' ? 'change' : 'transfer'} refused: ${r.reason}, leader ${r.leaderId ?? 'unknown'}`);
    }
    const now = this.state();
    const was = this.seen;
    if (now.term !== was.term || now.votedFor !== was.votedFor) out.push(`term ${now.term} voted ${now.votedFor ?? '-'}`);
    if (now.leaderId !== was.leaderId) out.push(`leader ${now.leaderId ?? '-'}`);
    if (now.last !== was.last) out.push(`log ends at ${now.last}@${this.log.lastTerm()}`);
    if (now.commit !== was.commit) out.push(`commit ${now.commit}`);
    if (now.base !== was.base) out.push(`log starts after ${now.base}@${this.log.base().term}`);
    for (const [k, v] of Object.entries(this.counters)) {
      const d = v - this.countedSeen[k as keyof RaftCounters];
      if (d !== 0) out.push(`count ${k} +${d}`);
    }
    this.countedSeen = { ...this.counters };
    this.seen = now;
    this.emitted = [];
    return out;
  }

  stop(): void {
    this.actor.stop();
  }
}
