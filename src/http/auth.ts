// Bearer-token authentication and roles for the REST API (README "Security").
import type { TLSSocket } from 'node:tls';
import type Koa from 'koa';
import { grants, presentedToken, type Role, type TokenAuthority } from '../auth/tokens.js';
import type { ClientCerts } from '../config/security-checks.js';
import type { LogThrottle } from '../log-throttle.js';
import { HttpError } from './http-error.js';

/**
 * The role a request needs, or null for none. Liveness and readiness stay open
 * (probes carry no token), as does the API description; /metrics, the cluster
 * page and its event stream need a token unless auth.metrics_public; reads need
 * read, writes write (a transaction is a write, even one that only reads), a
 * backup, the flight recording, every
 * membership change and leadership transfer admin.
 */
export function requiredRole(template: string, method: string, metricsPublic: boolean): Role | null {
  switch (template) {
    case '/healthz':
    case '/readyz':
    case '/openapi.json':
      return null;
    case '/metrics':
    case '/ui':
    case '/ui/assets/{file}':
    case '/v1/events':
      return metricsPublic ? null : 'read';
    // The page's calls to the members: each member checks the forwarded token again.
    case '/ui/members/{id}/{path}':
      return method === 'PUT' || method === 'DELETE' ? 'write' : metricsPublic ? null : 'read';
    case '/v1/debug/recording':
      return 'admin';
    case '/v1/kv/{key}':
      return method === 'PUT' || method === 'DELETE' ? 'write' : 'read';
    case '/v1/txn':
      return 'write';
    case '/v1/leases':
    case '/v1/leases/{id}':
    case '/v1/leases/{id}/keepalive':
      return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
    case '/v1/snapshot':
    case '/v1/leader/transfer':
    case '/v1/members/{id}':
    case '/v1/members/{id}/promote':
      return 'admin';
    case '/v1/members':
      return method === 'POST' ? 'admin' : 'read';
    default:
      return 'read';
  }
}

const challenge = (error?: 'invalid_request' | 'invalid_token'): Record<string, string> => ({
  'WWW-Authenticate': error === undefined ? 'Bearer realm="kvstore"' : `Bearer realm="kvstore", error="${error}"`,
});

/**
 * Checks the client certificate (when asked for) and the bearer token of a request
 * on the route `template` names (null: none matches, and routing answers 404);
 * throws the catalog's refusal. Null when there is nothing to check (no tokens, and
 * client certificates not optional): the request path then spends nothing on it.
 */
export function requestAuthenticator(o: {
  readonly authority: TokenAuthority;
  readonly clientCerts: ClientCerts;
  readonly metricsPublic: boolean;
  readonly refusals: LogThrottle;
}): ((ctx: Koa.Context, template: string | null) => void) | null {
  if (!o.authority.enabled && o.clientCerts !== 'optional') return null;
  return (ctx, template) => {
    const socket = ctx.req.socket as Partial<TLSSocket>;
    // tls_client_certs optional: a client may come without a certificate, but not with one the CA did not sign.
    if (o.clientCerts === 'optional' && socket.authorized === false && Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0) {
      o.refusals.warn('http_bad_client_cert', { remote: ctx.ip, reason: socket.authorizationError }, 'refused a client certificate the CA did not sign');
      throw new HttpError('unauthenticated', 'the client certificate is not signed by http.tls_ca_file');
    }
    if (!o.authority.enabled) return;
    const need = template === null || ctx.method === 'OPTIONS' ? null : requiredRole(template, ctx.method, o.metricsPublic);
    if (need === null) return;
    const presented = presentedToken(ctx.get('Authorization') || undefined);
    if (presented.kind !== 'bearer') {
      throw new HttpError('unauthenticated', presented.kind === 'none' ? 'this route needs a bearer token (Authorization: Bearer <token>)' : 'malformed Authorization header: expected "Bearer <token>"', challenge(presented.kind === 'none' ? undefined : 'invalid_request'));
    }
    const who = o.authority.identify(presented.token);
    if (who === null) {
      o.refusals.warn('http_unknown_token', { remote: ctx.ip, route: template }, 'refused a request with an unknown token');
      throw new HttpError('unauthenticated', 'unknown token', challenge('invalid_token'));
    }
    if (!grants(who.role, need)) {
      o.refusals.warn('http_permission_denied', { token: who.name, role: who.role, need, route: template }, 'refused a request beyond its role');
      throw new HttpError('permission_denied', `the token ${who.name} has role ${who.role}; ${ctx.method} ${template} needs ${need}`);
    }
  };
}
