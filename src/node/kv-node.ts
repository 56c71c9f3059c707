import type { RequestError } from '../errors.js';
import { encodeCommand, type KvCommand, type KvResult } from '../kv/command.js';
import { KvStateMachine, kvStateMachineDefaults } from '../kv/state-machine.js';
import type { Logger } from '../log.js';
import type { RaftConfig } from '../raft/config.js';
import type { RaftCounters } from '../raft/counters.js';
import { RaftNode, type PeerProgress, type PersistedState, type RaftStatus } from '../raft/host/raft-node.js';
import { ReadyExecutor, type LogStorage, type MessageTransport } from '../raft/host/ready-executor.js';
import type { Entry, LogIndex, Message, NodeId, Snapshot } from '../raft/types.js';
import { logIndex } from '../raft/types.js';
import type { KvNodeConfig } from './config.js';
import { realClock } from './real-clock.js';
import { SnapshotPolicy } from './snapshot-policy.js';

export type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: RequestError };

export interface KvNodeOptions {
  readonly id: NodeId;
  readonly voters: readonly NodeId[];
  readonly raft: RaftConfig;
  readonly storage: LogStorage & { compact(snapshot: Snapshot, durable: () => void): void };
  readonly recovered: PersistedState;
  readonly transport: MessageTransport;
  readonly logger: Logger;
  readonly config: KvNodeConfig;
  readonly hooks?: KvNodeHooks;
}

/** What the node reports as it runs, for metrics (durations in seconds). */
export interface KvNodeHooks {
  onRoleChange?(status: RaftStatus): void;
  onApplied?(count: number, seconds: number): void;
  /** A command this node proposed was committed, `seconds` after it was proposed. */
  onCommitted?(seconds: number): void;
  /** A linearizable read was confirmed (its index is known), `seconds` after it arrived. */
  onReadConfirmed?(lease: boolean, seconds: number): void;
  onSnapshot?(index: number, chunks: number, bytes: number, seconds: number): void;
  onSnapshotInstalled?(index: number): void;
}

/** The Raft core as metrics read it when scraped: nothing here changes it. */
export interface RaftView {
  status(): RaftStatus;
  peerProgress(): readonly PeerProgress[];
  readonly counters: Readonly<RaftCounters>;
  readonly log: { length(): number; payloadBytes(): number };
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
  readonly resolve: (o: Outcome<KvResult>) => void;
  readonly timer: NodeJS.Timeout;
}

interface PendingRead {
  readonly resolve: (o: Outcome<KvStateMachine>) => void;
  readonly timer: NodeJS.Timeout;
  readonly lease: boolean;
  readonly startedAtMs: number;
  index: LogIndex | null;
}

/**
 * A running key-value node: the Raft core on the real clock, its effects carried
 * out by the shared ReadyExecutor against real storage and transport, the
 * key-value state machine, proposal batching, reads, and snapshots taken in small
 * steps between events so the event loop never stalls.
 */
export class KvNode {
  readonly id: NodeId;
  private readonly raft: RaftNode;
  private readonly executor: ReadyExecutor;
  private kv: KvStateMachine;
  private readonly policy: SnapshotPolicy;
  private readonly log: Logger;
  private flushScheduled = false;
  private stopped = false;
  private lastRole: string | null = null;
  /** Commands waiting to go to the core as one batch. */
  private batch: { command: Uint8Array; resolve: (o: Outcome<KvResult>) => void }[] = [];
  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<number, PendingRead>();
  private nextReadId = 1;
  private snapshotInProgress = false;
  /** The highest commit index this node has known while a leader was known (for readiness). */
  private knownCommit = 0;
  /** Shard rebuilds of state machines replaced by a snapshot from the leader, so the total only grows. */
  private shardRebuildsBefore = 0;

