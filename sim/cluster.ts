import { defaultRaftConfig, type RaftConfig } from '../src/raft/config.js';
import { ReadyExecutor } from '../src/raft/host/ready-executor.js';
import { KvStateMachine, kvStateMachineDefaults } from '../src/kv/state-machine.js';
import type { KvResult } from '../src/kv/command.js';
import { RaftNode, type ProposeResult, type ReadResult } from '../src/raft/host/raft-node.js';
import type { Entry, Message, NodeId, Snapshot } from '../src/raft/types.js';
import { logIndex, nodeId } from '../src/raft/types.js';
import { SimClock } from './clock.js';
import { SimDisk } from './disk.js';
import { InvariantChecker } from './invariants.js';
import { SimNetwork } from './network.js';
import { Prng } from './prng.js';
import { Trace } from './trace.js';

export interface ClusterOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly raft?: Partial<RaftConfig>;
  /** Size of the ring of recent trace lines printed when an invariant fails. */
  readonly traceLines?: number;
  /** Keep the trace hash after every event (for --check-determinism). */
  readonly traceCheckpoints?: boolean;
  /** Each node snapshots its state machine and compacts its log every this many applied entries. */
  readonly snapshotEveryEntries?: number;
}

/** Small chunks, so that snapshot transfers span many messages in the simulator. */
const SNAPSHOT_CHUNK_BYTES = 2048;

function restoreStateMachine(snapshot: Snapshot): KvStateMachine {
  const kv = KvStateMachine.restore(kvStateMachineDefaults, snapshot.chunks);
  // The snapshot was made by a state machine of this very program: a bad one is a bug.
  if ('error' in kv) throw new Error(`snapshot at ${snapshot.meta.index} does not restore: ${kv.error}`);
  return kv;
}

interface SimNode {
  readonly id: NodeId;
  readonly disk: SimDisk;
  raft: RaftNode | null;
  executor: ReadyExecutor | null;
  dirty: boolean;
  /** This node's key-value state machine, rebuilt from the log when it restarts. */
  kv: KvStateMachine;
  /** Confirmed linearizable reads waiting for the state machine to reach their index. */
  readsWaiting: { readonly index: number; readonly serve: (kv: KvStateMachine) => void }[];
  /** Reads accepted by the core and not yet confirmed or failed, by request id. */
  readsPending: Map<number, ReadCallbacks>;
}

/** A node applied `entry`; `result` is what its state machine answered (null for a no-op). */
export type ApplyListener = (node: NodeId, entry: Entry, result: KvResult | { readonly error: string } | null) => void;

export interface ReadCallbacks {
  /** Called with the state machine once it reflects every write committed before the read. */
  readonly serve: (kv: KvStateMachine) => void;
  /** The node stopped leading before it could confirm the read. */
  readonly fail: () => void;
}

/**
 * A whole Raft cluster in one process: real RaftNodes (machines and core unchanged)
 * over a simulated clock, network and disks, all driven by one seed. Each call to
 * `step()` runs exactly one scheduled event, carries out the Readys it caused and
 * checks every invariant.
 */
export class SimCluster {
  readonly clock = new SimClock();
  readonly rng: Prng;
  readonly network: SimNetwork;
  readonly checker = new InvariantChecker();
  readonly trace: Trace;
  readonly ids: readonly NodeId[];
  readonly raftConfig: RaftConfig;
  private readonly snapshotEveryEntries: number;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly running = new Map<NodeId, RaftNode>();
  private readonly applyListeners: ApplyListener[] = [];
  crashes = 0;
  /** Snapshots installed from a leader, across all nodes. */
  snapshotsInstalled = 0;
  private nextReadId = 1;

