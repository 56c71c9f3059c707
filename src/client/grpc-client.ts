import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import type { KVClient } from '../grpc/generated/kvstore/v1/KV.js';
import { createKvClient } from '../grpc/proto.js';
import {
  Backoff,
  bytesOf,
  checkIdempotencyKey,
  checkKey,
  usage,
  type DeleteOptions,
  type DeleteResult,
  type Failed,
  type GetOptions,
  type GetResult,
  type Key,
  type MaybeApplied,
  type PutOptions,
  type PutResult,
  type RetryOptions,
  type Value,
} from './common.js';

/**
 * A gRPC client for kvstore (SPEC §4) on @grpc/grpc-js, with the same surface and the
 * same result union as the REST `KvClient`:
 *
 * - Any node can be called (a follower forwards to the leader). The leader's id is read
 *   from the `x-raft-leader` metadata; when `members` maps that id to an endpoint, later
 *   calls go straight to it, otherwise the client stays on the endpoint that last answered.
 * - `UNAVAILABLE` is retried on the next endpoint with capped exponential backoff and full
 *   jitter, a bounded number of times, always with the SAME `request_id` (one is generated
 *   per write when the caller gives none), so a retried write is applied at most once.
 * - A write answered `DEADLINE_EXCEEDED` or `UNKNOWN` (or lost after it may have been
 *   sent) is never retried: it is reported as `maybe_applied`.
 *
 * `status` in a result is the HTTP status the REST API gives for the same catalog code
 * (404 not found, 412 revision mismatch, 503 unavailable, 504 outcome unknown, …), or 0
 * when no node answered, so both clients' results compare as equals; the gRPC status
 * name starts `message`.
 */

export interface KvGrpcClientOptions extends RetryOptions {
  /** gRPC `host:port` of the members; at least one. */
  readonly endpoints: readonly string[];
  /** Node id → gRPC endpoint, to send calls straight to the leader named in `x-raft-leader`. */
  readonly members?: Readonly<Record<string, string>>;
  readonly credentials?: grpc.ChannelCredentials;
  readonly channelOptions?: grpc.ChannelOptions;
}

/** Per-call deadline: the whole call (retries included) ends by then; each attempt carries it. */
export interface CallDeadline {
  readonly timeoutMs?: number;
}

const LEADER_METADATA = 'x-raft-leader';
/** Sent with RESOURCE_EXHAUSTED when the server had too many calls in progress (src/grpc/guards.ts). */
const RETRY_AFTER_METADATA = 'retry-after';
const ANSWERED_BY_METADATA = 'x-kvstore-answered-by';
const REVISION_METADATA = 'x-kvstore-revision';

/** The REST status and error code the server's catalog gives a gRPC status (src/errors.ts). */
const STATUS_OF: Partial<Record<grpc.status, { status: number; error: string }>> = {
  [grpc.status.INVALID_ARGUMENT]: { status: 400, error: 'bad_request' },
  [grpc.status.NOT_FOUND]: { status: 404, error: 'key_not_found' },
  [grpc.status.FAILED_PRECONDITION]: { status: 412, error: 'revision_mismatch' },
  [grpc.status.RESOURCE_EXHAUSTED]: { status: 413, error: 'value_too_large' },
  [grpc.status.UNAVAILABLE]: { status: 503, error: 'no_leader' },
  [grpc.status.DEADLINE_EXCEEDED]: { status: 504, error: 'outcome_unknown' },
  [grpc.status.INTERNAL]: { status: 500, error: 'internal' },
  [grpc.status.UNIMPLEMENTED]: { status: 405, error: 'method_not_allowed' },
  [grpc.status.UNAUTHENTICATED]: { status: 401, error: 'unauthenticated' },
  [grpc.status.PERMISSION_DENIED]: { status: 403, error: 'permission_denied' },
};

