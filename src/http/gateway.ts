import type Koa from 'koa';
import type { NodeConfig, PeerConfig } from '../config/config.js';
import { formatHostPort } from '../config/config.js';
import { codeOfRequestError, type RequestError } from '../errors.js';
import { resultOf, type KvCommand, type LeaseId, type ResultOf } from '../kv/command.js';
import type { KvStateMachine } from '../kv/state-machine.js';
import type { ApiMetrics, KvOp } from '../metrics/api-metrics.js';
import { secondsSince } from '../metrics/elapsed.js';
import { proposeCommand, readThrough, type KvNode, type LeaseInfo, type Outcome } from '../node/kv-node.js';
import type { LeaseRecord } from '../kv/leases.js';
import type { NodeId } from '../raft/types.js';
import { HttpError } from './http-error.js';
import type { Consistency } from './request.js';

/**
 * How REST routes reach the node: proposals and reads, timed for the metrics,
 * and the answers when the node cannot take them: a follower answers 307 to the
 * leader's URL (from this node's config) with X-Raft-Leader (linearizable reads
 * unless http.follower_reads, writes unless http.forward_writes); no leader known
 * is 503; a write lost in flight is 504.
 */
export class Gateway {
  /** Where members are reached: raft.peers, and the members the log added since (MemberDirectory). */
  private readonly peers: Pick<ReadonlyMap<NodeId, PeerConfig>, 'get'>;
  // Every node of a cluster serves REST the same way: with TLS on, the leader's URL is https too.
  private readonly scheme: string;
  /** http.follower_reads: serve linearizable reads here through follower ReadIndex instead of redirecting them. */
  private readonly followerReads: boolean;
  /** http.forward_writes: take writes here and let the node forward them to the leader instead of redirecting them. */
  private readonly forwardWrites: boolean;

  constructor(
    config: NodeConfig,
    readonly node: KvNode,
    private readonly api: ApiMetrics,
    directory: Pick<ReadonlyMap<NodeId, PeerConfig>, 'get'> | null = null,
  ) {
    this.peers = directory ?? new Map<NodeId, PeerConfig>(config.raft.peers.map((p) => [p.id, p]));
    this.scheme = config.http.tlsCertFile === null ? 'http' : 'https';
    this.followerReads = config.http.followerReads;
    this.forwardWrites = config.http.forwardWrites;
  }

  redirect(ctx: Koa.Context, leaderId: NodeId): never {
    const leader = this.peers.get(leaderId);
    if (leader === undefined) throw new HttpError('no_leader', `the leader ${leaderId} is not in this node's configuration; retry`);
    const query = ctx.querystring === '' ? '' : `?${ctx.querystring}`;
    ctx.res.setHeader('X-Raft-Leader', leaderId);
    ctx.res.setHeader('Location', `${this.scheme}://${formatHostPort(leader.httpAddr)}${ctx.path}${query}`);
    throw new HttpError('not_leader', `${leaderId} is the leader`);
  }

  refuse(ctx: Koa.Context, error: RequestError): never {
    if (error.kind === 'not_leader' && error.leaderId !== null && error.leaderId !== this.node.id) this.redirect(ctx, error.leaderId);
    const code = codeOfRequestError(error);
    if (code === 'outcome_unknown') throw new HttpError(code, 'the request may or may not have been applied');
    if (code === 'node_stopping') throw new HttpError(code, 'this node is stopping; not applied; retry on another node');
    // A not_leader whose leader we cannot name is, to the client, no leader.
    throw new HttpError(code === 'not_leader' ? 'no_leader' : code, 'no leader can take the request now; retry');
  }

  /** Redirects before the body is read when this node already knows another leader (always, for what only the leader serves: lease keep-alives). */
  redirectIfFollower(ctx: Koa.Context): void {
    const leaderId = this.node.leaderId();
    if (leaderId !== null && leaderId !== this.node.id) this.redirect(ctx, leaderId);
  }

  /** A write at a follower: redirected before its body is read, unless http.forward_writes (the node forwards it then). */
  redirectWriteIfFollower(ctx: Koa.Context): void {
    if (!this.forwardWrites) this.redirectIfFollower(ctx);
  }

  /** Proposes `command` and answers with its result, or refuses the request. */
  async propose<C extends KvCommand>(ctx: Koa.Context, op: KvOp, command: C): Promise<ResultOf<C>> {
    const start = process.hrtime.bigint();
    const o = await proposeCommand(this.node, command);
    this.api.observeKv(op, 'linearizable', secondsSince(start));
    if (!o.ok) return this.refuse(ctx, o.error);
    const r = resultOf(command, o.value);
    if (!r.ok) throw new HttpError('idempotency_key_reused', `this Idempotency-Key was first used for a ${r.firstOp}, not a ${command.op}; nothing was applied`);
    return r.result;
  }

  /** Keeps a lease alive through the leader; null if it no longer exists (or its expiry is proposed). */
  async keepAlive(ctx: Koa.Context, id: LeaseId): Promise<LeaseRecord | null> {
    const start = process.hrtime.bigint();
    const o = await new Promise<Outcome<LeaseRecord | null>>((done) => this.node.keepAlive(id, done));
    if (!o.ok) return this.refuse(ctx, o.error);
    this.api.observeKv('lease_keepalive', 'linearizable', secondsSince(start));
    return o.value;
  }

  /** A lease, its keys and (through the leader) the time it has left; null if it does not exist. */
  async leaseInfo(ctx: Koa.Context, id: LeaseId, consistency: Consistency): Promise<LeaseInfo | null> {
    const start = process.hrtime.bigint();
    const o = await new Promise<Outcome<LeaseInfo | null>>((done) => this.node.leaseInfo(id, consistency, done));
    if (!o.ok) return this.refuse(ctx, o.error);
    this.api.observeKv('get', consistency, secondsSince(start));
    return o.value;
  }

  /**
   * The applied state a read of this consistency may see (local for stale, else
   * confirmed through the leader), given to `view` the moment it is served: it
   * must read what it needs synchronously.
   */
  async read<T>(ctx: Koa.Context, op: KvOp, consistency: Consistency, view: (state: KvStateMachine) => T): Promise<T> {
    if (consistency !== 'stale' && !this.followerReads) this.redirectIfFollower(ctx);
    const start = process.hrtime.bigint();
    const o = await readThrough(this.node, consistency, view);
    if (!o.ok) return this.refuse(ctx, o.error);
    this.api.observeKv(op, consistency, secondsSince(start));
    return o.value;
  }
}
