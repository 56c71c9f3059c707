// kvstore.v1.Lease: Grant, Revoke, Leases, KeepAlive and TimeToLive.
import { leaseTtlSecondsMax } from '../kv/limits.js';
import { leaseTtlSecondsMin } from '../node/lessor.js';
import type { LeaseDefinition, LeaseHandlers } from './generated/kvstore/v1/Lease.js';
import { tagOf } from './kv-handlers.js';
import type { NodeCalls } from './node-calls.js';
import { fail, ok, type UnaryRunner } from './unary.js';

export function leaseHandlers(def: LeaseDefinition, runner: UnaryRunner, calls: NodeCalls, electionTimeoutMs: number): LeaseHandlers {
  return {
    Grant: runner.unary(
      def.Grant,
      () => true,
      async (req, call) => {
        if (!Number.isSafeInteger(req.ttl) || req.ttl < 1 || req.ttl > leaseTtlSecondsMax) return fail('bad_request', `ttl is a whole number of seconds from 1 to ${leaseTtlSecondsMax}`);
        const ttlSeconds = Math.max(req.ttl, leaseTtlSecondsMin(electionTimeoutMs));
        const got = await calls.propose(call, 'lease_grant', { op: 'lease_grant', ttlSeconds, tag: tagOf(req.request_id) });
        if (!got.ok) return got.answer;
        if (!got.value.ok) return fail('too_many_leases', 'the store holds as many leases as it may; revoke some or let them expire');
        return ok({ id: got.value.lease, ttl: got.value.ttlSeconds });
      },
    ),
    Revoke: runner.unary(
      def.Revoke,
      () => true,
      async (req, call) => {
        if (!Number.isSafeInteger(req.id) || req.id < 1) return fail('bad_request', 'id is a lease id (a positive integer)');
        const got = await calls.propose(call, 'lease_revoke', { op: 'lease_revoke', lease: req.id, tag: tagOf(req.request_id) });
        if (!got.ok) return got.answer;
        if (!got.value.ok) return fail('lease_not_found', `no lease ${req.id}`);
        return ok({ revision: got.value.revision });
      },
    ),
    KeepAlive: runner.unary(
      def.KeepAlive,
      () => false,
      async (req, call) => {
        if (!Number.isSafeInteger(req.id) || req.id < 1) return fail('bad_request', 'id is a lease id (a positive integer)');
        const got = await calls.keepAlive(call, req.id);
        if (!got.ok) return got.answer;
        if (got.value === null) return fail('lease_not_found', `lease ${req.id} has expired or was revoked`);
        return ok({ id: req.id, ttl: got.value.ttlSeconds });
      },
    ),
    TimeToLive: runner.unary(
      def.TimeToLive,
      () => false,
      async (req, call) => {
        if (!Number.isSafeInteger(req.id) || req.id < 1) return fail('bad_request', 'id is a lease id (a positive integer)');
        const got = await calls.leaseInfo(call, req.id, req.consistency);
        if (!got.ok) return got.answer;
        if (got.value === null) return fail('lease_not_found', `no lease ${req.id}`);
        return ok({ id: req.id, ttl: got.value.record.ttlSeconds, remaining_ms: got.value.remainingMs ?? -1, keys: got.value.keys.map((k) => Buffer.from(k)) });
      },
    ),
    Leases: runner.unary(
      def.Leases,
      () => false,
      async (req, call) => {
        const got = await calls.read(call, 'get', req.consistency, (state) => ({
          leases: state.leaseRecords().map((l) => ({ id: l.id, ttl: l.ttlSeconds })),
          revision: state.appliedIndex(),
        }));
        return got.ok ? ok(got.value) : got.answer;
      },
    ),
  };
}