/** RESOURCE_EXHAUSTED is a value too large, or, with retry-after, too many calls in progress (retryable). */
function tooManyCalls(err: grpc.ServiceError): boolean {
  return err.code === grpc.status.RESOURCE_EXHAUSTED && metaString(err.metadata, RETRY_AFTER_METADATA) !== undefined;
}

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

interface Reply<Res> {
  readonly err: grpc.ServiceError | null;
  readonly res: Res | undefined;
  readonly leader: string | undefined;
}

function metaString(md: grpc.Metadata | undefined, key: string): string | undefined {
  const v = md?.get(key)[0];
  return v === undefined ? undefined : String(v);
}

function invoke<Req, Res>(client: KVClient, method: Unary<Req, Res>, req: Req, deadline: number, token: string | undefined): Promise<Reply<Res>> {
  return new Promise((resolve) => {
    let leader: string | undefined;
    const md = new grpc.Metadata();
    if (token !== undefined) md.set('authorization', `Bearer ${token}`);
    const c = method.call(client, req, md, { deadline }, (err, res) => {
      resolve({ err, res, leader: leader ?? metaString(err?.metadata, LEADER_METADATA) });
    });
    c.on('metadata', (md: grpc.Metadata) => {
      leader = metaString(md, LEADER_METADATA) ?? leader;
    });
  });
}

/** Whether an error proves the call never reached a handler (so a write was not applied). */
function provenNotApplied(err: grpc.ServiceError): boolean {
  if (metaString(err.metadata, ANSWERED_BY_METADATA) !== undefined) return err.code !== grpc.status.DEADLINE_EXCEEDED && err.code !== grpc.status.UNKNOWN;
  return err.code === grpc.status.UNAVAILABLE && /No connection established|ECONNREFUSED|connect|Name resolution/i.test(err.details);
}

function failedOf(endpoint: string, err: grpc.ServiceError): Failed {
  const answered = metaString(err.metadata, ANSWERED_BY_METADATA) !== undefined;
  const mapped = tooManyCalls(err) ? { status: 429, error: 'too_many_requests' } : STATUS_OF[err.code];
  const message = `${grpc.status[err.code] ?? err.code}: ${endpoint}: ${err.details}`;
  if (err.code === grpc.status.UNAVAILABLE && !answered) return { ok: false, kind: 'failed', status: 0, error: 'unavailable', message };
  const current = err.code === grpc.status.FAILED_PRECONDITION ? metaString(err.metadata, REVISION_METADATA) : undefined;
  return {
    ok: false,
    kind: 'failed',
    status: mapped?.status ?? 0,
    error: mapped?.error ?? `grpc_${(grpc.status[err.code] ?? String(err.code)).toLowerCase()}`,
    message,
    ...(current !== undefined && /^\d+$/.test(current) ? { currentRevision: Number(current) } : {}),
  };
}

function maybeAppliedOf(endpoint: string, err: grpc.ServiceError, idempotencyKey: string): MaybeApplied {
  const answered = metaString(err.metadata, ANSWERED_BY_METADATA) !== undefined;
  const deadline = err.code === grpc.status.DEADLINE_EXCEEDED;
  return {
    ok: false,
    kind: 'maybe_applied',
    status: deadline ? 504 : answered && err.code === grpc.status.INTERNAL ? 500 : 0,
    error: deadline ? (answered ? 'outcome_unknown' : 'deadline_exceeded') : 'connection_lost',
    message: `${grpc.status[err.code] ?? err.code}: ${endpoint}: ${err.details}`,
    idempotencyKey,
  };
}

type Outcome<Res> = { readonly kind: 'ok'; readonly res: Res } | Failed | MaybeApplied;

export class KvGrpcClient {
  private readonly endpoints: readonly string[];
  private readonly members: ReadonlyMap<string, string>;
  private readonly retry: Backoff;
  private readonly credentials: grpc.ChannelCredentials;
  private readonly channelOptions: grpc.ChannelOptions | undefined;
  private readonly token: string | undefined;
  private readonly clients = new Map<string, KVClient>();
  private preferred: string | null = null;
  private leaderId: string | null = null;
  private next = 0;
  private closed = false;

