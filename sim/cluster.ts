import type { KvApplyOutcome, KvStateMachine } from '../src/kv/state-machine.js';
import { silentLogger } from '../src/log.js';
import { kvNodeDefaults, type KvNodeConfig } from '../src/node/config.js';
import { KvNode, type RaftView } from '../src/node/kv-node.js';
import type { NodeRuntime } from '../src/node/runtime.js';
import { defaultRaftConfig, type RaftConfig } from '../src/raft/config.js';
import type { CoreTap } from '../src/raft/host/core-tap.js';
import type { ProposeResult, RaftNode, ReadResult } from '../src/raft/host/raft-node.js';
import type { Entry, Message, NodeId, Term } from '../src/raft/types.js';
import { nodeId } from '../src/raft/types.js';
import { configuration, emptyConfiguration, type Configuration } from '../src/raft/membership.js';
import { SimClock } from './clock.js';
import { SimDisk, type CrashMode } from './disk.js';
import { InvariantChecker } from './invariants.js';
import { SimNetwork } from './network.js';
import { NodeClock } from './node-clock.js';
import { Prng } from './prng.js';
import { Trace } from './trace.js';
import { WatchChecker } from './watch-checker.js';

export interface ClusterOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly raft?: Partial<RaftConfig>;
  /** Size of the ring of recent trace lines printed when an invariant fails. */
  readonly traceLines?: number;
  /** Keep the trace hash after every event (for --check-determinism). */
  readonly traceCheckpoints?: boolean;
  /** Whether a lease read confirmed while a later term has a leader fails the run at once (default true); off, only the history check sees what it served. */
  readonly checkLeaseExclusive?: boolean;
  /** Each node snapshots its state machine and compacts its log every this many applied entries. */
  readonly snapshotEveryEntries?: number;
  /**
   * Each node's clock drift, in parts per million of true time, by node position.
   * Default: drawn from the seed, within the bound lease reads assume (their
   * differences stay within leaseClockDriftMs per election timeout).
   */
  readonly clockDriftPpm?: readonly number[];
  /** How long a node lets a request wait before answering outcome-unknown (default: five election timeouts). */
  readonly requestTimeoutMs?: number;
  /** A tap on each node's Raft core as it starts (the trace file, flight recorders); it only observes. */
  readonly tapFor?: (id: NodeId) => CoreTap | undefined;
  /**
   * The first this many nodes bootstrap the cluster as its voters (default: all);
   * the others start empty, as nodes started with raft.join do, until a
   * membership change adds them.
   */
  readonly voters?: number;
}

/** Small chunks, so that snapshots are taken in many steps and sent in many messages. */
const SNAPSHOT_CHUNK_BYTES = 2048;

/** Simulated nodes log nothing: the trace is the record of a run. */
const quiet = silentLogger();

/** A node applied `entry`; `result` is what its state machine answered (null for a no-op). */
export type ApplyListener = (node: NodeId, entry: Entry, result: KvApplyOutcome | null) => void;

export interface ReadCallbacks {
  /** Called with the state machine once it reflects every write committed before the read. */
  readonly serve: (kv: KvStateMachine) => void;
  /** The node stopped leading (or timed out) before it could confirm the read. */
  readonly fail: () => void;
}

/** Node `id` just became the leader of `term`. */
export type LeaderListener = (id: NodeId, term: Term) => void;

interface SimNode {
  readonly id: NodeId;
  readonly disk: SimDisk;
  readonly clock: NodeClock;
  /** The node as last started; kept (stopped) while it is down, so its applied state can still be read. */
  kv: KvNode | null;
  /** Its Raft core while it runs. */
  core: RaftNode | null;
}

/**
 * A whole cluster in one process: the production KvNode (Raft core, executor,
 * state machine, batching, reads, snapshots) on a simulated clock of its own per
 * node, over a simulated network and disks, all driven by one seed. Each call to
 * `step()` runs exactly one scheduled event (a delivery, a timer, a node's next
 * turn) and then checks every invariant.
 */
