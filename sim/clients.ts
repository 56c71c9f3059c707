import type { RequestError } from '../src/errors.js';
import { encodeCommand, type Condition, type KvCommand, type KvResult } from '../src/kv/command.js';
import type { KvEntry } from '../src/kv/sharded-map.js';
import type { Outcome as NodeOutcome } from '../src/node/kv-node.js';
import type { NodeId } from '../src/raft/types.js';
import type { SimCluster } from './cluster.js';
import type { HistoryOp, KvOperation, KvOutput, Outcome } from './linearizability.js';
import type { Prng } from './prng.js';

/** How a simulated client reads. Stale reads are served by any node and are not linearizable. */
export type ReadMode = 'linearizable' | 'lease' | 'stale';

/**
 * Which node a client sends a request to: the leader it last heard of (as the
 * client library does), or any node, following a redirect only for the next try
 * (as a client behind a load balancer does).
 */
export type ClientRouting = 'follow-leader' | 'spread';

export interface WorkloadOptions {
  readonly clients: number;
  /** Keys the clients share; few keys make conflicts common. */
  readonly keys: number;
  /** Wait this long for one attempt before retrying (with the same idempotency tag). */
  readonly attemptTimeoutMs: number;
  /** Give up on an operation after this long: its outcome is then indeterminate. */
  readonly opTimeoutMs: number;
  readonly thinkMaxMs: number;
  /** Stop issuing new operations after this many have completed. */
  readonly opsMax: number;
  /** Which read modes clients use (drawn uniformly per read). */
  readonly readModes: readonly ReadMode[];
  /** Each client's routing, by client number (cycled). */
  readonly routing: readonly ClientRouting[];
}

