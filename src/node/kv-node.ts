import type { InspectionEvent, Subscription } from 'xstate';
import type { RequestError } from '../errors.js';
import { ByteBlocks } from '../kv/byte-blocks.js';
import { ByteWriter } from '../kv/bytes.js';
import { encodeCommand, type KvCommand, type KvResult, type LeaseId } from '../kv/command.js';
import type { LeaseRecord } from '../kv/leases.js';
import { KvStateMachine, kvStateMachineDefaults, type KvApplyOutcome } from '../kv/state-machine.js';
import type { Logger } from '../log.js';
import type { RaftConfig } from '../raft/config.js';
import type { RaftCounters } from '../raft/counters.js';
import type { RaftLog } from '../raft/log.js';
import { RaftNode, type PeerProgress, type PersistedState, type RaftStatus } from '../raft/host/raft-node.js';
import { ReadyExecutor, type LogStorage, type MessageTransport } from '../raft/host/ready-executor.js';
import type { CoreTap, CoreTransition } from '../raft/host/core-tap.js';
import type { ForwardedProposal } from '../raft/outbox.js';
import type { Entry, LogIndex, Message, NodeId, Role, Snapshot, Term } from '../raft/types.js';
import { logIndex } from '../raft/types.js';
import { WatchHub } from '../watch/watch-hub.js';
import type { KvNodeConfig } from './config.js';
import { Lessor } from './lessor.js';
import type { NodeRuntime } from './runtime.js';
import { SnapshotPolicy } from './snapshot-policy.js';
import { AdminRequests } from './admin-requests.js';
import type { AdminOutcome, ClusterAdmin, MembersView } from './cluster-admin.js';
import type { ConfigChange, Configuration, IndexedConfiguration } from '../raft/membership.js';

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RequestError };

/** The blocks the node's proposed commands are copied into: 64 KiB holds about 180 PUTs of 32-byte keys and 256-byte values. */
const commandBlockBytes = 64 * 1024;

/** How a read is served: ReadIndex (the default), the leader lease, or from this node's applied state with no guarantee. */
export type Consistency = 'linearizable' | 'lease' | 'stale';

export interface KvNodeOptions {
  readonly id: NodeId;
  /** The configuration to start from when the data directory holds none (raft.peers; empty to join). */
  readonly bootstrap: Configuration;
  /** Started empty to join a running cluster (raft.join): no elections until caught up. */
  readonly catchingUp?: boolean;
  readonly raft: RaftConfig;
  readonly config: KvNodeConfig;
  readonly runtime: NodeRuntime;
  readonly storage: LogStorage & { compact(snapshot: Snapshot, durable: () => void): void };
  readonly recovered: PersistedState;
  readonly transport: MessageTransport;
  readonly logger: Logger;
  readonly hooks?: KvNodeHooks;
  /** Sees every input of the Raft core: the flight recorder, the simulator's trace file. */
  readonly tap?: CoreTap;
  /** The simulator's checkers; production leaves this out. */
  readonly observer?: KvNodeObserver;
}

/** What the node reports as it runs, for metrics (durations in seconds). */
export interface KvNodeHooks {
  onRoleChange?(status: RaftStatus): void;
  /** Each change of role, as the core made it, with the input that caused it (the cluster page, the event stream). */
  onTransition?(t: CoreTransition, status: RaftStatus): void;
  /** A client request reached the node (a proposal or a read), for request rates. */
  onRequest?(): void;
  onApplied?(count: number, seconds: number): void;
  /** A command this node proposed was committed, `seconds` after it was proposed. */
  onCommitted?(seconds: number): void;
  /** A linearizable read was confirmed (its index is known), `seconds` after it arrived. */
  onReadConfirmed?(lease: boolean, seconds: number): void;
  onSnapshot?(index: number, chunks: number, bytes: number, seconds: number): void;
  onSnapshotInstalled?(index: number): void;
  /** The configuration in effect changed (a change appended, an overwritten tail, a snapshot installed), and once at start. */
  onConfiguration?(config: Configuration): void;
}

/**
 * What the simulator's invariant checker and tests observe of a node, as it
 * happens. Production passes none of these: they change nothing the node does.
 */
export interface KvNodeObserver {
  /** The node's Raft core, once it exists: for checkers that read it, and tests that drive Raft below the key-value API. */
  readonly started?: (core: RaftNode) => void;
  /** The state machine took `entry` (in log order); `result` is its answer, null for a no-op. */
  readonly applied?: (entry: Entry, result: KvApplyOutcome | null) => void;
  /** The state machine was replaced by a snapshot installed from the leader. */
  readonly restored?: (snapshot: Snapshot) => void;
  /** The node answered a read with the state machine at `appliedIndex`; the read was confirmed at `readIndex` (null: stale). */
  readonly readServed?: (readIndex: number | null, appliedIndex: number) => void;
}