  constructor(private readonly opts: KvNodeOptions) {
    this.id = opts.id;
    this.log = opts.logger;
    this.policy = new SnapshotPolicy(opts.config.snapshotEveryEntries, opts.config.snapshotEveryBytes);
    const snap = opts.recovered.snapshot;
    if (snap === null) this.kv = new KvStateMachine(kvStateMachineDefaults);
    else {
      const restored = KvStateMachine.restore(kvStateMachineDefaults, snap.chunks);
      if ('error' in restored) throw new Error(`the durable snapshot at ${snap.meta.index} does not restore: ${restored.error}`);
      this.kv = restored;
    }
    this.raft = new RaftNode({
      id: opts.id,
      voters: opts.voters,
      config: opts.raft,
      env: { nowMs: () => performance.now(), randomInt: (b) => Math.floor(Math.random() * b) },
      clock: realClock,
      persisted: opts.recovered,
      onTimer: () => this.scheduleFlush(),
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
            this.opts.hooks?.onReadConfirmed?.(p.lease, (performance.now() - p.startedAtMs) / 1000);
          }
          this.serveReads();
        },
        readsFailed: (ids) => {
          for (const id of ids) this.finishRead(id, { ok: false, error: { kind: 'not_leader', leaderId: this.raft.status().leaderId } });
        },
      },
    );
    this.scheduleFlush();
  }

  /** Messages from peers. */
  receive(messages: readonly Message[]): void {
    if (this.stopped) return;
    for (const m of messages) this.raft.step(m);
    this.scheduleFlush();
  }

  status(): RaftStatus {
    return this.raft.status();
  }

  raftView(): RaftView {
    return this.raft;
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

  /** Proposes a command; many proposals in one tick reach the core as one batch. */
  propose(command: KvCommand): Promise<Outcome<KvResult>> {
    if (this.stopped) return Promise.resolve({ ok: false, error: { kind: 'stopped' } });
    const bytes = encodeCommand(command);
    return new Promise((resolve) => {
      this.batch.push({ command: bytes, resolve });
      this.scheduleFlush();
    });
  }

  /**
   * Resolves with the state machine once it reflects every write committed before
   * the call (ReadIndex, or the leader lease when `lease`).
   */
  linearizableRead(lease: boolean): Promise<Outcome<KvStateMachine>> {
    if (this.stopped) return Promise.resolve({ ok: false, error: { kind: 'stopped' } });
    const requestId = this.nextReadId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.finishRead(requestId, { ok: false, error: { kind: 'outcome_unknown' } }), this.opts.config.requestTimeoutMs);
      this.reads.set(requestId, { resolve, timer, lease, startedAtMs: performance.now(), index: null });
      const r = this.raft.readIndex(requestId, lease);
      if (!r.ok) this.finishRead(requestId, { ok: false, error: { kind: 'not_leader', leaderId: r.leaderId } });
      this.scheduleFlush();
    });
  }

  /** This node's applied state, with no freshness guarantee. */
  staleState(): KvStateMachine {
    return this.kv;
  }

  /** Stops the core and fails whatever is still waiting. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.raft.stop();
    for (const b of this.batch) b.resolve({ ok: false, error: { kind: 'stopped' } });
    this.batch = [];
    for (const [index, p] of this.proposals) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, error: { kind: 'outcome_unknown' } });
      this.proposals.delete(index);
    }
    for (const id of [...this.reads.keys()]) this.finishRead(id, { ok: false, error: { kind: 'stopped' } });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.stopped) return;
    this.proposeBatch();
    this.executor.run();
    const s = this.raft.status();
    if (s.leaderId !== null && s.commitIndex > this.knownCommit) this.knownCommit = s.commitIndex;
    if (s.role !== this.lastRole) {
      this.lastRole = s.role;
      this.log.info({ role: s.role, term: s.term, leader: s.leaderId }, 'role changed');
      this.opts.hooks?.onRoleChange?.(s);
    }
    this.maybeSnapshot();
    if (this.kv.reclaimStep(this.opts.config.reclaimStepEntries)) this.scheduleFlush();
  }

  private proposeBatch(): void {
    if (this.batch.length === 0) return;
    const batch = this.batch;
    this.batch = [];
    const r = this.raft.propose(batch.map((b) => b.command));
    if (!r.ok) {
      const error: RequestError = r.reason === 'not_leader' ? { kind: 'not_leader', leaderId: r.leaderId } : { kind: 'overloaded' };
      for (const b of batch) b.resolve({ ok: false, error });
      return;
    }
    const proposedAtMs = performance.now();
    batch.forEach((b, k) => {
      const index = r.firstIndex + k;
      const timer = setTimeout(() => {
        this.proposals.delete(index);
        b.resolve({ ok: false, error: { kind: 'outcome_unknown' } });
      }, this.opts.config.requestTimeoutMs);
      this.proposals.set(index, { term: r.term, proposedAtMs, resolve: b.resolve, timer });
    });
  }

  private apply(entries: readonly Entry[]): void {
    const startedAtMs = performance.now();
    for (const e of entries) {
      const result = e.kind === 'command' ? this.kv.apply(e.index, e.data) : (this.kv.applyNoop(e.index), null);
      this.policy.applied(e.data.length);
      const p = this.proposals.get(e.index);
      if (p === undefined) continue;
      this.proposals.delete(e.index);
      clearTimeout(p.timer);
      if (p.term === e.term) this.opts.hooks?.onCommitted?.((startedAtMs - p.proposedAtMs) / 1000);
      if (p.term !== e.term) {
        // Another leader's entry took this index: ours was never applied.
        p.resolve({ ok: false, error: { kind: 'not_leader', leaderId: this.raft.status().leaderId } });
      } else if (result !== null && 'op' in result) {
        p.resolve({ ok: true, value: result });
      } else {
        p.resolve({ ok: false, error: { kind: 'outcome_unknown' } });
      }
    }
    this.opts.hooks?.onApplied?.(entries.length, (performance.now() - startedAtMs) / 1000);
    this.serveReads();
  }

  private restore(snapshot: Snapshot): void {
    const restored = KvStateMachine.restore(kvStateMachineDefaults, snapshot.chunks);
    // The leader's snapshot came through checksummed frames; one that does not restore is a bug.
    if ('error' in restored) throw new Error(`snapshot at ${snapshot.meta.index} from the leader does not restore: ${restored.error}`);
    this.shardRebuildsBefore += this.kv.shardRebuilds();
    this.kv = restored;
    this.policy.taken();
    this.opts.hooks?.onSnapshotInstalled?.(snapshot.meta.index);
    this.log.info({ index: snapshot.meta.index }, 'installed snapshot from leader');
  }

  private serveReads(): void {
    const applied = this.kv.appliedIndex();
    for (const [id, r] of this.reads) {
      if (r.index !== null && r.index <= applied) this.finishRead(id, { ok: true, value: this.kv });
    }
  }

  private finishRead(id: number, o: Outcome<KvStateMachine>): void {
    const r = this.reads.get(id);
    if (r === undefined) return;
    this.reads.delete(id);
    clearTimeout(r.timer);
    r.resolve(o);
  }

  /** Snapshots the state machine a chunk per turn of the event loop, then compacts the log behind it. */
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
    const startedAtMs = performance.now();
    const reader = this.kv.snapshot();
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    const step = (): void => {
      if (this.stopped) return;
      const c = reader.next(this.opts.config.snapshotChunkBytes);
      if (c !== null) {
        chunks.push(c);
        bytes += c.length;
        setImmediate(step);
        return;
      }
      const snapshot: Snapshot = { meta: { index, term, voters: this.opts.voters }, chunks };
      this.opts.storage.compact(snapshot, () => {
        if (this.stopped) return;
        this.raft.snapshotTaken(snapshot);
        this.snapshotInProgress = false;
        this.opts.hooks?.onSnapshot?.(index, chunks.length, bytes, (performance.now() - startedAtMs) / 1000);
        this.log.info({ index, chunks: chunks.length, bytes }, 'snapshot taken, log compacted');
        this.scheduleFlush();
      });
    };
    setImmediate(step);
  }
}
