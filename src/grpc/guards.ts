// What every gRPC call passes before a handler sees it (README "Security"): the
// bearer token and its role, the bound on calls in progress (grpc.requests_max),
// and the deadline for its request message (grpc.body_timeout_ms).
import * as grpc from '@grpc/grpc-js';
import { grants, presentedToken, type Role, type TokenAuthority } from '../auth/tokens.js';
import type { ErrorCode } from '../errors.js';
import { errorCatalog } from '../errors.js';
import type { LogThrottle } from '../log-throttle.js';

/** Trailer telling a RESOURCE_EXHAUSTED caller when to retry, in seconds (as HTTP's Retry-After). */
export const RETRY_AFTER_METADATA = 'retry-after';
const TOO_MANY_CALLS_RETRY_AFTER_SECONDS = '1';

/** The role a call needs, or null: health stays open (probes carry no token); reflection reads. */
const WATCH_PATH = '/kvstore.v1.Watch/Watch';

/** Calls that change the store need role write (a transaction does, even one that only reads). */
const WRITES: ReadonlySet<string> = new Set(['/kvstore.v1.KV/Put', '/kvstore.v1.KV/Delete', '/kvstore.v1.KV/Txn', '/kvstore.v1.Lease/Grant', '/kvstore.v1.Lease/Revoke', '/kvstore.v1.Lease/KeepAlive']);

/** Membership changes and leadership transfers need role admin. */
const ADMIN_CALLS: ReadonlySet<string> = new Set(['/kvstore.v1.Cluster/MemberAdd', '/kvstore.v1.Cluster/MemberPromote', '/kvstore.v1.Cluster/MemberRemove', '/kvstore.v1.Cluster/LeaderTransfer']);

export function requiredRole(path: string): Role | null {
  if (path.startsWith('/grpc.health.v1.Health/')) return null;
  if (ADMIN_CALLS.has(path)) return 'admin';
  if (WRITES.has(path)) return 'write';
  return 'read';
}

export interface GuardOptions {
  /** Trailers every refusal carries: x-kvstore-answered-by tells clients the node itself refused (nothing applied). */
  readonly answeredBy: Readonly<Record<string, string>>;
  readonly authority: TokenAuthority;
  readonly requestsMax: number;
  readonly bodyTimeoutMs: number;
  readonly refusals: LogThrottle;
  /** A call refused here: for metrics. */
  readonly onRefused: (path: string, code: ErrorCode) => void;
}

export function guardInterceptor(o: GuardOptions): grpc.ServerInterceptor {
  let inProgress = 0;
  return (method, call) => {
    let counted = false;
    let bodyTimer: NodeJS.Timeout | null = null;
    const release = (): void => {
      if (bodyTimer !== null) clearTimeout(bodyTimer);
      bodyTimer = null;
      if (counted) inProgress--;
      counted = false;
    };
    const refuse = (code: ErrorCode, details: string, trailers: Record<string, string> = {}): void => {
      release();
      o.onRefused(method.path, code);
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries({ ...o.answeredBy, ...trailers })) metadata.set(k, v);
      call.sendStatus({ code: grpc.status[errorCatalog[code].grpc], details, metadata });
    };
    const admit = (metadata: grpc.Metadata): boolean => {
      const need = requiredRole(method.path);
      if (need === null) return true;
      if (o.authority.enabled) {
        const header = metadata.get('authorization')[0];
        const presented = presentedToken(typeof header === 'string' ? header : undefined);
        if (presented.kind !== 'bearer') {
          refuse('unauthenticated', presented.kind === 'none' ? 'this method needs a bearer token (metadata authorization: Bearer <token>)' : 'malformed authorization metadata: expected "Bearer <token>"');
          return false;
        }
        const who = o.authority.identify(presented.token);
        if (who === null) {
          o.refusals.warn('grpc_unknown_token', { path: method.path }, 'refused a call with an unknown token');
          refuse('unauthenticated', 'unknown token');
          return false;
        }
        if (!grants(who.role, need)) {
          o.refusals.warn('grpc_permission_denied', { token: who.name, role: who.role, need, path: method.path }, 'refused a call beyond its role');
          refuse('permission_denied', `the token ${who.name} has role ${who.role}; ${method.path} needs ${need}`);
          return false;
        }
      }
      // A watch lasts as long as its reader: it is bounded by the watch hub, not by grpc.requests_max.
      const limited = method.path !== WATCH_PATH;
      if (limited && inProgress >= o.requestsMax) {
        refuse('too_many_requests', `${o.requestsMax} calls are in progress (grpc.requests_max); not applied`, { [RETRY_AFTER_METADATA]: TOO_MANY_CALLS_RETRY_AFTER_SECONDS });
        return false;
      }
      if (limited) {
        inProgress++;
        counted = true;
      }
      bodyTimer = setTimeout(() => refuse('request_timeout', `the request message did not arrive within ${o.bodyTimeoutMs} ms (grpc.body_timeout_ms); not applied`), o.bodyTimeoutMs);
      return true;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            if (admit(metadata)) pass(metadata);
          },
          onReceiveMessage: (message: unknown, pass) => {
            if (bodyTimer !== null) clearTimeout(bodyTimer);
            bodyTimer = null;
            pass(message);
          },
          onCancel: release,
        }),
      sendStatus: (status, pass) => {
        release();
        pass(status);
      },
    });
  };
}
