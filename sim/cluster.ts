import { defaultRaftConfig, type RaftConfig } from '../src/raft/config.js';
import { ReadyExecutor } from '../src/raft/executor.js';
import { RaftNode, type ProposeResult } from '../src/raft/node.js';
import type { Entry, Message, NodeId } from '../src/raft/types.js';
import { nodeId } from '../src/raft/types.js';
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
}

interface SimNode {
  readonly id: NodeId;
  readonly disk: SimDisk;
  raft: RaftNode | null;
  executor: ReadyExecutor | null;
  dirty: boolean;
  /** Commands applied by this node's state machine since it last started. */
  appliedIndex: number;
}

export type ApplyListener = (node: NodeId, entry: Entry) => void;

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
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly running = new Map<NodeId, RaftNode>();
  private readonly applyListeners: ApplyListener[] = [];
  crashes = 0;

  constructor(opts: ClusterOptions) {
    this.rng = new Prng(opts.seed);
    this.raftConfig = { ...defaultRaftConfig, ...opts.raft };
    this.trace = new Trace(opts.traceLines ?? 64, opts.traceCheckpoints ?? false);
    this.ids = Array.from({ length: opts.nodes }, (_, k) => nodeId(`n${k + 1}`));
    this.network = new SimNetwork(this.clock, this.rng.fork('network'), (m) => this.deliver(m));
    for (const id of this.ids) {
      const n: SimNode = { id, disk: new SimDisk(this.clock, this.rng.fork(`disk/${id}`)), raft: null, executor: null, dirty: false, appliedIndex: 0 };
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
    n.appliedIndex = 0;
    this.checker.onStart(n.id, persisted.entries, persisted.hardState.commit);
    const disk = n.disk;
    n.executor = new ReadyExecutor(
      raft,
      {
        write: (hs, entries, durable) => {
          this.checker.onLogWrite(n.id, raft.role(), entries);
          disk.write(hs, entries, () => {
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
        apply: (entries) => {
          this.checker.onApply(n.id, entries, this.running);
          n.appliedIndex = entries[entries.length - 1]!.index;
          for (const e of entries) for (const l of this.applyListeners) l(n.id, e);
        },
      },
    );
    this.running.set(n.id, raft);
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
    return this.nodes.get(id)!.appliedIndex;
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