  constructor(options: KvGrpcClientOptions) {
    const endpoints = options.endpoints.map((e) => e.trim()).filter((e) => e !== '');
    if (endpoints.length === 0) throw new Error('KvGrpcClient needs at least one endpoint');
    this.endpoints = endpoints;
    this.members = new Map(Object.entries(options.members ?? {}));
    this.retry = new Backoff(options);
    this.credentials = options.credentials ?? grpc.credentials.createInsecure();
    this.channelOptions = options.channelOptions;
    this.token = options.token;
  }

  /** The leader's node id as last seen in `x-raft-leader`, if any. */
  get cachedLeaderId(): string | null {
    return this.leaderId;
  }

  /** The endpoint the next call goes to first (the leader's, when `members` names it). */
  get cachedLeader(): string | null {
    return this.preferred;
  }

  async put(key: Key, value: Value, opts: PutOptions & CallDeadline = {}): Promise<PutResult> {
    const bad = checkKey(key);
    if (bad !== null) return bad;
    const k = bytesOf(key);
    if (opts.ifRevision !== undefined && opts.ifAbsent === true) return usage('bad_request', 'use ifRevision or ifAbsent, not both');
    const idempotencyKey = opts.idempotencyKey ?? randomUUID();
    const badKey = checkIdempotencyKey(idempotencyKey);
    if (badKey !== null) return badKey;
    const req = {
      key: k,
      value: bytesOf(value),
      create_only: opts.ifAbsent === true,
      request_id: idempotencyKey,
      ...(opts.ifRevision !== undefined ? { expected_revision: opts.ifRevision } : {}),
    };
    const o = await this.run<typeof req, { revision?: number | string }>((c) => c.Put as Unary<typeof req, { revision?: number | string }>, req, true, idempotencyKey, opts.timeoutMs);
    if (o.kind !== 'ok') return o;
    return { ok: true, revision: Number(o.res.revision ?? 0), idempotencyKey };
  }

  async delete(key: Key, opts: DeleteOptions & CallDeadline = {}): Promise<DeleteResult> {
    const bad = checkKey(key);
    if (bad !== null) return bad;
    const k = bytesOf(key);
    const idempotencyKey = opts.idempotencyKey ?? randomUUID();
    const badKey = checkIdempotencyKey(idempotencyKey);
    if (badKey !== null) return badKey;
    const req = { key: k, request_id: idempotencyKey, ...(opts.ifRevision !== undefined ? { expected_revision: opts.ifRevision } : {}) };
    type Res = { deleted?: boolean; revision?: number | string };
    const o = await this.run<typeof req, Res>((c) => c.Delete as Unary<typeof req, Res>, req, true, idempotencyKey, opts.timeoutMs);
    if (o.kind !== 'ok') return o;
    return { ok: true, deleted: o.res.deleted === true, revision: Number(o.res.revision ?? 0), idempotencyKey };
  }

  async get(key: Key, opts: GetOptions & CallDeadline = {}): Promise<GetResult> {
    const bad = checkKey(key);
    if (bad !== null) return bad;
    const k = bytesOf(key);
    const consistency = (opts.consistency ?? 'linearizable').toUpperCase();
    const req = { key: k, consistency };
    type Res = { value?: Buffer; revision?: number | string };
    const o = await this.run<typeof req, Res>((c) => c.Get as Unary<typeof req, Res>, req, false, '', opts.timeoutMs, consistency !== 'STALE');
    if (o.kind === 'failed') return o;
    if (o.kind === 'maybe_applied') return { ok: false, kind: 'failed', status: o.status, error: o.error, message: o.message };
    const v = o.res.value ?? Buffer.alloc(0);
    return { ok: true, value: new Uint8Array(v.buffer, v.byteOffset, v.byteLength), revision: Number(o.res.revision ?? 0) };
  }