/** The Raft core as metrics and checkers read it: nothing here changes it. */
export interface RaftView {
  status(): RaftStatus;
  role(): Role;
  term(): Term;
  snapshot(): Snapshot | null;
  peerProgress(): readonly PeerProgress[];
  readonly counters: Readonly<RaftCounters>;
  readonly log: Pick<RaftLog, 'term' | 'entry' | 'committed' | 'applied' | 'lastIndex' | 'lastTerm' | 'firstIndex' | 'base' | 'length' | 'payloadBytes'>;
}

/** A lease as its holder sees it: its TTL, the time it has left on the leader's clock, its keys. */
export interface LeaseInfo {
  readonly record: LeaseRecord;
  /** Milliseconds left before the leader expires it; null when this node does not keep its clock (a stale read). */
  readonly remainingMs: number | null;
  readonly keys: readonly Uint8Array[];
}

/** The applied state's sizes, for metrics. */
export interface KvStats {
  readonly keys: number;
  readonly bytes: number;
  readonly sessions: number;
  readonly shardRebuilds: number;
}

interface PendingProposal {
  readonly term: number;
  readonly proposedAtMs: number;
  readonly done: (o: Outcome<KvResult>) => void;
}

type Done = (o: Outcome<KvResult>) => void;

/** A batch this follower forwarded to its leader, waiting for the leader to say where it went. */
interface ForwardedBatch {
  readonly dones: readonly Done[];
  readonly proposedAtMs: number;
  readonly timer: unknown;
}

/** One read waiting for its group's read index. */
interface ReadWaiter {
  /** Reads what the request needs from the state machine, the moment the read is served. */
  readonly serve: (kv: KvStateMachine) => void;
  readonly fail: (error: RequestError) => void;
  readonly startedAtMs: number;
}

/** The reads of one turn (of one consistency), asked of the core as one ReadIndex request. */
interface PendingRead {
  readonly waiters: readonly ReadWaiter[];
  readonly timer: unknown;
  readonly lease: boolean;
  /** Known once the core confirmed the read: served when the state machine has applied it. */
  index: LogIndex | null;
}

/**
 * A key-value node: the Raft core on an injected runtime, its effects carried out
 * by the shared ReadyExecutor against the given storage and transport, the
 * key-value state machine, proposal batching and matching, reads, and snapshots
 * taken in small steps between events so the event loop never stalls. The same
 * class runs in src/main.ts (real runtime, LevelDB, WebSocket peers) and in the
 * simulator (simulated clock, disk and network).
 *
 * Requests are answered through callbacks, each exactly once: refusals and stale
 * reads at once, everything else once the core has made progress. Callbacks, not
 * promises, so that the simulator drives the node synchronously, step by step;
 * the REST and gRPC servers wrap them in promises.
 */
export class KvNode implements ClusterAdmin {
  readonly id: NodeId;
  private readonly raft: RaftNode;
  private readonly executor: ReadyExecutor;
  private readonly runtime: NodeRuntime;
  private kv: KvStateMachine;
  private readonly policy: SnapshotPolicy;
  private readonly log: Logger;
  private flushScheduled = false;
  private stopped = false;
  private lastRole: string | null = null;
  private lastConfiguration: IndexedConfiguration | null = null;
  /** Membership changes and leadership transfers waiting for their outcome. */
  private readonly admin: AdminRequests;
  /** Commands waiting to go to the core as one batch. */
  private batch: { command: Uint8Array; done: Done }[] = [];
  private batchBytes = 0;
  /**
   * The forwarded batches of the last flight to the leader still unanswered.
   * While any is, a follower holds new writes back (up to a full append) and
   * sends them as the next flight once the leader has answered: the leader then
   * gets what arrived meanwhile as one message and appends it in one go, not a
   * small batch per turn of this node, each costing it an append and a sync.
   */
  private readonly flight = new Set<number>();
  /** The leader the flight went to: a new one ends it (the old one may never answer). */
  private flightLeader: NodeId | null = null;
  /** Ends a flight whose answer was lost, so that held writes wait at most this long for it. */
  private flightTimer: unknown = null;
  /** Proposals in the log, by index, waiting for that index to be applied. */
  private readonly proposals = new Map<number, PendingProposal>();
  /** Where a proposed command is encoded, before it is copied into `commandBytes`. */
  private readonly encoder = new ByteWriter(512);
  /**
   * The bytes of this node's proposed commands, which its log keeps until a
   * snapshot covers them: in shared blocks rather than a buffer each (ByteBlocks),
   * and entries are compacted in order, so a block dies with its entries.
   */
  private readonly commandBytes = new ByteBlocks(commandBlockBytes, commandBlockBytes);
  /** Batches forwarded to the leader, by batch id, waiting for its answer. */
  private readonly forwarded = new Map<number, ForwardedBatch>();
  /**
   * Forwarded batches and reads are numbered up from a random point of [0, 2^52)
   * drawn as the node starts (the counters never pass 2^53). A peer link keeps
   * what it queued across a reconnect, so the leader's answer to a request of this
   * node's previous process can reach this one: numbered from 1 in every process,
   * it would complete this process's request of the same number, a write with the
   * index of another entry, a read at a stale index. The ids of two processes
   * meet only if their ranges overlap: for processes of 10^9 requests each, one
   * chance in about 2 * 10^6.
   */
  private nextForwardId: number;
  /**
   * Reads not yet asked of the core, by consistency: each list becomes one ReadIndex
   * request. Linearizable reads wait here while an earlier request has no index yet
   * (one in flight at a time, as the core's heartbeat rounds).
   */
  private linearizableReads: ReadWaiter[] = [];
  private leaseReads: ReadWaiter[] = [];
  /** Read groups asked of the core, by request id, waiting for their index and then for its apply. */
  private readonly reads = new Map<number, PendingRead>();
  /** The linearizable read request in flight (asked, no index yet), if any. */
  private linearizableInFlight: number | null = null;
  /** Inside the executor's run of a flush, which asks for the reads a request answered there let go. */
  private flushing = false;
  private nextReadId: number;
  private snapshotInProgress = false;
  /** The highest commit index this node has known while a leader was known (for readiness). */
  private knownCommit = 0;
  /** Shard rebuilds of state machines replaced by a snapshot from the leader, so the total only grows. */
  private shardRebuildsBefore = 0;
  /** Watches of this node's applied state (served on followers too). */
  readonly watches: WatchHub;
  private watchPollScheduled = false;
  /** The leader's clock for leases: it decides expiry, as `lease_expire` proposals. */
  private readonly lessor = new Lessor();
  private leaseTimer: unknown = null;