  constructor(opts: ClusterOptions) {
    this.rng = new Prng(opts.seed);
    this.raftConfig = { ...defaultRaftConfig, ...opts.raft };
    this.snapshotEveryEntries = opts.snapshotEveryEntries ?? Number.POSITIVE_INFINITY;
    this.trace = new Trace(opts.traceLines ?? 64, opts.traceCheckpoints ?? false);
    this.ids = Array.from({ length: opts.nodes }, (_, k) => nodeId(`n${k + 1}`));
    this.network = new SimNetwork(this.clock, this.rng.fork('network'), (m) => this.deliver(m));
    for (const id of this.ids) {
      const n: SimNode = {
        id,
        disk: new SimDisk(this.clock, this.rng.fork(`disk/${id}`)),
        raft: null,
        executor: null,
        dirty: false,
        kv: new KvStateMachine(kvStateMachineDefaults),
        readsWaiting: [],
        readsPending: new Map(),
      };
      this.nodes.set(id, n);
      this.start(n);
    }
  }

  private start(n: SimNode): void {
    const persisted = n.disk.recover();
    const jitter = this.rng.fork(`election/${n.id}/${this.crashes}`);
    const raft = new RaftNode({
      id: n.id,
      voters: this.ids,
      config: this.raftConfig,
      env: { nowMs: () => this.clock.now(), randomInt: (b) => jitter.int(b) },
      clock: this.clock,
      persisted,
      onTimer: () => {
        this.trace.note(this.clock.now(), `${n.id} timer`);
        n.dirty = true;
      },
    });
    n.raft = raft;
    n.kv = persisted.snapshot === null ? new KvStateMachine(kvStateMachineDefaults) : restoreStateMachine(persisted.snapshot);
    n.readsWaiting = [];
    n.readsPending = new Map();
    this.checker.onStart(n.id, persisted.snapshot?.meta.index ?? 0, persisted.entries, persisted.hardState.commit);
    const disk = n.disk;
    n.executor = new ReadyExecutor(
      raft,
      {
        write: (w, durable) => {
          if (w.snapshot !== null) this.checker.onSnapshotInstalled(n.id, raft.role(), w.snapshot.meta.index);
          this.checker.onLogWrite(n.id, raft.role(), w.entries);
          disk.write(w, () => {
            if (n.raft !== raft) return;
            this.trace.note(this.clock.now(), `${n.id} durable`);
            durable();
            this.checkStep();
          });
        },
      },
      {
        send: (messages) => {
          for (const m of messages) {
            this.checker.onSend(m, disk, raft);
            this.network.send(m);
          }
        },
      },
      {
        restore: (snapshot) => {
          n.kv = restoreStateMachine(snapshot);
          this.snapshotsInstalled++;
          this.checker.onRestore(n.id, snapshot.meta.index);
          this.trace.note(this.clock.now(), `${n.id} installed snapshot ${snapshot.meta.index}`);
        },
        apply: (entries) => {
          this.checker.onApply(n.id, entries, this.running);
          for (const e of entries) {
            const result = e.kind === 'command' ? n.kv.apply(e.index, e.data) : (n.kv.applyNoop(e.index), null);
            for (const l of this.applyListeners) l(n.id, e, result);
          }
          this.serveWaitingReads(n);
          this.maybeCompact(n, raft);
        },
      },
      {
        readsConfirmed: (reads) => {
          for (const r of reads) {
            const cb = n.readsPending.get(r.requestId)!;
            n.readsPending.delete(r.requestId);
            n.readsWaiting.push({ index: r.index, serve: cb.serve });
          }
          this.serveWaitingReads(n);
        },
        readsFailed: (ids) => {
          for (const id of ids) {
            const cb = n.readsPending.get(id)!;
            n.readsPending.delete(id);
            cb.fail();
          }
        },
      },
    );
    this.running.set(n.id, raft);
  }

