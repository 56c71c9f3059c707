import type * as grpc from '@grpc/grpc-js';
import { commandProblem, resultOf, type KvCommand, type LeaseId, type ResultOf } from '../kv/command.js';
import type { KvStateMachine } from '../kv/state-machine.js';
import type { ApiMetrics, KvConsistency, KvOp } from '../metrics/api-metrics.js';
import { secondsSince } from '../metrics/elapsed.js';
import { proposeCommand, readThrough, type KvNode, type LeaseInfo, type Outcome } from '../node/kv-node.js';
import type { LeaseRecord } from '../kv/leases.js';
import { fail, type Answer, type UnaryRunner } from './unary.js';

/** Something a handler got from the node, or the answer the call gets instead. */
export type Got<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly answer: Answer<never> };

/** The proto's consistency, checked (an unknown enum number is INVALID_ARGUMENT). */
export function consistencyOf(c: string): KvConsistency | null {
  return c === 'LINEARIZABLE' ? 'linearizable' : c === 'LEASE' ? 'lease' : c === 'STALE' ? 'stale' : null;
}

/** How gRPC handlers reach the node: proposals and reads, timed for the metrics. */
export class NodeCalls {
  constructor(
    readonly node: KvNode,
    private readonly runner: UnaryRunner,
    private readonly api: ApiMetrics,
  ) {}

  async propose<C extends KvCommand>(call: grpc.ServerUnaryCall<unknown, unknown>, op: KvOp, command: C): Promise<Got<ResultOf<C>>> {
    const problem = commandProblem(command);
    if (problem !== null) return { ok: false, answer: fail('bad_request', problem) };
    const started = process.hrtime.bigint();
    const o = await proposeCommand(this.node, command);
    this.api.observeKv(op, 'linearizable', secondsSince(started));
    if (!o.ok) return { ok: false, answer: this.runner.refused(o.error, call) };
    const r = resultOf(command, o.value);
    if (!r.ok) return { ok: false, answer: fail('idempotency_key_reused', `this request_id was first used for a ${r.firstOp}, not a ${command.op}; nothing was applied`) };
    return { ok: true, value: r.result };
  }

  /** Keeps a lease alive through the leader; null if it no longer exists (or its expiry is proposed). */
  async keepAlive(call: grpc.ServerUnaryCall<unknown, unknown>, id: LeaseId): Promise<Got<LeaseRecord | null>> {
    const started = process.hrtime.bigint();
    const o = await new Promise<Outcome<LeaseRecord | null>>((done) => this.node.keepAlive(id, done));
    if (!o.ok) return { ok: false, answer: this.runner.refused(o.error, call) };
    this.api.observeKv('lease_keepalive', 'linearizable', secondsSince(started));
    return { ok: true, value: o.value };
  }

  async leaseInfo(call: grpc.ServerUnaryCall<unknown, unknown>, id: LeaseId, consistency: string): Promise<Got<LeaseInfo | null>> {
    const c = consistencyOf(consistency);
    if (c === null) return { ok: false, answer: fail('bad_request', 'consistency is LINEARIZABLE, LEASE or STALE') };
    const started = process.hrtime.bigint();
    const o = await new Promise<Outcome<LeaseInfo | null>>((done) => this.node.leaseInfo(id, c, done));
    if (!o.ok) return { ok: false, answer: this.runner.refused(o.error, call) };
    this.api.observeKv('get', c, secondsSince(started));
    return { ok: true, value: o.value };
  }

  /** The applied state this consistency may see, given to `view` at once (it must read synchronously). */
  async read<T>(call: grpc.ServerUnaryCall<unknown, unknown>, op: KvOp, consistency: string, view: (state: KvStateMachine) => T): Promise<Got<T>> {
    const c = consistencyOf(consistency);
    if (c === null) return { ok: false, answer: fail('bad_request', 'consistency is LINEARIZABLE, LEASE or STALE') };
    const started = process.hrtime.bigint();
    const o = await readThrough(this.node, c, view);
    if (!o.ok) return { ok: false, answer: this.runner.refused(o.error, call) };
    this.api.observeKv(op, c, secondsSince(started));
    return { ok: true, value: o.value };
  }
}