export class SimCluster {
  readonly clock = new SimClock();
  readonly rng: Prng;
  readonly network: SimNetwork;
  readonly checker = new InvariantChecker();
  readonly trace: Trace;
  readonly ids: readonly NodeId[];
  /** The nodes that bootstrap the cluster, and their configuration; the others join. */
  private readonly bootstrapVoters: readonly NodeId[];
  private readonly bootstrap: Configuration;
  readonly raftConfig: RaftConfig;
  readonly nodeConfig: KvNodeConfig;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly running = new Map<NodeId, RaftNode>();
  private readonly applyListeners: ApplyListener[] = [];
  private readonly leaderListeners = new Set<LeaderListener>();
  private readonly deliveryListeners = new Set<(m: Message) => void>();
  /** Nodes whose next sync is to fail, and when to restart them after it did. */
  private readonly restartAfterFailMs = new Map<NodeId, number>();
  /** Every node watches every key; the watches are checked against the committed log. */
  readonly watches: WatchChecker;
  private readonly tapFor: ((id: NodeId) => CoreTap | undefined) | null;
  private readonly checkLeaseExclusive: boolean;
  crashes = 0;
  /** Runs after every step, once the invariants held (the trace file records the nodes' states). */
  onStep: (() => void) | null = null;
  /** Snapshots installed from a leader, across all nodes. */
  snapshotsInstalled = 0;
  /** Linearizable reads a follower served through follower ReadIndex (its leader's read index). */
  followerReadsServed = 0;
  /** Batches of commands followers forwarded to their leader. */
  batchesForwarded = 0;

  constructor(opts: ClusterOptions) {
    this.rng = new Prng(opts.seed);
    this.tapFor = opts.tapFor ?? null;
    this.checkLeaseExclusive = opts.checkLeaseExclusive ?? true;
    this.raftConfig = { ...defaultRaftConfig, ...opts.raft };
    this.nodeConfig = {
      ...kvNodeDefaults,
      requestTimeoutMs: opts.requestTimeoutMs ?? 5 * this.raftConfig.electionTimeoutMs,
      snapshotEveryEntries: opts.snapshotEveryEntries ?? Number.MAX_SAFE_INTEGER,
      snapshotEveryBytes: Number.MAX_SAFE_INTEGER,
      snapshotChunkBytes: SNAPSHOT_CHUNK_BYTES,
    };
    this.trace = new Trace(opts.traceLines ?? 64, opts.traceCheckpoints ?? false);
    this.ids = Array.from({ length: opts.nodes }, (_, k) => nodeId(`n${k + 1}`));
    this.bootstrapVoters = this.ids.slice(0, opts.voters ?? opts.nodes);
    this.bootstrap = configuration(this.bootstrapVoters.map((id) => ({ id, role: 'voter', addrs: { raftAddr: id, httpAddr: id, grpcAddr: id } })));
    this.network = new SimNetwork(this.clock, this.rng.fork('network'), (m) => this.deliver(m));
    this.watches = new WatchChecker(this.clock, this.rng.fork('watches'), (nodes, detail) => this.checker.failWatch(nodes, detail));
    const drift = opts.clockDriftPpm ?? this.drawDrift();
    this.ids.forEach((id, k) => {
      const n: SimNode = {
        id,
        disk: new SimDisk(this.clock, this.rng.fork(`disk/${id}`)),
        clock: new NodeClock(this.clock, drift[k] ?? 0, this.rng.fork(`clock/${id}`).int(1_000_000)),
        kv: null,
        core: null,
      };
      n.disk.onFatal = () => this.failStop(id);
      this.nodes.set(id, n);
      this.start(n);
    });
  }

  /**
   * Clock rates within the lease bound: any two differ by at most
   * leaseClockDriftMs per election timeout (each is within half of it of true time).
   */
  private drawDrift(): number[] {
    const halfBoundPpm = Math.floor((this.raftConfig.leaseClockDriftMs * 1_000_000) / this.raftConfig.electionTimeoutMs / 2);
    const rng = this.rng.fork('drift');
    return this.ids.map(() => rng.range(-halfBoundPpm, halfBoundPpm));
  }

