import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';
import type { NodeConfig } from '../config/config.js';
import { formatHostPort } from '../config/config.js';
import type { Logger } from '../log.js';
import type { KvNode } from '../node/kv-node.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { secondsSince } from '../metrics/elapsed.js';
import { errorCatalog, type ErrorCode } from '../errors.js';
import { LogThrottle } from '../log-throttle.js';
import { TokenAuthority } from '../auth/tokens.js';
import { requestAuthenticator } from './auth.js';
import { answerJson } from './answer.js';
import { DirectKoa } from './direct-koa.js';
import { HttpError } from './http-error.js';
import { HttpMetrics } from './http-metrics.js';
import { RequestLimit } from './request-limit.js';
import { openApiDocument } from './openapi.js';
import { Gateway } from './gateway.js';
import { deleteKey, getKey, putKey } from './key-routes.js';
import { grantLease, keepAliveLease, leaseIdOf, listLeases, revokeLease, showLease } from './lease-routes.js';
import { WATCH_PREFIX, watchRoute } from './watch-route.js';
import { consistencyOf, queryOf } from './request.js';
import { getSnapshot } from './snapshot-route.js';
import { postTxn } from './txn-route.js';
import type { MemberDirectory } from '../node/member-directory.js';
import { serveAsset, servePage, serveRecording, UI_ASSETS_PREFIX, type DebugServices } from './debug-routes.js';
import { MEMBERS_PREFIX } from './member-proxy.js';
import { V1_MEMBERS_PREFIX, addMember, changeMember, listMembers, transferLeader } from './member-routes.js';

const KV_PREFIX = '/v1/kv/';
const LEASES_PREFIX = '/v1/leases/';
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
const LEASE_ROUTE: Route = { template: '/v1/leases/{id}', methods: ['GET', 'HEAD', 'DELETE'] };
const KEEPALIVE_ROUTE: Route = { template: '/v1/leases/{id}/keepalive', methods: ['POST'] };
const WATCH_ROUTE: Route = { template: '/v1/watch/{key}', methods: ['GET'] };
const MEMBER_ROUTE: Route = { template: '/v1/members/{id}', methods: ['DELETE'] };
const PROMOTE_ROUTE: Route = { template: '/v1/members/{id}/promote', methods: ['POST'] };
const FIXED_ROUTES: ReadonlyMap<string, Route> = new Map([
  ...['/v1/status', '/healthz', '/readyz', '/metrics', '/openapi.json'].map((p): [string, Route] => [p, { template: p, methods: ['GET', 'HEAD'] }]),
  // GET only: a HEAD would capture a snapshot for nothing.
  ['/v1/snapshot', { template: '/v1/snapshot', methods: ['GET'] }],
  ['/v1/txn', { template: '/v1/txn', methods: ['POST'] }],
  ['/v1/leases', { template: '/v1/leases', methods: ['GET', 'HEAD', 'POST'] }],
  ['/v1/members', { template: '/v1/members', methods: ['GET', 'HEAD', 'POST'] }],
  ['/v1/leader/transfer', { template: '/v1/leader/transfer', methods: ['POST'] }],
]);
/** Routes the request limit does not count: health probes (an overloaded node is still alive) and watches. */
const UNLIMITED_TEMPLATES: ReadonlySet<string> = new Set(['/healthz', '/readyz', WATCH_ROUTE.template]);
/** The metrics label of every path that matches no route (keeps label values bounded). */
const UNMATCHED_ROUTE = 'unmatched';

const EVENTS_ROUTE: Route = { template: '/v1/events', methods: ['GET'] };
const RECORDING_ROUTE: Route = { template: '/v1/debug/recording', methods: ['GET'] };
const UI_ROUTE: Route = { template: '/ui', methods: ['GET', 'HEAD'] };
const UI_ASSET_ROUTE: Route = { template: '/ui/assets/{file}', methods: ['GET', 'HEAD'] };
const UI_MEMBER_ROUTE: Route = { template: '/ui/members/{id}/{path}', methods: ['GET', 'HEAD', 'PUT', 'DELETE'] };

