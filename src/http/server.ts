import Koa from 'koa';
import type { NodeConfig, PeerConfig } from '../config/config.js';
import { formatHostPort } from '../config/config.js';
import { idempotencyTag, type Condition, type KvResult, type RequestTag } from '../kv/command.js';
import { idempotencyKeyBytesMax, keyBytesMax } from '../kv/limits.js';
import type { Logger } from '../log.js';
import type { KvNode } from '../node/kv-node.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { secondsSince } from '../metrics/elapsed.js';
import type { NodeId } from '../raft/types.js';
import { codeOfRequestError, errorCatalog, type ErrorCode, type RequestError } from '../errors.js';
import { LogThrottle } from '../log-throttle.js';
import { TokenAuthority } from '../auth/tokens.js';
import { authMiddleware } from './auth.js';
import { HttpError } from './http-error.js';
import { HttpMetrics } from './http-metrics.js';
import { requestLimit } from './request-limit.js';
import { openApiDocument } from './openapi.js';

const KV_PREFIX = '/v1/kv/';
/** An Idempotency-Key header: visible ASCII, so its characters are its bytes. */
const IDEMPOTENCY_KEY_PATTERN = new RegExp(`^[\\x21-\\x7e]{1,${idempotencyKeyBytesMax}}$`);
/**
 * What a 503 tells the client to wait: about one election timeout, the time a
 * cluster that lost its leader needs to elect another (whole seconds, at least 1).
 */
export function retryAfterSeconds(electionTimeoutMs: number): number {
  return Math.max(1, Math.ceil(electionTimeoutMs / 1000));
}
/** How long a browser may cache a CORS preflight answer, in seconds. */
const CORS_MAX_AGE_SECONDS = '600';
const CORS_EXPOSED_HEADERS = 'ETag, X-Raft-Leader, Location, Retry-After';
const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, If-Match, If-None-Match, Idempotency-Key';

/** The routes, by template; the template is also the metrics label. */
interface Route {
  readonly template: string;
  readonly methods: readonly string[];
}
const KV_ROUTE: Route = { template: '/v1/kv/{key}', methods: ['GET', 'HEAD', 'PUT', 'DELETE'] };
const FIXED_ROUTES: ReadonlyMap<string, Route> = new Map(
  ['/v1/status', '/healthz', '/readyz', '/metrics', '/openapi.json'].map((p) => [p, { template: p, methods: ['GET', 'HEAD'] }]),
);
/** The metrics label of every path that matches no route (keeps label values bounded). */
const UNMATCHED_ROUTE = 'unmatched';

function routeOf(path: string): Route | null {
  if (path.startsWith(KV_PREFIX)) return KV_ROUTE;
  return FIXED_ROUTES.get(path) ?? null;
}

function allowOf(route: Route): string {
  return [...route.methods, 'OPTIONS'].join(', ');
}

/** Percent-decodes a path into raw bytes (any byte may be sent as %XX), or null if malformed. */
function decodePathBytes(raw: string): Uint8Array | null {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const ch = raw.charCodeAt(i);
    if (ch === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (ch < 0x80) {
      out.push(ch);
    } else {
      for (const b of Buffer.from(raw[i]!, 'utf8')) out.push(b);
    }
    if (out.length > keyBytesMax) return Uint8Array.from(out);
  }
  return Uint8Array.from(out);
}

function roleName(role: string): string {
  return role === 'preCandidate' ? 'pre_candidate' : role;
}

/**
 * Reads a request body, refusing (413) as soon as it is known to exceed `limit`:
 * from Content-Length before reading anything, else when the streamed total does.
 * Past the limit nothing more is kept: the rest is drained and dropped, so the
 * client can read the answer on its connection instead of seeing a reset.
 */