  /** Takes a snapshot of the state machine and compacts the log behind it, every `snapshotEveryEntries`. */
  private maybeCompact(n: SimNode, raft: RaftNode): void {
    const applied = n.kv.appliedIndex();
    const last = raft.snapshot()?.meta.index ?? 0;
    if (applied - last < this.snapshotEveryEntries) return;
    const reader = n.kv.snapshot();
    const chunks: Uint8Array[] = [];
    for (let c = reader.next(SNAPSHOT_CHUNK_BYTES); c !== null; c = reader.next(SNAPSHOT_CHUNK_BYTES)) chunks.push(c);
    const snapshot: Snapshot = { meta: { index: logIndex(applied), term: raft.log.term(logIndex(applied))!, voters: this.ids }, chunks };
    this.trace.note(this.clock.now(), `${n.id} snapshot at ${applied} (${chunks.length} chunks)`);
    n.disk.compact(snapshot, () => {});
    raft.snapshotTaken(snapshot);
    n.dirty = true;
  }

  private serveWaitingReads(n: SimNode): void {
    if (n.readsWaiting.length === 0) return;
    const applied = n.kv.appliedIndex();
    const later: SimNode['readsWaiting'] = [];
    for (const r of n.readsWaiting) {
      if (r.index <= applied) r.serve(n.kv);
      else later.push(r);
    }
    n.readsWaiting = later;
  }

  /**
   * Starts a linearizable read at node `id` (by ReadIndex, or by the leader lease when
   * `lease` and it holds). Returns null when the node is down, or the core's refusal.
   */
  read(id: NodeId, lease: boolean, cb: ReadCallbacks): ReadResult | null {
    const n = this.nodes.get(id)!;
    if (n.raft === null) return null;
    const requestId = this.nextReadId++;
    n.readsPending.set(requestId, cb);
    const r = n.raft.readIndex(requestId, lease);
    if (!r.ok) n.readsPending.delete(requestId);
    n.dirty = true;
    this.checkStep();
    return r;
  }

  /** The state machine of a running node, for stale reads; null when it is down. */
  stateMachine(id: NodeId): KvStateMachine | null {
    const n = this.nodes.get(id)!;
    return n.raft === null ? null : n.kv;
  }

  onApply(listener: ApplyListener): void {
    this.applyListeners.push(listener);
  }

  private deliver(m: Message): void {
    const n = this.nodes.get(m.to)!;
    if (n.raft === null) return;
    this.trace.message(this.clock.now(), m);
    n.raft.step(m);
    n.dirty = true;
  }

  /** Runs one scheduled event and everything it caused; false when nothing is left to run. */
  step(): boolean {
    if (!this.clock.runNext()) return false;
    this.checkStep();
    return true;
  }

  private checkStep(): void {
    for (const n of this.nodes.values()) {
      if (n.dirty && n.executor !== null) {
        n.dirty = false;
        n.executor.run();
      }
    }
    this.checker.step++;
    this.checker.afterStep(this.running);
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

  node(id: NodeId): RaftNode | null {
    return this.nodes.get(id)!.raft;
  }

  isUp(id: NodeId): boolean {
    return this.nodes.get(id)!.raft !== null;
  }

  disk(id: NodeId): SimDisk {
    return this.nodes.get(id)!.disk;
  }

  appliedIndex(id: NodeId): number {
    return this.nodes.get(id)!.kv.appliedIndex();
  }

  /** Proposes at node `id` (which may not lead); the result says where the commands went. */
  propose(id: NodeId, commands: readonly Uint8Array[]): ProposeResult | null {
    const n = this.nodes.get(id)!;
    if (n.raft === null) return null;
    const r = n.raft.propose(commands);
    n.dirty = true;
    this.checkStep();
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

  crash(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (n.raft === null) return;
    this.trace.note(this.clock.now(), `${id} CRASH`);
    n.raft.stop();
    n.raft = null;
    n.executor = null;
    n.dirty = false;
    n.disk.crash();
    this.running.delete(id);
    this.crashes++;
  }

  restart(id: NodeId): void {
    const n = this.nodes.get(id)!;
    if (n.raft !== null) return;
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
}
