import type { RequestError } from '../src/errors.js';
import { encodeCommand, type Condition, type KvCommand, type KvResult, type TxnOp as CommandTxnOp } from '../src/kv/command.js';
import type { KvStateMachine } from '../src/kv/state-machine.js';
import type { Outcome as NodeOutcome } from '../src/node/kv-node.js';
import type { NodeId } from '../src/raft/types.js';
import type { SimCluster } from './cluster.js';
import type { HistoryOp, HistoryOperation, HistoryOutput, KvOutput, Outcome, TxnOp } from './linearizability.js';
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
  /** Stale reads go to the running node that has applied least (the most likely to answer stale), not to any node. */
  readonly staleFromLaggard?: boolean;
}

interface InFlight {
  readonly id: number;
  readonly client: number;
  readonly input: HistoryOperation;
  /** What a read takes from the state machine at its serving point. */
  readonly view: ((kv: KvStateMachine) => HistoryOutput) | null;
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

/** Lease keys are written once each, on a lease nobody keeps alive: the leader expires it. */
const LEASE_TTL_SECONDS = 1;

function txnOpCommand(o: TxnOp): CommandTxnOp {
  return o.op === 'put' ? { op: 'put', key: encoder.encode(o.key), value: encoder.encode(o.value) } : { op: o.op, key: encoder.encode(o.key) };
}

/** A read of one key, as the checker records it. */
function getOutput(kv: KvStateMachine, key: string): KvOutput {
  const got = kv.get(encoder.encode(key));
  return got === undefined ? { kind: 'get', found: false } : { kind: 'get', found: true, value: decoder.decode(got.value), revision: got.revision };
}

/** One page of a listing, as the checker records it. */
function listOutput(kv: KvStateMachine, input: Extract<HistoryOperation, { kind: 'list' }>): HistoryOutput {
  const page = kv.range({ prefix: encoder.encode(input.prefix), after: input.after === null ? null : encoder.encode(input.after), limit: input.limit, keysOnly: false });
  return {
    kind: 'list',
    revision: kv.appliedIndex(),
    entries: page.entries.map(({ key, entry }) => ({ key: Buffer.from(key, 'latin1').toString('utf8'), value: decoder.decode(entry.value), revision: entry.revision })),
    more: page.more,
  };
}

/**
 * Simulated key-value clients, calling each node's public API (`propose`, `read`)
 * exactly as the REST and gRPC servers do. Each client has one operation
 * outstanding at a time: puts, deletes, compare-and-set, put-if-absent and
 * conditional deletes on a few shared keys, two-key transactions (a CAS of one
 * key, writing it and another, or reading both if it fails), pages of a listing
 * of every key, puts of fresh keys on leases nobody keeps alive (the leader
 * expires them: in the history, an unanswered delete of each such key), and
 * reads in the configured modes. A
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
  /** Each client's current lease (granted on first use, never kept alive), and whether a grant is under way. */
  private readonly leases: (number | null)[];
  /** The expiries that may delete lease keys, as unanswered deletes for the checker. */
  private readonly expiries: HistoryOp[] = [];