function readBody(ctx: Koa.Context, limit: number): Promise<Uint8Array> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) return Promise.reject(new HttpError('value_too_large', `value is ${declared} bytes; the limit is ${limit}`));
  const req = ctx.req;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      cleanup();
      req.resume();
      reject(new HttpError('value_too_large', `value exceeds the limit of ${limit} bytes`));
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (e: Error): void => {
      cleanup();
      reject(new HttpError('bad_request', `the body could not be read: ${e.message}`));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/**
 * The query of a key route: only `consistency`, at most once, and only on reads.
 * Anything else is a 400, so a typo never silently weakens a read.
 */
function consistencyOf(ctx: Koa.Context, read: boolean): 'linearizable' | 'lease' | 'stale' {
  const params = new URLSearchParams(ctx.querystring);
  let consistency: string | null = null;
  for (const [name, value] of params) {
    if (!read || name !== 'consistency') throw new HttpError('bad_request', `unknown query parameter ${JSON.stringify(name.slice(0, 64))}`);
    if (consistency !== null) throw new HttpError('bad_request', 'consistency is given twice');
    consistency = value;
  }
  if (consistency === null) return 'linearizable';
  if (consistency !== 'linearizable' && consistency !== 'lease' && consistency !== 'stale') {
    throw new HttpError('bad_request', 'consistency is linearizable, lease or stale');
  }
  return consistency;
}

function conditionOf(ctx: Koa.Context): Condition {
  const ifMatch = ctx.req.headers['if-match'];
  const ifNoneMatch = ctx.req.headers['if-none-match'];
  if (ifMatch !== undefined && ifNoneMatch !== undefined) throw new HttpError('bad_precondition', 'use If-Match or If-None-Match, not both');
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw new HttpError('bad_precondition', 'If-None-Match supports only *');
    return { kind: 'absent' };
  }
  if (ifMatch !== undefined) {
    const m = /^\s*"(\d{1,15})"\s*$/.exec(ifMatch);
    if (m === null) throw new HttpError('bad_precondition', 'If-Match must be one revision in quotes, like "42"');
    return { kind: 'revision', revision: Number(m[1]) };
  }
  return { kind: 'none' };
}

function tagOf(ctx: Koa.Context): RequestTag | null {
  const key = ctx.req.headers['idempotency-key'];
  if (key === undefined) return null;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(key)) throw new HttpError('bad_request', `Idempotency-Key is 1 to ${idempotencyKeyBytesMax} visible ASCII characters`);
  return idempotencyTag(key);
}

const CLIENT_GONE_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** An error that only says the client closed its end (or broke HTTP on the way out). */
function isClientGone(err: unknown): boolean {
  const code = codeOf(err) ?? '';
  return CLIENT_GONE_CODES.has(code) || code.startsWith('HPE_') || (err instanceof Error && err.message === 'aborted');
}

/**
 * The REST API of one node (SPEC §3): status, health, readiness, metrics, the
 * OpenAPI document and the key-value routes. A follower redirects writes and
 * linearizable/lease reads to the leader; stale reads are served locally.
 *
 * Choices SPEC leaves open: PUT takes any Content-Type as raw bytes, so 415 applies
 * only to a Content-Encoding other than identity (the node does not decompress);
 * a PUT with neither Content-Length nor Transfer-Encoding gets 411; OPTIONS is
 * answered on every route (204 + Allow, plus CORS headers when enabled); HEAD is GET
 * without the body; non-key routes ignore their query string.
 */
