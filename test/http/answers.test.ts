// The answers the REST app writes to Node's response itself (answer.ts): status,
// type, length and headers as SPEC gives them, HEAD without a body, a follower's
// 307 (its Location, X-Raft-Leader and catalog JSON) answered before the body is
// read while the connection stays usable. The node behind is a stand-in.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Client } from 'undici';
import type { KvNode } from '../../src/node/kv-node.js';
import { configWith, fakeNode, serveApp, type ServedApp } from './app-harness.js';
import { assertError, call } from './recorded-calls.js';

const TWO_MEMBERS = {
  raft: {
    peers: [
      { id: 'n1', raft_addr: '127.0.0.1:7081', http_addr: '127.0.0.1:8081', grpc_addr: '127.0.0.1:9081' },
      { id: 'n2', raft_addr: '127.0.0.1:7082', http_addr: '127.0.0.1:8082', grpc_addr: '127.0.0.1:9082' },
    ],
  },
};

/** A stand-in that knows `leader` and answers proposals and reads at once (revision 7 for every key). */
function standIn(leader: string | null, ready = true): KvNode {
  const value = new Uint8Array([104, 105]);
  return {
    ...fakeNode,
    leaderId: () => leader,
    ready: () => ready,
    propose: (c: { op: string }, done: (o: unknown) => void) => done({ ok: true, value: c.op === 'put' ? { op: 'put', ok: true, revision: 7 } : { op: 'delete', ok: true, deleted: true, revision: 7 } }),
    read: (_c: string, view: (s: unknown) => unknown, done: (o: unknown) => void) => done({ ok: true, value: view({ get: () => ({ revision: 7, value }) }) }),
  } as unknown as KvNode;
}

const served: ServedApp[] = [];
after(() => Promise.all(served.map((s) => s.close())));
async function serve(node: KvNode): Promise<string> {
  const s = await serveApp(configWith(TWO_MEMBERS), node);
  served.push(s);
  return s.base;
}

describe('answers written to the response directly', () => {
  test('a write and a read at the leader: status, JSON or bytes, ETag, exact Content-Length', async () => {
    const base = await serve(standIn('n1'));
    const p = await call(`${base}/v1/kv/k`, { method: 'PUT', body: 'hi' });
    assert.equal(p.status, 200);
    assert.deepEqual(p.json(), { revision: 7 });
    assert.equal(p.headers.get('etag'), '"7"');
    assert.equal(p.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(p.headers.get('content-length'), String(p.body.length));
    const g = await call(`${base}/v1/kv/k`);
    assert.equal(g.status, 200);
    assert.equal(g.text(), 'hi');
    assert.equal(g.headers.get('content-type'), 'application/octet-stream');
    assert.equal(g.headers.get('content-length'), '2');
    const d = await call(`${base}/v1/kv/k`, { method: 'DELETE' });
    assert.deepEqual(d.json(), { deleted: true, revision: 7 });
  });

  test('HEAD gets the head of the GET (same type and length) and no body', async () => {
    const base = await serve(standIn('n1'));
    for (const path of ['/v1/kv/k', '/v1/status', '/healthz', '/openapi.json']) {
      const g = await call(`${base}${path}`);
      const h = await call(`${base}${path}`, { method: 'HEAD' });
      assert.equal(h.status, 200, path);
      assert.equal(h.body.length, 0, path);
      assert.equal(h.headers.get('content-type'), g.headers.get('content-type'), path);
      assert.equal(h.headers.get('content-length'), String(g.body.length), path);
    }
  });

  test("a follower's 307 for a write and a linearizable read: Location with the query, X-Raft-Leader, the catalog's JSON", async () => {
    const base = await serve(standIn('n2'));
    for (const [method, path] of [
      ['PUT', '/v1/kv/a%2Fb?lease=5'],
      ['DELETE', '/v1/kv/a'],
      ['GET', '/v1/kv/a'],
      ['GET', '/v1/kv/a?consistency=lease'],
    ] as const) {
      const r = await call(`${base}${path}`, { method, ...(method === 'PUT' ? { body: 'value' } : {}) });
      assertError(r, 'not_leader', /n2 is the leader/);
      assert.equal(r.headers.get('location'), `http://127.0.0.1:8082${path}`, `${method} ${path}`);
      assert.equal(r.headers.get('x-raft-leader'), 'n2');
      assert.equal(r.headers.get('content-length'), String(r.body.length));
    }
    const s = await call(`${base}/v1/kv/a?consistency=stale`);
    assert.equal(s.status, 200, 'a stale read is served by the follower');
  });

  test('a 307 answered before the PUT body is read leaves the connection usable for the next request', async () => {
    const base = await serve(standIn('n2'));
    const client = new Client(base, { pipelining: 1 });
    let connections = 0;
    client.on('connect', () => connections++);
    try {
      for (let i = 0; i < 5; i++) {
        const r = await client.request({ path: `/v1/kv/k${i}`, method: 'PUT', body: Buffer.alloc(64 * 1024, i) });
        assert.equal(r.statusCode, 307);
        assert.equal((JSON.parse(await r.body.text()) as { error: string }).error, 'not_leader');
      }
      const g = await client.request({ path: '/v1/kv/k?consistency=stale', method: 'GET' });
      assert.equal(g.statusCode, 200);
      assert.equal(await g.body.text(), 'hi');
    } finally {
      await client.close();
    }
    assert.equal(connections, 1, 'every request went over the one keep-alive connection');
  });

  test('errors: the catalog JSON with their headers (405 Allow, 503 Retry-After)', async () => {
    const base = await serve(standIn(null, false));
    const m = await call(`${base}/v1/status`, { method: 'PUT', body: 'x' });
    assertError(m, 'method_not_allowed');
    assert.equal(m.headers.get('allow'), 'GET, HEAD, OPTIONS');
    const r = await call(`${base}/readyz`);
    assertError(r, 'not_ready');
    assert.equal(r.headers.get('retry-after'), '1');
    const n = await call(`${base}/nowhere`);
    assertError(n, 'not_found');
    assert.equal(n.headers.get('content-length'), String(n.body.length));
  });
});