  constructor(
    private readonly cluster: SimCluster,
    private readonly rng: Prng,
    private readonly opts: WorkloadOptions,
  ) {
    this.leaderGuess = new Array<NodeId | null>(opts.clients).fill(null);
    this.seq = new Array<number>(opts.clients).fill(0);
    this.seenRevision = Array.from({ length: opts.clients }, () => new Map<string, number>());
    this.leases = new Array<number | null>(opts.clients).fill(null);
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

  private randomOperation(c: number): { input: HistoryOperation; command: KvCommand | null; readMode: ReadMode | null; view: ((kv: KvStateMachine) => HistoryOutput) | null } {
    const key = `k${this.rng.int(this.opts.keys)}`;
    const keyBytes = encoder.encode(key);
    const tag = { clientId: `c${c}`, requestId: String(this.seq[c]) };
    const value = `c${c}-${this.seq[c]!++}`;
    const seen = this.seenRevision[c]!.get(key);
    const roll = this.rng.int(100);
    const write = (input: HistoryOperation, command: KvCommand) => ({ input, command, readMode: null, view: null });
    if (roll < 30) return { input: { kind: 'get', key }, command: null, readMode: this.rng.pick(this.opts.readModes), view: (kv) => getOutput(kv, key) };
    if (roll < 38) {
      const input = { kind: 'list', prefix: '', after: this.rng.int(3) === 0 ? `k${this.rng.int(this.opts.keys)}` : null, limit: this.rng.range(1, 4) } as const;
      // Pages are linearizable reads: never stale.
      return { input, command: null, readMode: this.rng.pick(this.opts.readModes.filter((m) => m !== 'stale').concat(['linearizable'])), view: (kv) => listOutput(kv, input) };
    }
    if (roll < 46) {
      const other = `k${(Number(key.slice(1)) + 1 + this.rng.int(Math.max(1, this.opts.keys - 1))) % this.opts.keys}`;
      const success: TxnOp[] = other === key ? [{ op: 'put', key, value }] : [{ op: 'put', key, value }, { op: 'put', key: other, value: `${value}+` }];
      const failure: TxnOp[] = other === key ? [{ op: 'get', key }] : [{ op: 'get', key }, { op: 'get', key: other }];
      const compare = [{ key, target: 'revision', operator: 'equal', revision: seen ?? 0 }] as const;
      return write(
        { kind: 'txn', compare, success, failure },
        { op: 'txn', compare: [{ target: 'revision', key: keyBytes, operator: 'equal', revision: seen ?? 0 }], success: success.map(txnOpCommand), failure: failure.map(txnOpCommand), tag },
      );
    }
    const lease = this.leases[c];
    if (roll < 50 && lease !== null && lease !== undefined) {
      const leaseKey = `l${c}-${this.seq[c]}`;
      return write({ kind: 'put', key: leaseKey, value }, { op: 'put', key: encoder.encode(leaseKey), value: encoder.encode(value), condition: { kind: 'none' }, tag, lease });
    }
    if (roll < 52) return write({ kind: 'put', key, value }, { op: 'lease_grant', ttlSeconds: LEASE_TTL_SECONDS, tag });
    if (roll < 70) return write({ kind: 'put', key, value }, { op: 'put', key: keyBytes, value: encoder.encode(value), condition: { kind: 'none' }, tag });
    if (roll < 80 && seen !== undefined) {
      const condition: Condition = { kind: 'revision', revision: seen };
      return write({ kind: 'put', key, value, ifRevision: seen }, { op: 'put', key: keyBytes, value: encoder.encode(value), condition, tag });
    }
    if (roll < 88) return write({ kind: 'put', key, value, ifAbsent: true }, { op: 'put', key: keyBytes, value: encoder.encode(value), condition: { kind: 'absent' }, tag });
    if (roll < 94 && seen !== undefined) return write({ kind: 'delete', key, ifRevision: seen }, { op: 'delete', key: keyBytes, condition: { kind: 'revision', revision: seen }, tag });
    return write({ kind: 'delete', key }, { op: 'delete', key: keyBytes, condition: { kind: 'none' }, tag });
  }

  private invoke(c: number): void {
    if (this.stopped) {
      this.idle.add(c);
      return;
    }
    const { input, command, readMode, view } = this.randomOperation(c);
    const op: InFlight = {
      id: this.nextId++,
      client: c,
      input,
      view,
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
      const kv = this.cluster.kvNode(this.opts.staleFromLaggard === true ? this.laggard() : this.rng.pick(this.cluster.ids));
      if (kv === null) return this.retryLater(op, attemptNo, true);
      return kv.read('stale', op.view!, (o) => this.answered(op, attemptNo, null, o, (v) => this.finishRead(op, v)));
    }
    const target = this.leaderGuess[op.client] ?? this.rng.pick(this.cluster.ids);
    const kv = this.cluster.kvNode(target);
    // A node that is down refuses the connection: nothing was sent.
    if (kv === null) return this.refused(op, attemptNo, target, null);
    this.cluster.clock.setTimeout(() => this.attemptTimedOut(op, attemptNo), this.opts.attemptTimeoutMs);
    if (op.readMode !== null) return kv.read(op.readMode, op.view!, (o) => this.answered(op, attemptNo, target, o, (v) => this.finishRead(op, v)));
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
    if (op.request?.op === 'lease_grant') {
      // Not a key operation: the client now puts lease keys on it (until it expires).
      if (r.op === 'lease_grant' && r.ok) this.leases[op.client] = r.lease;
      return this.finishUnrecorded(op);
    }
    if (r.op === 'put' && !r.ok && r.error === 'lease_not_found') {
      // The lease expired first: nothing was written, and the client needs a new one.
      this.leases[op.client] = null;
      return this.finish(op, { status: 'failed' });
    }
    // The answer names where the write was applied: the checker holds the node to it.
    if (r.ok && (r.op === 'put' || r.op === 'delete' || r.op === 'txn')) this.cluster.checker.onAcknowledged(r.revision, op.command!);
    this.finish(op, { status: 'ok', output: this.toOutput(op, r), returnAt: this.clock++ });
  }

  private toOutput(op: InFlight, r: KvResult): HistoryOutput {
    const input = op.input;
    if (r.op === 'txn' && input.kind === 'txn') {
      if (!r.ok) throw new Error(`a transaction without leases answered ${JSON.stringify(r)}`);
      const key = input.compare[0]!.key;
      if (r.succeeded) for (const o of input.success) this.seenRevision[op.client]!.set(o.key, r.revision);
      return {
        kind: 'txn',
        succeeded: r.succeeded,
        revision: r.revision,
        results: r.results.map((x, i) => {
          if (x.op !== 'get') return x;
          const k = (r.succeeded ? input.success : input.failure)[i]!.key;
          if (x.found) this.seenRevision[op.client]!.set(k, x.revision);
          else if (k === key) this.seenRevision[op.client]!.delete(k);
          return x.found ? { op: 'get', found: true, value: decoder.decode(x.value), revision: x.revision } : x;
        }),
      };
    }
    if ((r.op !== 'put' && r.op !== 'delete') || (!r.ok && r.error !== 'revision_mismatch') || !('key' in input)) throw new Error(`a key operation answered ${JSON.stringify(r)}`);
    const key = input.key;
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

  private finishRead(op: InFlight, output: HistoryOutput): void {
    if (output.kind === 'get' && op.input.kind === 'get') {
      if (output.found) this.seenRevision[op.client]!.set(op.input.key, output.revision);
      else this.seenRevision[op.client]!.delete(op.input.key);
    }
    if (output.kind === 'list') for (const e of output.entries) this.seenRevision[op.client]!.set(e.key, e.revision);
    this.finish(op, { status: 'ok', output, returnAt: this.clock++ });
  }

  /** An operation the checker does not model (a lease grant) ends without a history entry. */
  private finishUnrecorded(op: InFlight): void {
    if (op.done) return;
    op.done = true;
    this.inFlight.delete(op.id);
    this.completed++;
    this.scheduleNext(op.client);
  }

  private finish(op: InFlight, outcome: Outcome): void {
    if (op.done) return;
    if (op.request?.op === 'lease_grant') return this.finishUnrecorded(op);
    op.done = true;
    this.inFlight.delete(op.id);
    this.history.push({ id: op.id, client: op.client, input: op.input, callAt: op.callAt, outcome });
    // A lease key may be deleted by its lease's expiry, any time after the put.
    if (op.request?.op === 'put' && op.request.lease !== undefined && outcome.status !== 'failed' && 'key' in op.input) {
      this.expiries.push({ id: -1 - this.expiries.length, client: -1, input: { kind: 'delete', key: op.input.key }, callAt: op.callAt, outcome: { status: 'indeterminate' } });
    }
    this.completed++;
    this.scheduleNext(op.client);
  }

  /** Every operation, and the lease expiries that may have deleted lease keys (unanswered deletes). */
  fullHistory(): HistoryOp[] {
    return [...this.history, ...this.expiries];
  }

  /** The running node that has applied least (the first such), or any node when none runs. */
  private laggard(): NodeId {
    let best: NodeId | null = null;
    for (const id of this.cluster.ids) {
      if (this.cluster.kvNode(id) === null) continue;
      if (best === null || this.cluster.appliedIndex(id) < this.cluster.appliedIndex(best)) best = id;
    }
    return best ?? this.cluster.ids[0]!;
  }

  /** The full history with stale reads left out: they are not meant to be linearizable. */
  linearizableHistory(): HistoryOp[] {
    return this.fullHistory().filter((op) => !this.staleReads.has(op.id));
  }
}