  private start(n: SimNode): void {
    const persisted = n.disk.recover();
    this.checker.onStart(n.id, persisted.snapshot?.meta.index ?? 0, persisted.entries, persisted.hardState.commit);
    const random = this.rng.fork(`election/${n.id}/${this.crashes}`);
    const ids = this.rng.fork(`request-ids/${n.id}/${this.crashes}`);
    const runtime: NodeRuntime = {
      clock: n.clock,
      nowMs: () => n.clock.now(),
      randomInt: (b) => random.int(b),
      requestIdBase: () => ids.int(2 ** 26) * 2 ** 26 + ids.int(2 ** 26),
      soon: (fn) => this.clock.soon(fn),
    };
    const disk = n.disk;
    let core: RaftNode | null = null;
    const tap = this.tapFor?.(n.id);
    const kv = new KvNode({
      ...(tap === undefined ? {} : { tap }),
      id: n.id,
      bootstrap: this.bootstrapVoters.includes(n.id) ? this.bootstrap : emptyConfiguration,
      catchingUp: !this.bootstrapVoters.includes(n.id) && persisted.hardState.term === 0 && persisted.snapshot === null && persisted.entries.length === 0,
      raft: this.raftConfig,
      config: this.nodeConfig,
      runtime,
      storage: {
        write: (w, durable) => {
          if (w.snapshot !== null) this.checker.onSnapshotInstalled(n.id, core!.role(), w.snapshot.meta.index);
          this.checker.onLogWrite(n.id, core!.role(), w.entries);
          disk.write(w, () => {
            this.trace.note(this.clock.now(), `${n.id} durable`);
            durable();
          });
        },
        compact: (snapshot, durable) => {
          this.trace.note(this.clock.now(), `${n.id} snapshot at ${snapshot.meta.index} (${snapshot.chunks.length} chunks)`);
          disk.compact(snapshot, durable);
        },
      },
      recovered: persisted,
      transport: {
        send: (messages) => {
          for (const m of messages) {
            this.checker.onSend(m, disk, core!);
            if (m.type === 'proposeRequest') this.batchesForwarded++;
            this.network.send(m);
          }
        },
      },
      logger: quiet,
      hooks: {
        onRoleChange: (s) => {
          if (s.role === 'leader') for (const l of [...this.leaderListeners]) l(n.id, s.term);
        },
        onReadConfirmed: (lease) => {
          if (lease && this.checkLeaseExclusive) this.checker.onLeaseReadConfirmed(n.id, core!.term(), this.running);
        },
      },
      observer: {
        started: (c) => {
          core = c;
          n.core = c;
          this.running.set(n.id, c);
        },
        applied: (entry, result) => {
          this.checker.onApply(n.id, entry, this.running);
          this.watches.onApplied(n.id, entry);
          for (const l of this.applyListeners) l(n.id, entry, result);
        },
        restored: (snapshot) => {
          this.snapshotsInstalled++;
          this.checker.onRestore(n.id, snapshot.meta.index);
          this.trace.note(this.clock.now(), `${n.id} installed snapshot ${snapshot.meta.index}`);
        },
        readServed: (readIndex, appliedIndex) => {
          if (readIndex === null) return;
          this.checker.onReadServed(n.id, readIndex, appliedIndex);
          if (core!.role() !== 'leader') this.followerReadsServed++;
        },
      },
    });
    n.kv = kv;
    this.watches.attach(n.id, kv);
  }

  /** The key-value node `id` as the simulated clients call it (the servers' API), or null while it is down. */
  kvNode(id: NodeId): KvNode | null {
    const n = this.nodes.get(id)!;
    return n.core === null ? null : n.kv;
  }

