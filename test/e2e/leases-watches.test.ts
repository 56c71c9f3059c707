// Leases and watches on real processes: expiry decided by the leader and applied
// as one entry, keep-alives, a leader killed under a lease, and a watch that moves
// to another node with Last-Event-ID when its node dies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { KvClient, type WatchedRevision } from '../../src/client/index.js';
import { ProcessCluster } from './process-cluster.js';

const ELECTION_MS = 500;

describe('leases and watches on a 3-node cluster of real processes', { concurrency: false }, () => {
  let c: ProcessCluster;
  let client: KvClient;
  const url = (id: string): string => `http://127.0.0.1:${c.node(id).httpPort}`;
  before(async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    await c.waitForLeader(20 * ELECTION_MS);
    client = new KvClient({ endpoints: c.nodes.map((n) => url(n.id)) });
  });
  after(async () => {
    await c.stop();
  });

  /** Collects a watch's revisions in the background until `until` says enough. */
  function collect(watch: AsyncGenerator<WatchedRevision>, until: (got: WatchedRevision[]) => boolean): Promise<WatchedRevision[]> {
    return (async () => {
      const got: WatchedRevision[] = [];
      for await (const r of watch) {
        got.push(r);
        if (until(got)) break;
      }
      return got;
    })();
  }

  test('a lease not kept alive expires on the leader\'s clock: all its keys go in one revision, seen by a watch on a follower', async () => {
    const leader = await c.waitForLeader(20 * ELECTION_MS);
    const follower = c.nodes.find((n) => n.id !== leader)!.id;
    // The leader counts the TTL from its grant, which comes before our answer: time it from our request.
    const grantedAt = Date.now();
    const g = await client.grantLease(1);
    assert.ok(g.ok);
    const a = await client.put('exp/a', '1', { lease: g.id });
    const b = await client.put('exp/b', '2', { lease: g.id });
    assert.ok(a.ok && b.ok);
    const watcher = new KvClient({ endpoints: [url(follower)] });
    const ac = new AbortController();
    const seen = collect(watcher.watch('exp/', { prefix: true, fromRevision: a.revision, signal: ac.signal }), (got) => got.some((r) => r.changes.some((ch) => ch.type === 'delete')));
    const deletes = (await seen).find((r) => r.changes.some((ch) => ch.type === 'delete'))!;
    ac.abort();
    const expiredAfterMs = Date.now() - grantedAt;
    assert.deepEqual(deletes.changes.map((ch) => [ch.type, Buffer.from(ch.key).toString()]), [['delete', 'exp/a'], ['delete', 'exp/b']], 'one revision deletes both keys');
    assert.ok(expiredAfterMs >= 1000, `expired after ${expiredAfterMs} ms, before its TTL`);
    assert.ok(!(await client.get('exp/a')).ok);
    const info = await client.leaseInfo(g.id);
    assert.ok(!info.ok && info.error === 'lease_not_found');
    const late = await client.keepAliveLease(g.id);
    assert.ok(!late.ok && late.error === 'lease_not_found', 'a keep-alive after the expiry is refused');
  });

  test('client.lease keeps a lease alive past its TTL; revoking it ends it and its keys', async () => {
    const r = await client.lease(1);
    assert.ok(r.ok);
    const put = await client.put('kept/a', 'x', { lease: r.lease.id });
    assert.ok(put.ok);
    await delay(3000);
    assert.equal(r.lease.loss, null);
    assert.ok((await client.get('kept/a')).ok, 'alive after three TTLs');
    const info = await client.leaseInfo(r.lease.id);
    assert.ok(info.ok && info.remainingMs !== null && info.remainingMs <= 1000);
    await r.lease.revoke();
    assert.deepEqual(await r.lease.lost, { kind: 'revoked' });
    assert.ok(!(await client.get('kept/a')).ok);
  });

  test('a leader killed under a kept-alive lease: the new leader gives it its full TTL, the keys stay', async () => {
    const r = await client.lease(2);
    assert.ok(r.ok);
    assert.ok((await client.put('failover/a', 'x', { lease: r.lease.id })).ok);
    const leader = await c.waitForLeader(20 * ELECTION_MS);
    await c.kill(leader);
    const next = await c.waitForLeader(20 * ELECTION_MS, c.nodes.filter((n) => n.id !== leader).map((n) => n.id));
    assert.notEqual(next, leader);
    await delay(4000);
    assert.equal(r.lease.loss, null, `lost: ${JSON.stringify(r.lease.loss)}`);
    assert.ok((await client.get('failover/a')).ok, 'the key outlived the failover');
    c.restart(leader);
    await r.lease.revoke();
  });

  test('a leader killed under a lease nobody keeps alive: the new leader gives it its full TTL from its election, then expires it', async (t) => {
    const TTL_MS = 4000;
    const leader = await c.waitForLeader(20 * ELECTION_MS);
    const rest = c.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    const grantedAt = Date.now();
    const g = await client.grantLease(TTL_MS / 1000);
    assert.ok(g.ok && g.ttl === TTL_MS / 1000, JSON.stringify(g));
    const put = await client.put('unkept/a', 'x', { lease: g.id });
    assert.ok(put.ok);
    const watcher = new KvClient({ endpoints: rest.map(url) });
    const ac = new AbortController();
    const seen = collect(watcher.watch('unkept/a', { fromRevision: put.revision + 1, signal: ac.signal }), (got) => got.some((r) => r.changes.some((ch) => ch.type === 'delete')));
    await delay(TTL_MS / 4 - (Date.now() - grantedAt));
    const killedAt = Date.now();
    try {
      await c.kill(leader);
      assert.ok(killedAt - grantedAt < TTL_MS / 2, `the leader was killed ${killedAt - grantedAt} ms after the grant: too late to tell`);
      await c.waitForLeader(20 * ELECTION_MS, rest);
      const expired = await Promise.race([seen.then(() => true), delay(5 * TTL_MS).then(() => false)]);
      assert.ok(expired, 'the new leader never expired the lease');
      // The new leader was elected after the kill and counts the whole TTL from then: the key cannot go sooner.
      const goneAfterKillMs = Date.now() - killedAt;
      assert.ok(goneAfterKillMs >= TTL_MS, `the lease expired ${goneAfterKillMs} ms after the old leader died: less than its TTL from the new leader's election`);
      assert.ok(!(await client.get('unkept/a')).ok);
      t.diagnostic(`expired ${goneAfterKillMs} ms after the leader's kill (${killedAt - grantedAt} ms after the grant; TTL ${TTL_MS} ms)`);
    } finally {
      ac.abort();
      c.restart(leader);
      await c.waitForLeader(20 * ELECTION_MS);
    }
  });

  test('a watch moves to another node with Last-Event-ID when its node is killed: every revision once, in order', async () => {
    await c.waitForLeader(20 * ELECTION_MS);
    const start = await client.put('wm/start', '0');
    assert.ok(start.ok);
    const home = c.nodes.find((n) => n.proc !== null)!.id;
    const order = [home, ...c.nodes.filter((n) => n.id !== home).map((n) => n.id)];
    const watcher = new KvClient({ endpoints: order.map(url) });
    const ac = new AbortController();
    const N = 60;
    const seen = collect(watcher.watch('wm/', { prefix: true, fromRevision: start.revision + 1, signal: ac.signal }), (got) => got.length >= N);
    const written: number[] = [];
    for (let i = 0; i < N; i++) {
      if (i === N / 3) await c.kill(home);
      // Through the election the kill may cause: retried (with the same idempotency key) until it is applied once.
      const idempotencyKey = `wm-${i}`;
      let p = await client.put(`wm/${i % 7}`, String(i), { idempotencyKey });
      for (const until = Date.now() + 20_000; !p.ok && Date.now() < until; ) p = await client.put(`wm/${i % 7}`, String(i), { idempotencyKey });
      assert.ok(p.ok, JSON.stringify(p));
      written.push(p.revision);
    }
    const got = await seen;
    ac.abort();
    assert.deepEqual(got.map((r) => r.revision), written, 'exactly the committed revisions, in order, none twice');
    c.restart(home);
    await c.waitForLeader(20 * ELECTION_MS);
  });
});
