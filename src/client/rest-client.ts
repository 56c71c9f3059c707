import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import {
  Backoff,
  checkIdempotencyKey,
  checkKey as checkKeyLength,
  usage,
  type DeleteOptions,
  type DeleteResult,
  type Failed,
  type GetOptions,
  type GetResult,
  type Key,
  type LeaseGrantResult,
  type LeaseRevokeResult,
  type LeasesResult,
  type ListEntry,
  type ListOptions,
  type ListResult,
  type MaybeApplied,
  type PutOptions,
  type PutResult,
  type RetryOptions,
  type SnapshotResult,
  type TxnInput,
  type TxnOpInput,
  type TxnOpOutput,
  type TxnResult,
  type Value,
  type WaitResult,
} from './common.js';
import { encodeKey, keyFromJson, valueFromJson, valueToJson } from './json-forms.js';
import { acquireLock, Lease, type LockOptions, type LockResult } from './lease-lock.js';
import { watchEvents, type WatchOptions, type WatchedRevision } from './watch-stream.js';

/**
 * A REST client for kvstore (SPEC §3) on Node's fetch.
 *
 * - Follows `307` redirects itself (method, body and headers preserved) and caches the
 *   leader's endpoint from `Location`, so later requests go straight to the leader.
 * - Retries what is safe to retry — `503` and `429` (the node promises nothing was applied)
 *   and connections that could not be opened — on the next endpoint, with capped exponential
 *   backoff and full jitter, a bounded number of times. A write is always retried with the
 *   SAME `Idempotency-Key` (one is generated per call when the caller gives none).
 * - Never retries a write whose outcome is unknown: `504`, a timeout or a connection reset
 *   after the request was sent are reported as `maybe_applied`.
 */

export interface KvClientOptions extends RetryOptions {
  /** Base URLs of the members, e.g. `http://127.0.0.1:8081`; at least one. */
  readonly endpoints: readonly string[];
}

export interface MemberInfo {
  readonly id: string;
  readonly raft_addr: string;
  readonly http_addr: string;
  readonly grpc_addr: string;
}

export interface NodeStatus {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leader_id: string | null;
  readonly commit_index: number;
  readonly applied_index: number;
  readonly last_log_index: number;
  readonly members: readonly MemberInfo[];
}

export type StatusResult = { readonly ok: true; readonly endpoint: string; readonly status: NodeStatus } | Failed;

/** A member of the configuration, as `GET /v1/members` lists it. */
export interface ClusterMember extends MemberInfo {
  readonly role: 'voter' | 'learner';
}

export interface MembersList {
  readonly ok: true;
  readonly leaderId: string | null;
  /** The log index of the configuration entry in effect (0: the bootstrap configuration). */
  readonly configIndex: number;
  /** False while a change is in flight. */
  readonly committed: boolean;
  readonly members: readonly ClusterMember[];
}
export type MembersResult = MembersList | Failed;
/** A committed change: the configuration after it, and the index of its entry. */
export type MemberChangeResult = (MembersList & { readonly index: number }) | Failed | MaybeApplied;
export type LeaderTransferResult = { readonly ok: true; readonly leaderId: string; readonly term: number } | Failed | MaybeApplied;

function changeOf(j: Record<string, unknown>): (MembersList & { readonly index: number }) | null {
  const list = membersListOf(j);
  return list !== null && typeof j['index'] === 'number' ? { ...list, index: j['index'] } : null;
}

function membersListOf(j: Record<string, unknown>): MembersList | null {
  const members = j['members'];
  if (typeof j['config_index'] !== 'number' || typeof j['committed'] !== 'boolean' || !Array.isArray(members)) return null;
  const leaderId = j['leader_id'];
  return { ok: true, leaderId: typeof leaderId === 'string' ? leaderId : null, configIndex: j['config_index'], committed: j['committed'], members: members as ClusterMember[] };
}