  /**
   * Starts a linearizable read at node `id` (by ReadIndex, or by the leader lease when
   * `lease` and it holds). Returns null when the node is down, or the core's refusal.
   */
  read(id: NodeId, lease: boolean, cb: ReadCallbacks): ReadResult | null {
    const kv = this.kvNode(id);
    if (kv === null) return null;
    let refused: ReadResult | null = null;
    let answeredNow = true;
    kv.read(lease ? 'lease' : 'linearizable', (state) => state, (o) => {
      if (o.ok) return cb.serve(o.value);
      if (answeredNow && o.error.kind === 'not_leader') refused = { ok: false, reason: 'not_leader', leaderId: o.error.leaderId };
      else cb.fail();
    });
    answeredNow = false;
    this.settle();
    return refused ?? { ok: true };
  }

  /** The state machine of a running node, for stale reads; null when it is down. */
  stateMachine(id: NodeId): KvStateMachine | null {
    return this.kvNode(id)?.staleState() ?? null;
  }

  onApply(listener: ApplyListener): void {
    this.applyListeners.push(listener);
  }

  /** Calls `listener` whenever a node becomes leader (as its node reports the role change); returns how to stop. */
  onLeaderElected(listener: LeaderListener): () => void {
    this.leaderListeners.add(listener);
    return () => void this.leaderListeners.delete(listener);
  }

