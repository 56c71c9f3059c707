// The gRPC client library (src/client/grpc-client.ts) and the gRPC metrics, against a
// real 3-node cluster of processes: forwarding, CAS, create-only, idempotency,
// NOT_FOUND parity with the REST client, deadline propagation through a forwarding
// follower, UNAVAILABLE without a leader, and kvstore_grpc_* on HTTP /metrics.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { KvClient, KvGrpcClient } from '../../src/client/index.js';
import { ProcessCluster } from '../e2e/process-cluster.js';

const ELECTION_MS = 500;
const ELECT_WITHIN_MS = 20 * ELECTION_MS;
const SHORT_DEADLINE_MS = 800;
const NODE_REQUEST_TIMEOUT_MS = 60_000;

describe('KvGrpcClient on a 3-node cluster', { concurrency: false }, () => {
  let c: ProcessCluster;
  let leaderId: string;
  let followerId: string;
  const clients: KvGrpcClient[] = [];
  const endpoint = (id: string): string => `127.0.0.1:${c.node(id).grpcPort}`;
  const grpcClient = (ids: readonly string[], extra: Partial<ConstructorParameters<typeof KvGrpcClient>[0]> = {}): KvGrpcClient => {
    const k = new KvGrpcClient({ endpoints: ids.map(endpoint), ...extra });
    clients.push(k);
    return k;
  };
  const metricsOf = async (id: string): Promise<string> => (await fetch(c.url(id, '/metrics'))).text();
  const sample = (text: string, name: string, labels: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  before(async () => {
    // The nodes' own request timeout is far beyond any client deadline here, so a call that ends at its deadline was ended by it.
    c = await ProcessCluster.start(3, ELECTION_MS, { prepare: (n) => (n.env['KV_NODE_REQUEST_TIMEOUT_MS'] = String(NODE_REQUEST_TIMEOUT_MS)) });
    leaderId = await c.waitForLeader(ELECT_WITHIN_MS);
    followerId = c.nodes.map((n) => n.id).find((id) => id !== leaderId)!;
  });

  after(async () => {
    for (const k of clients) k.close();
    await c?.stop(); // SIGCONT before SIGKILL for every node
  });

  test('put, get and delete through a follower endpoint; the leader id is cached', async () => {
    const k = grpcClient([followerId]);
    const p = await k.put('a/b', 'one');
    assert.equal(p.ok, true, JSON.stringify(p));
    assert.ok(p.ok && p.revision > 0 && p.idempotencyKey.length > 0);
    assert.equal(k.cachedLeaderId, leaderId);
    const g = await k.get('a/b');
    assert.ok(g.ok, JSON.stringify(g));
    assert.equal(Buffer.from(g.value).toString(), 'one');
    assert.equal(g.revision, p.revision);
    const lease = await k.get('a/b', { consistency: 'lease' });
    assert.ok(lease.ok && lease.revision === p.revision, JSON.stringify(lease));
    const d = await k.delete('a/b');
    assert.ok(d.ok && d.deleted && d.revision > p.revision, JSON.stringify(d));
    const again = await k.delete('a/b');
    assert.ok(again.ok && !again.deleted, JSON.stringify(again));

    // With members, the leader named in x-raft-leader becomes the preferred endpoint.
    const members = Object.fromEntries(c.nodes.map((n) => [n.id, endpoint(n.id)]));
    const m = grpcClient([followerId], { members });
    assert.ok((await m.put('m', 'x')).ok);
    assert.equal(m.cachedLeader, endpoint(leaderId));
  });

  test('NOT_FOUND on get has the same shape as the REST client', async () => {
    const k = grpcClient([followerId]);
    const g = await k.get('absent');
    const rest = await new KvClient({ endpoints: [c.url(followerId, '')] }).get('absent');
    assert.ok(!g.ok && !rest.ok);
    assert.deepEqual({ kind: g.kind, status: g.status, error: g.error }, { kind: rest.kind, status: rest.status, error: rest.error });
    assert.deepEqual({ kind: g.kind, status: g.status, error: g.error }, { kind: 'failed', status: 404, error: 'key_not_found' });
  });

  test('compare-and-set: ifRevision once, then failed with currentRevision', async () => {
    const k = grpcClient([followerId]);
    const first = await k.put('cas', 'v1');
    assert.ok(first.ok);
    const ok = await k.put('cas', 'v2', { ifRevision: first.revision });
    assert.ok(ok.ok, JSON.stringify(ok));
    const stale = await k.put('cas', 'v3', { ifRevision: first.revision });
    assert.ok(!stale.ok && stale.kind === 'failed', JSON.stringify(stale));
    assert.equal(stale.status, 412);
    assert.equal(stale.error, 'revision_mismatch');
    assert.equal(stale.currentRevision, ok.revision);
    const delStale = await k.delete('cas', { ifRevision: first.revision });
    assert.ok(!delStale.ok && delStale.kind === 'failed' && delStale.currentRevision === ok.revision, JSON.stringify(delStale));
    const delOk = await k.delete('cas', { ifRevision: ok.revision });
    assert.ok(delOk.ok && delOk.deleted, JSON.stringify(delOk));
  });

  test('create-only writes an absent key once; ifRevision with ifAbsent is refused', async () => {
    const k = grpcClient([followerId]);
    const a = await k.put('once', '1', { ifAbsent: true });
    assert.ok(a.ok, JSON.stringify(a));
    const b = await k.put('once', '2', { ifAbsent: true });
    assert.ok(!b.ok && b.kind === 'failed' && b.status === 412 && b.currentRevision === a.revision, JSON.stringify(b));
    const both = await k.put('once', '3', { ifAbsent: true, ifRevision: 1 });
    assert.ok(!both.ok && both.kind === 'failed' && both.error === 'bad_request');
    const g = await k.get('once');
    assert.ok(g.ok && Buffer.from(g.value).toString() === '1');
  });

  test('a retry with the same idempotency key answers the first revision and applies once', async () => {
    const viaFollower = grpcClient([followerId]);
    const viaLeader = grpcClient([leaderId]);
    const first = await viaFollower.put('idem', 'a', { idempotencyKey: 'grpc-client-idem-1' });
    assert.ok(first.ok, JSON.stringify(first));
    const retry = await viaLeader.put('idem', 'a', { idempotencyKey: 'grpc-client-idem-1' });
    assert.ok(retry.ok, JSON.stringify(retry));
    assert.equal(retry.revision, first.revision);
    assert.equal(retry.idempotencyKey, 'grpc-client-idem-1');
    const g = await viaLeader.get('idem');
    assert.ok(g.ok && g.revision === first.revision);
  });

  test('kvstore_grpc_* metrics are on HTTP /metrics with method and code labels', async () => {
    const k = grpcClient([followerId]);
    const before = await metricsOf(followerId);
    assert.ok((await k.put('metrics', 'x')).ok);
    assert.ok(!(await k.get('metrics-absent')).ok);
    const text = await metricsOf(followerId);
    assert.match(text, /# TYPE kvstore_grpc_requests_total counter/);
    assert.match(text, /# TYPE kvstore_grpc_request_duration_seconds histogram/);
    assert.equal(sample(text, 'kvstore_grpc_requests_total', 'method="Put",code="OK"'), sample(before, 'kvstore_grpc_requests_total', 'method="Put",code="OK"') + 1);
    assert.ok(sample(text, 'kvstore_grpc_requests_total', 'method="Get",code="NOT_FOUND"') >= 1, text);
    assert.ok(sample(text, 'kvstore_grpc_requests_total', 'method="Put",code="FAILED_PRECONDITION"') >= 1, text);
    assert.ok(sample(text, 'kvstore_grpc_request_duration_seconds_count', 'method="Put"') >= 1, text);
    // The HTTP metrics share the registry.
    assert.match(text, /kvstore_http_requests_total/);
  });

  test('a follower forwarding to a paused leader ends the call at the caller\'s deadline', async () => {
    const k = grpcClient([followerId], { maxAttempts: 1 });
    assert.ok((await k.put('warm', 'up')).ok); // the follower's channel to the leader is open
    c.pause(leaderId);
    try {
      const t0 = Date.now();
      const p = await k.put('paused', 'x', { timeoutMs: SHORT_DEADLINE_MS });
      const elapsed = Date.now() - t0;
      assert.ok(!p.ok && p.kind === 'maybe_applied', JSON.stringify(p));
      assert.equal(p.status, 504);
      assert.match(p.message, /^DEADLINE_EXCEEDED/);
      assert.ok(elapsed >= SHORT_DEADLINE_MS - 50 && elapsed < NODE_REQUEST_TIMEOUT_MS, `answered after ${elapsed} ms`);
      // The follower's handler saw the same deadline (not the leader's answer, which never comes).
      await c.waitFor('the follower to count the expired Put', ELECT_WITHIN_MS, async () =>
        sample(await metricsOf(followerId), 'kvstore_grpc_requests_total', 'method="Put",code="DEADLINE_EXCEEDED"') >= 1 ? true : undefined,
      );
      // The caller's own cancel at its deadline reaches the follower before the follower's copy of the deadline passes: still the deadline.
      assert.equal(sample(await metricsOf(followerId), 'kvstore_grpc_requests_total', 'method="Put",code="CANCELLED"'), 0);
    } finally {
      c.resume(leaderId);
    }
    leaderId = await c.waitForLeader(ELECT_WITHIN_MS);
  });

  test('with no leader known, a Put is UNAVAILABLE (failed, not applied) and answered quickly', async () => {
    const survivor = c.nodes.map((n) => n.id).find((id) => id !== leaderId)!;
    await Promise.all(c.nodes.filter((n) => n.id !== survivor).map((n) => c.kill(n.id)));
    await c.waitFor(`${survivor} to know no leader`, ELECT_WITHIN_MS, async () => ((await c.status(survivor))?.leader_id === null ? true : undefined));
    const k = grpcClient([survivor], { maxAttempts: 3, backoffBaseMs: 10, backoffMaxMs: 20 });
    const t0 = Date.now();
    const p = await k.put('no-leader', 'x', { timeoutMs: 2000 });
    const elapsed = Date.now() - t0;
    assert.ok(!p.ok && p.kind === 'failed', JSON.stringify(p));
    assert.equal(p.status, 503);
    assert.equal(p.error, 'no_leader');
    assert.match(p.message, /^UNAVAILABLE/);
    // Refused by the node, not ended by the client's own deadline.
    assert.ok(elapsed < 2000, `answered after ${elapsed} ms`);
    const text = await metricsOf(survivor);
    assert.ok(sample(text, 'kvstore_grpc_requests_total', 'method="Put",code="UNAVAILABLE"') >= 3, text);
  });
});