/** Connection errors that prove the request never reached a server. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function errorCodes(e: unknown): string[] {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (x: unknown): void => {
    if (x === null || typeof x !== 'object' || seen.has(x)) return;
    seen.add(x);
    const o = x as { code?: unknown; cause?: unknown; errors?: unknown; name?: unknown };
    if (typeof o.code === 'string') codes.push(o.code);
    if (typeof o.name === 'string') codes.push(o.name);
    visit(o.cause);
    if (Array.isArray(o.errors)) for (const inner of o.errors) visit(inner);
  };
  visit(e);
  return codes;
}

function describe(e: unknown): string {
  const codes = errorCodes(e).filter((c) => c !== 'Error' && c !== 'TypeError');
  const msg = e instanceof Error ? e.message : String(e);
  return codes.length > 0 ? `${msg} (${[...new Set(codes)].join(', ')})` : msg;
}

/** Whether a fetch failure proves the request was never delivered. */
function notSent(e: unknown): boolean {
  // fetch refuses some ports outright (the Fetch standard's "bad port" list) before connecting.
  const cause = (e as { cause?: unknown } | null)?.cause;
  if (cause instanceof Error && cause.message === 'bad port') return true;
  return errorCodes(e).some((c) => NOT_SENT_CODES.has(c));
}