  /** Calls `listener` with each message after its delivery; returns how to stop. */
  onDelivered(listener: (m: Message) => void): () => void {
    this.deliveryListeners.add(listener);
    return () => void this.deliveryListeners.delete(listener);
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to)!;
    if (n.core === null) return;
    this.trace.message(this.clock.now(), m);
    n.kv!.receive([m]);
    if (this.deliveryListeners.size > 0) for (const l of [...this.deliveryListeners]) l(m);
  }

  /** Runs one scheduled event and everything it caused; false when nothing is left to run. */
  step(): boolean {
    if (!this.clock.runNext()) return false;
    this.checkStep();
    return true;
  }

  private checkStep(): void {
    this.checker.step++;
    this.checker.afterStep(this.running);
    this.onStep?.();
  }

  /** After a call made from outside an event (a test's proposal or read): the nodes' next turns, then the checks. */
  private settle(): void {
    this.clock.runSoon();
    this.checkStep();
  }

  /** Runs until `done()` holds or simulated time passes `deadlineMs`; returns whether done() held. */
  runUntil(done: () => boolean, deadlineMs: number): boolean {
    while (!done()) {
      const next = this.clock.peekTime();
      if (next === null || next > deadlineMs) {
        this.clock.advanceTo(deadlineMs);
        return false;
      }
      this.step();
    }
    return true;
  }

  /** Runs for `ms` of simulated time. */
  runFor(ms: number): void {
    const until = this.clock.now() + ms;
    this.runUntil(() => false, until);
  }

  /** The Raft core of node `id`, read-only, or null while it is down. */
  node(id: NodeId): RaftView | null {
    return this.nodes.get(id)!.core;
  }

  isUp(id: NodeId): boolean {
    return this.nodes.get(id)!.core !== null;
  }

  disk(id: NodeId): SimDisk {
    return this.nodes.get(id)!.disk;
  }

  /** Node `id`'s own clock (its drift, its reading). */
  nodeClock(id: NodeId): NodeClock {
    return this.nodes.get(id)!.clock;
  }

  appliedIndex(id: NodeId): number {
    return this.nodes.get(id)!.kv?.staleState().appliedIndex() ?? 0;
  }

  /**
   * Proposes opaque commands straight to node `id`'s Raft core, which may not lead
   * (the lab suites check Raft itself, below the key-value API); the result says
   * where they went. Simulated clients use `kvNode(id).propose` instead.
   */
  propose(id: NodeId, commands: readonly Uint8Array[]): ProposeResult | null {
    const core = this.nodes.get(id)!.core;
    if (core === null) return null;
    const r = core.propose(commands);
    this.settle();
    return r;
  }

  /** The leader with the highest term among running nodes, if any. */
  leader(): NodeId | null {
    let best: NodeId | null = null;
    let bestTerm = -1;
    for (const [id, raft] of this.running) {
      const s = raft.status();
      if (s.role === 'leader' && s.term > bestTerm) {
        best = id;
        bestTerm = s.term;
      }
    }
    return best;
  }

  /** The node's process dies: its disk keeps what was durable (or, with `tear-last-write`, part of the last write). */
  crash(id: NodeId, mode: CrashMode = 'lose-unsynced'): void {
    const n = this.nodes.get(id)!;
    if (n.core === null) return;
    this.trace.note(this.clock.now(), `${id} CRASH${mode === 'lose-unsynced' ? '' : ' (torn write)'}`);
    n.core = null;
    this.running.delete(id);
    n.disk.crash(mode);
    this.watches.detach(id);
    n.kv!.stop();
    this.crashes++;
  }

  /** Node `id` crashes the moment its next write is on disk, before it hears so; it restarts `restartAfterMs` later. */
  crashAtNextSync(id: NodeId, restartAfterMs: number): void {
    const n = this.nodes.get(id)!;
    if (n.core === null) return;
    n.disk.atNextSync(() => {
      this.crash(id);
      this.clock.setTimeout(() => this.restart(id), restartAfterMs);
    });
  }

  /** Node `id`'s next sync fails; it stops then, and restarts `restartAfterMs` later. */
  failNextSync(id: NodeId, restartAfterMs: number): void {
    const n = this.nodes.get(id)!;
    if (n.core === null) return;
    this.trace.note(this.clock.now(), `${id} NEXT FSYNC FAILS`);
    this.restartAfterFailMs.set(id, restartAfterMs);
    n.disk.failNextWrite();
  }

  /** A sync failed: the node stops, as a real one does (LogStore's onFatal), and is restarted later. */
  private failStop(id: NodeId): void {
    this.trace.note(this.clock.now(), `${id} FSYNC FAILED`);
    this.crash(id);
    const after = this.restartAfterFailMs.get(id) ?? 0;
    this.restartAfterFailMs.delete(id);
    this.clock.setTimeout(() => this.restart(id), after);
  }

  restart(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (n.core !== null) return;
    this.trace.note(this.clock.now(), `${id} RESTART`);
    this.start(n);
  }

  /** Cuts `id` off from every other node, both ways. */
  isolate(id: NodeId): void {
    this.trace.note(this.clock.now(), `${id} ISOLATED`);
    for (const other of this.ids) {
      if (other === id) continue;
      this.network.cutLink(id, other);
      this.network.cutLink(other, id);
    }
  }

  /** Undoes `isolate(id)`. */
  reconnect(id: NodeId): void {
    this.trace.note(this.clock.now(), `${id} RECONNECTED`);
    for (const other of this.ids) {
      this.network.healLink(id, other);
      this.network.healLink(other, id);
    }
  }

  /** Splits the cluster: nodes in `group` hear only each other. */
  partition(group: readonly NodeId[]): void {
    this.trace.note(this.clock.now(), `PARTITION ${group.join(',')} | rest`);
    for (const a of this.ids) {
      for (const b of this.ids) {
        if (group.includes(a) !== group.includes(b)) this.network.cutLink(a, b);
      }
    }
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.trace.note(this.clock.now(), `CUT ${from}->${to}`);
    this.network.cutLink(from, to);
  }

  /** Leaves exactly the links between nodes of `group` open (the lab harness's connect/disconnect). */
  connectOnly(group: ReadonlySet<NodeId>): void {
    this.trace.note(this.clock.now(), `CONNECTED ${[...group].join(',')}`);
    for (const a of this.ids) {
      for (const b of this.ids) {
        if (group.has(a) && group.has(b)) this.network.healLink(a, b);
        else this.network.cutLink(a, b);
      }
    }
  }

  heal(): void {
    this.trace.note(this.clock.now(), 'HEAL');
    this.network.healAll();
  }

  /** Calls off the disk faults armed but not yet struck (a failing or crashing next sync). */
  disarmDisks(): void {
    for (const n of this.nodes.values()) n.disk.disarm();
    this.restartAfterFailMs.clear();
  }
}