export function createHttpApp(config: NodeConfig, node: KvNode, logger: Logger, api: ApiMetrics): Koa {
  const app = new Koa();
  const peers = new Map<NodeId, PeerConfig>(config.raft.peers.map((p) => [p.id, p]));
  const registry = api.registry;
  const metrics = new HttpMetrics(registry);
  const refusals = new LogThrottle(logger);
  // Koa reports here what happens after the answer was decided: mostly a client that
  // went away mid-request or mid-response. One JSON line (rate-limited), never Koa's
  // plain-text default on stderr.
  app.on('error', (err: unknown, ctx?: Koa.Context) => {
    const where = ctx === undefined ? {} : { method: ctx.method, route: routeOf(ctx.path)?.template ?? UNMATCHED_ROUTE };
    if (isClientGone(err)) refusals.info('client_aborted', { ...where, code: codeOf(err) }, 'a client went away before its answer was complete');
    else logger.error({ err, ...where }, 'answering a request failed');
  });
  const corsAny = config.http.corsOrigins.includes('*');
  const corsOrigins = new Set(config.http.corsOrigins);
  const retryAfter = String(retryAfterSeconds(config.raft.electionTimeoutMs));
  // Every node of a cluster serves REST the same way: with TLS on, the leader's URL is https too.
  const scheme = config.http.tlsCertFile === null ? 'http' : 'https';

  const redirect = (ctx: Koa.Context, leaderId: NodeId): void => {
    const leader = peers.get(leaderId);
    if (leader === undefined) throw new HttpError('no_leader', `the leader ${leaderId} is not in this node's configuration; retry`);
    const query = ctx.querystring === '' ? '' : `?${ctx.querystring}`;
    ctx.set('X-Raft-Leader', leaderId);
    ctx.set('Location', `${scheme}://${formatHostPort(leader.httpAddr)}${ctx.path}${query}`);
    throw new HttpError('not_leader', `${leaderId} is the leader`);
  };

  const refuse = (ctx: Koa.Context, error: RequestError): never => {
    if (error.kind === 'not_leader' && error.leaderId !== null && error.leaderId !== node.id) redirect(ctx, error.leaderId);
    const code = codeOfRequestError(error);
    if (code === 'outcome_unknown') throw new HttpError(code, 'the request may or may not have been applied');
    if (code === 'node_stopping') throw new HttpError(code, 'this node is stopping; not applied; retry on another node');
    // A not_leader whose leader we cannot name is, to the client, no leader.
    throw new HttpError(code === 'not_leader' ? 'no_leader' : code, 'no leader can take the request now; retry');
  };

  /** Redirects before the body is read when this node already knows another leader. */
  const redirectIfFollower = (ctx: Koa.Context): void => {
    const leaderId = node.status().leaderId;
    if (leaderId !== null && leaderId !== node.id) redirect(ctx, leaderId);
  };

  // Outermost: the one error path (every error is the catalog's JSON) and metrics.
  app.use(async (ctx, next) => {
    const start = process.hrtime.bigint();
    const route = routeOf(ctx.path);
    try {
      await next();
    } catch (e) {
      const err = e instanceof HttpError ? e : null;
      if (err === null) logger.error({ err: e }, 'request failed');
      const code: ErrorCode = err?.code ?? 'internal';
      api.errorAnswered('http', code);
      ctx.status = errorCatalog[code].http;
      for (const [k, v] of Object.entries(err?.headers ?? {})) ctx.set(k, v);
      if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', retryAfter);
      ctx.body = { error: code, message: err?.message ?? 'internal error' };
    } finally {
      metrics.observeRequest(ctx.method, route?.template ?? UNMATCHED_ROUTE, ctx.status, secondsSince(start));
    }
  });

  app.use(requestLimit(config.http.requestsMax, (path) => path === '/healthz' || path === '/readyz'));

  // CORS, only for configured origins; off (no CORS headers at all) when none are.
  app.use(async (ctx, next) => {
    const origin = ctx.get('Origin');
    if (origin === '' || !(corsAny || corsOrigins.has(origin))) return next();
    ctx.set('Access-Control-Allow-Origin', corsAny ? '*' : origin);
    if (!corsAny) ctx.vary('Origin');
    ctx.set('Access-Control-Expose-Headers', CORS_EXPOSED_HEADERS);
    const route = routeOf(ctx.path);
    if (ctx.method === 'OPTIONS' && route !== null && ctx.get('Access-Control-Request-Method') !== '') {
      ctx.set('Access-Control-Allow-Methods', route.methods.join(', '));
      ctx.set('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS);
      ctx.set('Access-Control-Max-Age', CORS_MAX_AGE_SECONDS);
      ctx.set('Allow', allowOf(route));
      ctx.status = 204;
      return;
    }
    return next();
  });

  // After CORS, so that a browser's preflight (which carries no token) is answered.
  app.use(
    authMiddleware({
      authority: new TokenAuthority(config.auth.tokens),
      clientCerts: config.http.tlsClientCerts,
      metricsPublic: config.auth.metricsPublic,
      templateOf: (path) => routeOf(path)?.template ?? null,
      refusals,
    }),
  );

  // Routing: 404 for an unknown path, 405 + Allow for a method a route does not take.
  app.use(async (ctx) => {
    const route = routeOf(ctx.path);
    if (route === null) throw new HttpError('not_found', `no route ${JSON.stringify(ctx.path.slice(0, 128))}`);
    if (ctx.method === 'OPTIONS') {
      ctx.set('Allow', allowOf(route));
      ctx.status = 204;
      return;
    }
    if (!route.methods.includes(ctx.method)) {
      throw new HttpError('method_not_allowed', `${ctx.method} is not supported on ${route.template}`, { Allow: allowOf(route) });
    }
    const method = ctx.method === 'HEAD' ? 'GET' : ctx.method;
    switch (route.template) {
      case '/v1/status': {
        const s = node.status();
        ctx.body = {
          id: s.id,
          role: roleName(s.role),
          term: s.term,
          leader_id: s.leaderId,
          commit_index: s.commitIndex,
          applied_index: s.appliedIndex,
          last_log_index: s.lastLogIndex,
          members: config.raft.peers.map((p) => ({ id: p.id, raft_addr: formatHostPort(p.raftAddr), http_addr: formatHostPort(p.httpAddr), grpc_addr: formatHostPort(p.grpcAddr) })),
        };
        return;
      }
      case '/metrics':
        ctx.type = registry.contentType;
        ctx.body = await registry.metrics();
        return;
      case '/healthz':
        ctx.body = { status: 'ok' };
        return;
      case '/readyz':
        if (!node.ready()) throw new HttpError('not_ready', 'no leader known yet, or still applying what is committed');
        ctx.body = { status: 'ready' };
        return;
      case '/openapi.json':
        ctx.body = openApiDocument;
        return;
    }
    const key = decodePathBytes(ctx.path.slice(KV_PREFIX.length));
    if (key === null) throw new HttpError('bad_key', 'the key has a malformed percent escape');
    if (key.length < 1 || key.length > keyBytesMax) throw new HttpError('bad_key', `keys are 1 to ${keyBytesMax} bytes`);
    switch (method) {
      case 'GET':
        return getKey(ctx, key);
      case 'PUT':
        return putKey(ctx, key);
      default:
        return deleteKey(ctx, key);
    }
  });

  const answer = (ctx: Koa.Context, r: KvResult): void => {
    if ((r.op !== 'put' && r.op !== 'delete') || (!r.ok && r.error !== 'revision_mismatch')) throw new Error(`a key write answered ${JSON.stringify(r)}`);
    if (!r.ok) {
      if (r.currentRevision !== null) ctx.set('ETag', `"${r.currentRevision}"`);
      throw new HttpError('revision_mismatch', `the key's revision is ${r.currentRevision ?? 'none (absent)'}`);
    }
    if (r.op === 'put') {
      ctx.set('ETag', `"${r.revision}"`);
      ctx.body = { revision: r.revision };
    } else {
      ctx.body = { deleted: r.deleted, revision: r.revision };
    }
  };

  async function putKey(ctx: Koa.Context, key: Uint8Array): Promise<void> {
    consistencyOf(ctx, false);
    const condition = conditionOf(ctx);
    const tag = tagOf(ctx);
    const h = ctx.req.headers;
    if (h['content-length'] === undefined && h['transfer-encoding'] === undefined) throw new HttpError('length_required', 'PUT needs Content-Length or a chunked body');
    const encoding = (h['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity') throw new HttpError('unsupported_media_type', 'values are stored as sent: Content-Encoding must be identity');
    const limit = config.http.valueBytesMax;
    if (ctx.request.length !== undefined && ctx.request.length > limit) throw new HttpError('value_too_large', `value is ${ctx.request.length} bytes; the limit is ${limit}`);
    redirectIfFollower(ctx);
    const value = await readBody(ctx, limit);
    const start = process.hrtime.bigint();
    const o = await node.propose({ op: 'put', key, value, condition, tag });
    api.observeKv('put', 'linearizable', secondsSince(start));
    if (!o.ok) return refuse(ctx, o.error);
    answer(ctx, o.value);
  }

  async function deleteKey(ctx: Koa.Context, key: Uint8Array): Promise<void> {
    consistencyOf(ctx, false);
    const condition = conditionOf(ctx);
    if (condition.kind === 'absent') throw new HttpError('bad_precondition', 'If-None-Match does not apply to DELETE');
    const tag = tagOf(ctx);
    redirectIfFollower(ctx);
    const start = process.hrtime.bigint();
    const o = await node.propose({ op: 'delete', key, condition, tag });
    api.observeKv('delete', 'linearizable', secondsSince(start));
    if (!o.ok) return refuse(ctx, o.error);
    answer(ctx, o.value);
  }

  async function getKey(ctx: Koa.Context, key: Uint8Array): Promise<void> {
    const consistency = consistencyOf(ctx, true);
    const start = process.hrtime.bigint();
    let state;
    if (consistency === 'stale') state = node.staleState();
    else {
      const o = await node.linearizableRead(consistency === 'lease');
      if (!o.ok) return refuse(ctx, o.error);
      state = o.value;
    }
    const got = state.get(key);
    api.observeKv('get', consistency, secondsSince(start));
    if (got === undefined) throw new HttpError('key_not_found', 'no such key');
    ctx.set('ETag', `"${got.revision}"`);
    ctx.type = 'application/octet-stream';
    ctx.body = Buffer.from(got.value.buffer, got.value.byteOffset, got.value.byteLength);
  }

  return app;
}