/** The routes of a node; the cluster page's exist only when it is on (`http.ui`). */
function routesOf(ui: boolean): (path: string) => Route | null {
  return (path) => {
    if (path.startsWith(KV_PREFIX)) return KV_ROUTE;
    if (path.startsWith(WATCH_PREFIX)) return WATCH_ROUTE;
    if (path.startsWith(LEASES_PREFIX)) {
      const rest = path.slice(LEASES_PREFIX.length);
      if (!rest.includes('/')) return LEASE_ROUTE;
      if (/^[^/]+\/keepalive$/.test(rest)) return KEEPALIVE_ROUTE;
    }
    if (path.startsWith(V1_MEMBERS_PREFIX)) {
      const rest = path.slice(V1_MEMBERS_PREFIX.length);
      if (rest !== '' && !rest.includes('/')) return MEMBER_ROUTE;
      if (/^[^/]+\/promote$/.test(rest)) return PROMOTE_ROUTE;
    }
    if (path === '/v1/events') return EVENTS_ROUTE;
    if (path === '/v1/debug/recording') return RECORDING_ROUTE;
    if (ui) {
      if (path === '/ui' || path === '/ui/') return UI_ROUTE;
      if (path.startsWith(UI_ASSETS_PREFIX) && !path.slice(UI_ASSETS_PREFIX.length).includes('/')) return UI_ASSET_ROUTE;
      if (path.startsWith(MEMBERS_PREFIX)) return UI_MEMBER_ROUTE;
    }
    return FIXED_ROUTES.get(path) ?? null;
  };
}

/**
 * The requests whose every answer (errors included) is written by answer.ts: the
 * key routes' (a preflight or an OPTIONS is answered through Koa).
 */
function answersDirectly(req: IncomingMessage): boolean {
  return req.method !== 'OPTIONS' && req.url !== undefined && req.url.startsWith(KV_PREFIX);
}

/**
 * CORS, only for the configured origins (http.cors_origins): the headers an allowed
 * origin's request gets, and a preflight's answer (true: answered). Null when no
 * origin is configured: then no CORS header at all.
 */
function corsOf(origins: readonly string[]): ((ctx: Koa.Context, route: Route | null) => boolean) | null {
  if (origins.length === 0) return null;
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (ctx, route) => {
    const origin = ctx.get('Origin');
    if (origin === '' || !(any || allowed.has(origin))) return false;
    ctx.set('Access-Control-Allow-Origin', any ? '*' : origin);
    if (!any) ctx.vary('Origin');
    ctx.set('Access-Control-Expose-Headers', CORS_EXPOSED_HEADERS);
    if (ctx.method === 'OPTIONS' && route !== null && ctx.get('Access-Control-Request-Method') !== '') {
      ctx.set('Access-Control-Allow-Methods', route.methods.join(', '));
      ctx.set('Access-Control-Allow-Headers', CORS_ALLOWED_HEADERS);
      ctx.set('Access-Control-Max-Age', CORS_MAX_AGE_SECONDS);
      ctx.set('Allow', allowOf(route));
      ctx.status = 204;
      return true;
    }
    return false;
  };
}

function allowOf(route: Route): string {
  return [...route.methods, 'OPTIONS'].join(', ');
}

