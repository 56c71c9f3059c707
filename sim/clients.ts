import type { NodeId } from '../src/raft/types.js';
import type { SimCluster } from './cluster.js';
import type { Prng } from './prng.js';

/** What a client saw of one proposal: acknowledged, definitely not applied, or unknown (it gave up waiting). */
export type Outcome = 'ok' | 'failed' | 'indeterminate';

export interface ClientOp {
  readonly client: number;
  readonly command: string;
  readonly invokedAtMs: number;
  outcome: Outcome | null;
  completedAtMs: number | null;
  index: number | null;
}

interface Pending {
  readonly op: ClientOp;
  readonly term: number;
  readonly timer: unknown;
}

export interface WorkloadOptions {
  readonly clients: number;
  /** Give up on a proposal (outcome unknown) after this long. */
  readonly opTimeoutMs: number;
  readonly thinkMaxMs: number;
  /** Stop issuing new operations after this many have completed. */
  readonly opsMax: number;
}

/**
 * Simulated clients: each has one proposal outstanding at a time, sends it to the
 * node it believes leads (following not-leader hints), and records what it saw.
 * A proposal is acknowledged when its (index, term) is applied anywhere, and has
 * definitely failed when another entry is applied at its index.
 */
export class Workload {
  readonly history: ClientOp[] = [];
  completed = 0;
  private stopped = false;
  private readonly pendingByIndex = new Map<number, Pending[]>();
  private readonly leaderGuess: (NodeId | null)[];
  private readonly seq: number[];
  private readonly idle = new Set<number>();

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: Prng,
    private readonly opts: WorkloadOptions,
  ) {
    this.leaderGuess = new Array<NodeId | null>(opts.clients).fill(null);
    this.seq = new Array<number>(opts.clients).fill(0);
    cluster.onApply((_node, e) => this.onApplied(e.index, e.term));
  }

  start(): void {
    for (let c = 0; c < this.opts.clients; c++) this.scheduleNext(c);
  }

  /** No new operations from now on; outstanding ones still complete or time out. */
  stop(): void {
    this.stopped = true;
  }

  quiescent(): boolean {
    return this.pendingByIndex.size === 0 && this.idle.size === this.opts.clients;
  }

  counts(): Record<Outcome, number> {
    const out: Record<Outcome, number> = { ok: 0, failed: 0, indeterminate: 0 };
    for (const op of this.history) if (op.outcome !== null) out[op.outcome]++;
    return out;
  }

  private scheduleNext(c: number): void {
    if (this.stopped || this.completed >= this.opts.opsMax) {
      this.idle.add(c);
      return;
    }
    this.cluster.clock.setTimeout(() => this.invoke(c), this.rng.int(this.opts.thinkMaxMs + 1));
  }

  private invoke(c: number): void {
    if (this.stopped) {
      this.idle.add(c);
      return;
    }
    const command = `c${c}:${this.seq[c]!++}`;
    const op: ClientOp = { client: c, command, invokedAtMs: this.cluster.clock.now(), outcome: null, completedAtMs: null, index: null };
    this.history.push(op);
    this.attempt(c, op, 0);
  }

  private attempt(c: number, op: ClientOp, tries: number): void {
    const now = this.cluster.clock.now();
    if (now - op.invokedAtMs > this.opts.opTimeoutMs) return this.complete(c, op, 'failed');
    const target = this.leaderGuess[c] ?? this.rng.pick(this.cluster.ids);
    const r = this.cluster.propose(target, [new TextEncoder().encode(op.command)]);
    if (r === null || !r.ok) {
      // Refused before reaching any log: safe to retry elsewhere.
      this.leaderGuess[c] = r !== null && !r.ok && r.leaderId !== target ? r.leaderId : null;
      const backoff = Math.min(100, 5 * (tries + 1));
      this.cluster.clock.setTimeout(() => this.attempt(c, op, tries + 1), this.rng.range(1, backoff));
      return;
    }
    this.leaderGuess[c] = target;
    op.index = r.firstIndex;
    const timer = this.cluster.clock.setTimeout(() => this.timeOut(c, op), this.opts.opTimeoutMs);
    const list = this.pendingByIndex.get(r.firstIndex) ?? [];
    list.push({ op, term: r.term, timer });
    this.pendingByIndex.set(r.firstIndex, list);
  }

  private onApplied(index: number, term: number): void {
    const list = this.pendingByIndex.get(index);
    if (list === undefined) return;
    this.pendingByIndex.delete(index);
    for (const p of list) {
      this.cluster.clock.clearTimeout(p.timer);
      if (p.term === term) this.cluster.checker.onAcknowledged(index);
      this.complete(p.op.client, p.op, p.term === term ? 'ok' : 'failed');
    }
  }

  private timeOut(c: number, op: ClientOp): void {
    const list = this.pendingByIndex.get(op.index!);
    if (list !== undefined) {
      const rest = list.filter((p) => p.op !== op);
      if (rest.length > 0) this.pendingByIndex.set(op.index!, rest);
      else this.pendingByIndex.delete(op.index!);
    }
    this.leaderGuess[c] = null;
    this.complete(c, op, 'indeterminate');
  }

  private complete(c: number, op: ClientOp, outcome: Outcome): void {
    op.outcome = outcome;
    op.completedAtMs = this.cluster.clock.now();
    this.completed++;
    this.scheduleNext(c);
  }
}
