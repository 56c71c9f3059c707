import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ProcessCluster } from './process-cluster.js';

const ELECTION_MS = 500;
const ELECT_WITHIN_MS = 20 * ELECTION_MS;

/** Every node with http.follower_reads and http.forward_writes on: any node serves everything, with no redirect. */
describe('a cluster whose followers serve linearizable reads and take writes (follower ReadIndex, write forwarding)', { concurrency: false }, () => {
  let c: ProcessCluster;
  after(async () => {
    await c?.stop();
  });

  test('a write at a follower is answered by it (no 307), and a linearizable read at the other follower sees it at once', async () => {
    c = await ProcessCluster.start(3, ELECTION_MS, {
      prepare: (n) => {
        n.env = { KV_HTTP_FOLLOWER_READS: 'true', KV_HTTP_FORWARD_WRITES: 'true' };
      },
    });
    const leader = await c.waitForLeader(ELECT_WITHIN_MS);
    const [f1, f2] = c.nodes.filter((n) => n.id !== leader).map((n) => n.id) as [string, string];
    for (let k = 0; k < 20; k++) {
      const put = await fetch(c.url(f1, `/v1/kv/fk-${k}`), { method: 'PUT', body: `v${k}`, redirect: 'manual' });
      assert.equal(put.status, 200, await put.clone().text());
      const revision = ((await put.json()) as { revision: number }).revision;
      assert.ok(revision > 0);
      const get = await fetch(c.url(f2, `/v1/kv/fk-${k}?consistency=linearizable`), { redirect: 'manual' });
      assert.equal(get.status, 200, 'a follower serves the read itself');
      assert.equal(await get.text(), `v${k}`, 'the read reflects the write acknowledged before it');
      assert.equal(get.headers.get('etag'), `"${revision}"`);
    }
    const del = await fetch(c.url(f2, '/v1/kv/fk-0'), { method: 'DELETE', redirect: 'manual' });
    assert.equal(del.status, 200);
    assert.equal(((await del.json()) as { deleted: boolean }).deleted, true);
    const gone = await fetch(c.url(f1, '/v1/kv/fk-0'), { redirect: 'manual' });
    assert.equal(gone.status, 404);
    const cas = await fetch(c.url(f1, '/v1/kv/fk-1'), { method: 'PUT', body: 'x', headers: { 'if-match': '"1"' }, redirect: 'manual' });
    assert.equal(cas.status, 412, 'a forwarded conditional write is refused like one at the leader');
  });

  test('the followers count the reads they asked the leader an index for, and the leader those it answered without a round', async () => {
    const leader = await c.waitForLeader(ELECT_WITHIN_MS);
    let forwarded = 0;
    for (const n of c.nodes.filter((x) => x.id !== leader)) {
      const text = await (await fetch(`http://127.0.0.1:${n.metricsPort}/metrics`)).text();
      const m = /^kvstore_raft_reads_forwarded_total(?:\{[^}]*\})? (\S+)$/m.exec(text);
      assert.ok(m !== null, `${n.id} exports kvstore_raft_reads_forwarded_total`);
      forwarded += Number(m[1]);
    }
    assert.ok(forwarded >= 20, `the followers forwarded ${forwarded} reads; the test made 20 linearizable ones`);
    // In 3 voters the leader answers each of them at once, the asking follower's acceptance being the round.
    const leaderNode = c.nodes.find((x) => x.id === leader)!;
    const text = await (await fetch(`http://127.0.0.1:${leaderNode.metricsPort}/metrics`)).text();
    const m = /^kvstore_raft_reads_confirmed_by_requester_total(?:\{[^}]*\})? (\S+)$/m.exec(text);
    assert.ok(m !== null, 'the leader exports kvstore_raft_reads_confirmed_by_requester_total');
    const confirmed = Number(m[1]);
    assert.ok(confirmed >= 20 && confirmed <= forwarded, `the leader answered ${confirmed} of the ${forwarded} forwarded reads without a round`);
  });
});
