// /v1/leases: grant, list, inspect, keep alive and revoke leases.
import type Koa from 'koa';
import type { LeaseId } from '../kv/command.js';
import { answerJson } from './answer.js';
import { leaseTtlSecondsMax } from '../kv/limits.js';
import { leaseTtlSecondsMin } from '../node/lessor.js';
import type { Gateway } from './gateway.js';
import { HttpError } from './http-error.js';
import { keyToJson, objectFromJson, onlyFields } from './kv-json.js';
import { consistencyOf, readBody, tagOf } from './request.js';

/** A grant's body is tiny: `{"ttl": 60}`. */
const GRANT_BODY_BYTES_MAX = 1024;

/** A lease id from the path: a positive integer. */
export function leaseIdOf(raw: string): LeaseId {
  if (!/^[1-9]\d{0,15}$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new HttpError('bad_request', 'a lease id is a positive integer');
  return Number(raw);
}

/**
 * POST /v1/leases {"ttl": seconds}: a new lease, named by the log index of its
 * grant. A TTL below 1.5 election timeouts is raised to that (etcd does the same):
 * the answer gives the TTL granted.
 */
export async function grantLease(ctx: Koa.Context, gateway: Gateway, electionTimeoutMs: number): Promise<void> {
  const tag = tagOf(ctx);
  gateway.redirectWriteIfFollower(ctx);
  const body = objectFromJson(await readBody(ctx, GRANT_BODY_BYTES_MAX), 'the grant');
  onlyFields(body, ['ttl'], 'the grant');
  const ttl = body['ttl'];
  if (!Number.isSafeInteger(ttl) || (ttl as number) < 1 || (ttl as number) > leaseTtlSecondsMax) {
    throw new HttpError('bad_request', `ttl is a whole number of seconds from 1 to ${leaseTtlSecondsMax}`);
  }
  const ttlSeconds = Math.max(ttl as number, leaseTtlSecondsMin(electionTimeoutMs));
  const r = await gateway.propose(ctx, 'lease_grant', { op: 'lease_grant', ttlSeconds, tag });
  if (!r.ok) throw new HttpError('too_many_leases', 'the store holds as many leases as it may; revoke some or let them expire');
  answerJson(ctx, 200, { id: r.lease, ttl: r.ttlSeconds });
}

/** GET /v1/leases: every lease, by id. */
export async function listLeases(ctx: Koa.Context, gateway: Gateway, query: ReadonlyMap<string, string>): Promise<void> {
  answerJson(
    ctx,
    200,
    await gateway.read(ctx, 'get', consistencyOf(query), (state) => ({
      revision: state.appliedIndex(),
      leases: state.leaseRecords().map((l) => ({ id: l.id, ttl: l.ttlSeconds })),
    })),
  );
}

/**
 * GET /v1/leases/{id}: the lease's TTL, the time it has left on the leader's
 * clock (remaining_ms; null from a stale read) and the keys attached to it.
 */
export async function showLease(ctx: Koa.Context, gateway: Gateway, id: LeaseId, query: ReadonlyMap<string, string>): Promise<void> {
  const lease = await gateway.leaseInfo(ctx, id, consistencyOf(query));
  if (lease === null) throw new HttpError('lease_not_found', `no lease ${id}`);
  answerJson(ctx, 200, { id, ttl: lease.record.ttlSeconds, remaining_ms: lease.remainingMs, keys: lease.keys.map(keyToJson) });
}

/**
 * POST /v1/leases/{id}/keepalive: the lease lives its full TTL from now on the
 * leader's clock. A lease that expired, was revoked or whose expiry is already
 * under way is 404: its holder must stop relying on it.
 */
export async function keepAliveLease(ctx: Koa.Context, gateway: Gateway, id: LeaseId): Promise<void> {
  gateway.redirectIfFollower(ctx);
  const lease = await gateway.keepAlive(ctx, id);
  if (lease === null) throw new HttpError('lease_not_found', `lease ${id} has expired or was revoked`);
  answerJson(ctx, 200, { id, ttl: lease.ttlSeconds });
}

/** DELETE /v1/leases/{id}: ends the lease now; its keys are deleted at the revision answered. */
export async function revokeLease(ctx: Koa.Context, gateway: Gateway, id: LeaseId): Promise<void> {
  const tag = tagOf(ctx);
  gateway.redirectWriteIfFollower(ctx);
  const r = await gateway.propose(ctx, 'lease_revoke', { op: 'lease_revoke', lease: id, tag });
  if (!r.ok) throw new HttpError('lease_not_found', `no lease ${id}`);
  answerJson(ctx, 200, { revoked: true, revision: r.revision });
}