  constructor(private readonly opts: KvNodeOptions) {
    this.id = opts.id;
    this.log = opts.logger;
    this.runtime = opts.runtime;
    this.nextForwardId = opts.runtime.requestIdBase() + 1;
    this.nextReadId = this.nextForwardId;
    this.admin = new AdminRequests(opts.runtime, opts.config.requestTimeoutMs, opts.raft.electionTimeoutMs, () => this.members());
    this.policy = new SnapshotPolicy(opts.config.snapshotEveryEntries, opts.config.snapshotEveryBytes);
    const snap = opts.recovered.snapshot;
    if (snap === null) this.kv = new KvStateMachine(kvStateMachineDefaults);
    else {
      const restored = KvStateMachine.restore(kvStateMachineDefaults, snap.chunks);
      if ('error' in restored) throw new Error(`the durable snapshot at ${snap.meta.index} does not restore: ${restored.error}`);
      this.kv = restored;
    }
    const runtime = opts.runtime;
    this.raft = new RaftNode({
      id: opts.id,
      bootstrap: opts.bootstrap,
      ...(opts.catchingUp === undefined ? {} : { catchingUp: opts.catchingUp }),
      config: opts.raft,
      env: { nowMs: () => runtime.nowMs(), randomInt: (b) => runtime.randomInt(b) },
      clock: runtime.clock,
      persisted: opts.recovered,
      onReady: () => this.scheduleFlush(),
      onTransition: (t) => this.transitioned(t),
      ...(opts.tap === undefined ? {} : { tap: opts.tap }),
    });
    this.executor = new ReadyExecutor(
      this.raft,
      opts.storage,
      opts.transport,
      { restore: (s) => this.restore(s), apply: (entries) => this.apply(entries) },
      {
        readsConfirmed: (states) => {
          for (const r of states) {
            const p = this.reads.get(r.requestId);
            if (p === undefined) continue;
            p.index = r.index;
            this.landed(r.requestId);
            const onConfirmed = this.opts.hooks?.onReadConfirmed;
            if (onConfirmed !== undefined) {
              const now = runtime.nowMs();
              for (const w of p.waiters) onConfirmed(p.lease, (now - w.startedAtMs) / 1000);
            }
          }
          this.serveReads();
        },
        readsFailed: (ids) => {
          for (const id of ids) this.failRead(id, { kind: 'not_leader', leaderId: this.raft.status().leaderId });
        },
        proposalsForwarded: (answers) => {
          for (const a of answers) this.forwardAnswered(a);
        },
      },
    );
    this.watches = new WatchHub(() => this.kv, () => this.scheduleWatchPoll());
    opts.observer?.started?.(this.raft);
    this.scheduleFlush();
  }

  /** Logged with the input that caused it, so that a replay of the flight recording can be checked against the log. */
  private transitioned(t: CoreTransition): void {
    const s = this.raft.status();
    this.log.info({ role: t.to, term: t.term, leader: s.leaderId, from: t.from, input: t.input, event: t.event }, 'role changed');
    this.opts.hooks?.onTransition?.(t, s);
  }