function roleName(role: string): string {
  return role === 'preCandidate' ? 'pre_candidate' : role;
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
export function createHttpApp(config: NodeConfig, node: KvNode, logger: Logger, api: ApiMetrics, debug: DebugServices | null = null, directory: MemberDirectory | null = null): Koa {
  const app = new DirectKoa(answersDirectly);
  const ui = debug?.ui ?? null;
  const routeOf = routesOf(ui !== null && config.http.ui);
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
  const retryAfter = String(retryAfterSeconds(config.raft.electionTimeoutMs));
  const gateway = new Gateway(config, node, api, directory);
  const limit = new RequestLimit(config.http.requestsMax);
  const cors = corsOf(config.http.corsOrigins);
  const authenticate = requestAuthenticator({
    authority: new TokenAuthority(config.auth.tokens),
    clientCerts: config.http.tlsClientCerts,
    metricsPublic: config.auth.metricsPublic,
    refusals,
  });

  /** The one error path: every error is the catalog's JSON. */
  const answerError = (ctx: Koa.Context, e: unknown): void => {
    const err = e instanceof HttpError ? e : null;
    if (err === null) logger.error({ err: e }, 'request failed');
    const code: ErrorCode = err?.code ?? 'internal';
    api.errorAnswered('http', code);
    const res = ctx.res;
    // Only a bug answers and then throws; the answer it gave stands.
    if (res.headersSent) return;
    const status = errorCatalog[code].http;
    if (err !== null) for (const k in err.headers) res.setHeader(k, err.headers[k]!);
    if (status === 503 && !res.hasHeader('Retry-After')) res.setHeader('Retry-After', retryAfter);
    answerJson(ctx, status, { error: code, message: err?.message ?? 'internal error' });
  };

  // One middleware, in this order: metrics and the error path around everything; the
  // request limit (429 before anything else is looked at); CORS; authentication (after
  // CORS, so that a browser's preflight, which carries no token, is answered); routing.
  // One layer rather than one per concern: each layer is a closure, a promise and an
  // await on every request, and the route is looked up once.
  app.use(async (ctx) => {
    const start = process.hrtime.bigint();
    const route = routeOf(ctx.path);
    // Watches last as long as their readers: they are bounded by the watch hub's own limit, not this one.
    const limited = route === null || !UNLIMITED_TEMPLATES.has(route.template);
    let entered = false;
    try {
      if (limited) {
        limit.enter();
        entered = true;
      }
      if (cors !== null && cors(ctx, route)) return;
      authenticate?.(ctx, route?.template ?? null);
      await serve(ctx, route);
    } catch (e) {
      answerError(ctx, e);
    } finally {
      if (entered) limit.leave();
      metrics.observeRequest(ctx.method, route?.template ?? UNMATCHED_ROUTE, ctx.status, secondsSince(start));
    }
  });

  // Routing: 404 for an unknown path, 405 + Allow for a method a route does not take.
  async function serve(ctx: Koa.Context, route: Route | null): Promise<void> {
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
        return answerJson(ctx, 200, {
          id: s.id,
          role: roleName(s.role),
          term: s.term,
          leader_id: s.leaderId,
          commit_index: s.commitIndex,
          applied_index: s.appliedIndex,
          last_log_index: s.lastLogIndex,
          // The configuration in effect, each member at the addresses this node reaches it by.
          members: node.members().members.map((m) => {
            const p = directory?.get(m.id) ?? config.raft.peers.find((x) => x.id === m.id);
            return p === undefined ? { id: m.id, raft_addr: m.addrs.raftAddr, http_addr: m.addrs.httpAddr, grpc_addr: m.addrs.grpcAddr } : { id: m.id, raft_addr: formatHostPort(p.raftAddr), http_addr: formatHostPort(p.httpAddr), grpc_addr: formatHostPort(p.grpcAddr) };
          }),
          membership: node.membership(),
        });
      }
      case '/metrics':
        ctx.type = registry.contentType;
        ctx.body = await registry.metrics();
        return;
      case '/healthz':
        return answerJson(ctx, 200, { status: 'ok' });
      case '/readyz':
        if (!node.ready()) throw new HttpError('not_ready', 'no leader known yet, or still applying what is committed');
        return answerJson(ctx, 200, { status: 'ready' });
      case '/openapi.json':
        return answerJson(ctx, 200, openApiDocument);
      case '/v1/txn':
        return postTxn(ctx, gateway, config.http.valueBytesMax);
      case '/v1/leases':
        return method === 'POST' ? grantLease(ctx, gateway, config.raft.electionTimeoutMs) : listLeases(ctx, gateway, queryOf(ctx, { consistency: 'value' }));
      case '/v1/leases/{id}': {
        const id = leaseIdOf(ctx.path.slice(LEASES_PREFIX.length));
        return method === 'DELETE' ? revokeLease(ctx, gateway, id) : showLease(ctx, gateway, id, queryOf(ctx, { consistency: 'value' }));
      }
      case '/v1/leases/{id}/keepalive':
        return keepAliveLease(ctx, gateway, leaseIdOf(ctx.path.slice(LEASES_PREFIX.length, -'/keepalive'.length)));
      case '/v1/watch/{key}':
        return watchRoute(ctx, node.watches, ctx.path.slice(WATCH_PREFIX.length));
      case '/v1/snapshot':
        return getSnapshot(ctx, gateway);
      case '/v1/events':
        if (debug === null) throw new HttpError('not_found', 'this node serves no event stream');
        return debug.streams.serve(ctx);
      case '/v1/debug/recording':
        return serveRecording(ctx, debug?.recording ?? null);
      case '/ui':
        return servePage(ctx, ui!.page);
      case '/ui/assets/{file}':
        return serveAsset(ctx, ui!.assets, ctx.path.slice(UI_ASSETS_PREFIX.length));
      case '/ui/members/{id}/{path}':
        return ui!.proxy.serve(ctx, ctx.path.slice(MEMBERS_PREFIX.length));
      case '/v1/members':
        return method === 'POST' ? addMember(ctx, gateway, node) : listMembers(ctx, gateway, node, consistencyOf(queryOf(ctx, { consistency: 'value' })) === 'stale');
      case '/v1/members/{id}':
        return changeMember(ctx, gateway, node, ctx.path.slice(V1_MEMBERS_PREFIX.length), 'remove');
      case '/v1/members/{id}/promote':
        return changeMember(ctx, gateway, node, ctx.path.slice(V1_MEMBERS_PREFIX.length, -'/promote'.length), 'promote');
      case '/v1/leader/transfer':
        return transferLeader(ctx, gateway, node);
    }
    const rawKey = ctx.path.slice(KV_PREFIX.length);
    switch (method) {
      case 'GET':
        return getKey(ctx, gateway, rawKey);
      case 'PUT':
        return putKey(ctx, gateway, rawKey, config.http.valueBytesMax);
      default:
        return deleteKey(ctx, gateway, rawKey);
    }
  }

  return app;
}