  /** Closes every channel; calls after this fail. */
  close(): void {
    this.closed = true;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(endpoint: string): KVClient {
    let c = this.clients.get(endpoint);
    if (c === undefined) {
      c = createKvClient(endpoint, this.credentials, this.channelOptions);
      this.clients.set(endpoint, c);
    }
    return c;
  }

  private pickEndpoint(): string {
    return this.preferred ?? this.endpoints[this.next % this.endpoints.length]!;
  }

  private skip(endpoint: string): void {
    if (this.preferred === endpoint) this.preferred = null;
    const k = this.endpoints.indexOf(endpoint);
    this.next = k >= 0 ? k + 1 : this.next + 1;
  }

  private learn(endpoint: string, leader: string | undefined, answeredByLeader: boolean): void {
    if (leader !== undefined) {
      this.leaderId = leader;
      const mapped = this.members.get(leader);
      if (mapped !== undefined) {
        this.preferred = mapped;
        return;
      }
    }
    // The server forwards, so the endpoint that answered works as well as any.
    if (answeredByLeader) this.preferred = endpoint;
  }

  /**
   * Runs one call to completion: UNAVAILABLE retried (same request), a read's per-attempt
   * timeout retried while the call's budget lasts; a write that may have been applied is
   * `maybe_applied`.
   */
  private async run<Req, Res>(
    method: (c: KVClient) => Unary<Req, Res>,
    req: Req,
    write: boolean,
    idempotencyKey: string,
    timeoutMs: number | undefined,
    leaderRead = true,
  ): Promise<Outcome<Res>> {
    if (this.closed) return usage('closed', 'the client is closed');
    const callDeadline = Date.now() + (timeoutMs ?? this.retry.callTimeoutMs);
    let last: Failed = usage('unavailable', 'no attempt made');
    let lastErr: { endpoint: string; err: grpc.ServiceError } | null = null;
    let maybeSent = false;
    let retries = 0;
    for (let attempt = 0; attempt < this.retry.maxAttempts; attempt++) {
      const remaining = callDeadline - Date.now();
      if (remaining <= 0) break;
      const endpoint = this.pickEndpoint();
      const c = this.client(endpoint);
      const r = await invoke(c, method(c), req, Date.now() + Math.min(this.retry.requestTimeoutMs, remaining), this.token);
      if (r.err === null) {
        this.learn(endpoint, r.leader, write || leaderRead);
        return { kind: 'ok', res: r.res as Res };
      }
      const err = r.err;
      lastErr = { endpoint, err };
      if (metaString(err.metadata, ANSWERED_BY_METADATA) !== undefined) this.learn(endpoint, r.leader, false);
      const retryable = err.code === grpc.status.UNAVAILABLE || tooManyCalls(err) || (!write && err.code === grpc.status.DEADLINE_EXCEEDED && Date.now() < callDeadline);
      if (write && (err.code === grpc.status.DEADLINE_EXCEEDED || err.code === grpc.status.UNKNOWN)) return maybeAppliedOf(endpoint, err, idempotencyKey);
      if (!retryable) {
        // INTERNAL without the server's trailer is the transport's (e.g. a protocol error after sending).
        if (write && err.code === grpc.status.INTERNAL && metaString(err.metadata, ANSWERED_BY_METADATA) === undefined) return maybeAppliedOf(endpoint, err, idempotencyKey);
        return failedOf(endpoint, err);
      }
      if (write && !provenNotApplied(err)) maybeSent = true;
      last = failedOf(endpoint, err);
      this.skip(endpoint);
      if (attempt + 1 < this.retry.maxAttempts) await delay(Math.min(this.retry.delayMs(retries++), Math.max(0, callDeadline - Date.now())));
    }
    // Still unavailable. A write some attempt may have delivered cannot be called failed.
    if (write && maybeSent && lastErr !== null) return maybeAppliedOf(lastErr.endpoint, lastErr.err, idempotencyKey);
    return last;
  }
}