  /** Messages from peers. */
  receive(messages: readonly Message[]): void {
    if (this.stopped) return;
    for (const m of messages) this.raft.step(m);
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  /** The leader this node knows of (itself when it leads), if any: all a request needs to be redirected, without building a status. */
  leaderId(): NodeId | null {
    return this.raft.leaderId();
  }

  raftView(): RaftView {
    return this.raft;
  }

  /**
   * Where this node stands in its own configuration: a `voter`, a `learner`, or
   * `removed` (a member no more, or never: it takes no part in elections). A node
   * that joined and has not caught up yet is `joining`.
   */
  membership(): 'voter' | 'learner' | 'removed' | 'joining' {
    const v = this.raft.votes();
    const self = this.raft.configuration().config.members.find((m) => m.id === this.id);
    if (v.catchingUp) return 'joining';
    if (self === undefined) return 'removed';
    return self.role;
  }

  members(): MembersView {
    const c = this.raft.configuration();
    return { leaderId: this.raft.leaderId(), configIndex: c.index, committed: c.index <= this.raft.log.committed(), members: c.config.members };
  }

  changeMembers(change: ConfigChange): Promise<AdminOutcome<{ readonly index: LogIndex; readonly view: MembersView }>> {
    return new Promise((done) => {
      if (this.stopped) return done({ ok: false, error: { kind: 'stopped' } });
      const r = this.raft.changeMembers(change);
      if (r.ok) {
        this.log.info({ change: change.kind, id: change.id, index: r.index }, 'membership change appended');
        return this.admin.awaitChange(r.index, r.term, done);
      }
      if (r.reason === 'not_leader') return done({ ok: false, error: { kind: 'not_leader', leaderId: r.leaderId } });
      done({ ok: false, error: { kind: 'change_refused', refusal: r.refusal } });
    });
  }

  transferLeadership(to: NodeId | null): Promise<AdminOutcome<{ readonly leaderId: NodeId; readonly term: Term }>> {
    return new Promise((done) => {
      if (this.stopped) return done({ ok: false, error: { kind: 'stopped' } });
      const r = this.raft.transferLeadership(to);
      if (r.ok) {
        this.log.info({ to: r.to }, 'leadership transfer started');
        return this.admin.awaitTransfer(r.to, done, () => ({ leaderId: this.raft.leaderId(), term: this.raft.term() }));
      }
      if (r.reason === 'not_leader') return done({ ok: false, error: { kind: 'not_leader', leaderId: r.leaderId } });
      // Asked to hand leadership to itself: nothing to do.
      if (r.refusal.reason === 'already_leader') return done({ ok: true, value: { leaderId: this.id, term: this.raft.term() } });
      done({ ok: false, error: { kind: 'transfer_refused', refusal: r.refusal } });
    });
  }

  /**
   * Before a planned stop (SIGTERM): a leader hands leadership to the most
   * up-to-date voter and waits for it to lead (at most two election timeouts), so
   * the cluster has no election-timeout gap. Resolves whether it handed over.
   */
  async handOver(): Promise<boolean> {
    if (this.stopped || this.raft.role() !== 'leader') return false;
    const r = await this.transferLeadership(null);
    return r.ok && r.value.leaderId !== this.id;
  }

  /** The Raft core's XState inspection events, for the Stately inspector (src/debug/inspector.ts). */
  inspectCore(observer: (e: InspectionEvent) => void): Subscription {
    return this.raft.inspect(observer);
  }

  kvStats(): KvStats {
    const kv = this.kv;
    return { keys: kv.size(), bytes: kv.bytes(), sessions: kv.sessionCount(), shardRebuilds: this.shardRebuildsBefore + kv.shardRebuilds() };
  }

  /** A leader is known and this node has applied everything it knew to be committed. */
  ready(): boolean {
    const s = this.raft.status();
    return s.leaderId !== null && this.kv.appliedIndex() >= this.knownCommit;
  }

  /**
   * Proposes a command (put, delete, compare-and-set, create-only; with a request
   * tag, exactly once). Proposals made in the same turn reach the core as one
   * batch; a follower that knows its leader forwards the batch there and answers
   * each command once it has applied it itself. `done` gets the state machine's
   * answer once the command is applied, or why there is none: refused before
   * reaching any log (`not_leader`, `overloaded`, `stopped`: not applied) or
   * `outcome_unknown` (it may still be applied).
   */
  propose(command: KvCommand, done: (o: Outcome<KvResult>) => void): void {
    if (this.stopped) return done({ ok: false, error: { kind: 'stopped' } });
    this.opts.hooks?.onRequest?.();
    const encoded = this.commandBytes.copy(encodeCommand(command, this.encoder));
    this.batch.push({ command: encoded, done });
    this.batchBytes += encoded.length;
    this.scheduleFlush();
  }

  /**
   * Reads through `view`, which is given the state machine once it may be read and
   * must take what it needs at once: `linearizable` reflects every write committed
   * before the call (ReadIndex), `lease` the same by the leader lease when it
   * holds, `stale` this node's applied state at once, with no freshness guarantee.
   * `done` gets what `view` returned, or why the read could not be served.
   */
  read<T>(consistency: Consistency, view: (kv: KvStateMachine) => T, done: (o: Outcome<T>) => void): void {
    this.opts.hooks?.onRequest?.();
    if (consistency === 'stale') {
      this.opts.observer?.readServed?.(null, this.kv.appliedIndex());
      return done({ ok: true, value: view(this.kv) });
    }
    if (this.stopped) return done({ ok: false, error: { kind: 'stopped' } });
    const waiter: ReadWaiter = {
      serve: (kv) => done({ ok: true, value: view(kv) }),
      fail: (error) => done({ ok: false, error }),
      startedAtMs: this.runtime.nowMs(),
    };
    (consistency === 'lease' ? this.leaseReads : this.linearizableReads).push(waiter);
    this.scheduleFlush();
  }

  /**
   * Asks the core for one read index for the reads waiting (of each consistency),
   * as proposals go as one batch: the index is the commit index now, at least that
   * when each read arrived, so each read still sees every write committed before
   * it. The core starts a heartbeat round at once when none is in flight; reads
   * asked during a round join the next one. Linearizable reads that arrive while
   * this node's previous request has no index yet wait for it and go as the next
   * one: at a follower each request is a round trip to the leader, and under load
   * a turn holds only a few reads.
   */
  private askReads(): void {
    if (this.linearizableReads.length > 0 && this.linearizableInFlight === null) {
      const waiters = this.linearizableReads;
      this.linearizableReads = [];
      this.askRead(waiters, false);
    }
    if (this.leaseReads.length > 0) {
      const waiters = this.leaseReads;
      this.leaseReads = [];
      this.askRead(waiters, true);
    }
  }

  private askRead(waiters: readonly ReadWaiter[], lease: boolean): void {
    const requestId = this.nextReadId++;
    // A read's time runs from its arrival, so one that waited for the previous request waits no longer in all.
    const leftMs = Math.max(0, this.opts.config.requestTimeoutMs - (this.runtime.nowMs() - waiters[0]!.startedAtMs));
    const timer = this.runtime.clock.setTimeout(() => this.failRead(requestId, { kind: 'outcome_unknown' }), leftMs);
    this.reads.set(requestId, { waiters, timer, lease, index: null });
    if (!lease) this.linearizableInFlight = requestId;
    const r = this.raft.readIndex(requestId, lease);
    if (!r.ok) this.failRead(requestId, { kind: 'not_leader', leaderId: r.leaderId });
  }

  /** Read request `id` has its index, or has failed: the reads waiting behind it may go. */
  private landed(id: number): void {
    if (id !== this.linearizableInFlight) return;
    this.linearizableInFlight = null;
    if (this.linearizableReads.length > 0 && !this.flushing) this.scheduleFlush();
  }

  /** This node's applied state, with no freshness guarantee (for the simulator's checks and tests). */
  staleState(): KvStateMachine {
    return this.kv;
  }

  /**
   * Keeps a lease alive: once a ReadIndex confirms this node leads and has
   * applied everything committed before the call, a lease the state still holds
   * lives its full TTL from now on this leader's clock. `done` gets the lease, or
   * null if it no longer exists or its expiry is already proposed (then it is
   * gone, or will be: the holder must stop relying on it).
   */
  keepAlive(id: LeaseId, done: (o: Outcome<LeaseRecord | null>) => void): void {
    this.read(
      'linearizable',
      (kv) => kv.lease(id)?.record,
      (o) => {
        if (!o.ok) return done(o);
        if (o.value === undefined) return done({ ok: true, value: null });
        if (!this.lessor.isLeading()) return done({ ok: false, error: { kind: 'not_leader', leaderId: this.raft.status().leaderId } });
        if (!this.lessor.keepAlive(this.runtime.nowMs(), o.value)) return done({ ok: true, value: null });
        this.armLeaseTimer();
        done({ ok: true, value: o.value });
      },
    );
  }

  /** A lease, its keys, and (from the leader, unless stale) the time it has left; null if it does not exist. */
  leaseInfo(id: LeaseId, consistency: Consistency, done: (o: Outcome<LeaseInfo | null>) => void): void {
    // The time left is on the leader's clock, which a follower does not keep (even one serving linearizable reads).
    if (consistency !== 'stale' && !this.lessor.isLeading()) return done({ ok: false, error: { kind: 'not_leader', leaderId: this.raft.status().leaderId } });
    this.read(
      consistency,
      (kv) => {
        const l = kv.lease(id);
        if (l === undefined) return null;
        const remainingMs = consistency === 'stale' ? null : this.lessor.remainingMs(this.runtime.nowMs(), id);
        return { record: l.record, remainingMs, keys: [...l.keys].sort().map((k) => new Uint8Array(Buffer.from(k, 'latin1'))) };
      },
      done,
    );
  }

  /** Stops the core and fails whatever is still waiting; watches end as stopping. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.raft.stop();
    this.setLeading(false);
    this.watches.stop();
    for (const b of this.batch) b.done({ ok: false, error: { kind: 'stopped' } });
    this.batch = [];
    this.batchBytes = 0;
    this.endFlight();
    for (const [index, p] of this.proposals) {
      this.proposals.delete(index);
      p.done({ ok: false, error: { kind: 'outcome_unknown' } });
    }
    for (const [id, f] of this.forwarded) {
      this.forwarded.delete(id);
      this.runtime.clock.clearTimeout(f.timer);
      for (const done of f.dones) done({ ok: false, error: { kind: 'outcome_unknown' } });
    }
    for (const w of [...this.linearizableReads, ...this.leaseReads]) w.fail({ kind: 'stopped' });
    this.linearizableReads = [];
    this.leaseReads = [];
    for (const id of [...this.reads.keys()]) this.failRead(id, { kind: 'stopped' });
    this.admin.stop();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    this.runtime.soon(this.flushNow);
  }

  private readonly flushNow = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    if (this.stopped) return;
    this.proposeBatch();
    this.askReads();
    this.flushing = true;
    try {
      this.executor.run();
    } finally {
      this.flushing = false;
    }
    if (this.linearizableReads.length > 0 && this.linearizableInFlight === null) {
      // The request they waited for was answered just now: the next one goes in this turn, with what it sends anyway.
      this.askReads();
      this.executor.run();
    }
    const commit = this.raft.log.committed();
    if (commit > this.knownCommit && this.raft.leaderId() !== null) this.knownCommit = commit;
    this.admin.leaderSeen(this.raft.leaderId(), this.raft.term());
    const configuration = this.raft.configuration();
    if (configuration !== this.lastConfiguration) {
      this.lastConfiguration = configuration;
      this.opts.hooks?.onConfiguration?.(configuration.config);
    }
    const role = this.raft.role();
    if (role !== this.lastRole) {
      this.lastRole = role;
      this.opts.hooks?.onRoleChange?.(this.raft.status());
      this.setLeading(role === 'leader');
    }
    this.maybeSnapshot();
    if (this.kv.reclaimStep(this.opts.config.reclaimStepEntries)) this.scheduleFlush();
  }

  private proposeBatch(): void {
    if (this.batch.length === 0) return;
    if (this.flight.size > 0) {
      if (this.raft.leaderId() !== this.flightLeader) this.endFlight();
      // A full append's worth gains nothing by waiting.
      else if (this.batchBytes < this.opts.raft.appendBytesMax && this.batch.length < this.opts.raft.appendEntriesMax) return;
    }
    const batch = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    // A forwarded batch is one peer message: split so that each fits an append's byte budget.
    let from = 0;
    let bytes = 0;
    for (let k = 0; k < batch.length; k++) {
      bytes += batch[k]!.command.length;
      if (k + 1 === batch.length || bytes + batch[k + 1]!.command.length > this.opts.raft.appendBytesMax) {
        this.proposeChunk(batch.slice(from, k + 1));
        from = k + 1;
        bytes = 0;
      }
    }
  }

  private proposeChunk(batch: readonly { command: Uint8Array; done: Done }[]): void {
    const forwardId = this.nextForwardId++;
    const r = this.raft.propose(
      batch.map((b) => b.command),
      forwardId,
    );
    const proposedAtMs = this.runtime.nowMs();
    if (r.ok) return this.awaitApplied(r.firstIndex, r.term, batch.map((b) => b.done), proposedAtMs);
    if (r.reason === 'forwarded') {
      const timer = this.runtime.clock.setTimeout(() => {
        const f = this.forwarded.get(forwardId);
        if (f === undefined) return;
        this.forwarded.delete(forwardId);
        for (const done of f.dones) done({ ok: false, error: { kind: 'outcome_unknown' } });
      }, this.opts.config.requestTimeoutMs);
      this.forwarded.set(forwardId, { dones: batch.map((b) => b.done), proposedAtMs, timer });
      this.flight.add(forwardId);
      this.flightLeader = r.leaderId;
      // A heartbeat interval: far beyond a round trip, and a lost answer holds writes back no longer than a lost heartbeat holds the commit.
      this.flightTimer ??= this.runtime.clock.setTimeout(() => {
        this.flightTimer = null;
        this.endFlight();
        this.scheduleFlush();
      }, this.opts.raft.heartbeatIntervalMs);
      return;
    }
    const error: RequestError = r.reason === 'not_leader' ? { kind: 'not_leader', leaderId: r.leaderId } : { kind: 'overloaded' };
    for (const b of batch) b.done({ ok: false, error });
  }

  private endFlight(): void {
    this.flight.clear();
    this.flightLeader = null;
    if (this.flightTimer !== null) this.runtime.clock.clearTimeout(this.flightTimer);
    this.flightTimer = null;
  }

  /** The leader answered a forwarded batch: refused (not applied), or appended at (firstIndex.., term). */
  private forwardAnswered(a: ForwardedProposal): void {
    if (this.flight.delete(a.batchId) && this.flight.size === 0) {
      this.endFlight();
      // The writes held back meanwhile go as the next flight.
      if (this.batch.length > 0) this.scheduleFlush();
    }
    const f = this.forwarded.get(a.batchId);
    // Already answered outcome-unknown (timed out), or a duplicate answer.
    if (f === undefined) return;
    this.forwarded.delete(a.batchId);
    this.runtime.clock.clearTimeout(f.timer);
    if (!a.result.accepted) {
      const error: RequestError = a.result.reason === 'overloaded' ? { kind: 'overloaded' } : { kind: 'not_leader', leaderId: this.raft.leaderId() };
      for (const done of f.dones) done({ ok: false, error });
      return;
    }
    const first = a.result.firstIndex;
    const applied = this.kv.appliedIndex();
    // Entries applied before the answer came (a reordering network): their results are gone, so say so.
    const late = Math.max(0, Math.min(f.dones.length, applied - first + 1));
    for (let k = 0; k < late; k++) f.dones[k]!({ ok: false, error: { kind: 'outcome_unknown' } });
    if (late < f.dones.length) this.awaitApplied(first + late, a.term, f.dones.slice(late), f.proposedAtMs);
  }

  /** Waits for entries (firstIndex.., term) to be applied, answering each with its result, or outcome-unknown at the request timeout. */
  private awaitApplied(firstIndex: number, term: number, dones: readonly Done[], proposedAtMs: number): void {
    dones.forEach((done, k) => {
      const index = firstIndex + k;
      // A proposal of an earlier term still waiting at this index lost it: another leader's entry replaced it here.
      const earlier = this.proposals.get(index);
      if (earlier !== undefined) earlier.done({ ok: false, error: { kind: 'not_leader', leaderId: this.raft.leaderId() } });
      this.proposals.set(index, { term, proposedAtMs, done });
    });
    // One timer for the batch: whatever of it is still unanswered then is answered outcome-unknown.
    const count = dones.length;
    const waitMs = Math.max(0, proposedAtMs + this.opts.config.requestTimeoutMs - this.runtime.nowMs());
    this.runtime.clock.setTimeout(() => {
      for (let index = firstIndex; index < firstIndex + count; index++) {
        const p = this.proposals.get(index);
        if (p === undefined || p.proposedAtMs !== proposedAtMs || p.term !== term) continue;
        this.proposals.delete(index);
        p.done({ ok: false, error: { kind: 'outcome_unknown' } });
      }
    }, waitMs);
  }

  private apply(entries: readonly Entry[]): void {
    const startedAtMs = this.runtime.nowMs();
    const observer = this.opts.observer;
    for (const e of entries) {
      const result = e.kind === 'command' ? this.kv.apply(e.index, e.data) : (this.kv.applyNoop(e.index), null);
      observer?.applied?.(e, result);
      if (result !== null && 'op' in result && result.op === 'lease_grant' && result.ok) {
        this.lessor.granted(this.runtime.nowMs(), { id: result.lease, ttlSeconds: result.ttlSeconds });
        this.armLeaseTimer();
      }
      this.policy.applied(e.data.length);
      this.admin.applied(e, this.raft.leaderId());
      const p = this.proposals.get(e.index);
      if (p === undefined) continue;
      this.proposals.delete(e.index);
      if (p.term !== e.term) {
        // Another leader's entry took this index: ours was never applied.
        p.done({ ok: false, error: { kind: 'not_leader', leaderId: this.raft.status().leaderId } });
        continue;
      }
      this.opts.hooks?.onCommitted?.((startedAtMs - p.proposedAtMs) / 1000);
      p.done(result !== null && 'op' in result ? { ok: true, value: result } : { ok: false, error: { kind: 'outcome_unknown' } });
    }
    this.opts.hooks?.onApplied?.(entries.length, (this.runtime.nowMs() - startedAtMs) / 1000);
    this.pollWatches();
    this.serveReads();
  }

  private restore(snapshot: Snapshot): void {
    const restored = KvStateMachine.restore(kvStateMachineDefaults, snapshot.chunks);
    // The leader's snapshot came through checksummed frames; one that does not restore is a bug.
    if ('error' in restored) throw new Error(`snapshot at ${snapshot.meta.index} from the leader does not restore: ${restored.error}`);
    this.shardRebuildsBefore += this.kv.shardRebuilds();
    this.kv = restored;
    this.policy.taken();
    this.opts.observer?.restored?.(snapshot);
    this.opts.hooks?.onSnapshotInstalled?.(snapshot.meta.index);
    this.log.info({ index: snapshot.meta.index }, 'installed snapshot from leader');
    this.pollWatches();
  }

  private scheduleWatchPoll(): void {
    if (this.watchPollScheduled || this.stopped) return;
    this.watchPollScheduled = true;
    this.runtime.soon(() => {
      this.watchPollScheduled = false;
      this.pollWatches();
    });
  }

  /** Sends watches what was applied; what catching up remains goes on next turn. */
  private pollWatches(): void {
    if (this.watches.poll()) this.scheduleWatchPoll();
  }

  /**
   * A new leader gives every lease its full TTL from now (so a failover never
   * expires one early); a node that stops leading keeps no lease clock.
   */
  private setLeading(leading: boolean): void {
    if (leading === this.lessor.isLeading()) return;
    if (leading) this.lessor.promote(this.runtime.nowMs(), this.kv.leaseRecords());
    else this.lessor.demote();
    this.armLeaseTimer();
  }

  /** One timer, at the next lease deadline, while leading. */
  private armLeaseTimer(): void {
    if (this.leaseTimer !== null) this.runtime.clock.clearTimeout(this.leaseTimer);
    this.leaseTimer = null;
    const next = this.lessor.nextDeadlineMs();
    if (next === null || this.stopped) return;
    this.leaseTimer = this.runtime.clock.setTimeout(() => {
      this.leaseTimer = null;
      this.expireLeases();
    }, Math.max(0, next - this.runtime.nowMs()));
  }

  /** Proposes the expiry of every lease due on this leader's clock, as one entry per batch of leases. */
  private expireLeases(): void {
    const now = this.runtime.nowMs();
    for (let ids = this.lessor.takeExpired(now, (id) => this.kv.lease(id) !== undefined); ids.length > 0; ids = this.lessor.takeExpired(now, (id) => this.kv.lease(id) !== undefined)) {
      const batch = ids;
      this.propose({ op: 'lease_expire', leases: batch }, (o) => {
        if (o.ok) this.lessor.expired(batch);
        else this.lessor.expiryFailed(this.runtime.nowMs(), batch);
        this.armLeaseTimer();
      });
    }
    this.armLeaseTimer();
  }

  /** Serves every confirmed read whose index the state machine has applied. */
  private serveReads(): void {
    if (this.reads.size === 0) return;
    const applied = this.kv.appliedIndex();
    for (const [id, r] of this.reads) {
      if (r.index === null || r.index > applied) continue;
      this.takeRead(id);
      for (const w of r.waiters) {
        this.opts.observer?.readServed?.(r.index, applied);
        w.serve(this.kv);
      }
    }
  }

  private failRead(id: number, error: RequestError): void {
    const r = this.takeRead(id);
    if (r !== undefined) for (const w of r.waiters) w.fail(error);
  }

  private takeRead(id: number): PendingRead | undefined {
    const r = this.reads.get(id);
    if (r === undefined) return undefined;
    this.reads.delete(id);
    this.runtime.clock.clearTimeout(r.timer);
    this.landed(id);
    return r;
  }

  /** Snapshots the state machine a chunk per turn of the runtime, then compacts the log behind it. */
  private maybeSnapshot(): void {
    if (this.snapshotInProgress || !this.policy.due()) return;
    this.snapshotInProgress = true;
    this.policy.taken();
    const index = logIndex(this.kv.appliedIndex());
    const term = this.raft.log.term(index);
    if (term === null) {
      this.snapshotInProgress = false;
      return;
    }
    const startedAtMs = this.runtime.nowMs();
    const config = this.raft.configurationAt(index).config;
    const reader = this.kv.snapshot();
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    const step = (): void => {
      if (this.stopped) return;
      const c = reader.next(this.opts.config.snapshotChunkBytes);
      if (c !== null) {
        chunks.push(c);
        bytes += c.length;
        this.runtime.soon(step);
        return;
      }
      const snapshot: Snapshot = { meta: { index, term, config }, chunks };
      this.opts.storage.compact(snapshot, () => {
        if (this.stopped) return;
        this.raft.snapshotTaken(snapshot);
        this.snapshotInProgress = false;
        this.opts.hooks?.onSnapshot?.(index, chunks.length, bytes, (this.runtime.nowMs() - startedAtMs) / 1000);
        this.log.info({ index, chunks: chunks.length, bytes }, 'snapshot taken, log compacted');
      });
    };
    this.runtime.soon(step);
  }
}

/** `node.propose` as a promise, for the API servers. */
export function proposeCommand(node: KvNode, command: KvCommand): Promise<Outcome<KvResult>> {
  return new Promise((done) => node.propose(command, done));
}

/** `node.read` as a promise, for the API servers. */
export function readThrough<T>(node: KvNode, consistency: Consistency, view: (kv: KvStateMachine) => T): Promise<Outcome<T>> {
  return new Promise((done) => node.read(consistency, view, done));
}