interface InFlight {
  readonly id: number;
  readonly client: number;
  readonly input: KvOperation;
  readonly key: Uint8Array;
  readonly callAt: number;
  readonly startedMs: number;
  readonly readMode: ReadMode | null;
  readonly request: KvCommand | null;
  /** The request as the log holds it, to check the answers against. */
  readonly command: Uint8Array | null;
  /** Could an attempt have reached a log? If not, giving up means "failed", not "indeterminate". */
  maybeApplied: boolean;
  attempt: number;
  done: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Simulated key-value clients, calling each node's public API (`propose`, `read`)
 * exactly as the REST and gRPC servers do. Each client has one operation
 * outstanding at a time: puts, deletes, compare-and-set, put-if-absent and
 * conditional deletes on a few shared keys, and reads in the configured modes. A
 * write carries an idempotency tag and is retried with it after a timeout, a lost
 * leader or an unknown outcome, so it is applied at most once; it ends ok (with
 * the node's answer), failed (no attempt can have reached a log) or indeterminate
 * (gave up without knowing). Everything is recorded as a history for the
 * linearizability checker, with logical call/return timestamps.
 */
export class Workload {
  readonly history: HistoryOp[] = [];
  completed = 0;
  private stopped = false;
  private clock = 0;
  private nextId = 0;
  private readonly inFlight = new Map<number, InFlight>();
  private readonly leaderGuess: (NodeId | null)[];
  private readonly seq: number[];
  /** The last revision each client saw per key: what its compare-and-sets expect. */
  private readonly seenRevision: Map<string, number>[];
  private readonly idle = new Set<number>();
  private readonly staleReads = new Set<number>();

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: Prng,
    private readonly opts: WorkloadOptions,
  ) {
    this.leaderGuess = new Array<NodeId | null>(opts.clients).fill(null);
    this.seq = new Array<number>(opts.clients).fill(0);
    this.seenRevision = Array.from({ length: opts.clients }, () => new Map<string, number>());
  }

  start(): void {
    for (let c = 0; c < this.opts.clients; c++) this.scheduleNext(c);
  }

  /** No new operations from now on; outstanding ones still complete or give up. */
  stop(): void {
    this.stopped = true;
  }

  quiescent(): boolean {
    return this.inFlight.size === 0 && this.idle.size === this.opts.clients;
  }

  counts(): Record<Outcome['status'], number> {
    const out = { ok: 0, failed: 0, indeterminate: 0 };
    for (const op of this.history) out[op.outcome.status]++;
    return out;
  }

  private routing(c: number): ClientRouting {
    return this.opts.routing[c % this.opts.routing.length]!;
  }

  private scheduleNext(c: number): void {
    if (this.stopped || this.completed >= this.opts.opsMax) {
      this.idle.add(c);
      return;
    }
    this.cluster.clock.setTimeout(() => this.invoke(c), this.rng.int(this.opts.thinkMaxMs + 1));
  }

  private randomOperation(c: number): { input: KvOperation; command: KvCommand | null; readMode: ReadMode | null } {
    const key = `k${this.rng.int(this.opts.keys)}`;
    const keyBytes = encoder.encode(key);
    const tag = { clientId: `c${c}`, requestId: String(this.seq[c]) };
    const value = `c${c}-${this.seq[c]!++}`;
    const seen = this.seenRevision[c]!.get(key);
    const roll = this.rng.int(100);
    if (roll < 40) return { input: { kind: 'get', key }, command: null, readMode: this.rng.pick(this.opts.readModes) };
    if (roll < 65) return { input: { kind: 'put', key, value }, command: { op: 'put', key: keyBytes, value: encoder.encode(value), condition: { kind: 'none' }, tag }, readMode: null };
    if (roll < 80 && seen !== undefined) {
      const condition: Condition = { kind: 'revision', revision: seen };
      return { input: { kind: 'put', key, value, ifRevision: seen }, command: { op: 'put', key: keyBytes, value: encoder.encode(value), condition, tag }, readMode: null };
    }
    if (roll < 88) {
      return { input: { kind: 'put', key, value, ifAbsent: true }, command: { op: 'put', key: keyBytes, value: encoder.encode(value), condition: { kind: 'absent' }, tag }, readMode: null };
    }
    if (roll < 94 && seen !== undefined) {
      return { input: { kind: 'delete', key, ifRevision: seen }, command: { op: 'delete', key: keyBytes, condition: { kind: 'revision', revision: seen }, tag }, readMode: null };
    }
    return { input: { kind: 'delete', key }, command: { op: 'delete', key: keyBytes, condition: { kind: 'none' }, tag }, readMode: null };
  }

  private invoke(c: number): void {
    if (this.stopped) {
      this.idle.add(c);
      return;
    }
    const { input, command, readMode } = this.randomOperation(c);
    const op: InFlight = {
      id: this.nextId++,
      client: c,
      input,
      key: encoder.encode(input.key),
      callAt: this.clock++,
      startedMs: this.cluster.clock.now(),
      readMode,
      request: command,
      command: command === null ? null : encodeCommand(command),
      maybeApplied: false,
      attempt: 0,
      done: false,
    };
    this.inFlight.set(op.id, op);
    if (readMode === 'stale') this.staleReads.add(op.id);
    // A spreading client starts every operation at a node of its own choosing.
    if (this.routing(c) === 'spread') this.leaderGuess[c] = null;
    this.attempt(op);
  }

  private attempt(op: InFlight): void {
    if (op.done) return;
    if (this.cluster.clock.now() - op.startedMs > this.opts.opTimeoutMs) {
      return this.finish(op, op.maybeApplied ? { status: 'indeterminate' } : { status: 'failed' });
    }
    const attemptNo = ++op.attempt;
    if (op.readMode === 'stale') {
      // Any running node answers from what it has applied.
      const kv = this.cluster.kvNode(this.rng.pick(this.cluster.ids));
      if (kv === null) return this.retryLater(op, attemptNo, true);
      return kv.read('stale', (state) => state.get(op.key), (o) => this.answered(op, attemptNo, null, o, (v) => this.finishRead(op, v)));
    }
    const target = this.leaderGuess[op.client] ?? this.rng.pick(this.cluster.ids);
    const kv = this.cluster.kvNode(target);
    // A node that is down refuses the connection: nothing was sent.
    if (kv === null) return this.refused(op, attemptNo, target, null);
    this.cluster.clock.setTimeout(() => this.attemptTimedOut(op, attemptNo), this.opts.attemptTimeoutMs);
    if (op.readMode !== null) return kv.read(op.readMode, (state) => state.get(op.key), (o) => this.answered(op, attemptNo, target, o, (v) => this.finishRead(op, v)));
    kv.propose(op.request!, (o) => this.answered(op, attemptNo, target, o, (r) => this.finishWrite(op, r)));
  }

  /** The node's answer to attempt `attemptNo`; answers to attempts given up on are ignored. */
  private answered<T>(op: InFlight, attemptNo: number, target: NodeId | null, o: NodeOutcome<T>, ok: (value: T) => void): void {
    if (op.done || op.attempt !== attemptNo) return;
    if (o.ok) {
      if (target !== null) this.leaderGuess[op.client] = target;
      return ok(o.value);
    }
    const e: RequestError = o.error;
    switch (e.kind) {
      case 'not_leader':
        return this.refused(op, attemptNo, target, e.leaderId);
      case 'overloaded':
        return this.retryLater(op, attemptNo, false);
      case 'stopped':
        return this.retryLater(op, attemptNo, true);
      case 'outcome_unknown':
        if (op.command !== null) op.maybeApplied = true;
        return this.retryLater(op, attemptNo, true);
    }
  }

  /** Refused before reaching any log: safe to try again elsewhere (at the leader named, like a redirect). */
  private refused(op: InFlight, attemptNo: number, target: NodeId | null, hint: NodeId | null): void {
    this.leaderGuess[op.client] = hint !== null && hint !== target ? hint : null;
    this.retryLater(op, attemptNo, false);
  }

  private retryLater(op: InFlight, attemptNo: number, forgetLeader: boolean): void {
    if (forgetLeader) this.leaderGuess[op.client] = null;
    const backoffMs = Math.min(100, 5 * attemptNo);
    this.cluster.clock.setTimeout(() => {
      if (op.attempt === attemptNo) this.attempt(op);
    }, this.rng.range(1, backoffMs));
  }

  /** No answer in time: the attempt may still take effect, so a write is now maybe-applied. */
  private attemptTimedOut(op: InFlight, attemptNo: number): void {
    if (op.done || op.attempt !== attemptNo) return;
    if (op.command !== null) op.maybeApplied = true;
    this.leaderGuess[op.client] = null;
    this.attempt(op);
  }

  private finishWrite(op: InFlight, r: KvResult): void {
    // The answer names where the write was applied: the checker holds the node to it.
    if (r.ok && (r.op === 'put' || r.op === 'delete')) this.cluster.checker.onAcknowledged(r.revision, op.command!);
    this.finish(op, { status: 'ok', output: this.toOutput(op, r), returnAt: this.clock++ });
  }

  private toOutput(op: InFlight, r: KvResult): KvOutput {
    const key = op.input.key;
    if ((r.op !== 'put' && r.op !== 'delete') || (!r.ok && r.error !== 'revision_mismatch')) throw new Error(`a key operation answered ${JSON.stringify(r)}`);
    if (!r.ok) {
      if (r.currentRevision !== null) this.seenRevision[op.client]!.set(key, r.currentRevision);
      return { kind: 'precondition_failed', currentRevision: r.currentRevision };
    }
    if (r.op === 'put') {
      this.seenRevision[op.client]!.set(key, r.revision);
      return { kind: 'put', revision: r.revision };
    }
    this.seenRevision[op.client]!.delete(key);
    return { kind: 'delete', deleted: r.deleted, revision: r.revision };
  }

  private finishRead(op: InFlight, got: KvEntry | undefined): void {
    const key = op.input.key;
    let output: KvOutput;
    if (got === undefined) {
      this.seenRevision[op.client]!.delete(key);
      output = { kind: 'get', found: false };
    } else {
      this.seenRevision[op.client]!.set(key, got.revision);
      output = { kind: 'get', found: true, value: decoder.decode(got.value), revision: got.revision };
    }
    this.finish(op, { status: 'ok', output, returnAt: this.clock++ });
  }

  private finish(op: InFlight, outcome: Outcome): void {
    if (op.done) return;
    op.done = true;
    this.inFlight.delete(op.id);
    this.history.push({ id: op.id, client: op.client, input: op.input, callAt: op.callAt, outcome });
    this.completed++;
    this.scheduleNext(op.client);
  }

  /** The history, with stale reads left out: they are not meant to be linearizable. */
  linearizableHistory(): HistoryOp[] {
    return this.history.filter((op) => !this.staleReads.has(op.id));
  }
}