function originOf(url: string): string | null {
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

interface CallSpec {
  readonly method: 'GET' | 'PUT' | 'DELETE' | 'POST';
  /** Path and query, e.g. `/v1/kv/a%2Fb?consistency=lease`. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array;
  /** Writes: a failure after sending is `maybe_applied`; reads are retried. */
  readonly write: boolean;
  readonly idempotencyKey: string;
  /** A 200's body is handed over unread, as a stream (backups). */
  readonly stream?: true;
}

/** A 200 handed over unread (CallSpec.stream). */
interface Streamed {
  readonly kind: 'stream';
  readonly headers: Headers;
  readonly body: AsyncIterable<Uint8Array>;
}

type Exchange =
  | { readonly kind: 'response'; readonly status: number; readonly headers: Headers; readonly body: Uint8Array }
  | Failed
  | MaybeApplied;

export class KvClient {
  /** @internal */
  readonly endpoints: readonly string[];
  private readonly retry: Backoff;
  /** @internal */
  readonly auth: Readonly<Record<string, string>>;
  private leader: string | null = null;
  private next = 0;

  constructor(options: KvClientOptions) {
    const endpoints = options.endpoints.map((e) => e.trim().replace(/\/+$/, '')).filter((e) => e !== '');
    if (endpoints.length === 0) throw new Error('KvClient needs at least one endpoint');
    for (const e of endpoints) if (originOf(e) === null) throw new Error(`not a URL: ${e}`);
    this.endpoints = endpoints;
    this.retry = new Backoff(options);
    this.auth = options.token === undefined ? {} : { authorization: `Bearer ${options.token}` };
  }

  /** The leader's endpoint as last learned from a redirect or a success, if any. */
  get cachedLeader(): string | null {
    return this.leader;
  }

  async put(key: Key, value: Value, opts: PutOptions = {}): Promise<PutResult> {
    const bad = checkKey(key);
    if (bad !== null) return bad;
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
    if (opts.ifRevision !== undefined && opts.ifAbsent === true) return usage('bad_request', 'use ifRevision or ifAbsent, not both');
    if (opts.ifRevision !== undefined) headers['if-match'] = `"${opts.ifRevision}"`;
    if (opts.ifAbsent === true) headers['if-none-match'] = '*';
    if (opts.lease !== undefined && !(Number.isSafeInteger(opts.lease) && opts.lease >= 1)) return usage('bad_request', 'a lease id is a positive integer');
    const idempotencyKey = opts.idempotencyKey ?? randomUUID();
    const badKey = checkHeaderIdempotencyKey(idempotencyKey);
    if (badKey !== null) return badKey;
    headers['idempotency-key'] = idempotencyKey;
    const body = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    const query = opts.lease === undefined ? '' : `?lease=${opts.lease}`;
    const r = await this.call({ method: 'PUT', path: `/v1/kv/${encodeKey(key)}${query}`, headers, body, write: true, idempotencyKey });
    if (r.kind !== 'response') return r;
    if (r.status === 200) {
      const j = parseJson(r.body) as { revision?: unknown } | null;
      if (typeof j?.revision === 'number') return { ok: true, revision: j.revision, idempotencyKey };
    }
    return this.writeFailure(r, idempotencyKey);
  }

  async delete(key: Key, opts: DeleteOptions = {}): Promise<DeleteResult> {
    const bad = checkKey(key);
    if (bad !== null) return bad;
    const headers: Record<string, string> = {};
    if (opts.ifRevision !== undefined) headers['if-match'] = `"${opts.ifRevision}"`;
    const idempotencyKey = opts.idempotencyKey ?? randomUUID();
    const badKey = checkHeaderIdempotencyKey(idempotencyKey);
    if (badKey !== null) return badKey;
    headers['idempotency-key'] = idempotencyKey;
    const r = await this.call({ method: 'DELETE', path: `/v1/kv/${encodeKey(key)}`, headers, write: true, idempotencyKey });
    if (r.kind !== 'response') return r;
    if (r.status === 200) {
      const j = parseJson(r.body) as { deleted?: unknown; revision?: unknown } | null;
      if (typeof j?.deleted === 'boolean' && typeof j.revision === 'number') return { ok: true, deleted: j.deleted, revision: j.revision, idempotencyKey };
    }
    return this.writeFailure(r, idempotencyKey);
  }

  async get(key: Key, opts: GetOptions = {}): Promise<GetResult> {
    const bad = checkKey(key);
    if (bad !== null) return bad;
    const consistency = opts.consistency ?? 'linearizable';
    const r = await this.call({ method: 'GET', path: `/v1/kv/${encodeKey(key)}?consistency=${consistency}`, headers: {}, write: false, idempotencyKey: '' });
    if (r.kind === 'failed') return r;
    if (r.kind !== 'response') return { ok: false, kind: 'failed', status: r.status, error: r.error, message: r.message };
    if (r.status === 200) {
      const revision = revisionOf(r.headers.get('etag'));
      if (revision !== null) return { ok: true, value: r.body, revision };
    }
    return failedOf(r);
  }

  /** One page of the keys under `prefix` (empty: every key), in byte order. */
  async list(prefix: Key, opts: ListOptions = {}): Promise<ListResult> {
    const p = typeof prefix === 'string' ? Buffer.from(prefix, 'utf8') : prefix;
    const query = new URLSearchParams({ consistency: opts.consistency ?? 'linearizable' });
    if (opts.limit !== undefined) query.set('limit', String(opts.limit));
    if (opts.pageToken !== undefined) query.set('page_token', opts.pageToken);
    const flags = `list${opts.keysOnly === true ? '&keys_only' : ''}`;
    const r = await this.call({ method: 'GET', path: `/v1/kv/${p.length === 0 ? '' : encodeKey(p)}?${flags}&${query}`, headers: {}, write: false, idempotencyKey: '' });
    if (r.kind === 'failed') return r;
    if (r.kind !== 'response') return { ok: false, kind: 'failed', status: 0, error: 'unavailable', message: 'unexpected answer' };
    if (r.status !== 200) return failedOf(r);
    const j = parseJson(r.body) as { revision?: unknown; entries?: unknown; next_page_token?: unknown } | null;
    const entries = Array.isArray(j?.entries) ? j.entries.map(listEntryOf) : null;
    if (j === null || typeof j.revision !== 'number' || entries === null || entries.includes(null) || !(typeof j.next_page_token === 'string' || j.next_page_token === null)) {
      return { ok: false, kind: 'failed', status: r.status, error: 'bad_response', message: 'the listing is not in the documented form' };
    }
    return { ok: true, revision: j.revision, entries: entries as ListEntry[], nextPageToken: j.next_page_token };
  }

  /** Every key under `prefix`, page after page (each page its own consistent read). */
  async *listAll(prefix: Key, opts: Omit<ListOptions, 'pageToken'> = {}): AsyncGenerator<ListEntry, void, undefined> {
    let pageToken: string | undefined;
    for (;;) {
      const page = await this.list(prefix, { ...opts, ...(pageToken === undefined ? {} : { pageToken }) });
      if (!page.ok) throw new Error(`listing failed: ${page.error}: ${page.message}`);
      yield* page.entries;
      if (page.nextPageToken === null) return;
      pageToken = page.nextPageToken;
    }
  }

  /** etcd's Txn: if every comparison holds run `success`, else `failure`, atomically. */
  async txn(t: TxnInput, opts: { readonly idempotencyKey?: string } = {}): Promise<TxnResult> {
    const op = (o: TxnOpInput): object => (o.op === 'put' ? { op: 'put', key: encodeKey(o.key), value: valueToJson(o.value), ...(o.lease === undefined ? {} : { lease: o.lease }) } : { op: o.op, key: encodeKey(o.key) });
    const body = {
      compare: (t.compare ?? []).map((k) => ({ key: encodeKey(k.key), target: k.target, operator: k.operator ?? 'equal', ...(k.target === 'revision' ? { revision: k.revision } : { value: valueToJson(k.value) }) })),
      success: (t.success ?? []).map(op),
      failure: (t.failure ?? []).map(op),
    };
    return this.postJson('/v1/txn', body, opts.idempotencyKey, (j, idempotencyKey) => {
      const results = Array.isArray(j['results']) ? j['results'].map(txnOpOutputOf) : null;
      if (typeof j['succeeded'] !== 'boolean' || typeof j['revision'] !== 'number' || results === null || results.includes(null)) return null;
      return { ok: true, succeeded: j['succeeded'], revision: j['revision'], results: results as TxnOpOutput[], idempotencyKey };
    });
  }

  /** Grants a lease of `ttlSeconds` (raised by the server to its minimum if below). */
  async grantLease(ttlSeconds: number, opts: { readonly idempotencyKey?: string } = {}): Promise<LeaseGrantResult> {
    return this.postJson('/v1/leases', { ttl: ttlSeconds }, opts.idempotencyKey, (j, idempotencyKey) =>
      typeof j['id'] === 'number' && typeof j['ttl'] === 'number' ? { ok: true, id: j['id'], ttl: j['ttl'], idempotencyKey } : null,
    );
  }

  /** Ends a lease now: its keys are deleted at the revision answered. */
  async revokeLease(id: number, opts: { readonly idempotencyKey?: string } = {}): Promise<LeaseRevokeResult> {
    const idempotencyKey = opts.idempotencyKey ?? randomUUID();
    const bad = checkHeaderIdempotencyKey(idempotencyKey);
    if (bad !== null) return bad;
    const r = await this.call({ method: 'DELETE', path: `/v1/leases/${id}`, headers: { 'idempotency-key': idempotencyKey }, write: true, idempotencyKey });
    if (r.kind !== 'response') return r as Failed | MaybeApplied;
    const j = r.status === 200 ? (parseJson(r.body) as { revision?: unknown } | null) : null;
    if (typeof j?.revision === 'number') return { ok: true, revision: j.revision, idempotencyKey };
    return this.writeFailure(r, idempotencyKey);
  }

  /** Keeps a lease alive through the leader: it lives its TTL from now. */
  async keepAliveLease(id: number): Promise<{ readonly ok: true; readonly ttl: number } | Failed> {
    const r = await this.call({ method: 'POST', path: `/v1/leases/${id}/keepalive`, headers: {}, write: false, idempotencyKey: '' });
    if (r.kind !== 'response') return r as Failed;
    const j = r.status === 200 ? (parseJson(r.body) as { ttl?: unknown } | null) : null;
    return typeof j?.ttl === 'number' ? { ok: true, ttl: j.ttl } : failedOf(r);
  }

  /** A lease's TTL, the time it has left on the leader's clock, and its keys. */
  async leaseInfo(id: number): Promise<{ readonly ok: true; readonly ttl: number; readonly remainingMs: number | null; readonly keys: readonly Uint8Array[] } | Failed> {
    const r = await this.call({ method: 'GET', path: `/v1/leases/${id}`, headers: {}, write: false, idempotencyKey: '' });
    if (r.kind !== 'response') return r as Failed;
    const j = r.status === 200 ? (parseJson(r.body) as { ttl?: unknown; remaining_ms?: unknown; keys?: unknown } | null) : null;
    const keys = Array.isArray(j?.keys) ? j.keys.map(keyFromJson) : null;
    if (typeof j?.ttl !== 'number' || keys === null || keys.includes(null)) return failedOf(r);
    return { ok: true, ttl: j.ttl, remainingMs: typeof j.remaining_ms === 'number' ? j.remaining_ms : null, keys: keys as Uint8Array[] };
  }

  /** Grants a lease and keeps it alive in the background until it is revoked or lost (see Lease). */
  async lease(ttlSeconds: number): Promise<{ readonly ok: true; readonly lease: Lease } | Failed | MaybeApplied> {
    const sentAtMs = Date.now();
    const g = await this.grantLease(ttlSeconds);
    if (!g.ok) return g;
    return { ok: true, lease: new Lease(this, g.id, g.ttl, sentAtMs) };
  }

  /**
   * Takes the lock `key` (a create-only put of it on a lease, waiting while another
   * holds it). The lock's `token` is the revision of that put: larger for every
   * later holder, so a resource that remembers the largest token it has seen can
   * refuse a former holder that still believes it holds the lock (fencing), and a
   * write can be made conditional on still holding it with a transaction comparing
   * the lock key's revision to the token.
   */
  lock(key: Key, opts: LockOptions = {}): Promise<LockResult> {
    return acquireLock(this, key, opts);
  }

  /**
   * A blocking query (GET /v1/watch/{key}?index=): answers once `key` changed
   * after revision `index`, or after `waitMs`, with the revision to go on from. A
   * `compacted` failure names in `oldestRevision` the oldest index it can wait from.
   */
  async waitForChange(key: Key, index: number, waitMs: number): Promise<WaitResult> {
    const r = await this.call({ method: 'GET', path: `/v1/watch/${encodeKey(key)}?index=${index}&wait=${Math.max(1, Math.ceil(waitMs))}ms`, headers: {}, write: false, idempotencyKey: '' });
    if (r.kind !== 'response') return r as Failed;
    const j = r.status === 200 ? (parseJson(r.body) as { index?: unknown } | null) : null;
    return typeof j?.index === 'number' ? { ok: true, index: j.index } : failedOf(r);
  }

  /**
   * Every revision that changes `key` (or, with prefix, a key under it) from
   * `fromRevision` on (default: from now), in order, exactly once: over SSE, moving
   * to another node with Last-Event-ID when one goes away. Throws when the watch
   * cannot go on (compacted, too slow): list again and watch from the listing's
   * revision + 1.
   */
  watch(key: Key, opts: WatchOptions = {}): AsyncGenerator<WatchedRevision, void, undefined> {
    return watchEvents(this.endpoints, this.auth, key, opts);
  }

  /** Every lease and its TTL. */
  async leases(opts: { readonly consistency?: 'linearizable' | 'lease' | 'stale' } = {}): Promise<LeasesResult> {
    const r = await this.call({ method: 'GET', path: `/v1/leases?consistency=${opts.consistency ?? 'linearizable'}`, headers: {}, write: false, idempotencyKey: '' });
    if (r.kind !== 'response') return r as Failed;
    const j = r.status === 200 ? (parseJson(r.body) as { revision?: unknown; leases?: unknown } | null) : null;
    if (j === null || typeof j.revision !== 'number' || !Array.isArray(j.leases)) return failedOf(r);
    return { ok: true, revision: j.revision, leases: j.leases as { id: number; ttl: number }[] };
  }

  /** A backup of the whole store, streamed from the leader (role admin when auth is on). */
  async snapshot(): Promise<SnapshotResult> {
    const r = await this.call({ method: 'GET', path: '/v1/snapshot', headers: {}, write: false, idempotencyKey: '', stream: true });
    if (r.kind === 'failed') return r;
    if (r.kind === 'stream') return { ok: true, index: Number(r.headers.get('x-kvstore-snapshot-index')), body: r.body };
    if (r.kind === 'response') return failedOf(r);
    return { ok: false, kind: 'failed', status: r.status, error: r.error, message: r.message };
  }

  /** The configuration in effect at the leader (with `stale`, at whichever node answers). */
  async members(opts: { readonly stale?: boolean } = {}): Promise<MembersResult> {
    const r = await this.call({ method: 'GET', path: `/v1/members${opts.stale === true ? '?consistency=stale' : ''}`, headers: {}, write: false, idempotencyKey: '' });
    if (r.kind !== 'response') return r as Failed;
    const j = r.status === 200 ? parseJson(r.body) : null;
    const out = typeof j === 'object' && j !== null ? membersListOf(j as Record<string, unknown>) : null;
    return out ?? failedOf(r);
  }

  /** Adds a member (a voter, or a learner that receives the log without voting); answered once committed. */
  async addMember(m: MemberInfo & { readonly learner: boolean }): Promise<MemberChangeResult> {
    return this.postJson('/v1/members', m, undefined, changeOf);
  }

  /** Makes a learner that has caught up a voter. */
  async promoteMember(id: string): Promise<MemberChangeResult> {
    return this.postJson(`/v1/members/${encodeURIComponent(id)}/promote`, {}, undefined, changeOf);
  }

  async removeMember(id: string): Promise<MemberChangeResult> {
    const idempotencyKey = randomUUID();
    const r = await this.call({ method: 'DELETE', path: `/v1/members/${encodeURIComponent(id)}`, headers: {}, write: true, idempotencyKey });
    if (r.kind !== 'response') return r as Failed | MaybeApplied;
    const j = r.status === 200 ? parseJson(r.body) : null;
    const out = typeof j === 'object' && j !== null ? changeOf(j as Record<string, unknown>) : null;
    return out ?? this.writeFailure(r, idempotencyKey);
  }

  /** Hands leadership to `to` (or, without it, the most up-to-date voter); answered once it leads. */
  async transferLeader(to?: string): Promise<LeaderTransferResult> {
    return this.postJson('/v1/leader/transfer', to === undefined ? {} : { to }, undefined, (j) =>
      typeof j['leader_id'] === 'string' && typeof j['term'] === 'number' ? { ok: true, leaderId: j['leader_id'], term: j['term'] } : null,
    );
  }

  /** POSTs a JSON write (idempotent with its key) and reads the answer with `parse` (null: not the documented form). */
  private async postJson<T extends { readonly ok: true }>(path: string, body: object, key: string | undefined, parse: (j: Record<string, unknown>, idempotencyKey: string) => T | null): Promise<T | Failed | MaybeApplied> {
    const idempotencyKey = key ?? randomUUID();
    const bad = checkHeaderIdempotencyKey(idempotencyKey);
    if (bad !== null) return bad;
    const headers = { 'content-type': 'application/json', 'idempotency-key': idempotencyKey };
    const r = await this.call({ method: 'POST', path, headers, body: Buffer.from(JSON.stringify(body)), write: true, idempotencyKey });
    if (r.kind !== 'response') return r as Failed | MaybeApplied;
    if (r.status === 200) {
      const j = parseJson(r.body);
      const out = typeof j === 'object' && j !== null ? parse(j as Record<string, unknown>, idempotencyKey) : null;
      if (out !== null) return out;
    }
    return this.writeFailure(r, idempotencyKey);
  }

  /** One node's `/v1/status`: the given endpoint only, or the first configured one that answers. */
  async status(endpoint?: string): Promise<StatusResult> {
    const targets = endpoint !== undefined ? [endpoint.replace(/\/+$/, '')] : this.endpoints;
    let last: Failed = { ok: false, kind: 'failed', status: 0, error: 'unavailable', message: 'no endpoint answered' };
    for (const target of targets) {
      try {
        const res = await fetch(`${target}/v1/status`, { headers: this.auth, signal: AbortSignal.timeout(this.retry.requestTimeoutMs), redirect: 'manual' });
        const body = new Uint8Array(await res.arrayBuffer());
        if (res.status === 200) {
          const j = parseJson(body) as NodeStatus | null;
          if (j !== null && typeof j.id === 'string') return { ok: true, endpoint: target, status: j };
        }
        last = failedOf({ status: res.status, headers: res.headers, body });
      } catch (e) {
        last = { ok: false, kind: 'failed', status: 0, error: 'unavailable', message: `${target}: ${describe(e)}` };
      }
    }
    return last;
  }

  private writeFailure(r: Exchange & { kind: 'response' }, idempotencyKey: string): Failed | MaybeApplied {
    const f = failedOf(r);
    // 4xx and 503 promise the write was not applied; anything else (504, 500, a 200 we cannot read) may have been.
    if ((r.status >= 400 && r.status < 500) || r.status === 503) return f;
    return { ok: false, kind: 'maybe_applied', status: r.status, error: f.error, message: f.message, idempotencyKey };
  }

  private pickEndpoint(): string {
    if (this.leader !== null) return this.leader;
    const e = this.endpoints[this.next % this.endpoints.length]!;
    return e;
  }

  /** Moves on from an endpoint that could not serve: forget it as leader, try the next one. */
  private skip(endpoint: string): void {
    if (this.leader === endpoint) this.leader = null;
    const k = this.endpoints.indexOf(endpoint);
    this.next = k >= 0 ? k + 1 : this.next + 1;
  }

  /**
   * Runs one request to completion: redirects followed, retryable failures retried.
   * Returns the final HTTP answer (which may be a 503 after the last retry), a `failed`
   * when no node could be reached at all, or `maybe_applied` for a write lost after sending.
   */
  private call(req: CallSpec & { readonly stream?: undefined }): Promise<Exchange>;
  private call(req: CallSpec & { readonly stream: true }): Promise<Exchange | Streamed>;
  private async call(req: CallSpec): Promise<Exchange | Streamed> {
    const deadline = Date.now() + this.retry.callTimeoutMs;
    let target: string | null = null; // a redirect's URL, used for the next attempt
    let retries = 0;
    let last: Exchange = unavailable('no attempt made');
    for (let attempt = 0; attempt < this.retry.maxAttempts; attempt++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const base = target === null ? this.pickEndpoint() : originOf(target)!;
      const url: string = target ?? `${base}${req.path}`;
      target = null;
      let res: Response;
      let body: Uint8Array;
      try {
        res = await fetch(url, {
          method: req.method,
          headers: { ...req.headers, ...this.auth },
          ...(req.body !== undefined ? { body: new Uint8Array(req.body) } : {}),
          redirect: 'manual',
          // A stream is read by the caller at its own pace: only its start has a deadline.
          signal: AbortSignal.timeout(Math.min(req.stream === true ? this.retry.callTimeoutMs : this.retry.requestTimeoutMs, remaining)),
        });
        if (req.stream === true && res.status === 200 && res.body !== null) {
          this.leader = base;
          return { kind: 'stream', headers: res.headers, body: res.body as unknown as AsyncIterable<Uint8Array> };
        }
        body = new Uint8Array(await res.arrayBuffer());
      } catch (e) {
        const message = `${base}: ${describe(e)}`;
        if (req.write && !notSent(e)) {
          return { ok: false, kind: 'maybe_applied', status: 0, error: 'connection_lost', message, idempotencyKey: req.idempotencyKey };
        }
        last = unavailable(message);
        this.skip(base);
        if (attempt + 1 < this.retry.maxAttempts) await delay(Math.min(this.retry.delayMs(retries++), Math.max(0, deadline - Date.now())));
        continue;
      }
      const response: Exchange = { kind: 'response', status: res.status, headers: res.headers, body };
      if (res.status === 307 || res.status === 308) {
        const location = res.headers.get('location');
        const leaderOrigin = location === null ? null : originOf(new URL(location, url).href);
        if (location !== null && leaderOrigin !== null) {
          this.leader = leaderOrigin;
          target = new URL(location, url).href;
          last = response;
          continue;
        }
        return response;
      }
      if (res.status === 503 || res.status === 429) {
        last = response;
        this.skip(base);
        if (attempt + 1 < this.retry.maxAttempts) await delay(Math.min(this.retry.delayMs(retries++), Math.max(0, deadline - Date.now())));
        continue;
      }
      // A node that answered a write or a linearizable read itself leads (stale reads are served by anyone).
      if (res.status < 500 && (req.write || !req.path.includes('consistency=stale'))) this.leader = base;
      return response;
    }
    if (last.kind === 'response' && (last.status === 307 || last.status === 308)) {
      return { ok: false, kind: 'failed', status: 0, error: 'too_many_redirects', message: `still redirected after ${this.retry.maxAttempts} attempts` };
    }
    return last;
  }
}

function listEntryOf(v: unknown): ListEntry | null {
  const e = v as { key?: unknown; value?: unknown; revision?: unknown; lease?: unknown } | null;
  const key = keyFromJson(e?.key);
  const value = e?.value === undefined ? null : valueFromJson(e.value);
  if (key === null || typeof e?.revision !== 'number' || typeof e.lease !== 'number' || (e.value !== undefined && value === null)) return null;
  return { key, value, revision: e.revision, lease: e.lease };
}

function txnOpOutputOf(v: unknown): TxnOpOutput | null {
  const o = v as { op?: unknown; deleted?: unknown; found?: unknown; value?: unknown; revision?: unknown } | null;
  if (o?.op === 'put') return { op: 'put' };
  if (o?.op === 'delete' && typeof o.deleted === 'boolean') return { op: 'delete', deleted: o.deleted };
  if (o?.op === 'get' && o.found === false) return { op: 'get', found: false };
  const value = valueFromJson(o?.value);
  if (o?.op === 'get' && o.found === true && value !== null && typeof o.revision === 'number') return { op: 'get', found: true, value, revision: o.revision };
  return null;
}

function parseJson(body: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(body).toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

function revisionOf(etag: string | null): number | null {
  if (etag === null) return null;
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(etag);
  return m === null ? null : Number(m[1]);
}

function failedOf(r: { status: number; headers: Headers; body: Uint8Array }): Failed {
  const j = parseJson(r.body) as { error?: unknown; message?: unknown } | null;
  const error = typeof j?.error === 'string' ? j.error : `http_${r.status}`;
  const message = typeof j?.message === 'string' ? j.message : Buffer.from(r.body).toString('utf8').slice(0, 200);
  const current = r.status === 412 ? revisionOf(r.headers.get('etag')) : null;
  const oldest = r.status === 410 ? revisionOf(r.headers.get('x-kvstore-oldest-revision')) : null;
  return { ok: false, kind: 'failed', status: r.status, error, message, ...(current !== null ? { currentRevision: current } : {}), ...(oldest !== null ? { oldestRevision: oldest } : {}) };
}

function unavailable(message: string): Failed {
  return { ok: false, kind: 'failed', status: 0, error: 'unavailable', message };
}

/** Keys the server refuses, and those the URL syntax cannot carry: a whole path segment of `.` / `..` (fetch would normalize it away). */
function checkKey(key: Key): Failed | null {
  const bad = checkKeyLength(key);
  if (bad !== null) return bad;
  const s = typeof key === 'string' ? key : Buffer.from(key).toString('latin1');
  if (s === '.' || s === '..') return usage('bad_key', `the key ${s} cannot be sent in a URL`);
  return null;
}

/** An idempotency key travels in a header, so it must be visible ASCII too. */
function checkHeaderIdempotencyKey(idempotencyKey: string): Failed | null {
  if (!/^[\x21-\x7e]*$/.test(idempotencyKey)) return usage('bad_request', 'an idempotency key sent over REST must be visible ASCII');
  return checkIdempotencyKey(idempotencyKey);
}
