// Range, Txn and Lease over gRPC against a real 3-node cluster of processes: the
// same semantics as REST (test/http/coordination.test.ts), and followers forward.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { KVClient } from '../../src/grpc/generated/kvstore/v1/KV.js';
import type { LeaseClient } from '../../src/grpc/generated/kvstore/v1/Lease.js';
import type { RangeResponse__Output } from '../../src/grpc/generated/kvstore/v1/RangeResponse.js';
import type { TxnRequest } from '../../src/grpc/generated/kvstore/v1/TxnRequest.js';
import type { TxnResponse__Output } from '../../src/grpc/generated/kvstore/v1/TxnResponse.js';
import { createKvClient, createLeaseClient } from '../../src/grpc/proto.js';
import { LEADER_METADATA } from '../../src/grpc/unary.js';
import { ProcessCluster } from '../e2e/process-cluster.js';

const ELECTION_MS = 500;
const CALL_DEADLINE_MS = 5000;

/** A unary call as a promise: the response or the error, and the leader named in the metadata. */
function unary<Res>(start: (md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall): Promise<{ err: grpc.ServiceError | null; res: Res | undefined; leader: string | undefined }> {
  return new Promise((resolve) => {
    let leader: string | undefined;
    const c = start(new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => resolve({ err, res, leader: leader ?? err?.metadata?.get(LEADER_METADATA)[0]?.toString() }));
    c.on('metadata', (md: grpc.Metadata) => (leader = md.get(LEADER_METADATA)[0]?.toString() ?? leader));
  });
}

const b = (s: string): Buffer => Buffer.from(s);

describe('gRPC Range, Txn and Lease on a 3-node cluster', { concurrency: false }, () => {
  let c: ProcessCluster;
  let leaderId: string;
  let followerId: string;
  const kvs = new Map<string, KVClient>();
  const leases = new Map<string, LeaseClient>();
  const kv = (id: string): KVClient => kvs.get(id) ?? kvs.set(id, createKvClient(`127.0.0.1:${c.node(id).grpcPort}`)).get(id)!;
  const lease = (id: string): LeaseClient => leases.get(id) ?? leases.set(id, createLeaseClient(`127.0.0.1:${c.node(id).grpcPort}`)).get(id)!;
  const range = (id: string, req: Parameters<KVClient['Range']>[0]) => unary<RangeResponse__Output>((md, o, cb) => kv(id).Range(req, md, o, cb));
  const txn = (id: string, req: TxnRequest) => unary<TxnResponse__Output>((md, o, cb) => kv(id).Txn(req, md, o, cb));

  before(async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    leaderId = await c.waitForLeader(20 * ELECTION_MS);
    followerId = c.nodes.find((n) => n.id !== leaderId)!.id;
  });
  after(async () => {
    for (const k of [...kvs.values(), ...leases.values()]) k.close();
    await c.stop();
  });

  test('Range pages a prefix in byte order from any node; a follower forwards it, or serves STALE itself', async () => {
    for (const k of ['r/b', 'r/a', 'r/\u00ff', 'r/c', 'q']) assert.equal((await unary((md, o, cb) => kv(leaderId).Put({ key: b(k), value: b(`v${k}`) }, md, o, cb))).err, null);
    const first = await range(followerId, { prefix: b('r/'), limit: 2 });
    assert.equal(first.err, null, first.err?.details);
    assert.equal(first.leader, leaderId);
    assert.deepEqual(first.res!.kvs.map((e) => e.key.toString()), ['r/a', 'r/b']);
    assert.equal(first.res!.kvs[0]!.value.toString(), 'vr/a');
    assert.ok(first.res!.revision > 0);
    const second = await range(leaderId, { prefix: b('r/'), limit: 2, page_token: first.res!.next_page_token, keys_only: true });
    assert.deepEqual(second.res!.kvs.map((e) => e.key.toString()), ['r/c', 'r/\u00ff']);
    assert.equal(second.res!.kvs[0]!.value.length, 0, 'keys_only');
    assert.equal(second.res!.next_page_token.length, 0, 'the last page has no token');
    await c.waitFor('the follower to apply r/*', 20 * ELECTION_MS, async () => ((await range(followerId, { prefix: b('r/'), consistency: 'STALE' })).res?.kvs.length === 4 ? true : undefined));
    const bad = await range(leaderId, { prefix: b('r/'), limit: 10_001 });
    assert.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT);
  });

  test('Txn from a follower: forwarded, compared and applied at one revision; the failure branch when a comparison fails', async () => {
    const put = await unary<{ revision: number }>((md, o, cb) => kv(leaderId).Put({ key: b('t/a'), value: b('old') }, md, o, cb));
    const rev = put.res!.revision;
    const ok = await txn(followerId, {
      compare: [{ key: b('t/a'), target: 'REVISION', operator: 'EQUAL', revision: rev }, { key: b('t/a'), target: 'VALUE', value: b('old') }],
      success: [{ put: { key: b('t/a'), value: b('new') } }, { get: { key: b('t/a') } }, { delete: { key: b('t/none') } }],
      failure: [{ get: { key: b('t/a') } }],
    });
    assert.equal(ok.err, null, ok.err?.details);
    assert.equal(ok.leader, leaderId);
    const r = ok.res!;
    assert.equal(r.succeeded, true);
    assert.equal(r.results[0]!.put!.revision, r.revision);
    assert.equal(r.results[1]!.get!.value.toString(), 'new');
    assert.equal(r.results[1]!.get!.revision, r.revision);
    assert.equal(r.results[2]!.delete!.deleted, false);
    const again = await txn(leaderId, { compare: [{ key: b('t/a'), target: 'REVISION', operator: 'EQUAL', revision: rev }], success: [{ delete: { key: b('t/a') } }], failure: [{ get: { key: b('t/a') } }] });
    assert.equal(again.res!.succeeded, false);
    assert.equal(again.res!.results[0]!.get!.found, true);
    const twice = await txn(leaderId, { success: [{ put: { key: b('k'), value: b('1') } }, { delete: { key: b('k') } }] });
    assert.equal(twice.err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(twice.err!.details, /writes a key twice/);
    const empty = await txn(leaderId, { success: [{}] });
    assert.equal(empty.err?.code, grpc.status.INVALID_ARGUMENT);
    const noLease = await txn(leaderId, { success: [{ put: { key: b('k'), value: b('1'), lease: 987654 } }] });
    assert.equal(noLease.err?.code, grpc.status.NOT_FOUND);
  });

  test('Lease: Grant (raised to the minimum TTL), Put with a lease, Leases, Revoke deletes the keys; unknown leases are NOT_FOUND', async () => {
    const g = await unary<{ id: number; ttl: number }>((md, o, cb) => lease(followerId).Grant({ ttl: 1 }, md, o, cb));
    assert.equal(g.err, null, g.err?.details);
    assert.equal(g.res!.ttl, 1);
    const long = await unary<{ id: number; ttl: number }>((md, o, cb) => lease(leaderId).Grant({ ttl: 300 }, md, o, cb));
    const id = long.res!.id;
    assert.equal((await unary((md, o, cb) => kv(followerId).Put({ key: b('l/a'), value: b('1'), lease: id }, md, o, cb))).err, null);
    const listed = await range(leaderId, { prefix: b('l/') });
    assert.equal(listed.res!.kvs[0]!.lease, id);
    // TimeToLive at a follower is forwarded: the time left is on the leader's clock.
    const ttl = await unary<{ ttl: number; remaining_ms: number; keys: Buffer[] }>((md, o, cb) => lease(followerId).TimeToLive({ id }, md, o, cb));
    assert.equal(ttl.err, null, ttl.err?.details);
    assert.ok(ttl.res!.remaining_ms > 0 && ttl.res!.remaining_ms <= 300_000, `remaining_ms ${ttl.res!.remaining_ms}`);
    assert.deepEqual(ttl.res!.keys.map((k) => k.toString()), ['l/a']);
    const all = await unary<{ leases: { id: number; ttl: number }[] }>((md, o, cb) => lease(followerId).Leases({}, md, o, cb));
    assert.ok(all.res!.leases.some((l) => l.id === id && l.ttl === 300));
    const revoked = await unary<{ revision: number }>((md, o, cb) => lease(followerId).Revoke({ id }, md, o, cb));
    assert.equal(revoked.err, null, revoked.err?.details);
    assert.ok(revoked.res!.revision > id);
    assert.equal((await range(leaderId, { prefix: b('l/') })).res!.kvs.length, 0);
    assert.equal((await unary((md, o, cb) => lease(leaderId).Revoke({ id }, md, o, cb))).err?.code, grpc.status.NOT_FOUND);
    assert.equal((await unary((md, o, cb) => kv(leaderId).Put({ key: b('l/b'), value: b('1'), lease: id }, md, o, cb))).err?.code, grpc.status.NOT_FOUND);
    assert.equal((await unary((md, o, cb) => lease(leaderId).Grant({ ttl: 0 }, md, o, cb))).err?.code, grpc.status.INVALID_ARGUMENT);
  });
});
