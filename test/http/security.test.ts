// REST authentication, roles and the listener's limits, on a real socket in this
// process (the node behind is a stand-in: these answers never reach Raft).
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { tokenHash } from '../../src/auth/tokens.js';
import type { KvNode } from '../../src/node/kv-node.js';
import { configWith, fakeNode, serveApp, type ServedApp } from './app-harness.js';

const READ = 'read-token-0123456789abcdef';
const WRITE = 'write-token-0123456789abcdef';
const tokens = [
  { name: 'reader', role: 'read', sha256: tokenHash(READ) },
  { name: 'writer', role: 'write', sha256: tokenHash(WRITE) },
];

const served: ServedApp[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(served.map((s) => s.close()));
});

async function serve(sections: Parameters<typeof configWith>[0], node: KvNode = writableFake): Promise<ServedApp> {
  const s = await serveApp(configWith(sections), node);
  served.push(s);
  return s;
}

/** A stand-in that answers writes as a stopping node would (503 node_stopping): enough to see a request got past the guards. */
const writableFake = { ...fakeNode, propose: (_command: unknown, done: (o: unknown) => void) => done({ ok: false, error: { kind: 'stopped' } }) } as unknown as KvNode;

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function code(r: Response): Promise<string> {
  const j = (await r.json()) as { error?: unknown; message?: unknown };
  assert.equal(typeof j.message, 'string');
  return String(j.error);
}

describe('bearer tokens and roles', () => {
  test('with auth.tokens empty, every route is open', async () => {
    const s = await serve({});
    assert.equal((await fetch(`${s.base}/v1/status`)).status, 200);
    assert.equal((await fetch(`${s.base}/metrics`)).status, 200);
    assert.equal((await fetch(`${s.base}/v1/kv/k`, { method: 'PUT', body: 'v' })).status, 503);
  });

  test('health, readiness and the API description stay open; everything else needs a token', async () => {
    const s = await serve({ auth: { tokens } });
    for (const path of ['/healthz', '/readyz', '/openapi.json']) assert.equal((await fetch(`${s.base}${path}`)).status, 200, path);
    for (const path of ['/v1/status', '/metrics', '/v1/kv/k?consistency=stale']) {
      const r = await fetch(`${s.base}${path}`);
      assert.equal(r.status, 401, path);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="kvstore"');
      assert.equal(await code(r), 'unauthenticated');
    }
    const put = await fetch(`${s.base}/v1/kv/k`, { method: 'PUT', body: 'v' });
    assert.equal(put.status, 401);
  });

  test('a malformed header or an unknown token is 401 and says which', async () => {
    const s = await serve({ auth: { tokens } });
    const malformed = await fetch(`${s.base}/v1/status`, { headers: { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` } });
    assert.equal(malformed.status, 401);
    assert.match(malformed.headers.get('www-authenticate')!, /error="invalid_request"/);
    const unknown = await fetch(`${s.base}/v1/status`, { headers: bearer('not-a-configured-token') });
    assert.equal(unknown.status, 401);
    assert.match(unknown.headers.get('www-authenticate')!, /error="invalid_token"/);
  });

  test('read may read, write may write; a read token writing is 403', async () => {
    const s = await serve({ auth: { tokens } });
    assert.equal((await fetch(`${s.base}/v1/status`, { headers: bearer(READ) })).status, 200);
    assert.equal((await fetch(`${s.base}/metrics`, { headers: bearer(READ) })).status, 200);
    const get = await fetch(`${s.base}/v1/kv/k?consistency=stale`, { headers: bearer(READ) });
    assert.equal(get.status, 404);
    assert.equal(await code(get), 'key_not_found');
    for (const method of ['PUT', 'DELETE']) {
      const denied = await fetch(`${s.base}/v1/kv/k`, { method, headers: bearer(READ), ...(method === 'PUT' ? { body: 'v' } : {}) });
      assert.equal(denied.status, 403, method);
      assert.equal(await code(denied), 'permission_denied');
      // Past the guards: the stand-in answers as a stopping node.
      const allowed = await fetch(`${s.base}/v1/kv/k`, { method, headers: bearer(WRITE), ...(method === 'PUT' ? { body: 'v' } : {}) });
      assert.equal(allowed.status, 503, method);
      assert.equal(await code(allowed), 'node_stopping');
    }
  });

  test('auth.metrics_public opens /metrics, and only it', async () => {
    const s = await serve({ auth: { tokens, metrics_public: true } });
    assert.equal((await fetch(`${s.base}/metrics`)).status, 200);
    assert.equal((await fetch(`${s.base}/v1/status`)).status, 401);
  });

  test('a CORS preflight needs no token; the request after it does', async () => {
    const s = await serve({ auth: { tokens }, http: { cors_origins: ['https://app.example.com'] } });
    const origin = { Origin: 'https://app.example.com' };
    const p = await fetch(`${s.base}/v1/kv/k`, { method: 'OPTIONS', headers: { ...origin, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization' } });
    assert.equal(p.status, 204);
    assert.match(p.headers.get('access-control-allow-headers')!, /Authorization/);
    assert.equal((await fetch(`${s.base}/v1/status`, { headers: origin })).status, 401);
  });

  test('refusals are counted by catalog code', async () => {
    const s = await serve({ auth: { tokens } });
    await fetch(`${s.base}/v1/status`);
    await fetch(`${s.base}/v1/kv/k`, { method: 'DELETE', headers: bearer(READ) });
    const text = await s.api.registry.metrics();
    assert.match(text, /kvstore_api_errors_total\{api="http",code="unauthenticated",node="n1"\} 1/);
    assert.match(text, /kvstore_api_errors_total\{api="http",code="permission_denied",node="n1"\} 1/);
  });
});

/** A raw socket; resolves with all it received once the server closes it. */
function raw(port: number, send: (s: Socket) => void): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = connect(port, '127.0.0.1', () => send(s));
    sockets.push(s);
    let text = '';
    s.on('data', (b: Buffer) => (text += b.toString()));
    s.on('error', () => {});
    s.on('close', () => resolve({ text, closedAfterMs: Date.now() - started }));
  });
}

const portOf = (s: ServedApp): number => Number(new URL(s.base).port);

describe('listener limits', () => {
  test('requests beyond http.requests_max get 429 with Retry-After; health is never refused', async () => {
    const releases: (() => void)[] = [];
    let hold = true;
    const stopped = { ok: false, error: { kind: 'stopped' } };
    const blocking = {
      ...fakeNode,
      read: (consistency: string, view: (state: unknown) => unknown, done: (o: unknown) => void) =>
        consistency === 'stale' ? fakeNode.read('stale', view, done) : hold ? void releases.push(() => done(stopped)) : done(stopped),
    } as unknown as KvNode;
    const s = await serve({ http: { requests_max: 2 } }, blocking);
    const held = [fetch(`${s.base}/v1/kv/a`), fetch(`${s.base}/v1/kv/b`)];
    for (let deadline = Date.now() + 5_000; releases.length < 2; await new Promise((r) => setTimeout(r, 5))) assert.ok(Date.now() < deadline, 'the two reads never arrived');
    const third = await fetch(`${s.base}/v1/kv/c`);
    assert.equal(third.status, 429);
    assert.equal(third.headers.get('retry-after'), '1');
    assert.equal(await code(third), 'too_many_requests');
    assert.equal((await fetch(`${s.base}/healthz`)).status, 200);
    hold = false;
    for (const release of releases) release();
    for (const r of await Promise.all(held)) assert.equal(r.status, 503);
    assert.equal((await fetch(`${s.base}/v1/kv/c`)).status, 503, 'a place is free again');
  });

  test('a request head sent a byte at a time is cut at http.header_timeout_ms with 408', async () => {
    const s = await serve({ http: { header_timeout_ms: 300, body_timeout_ms: 600 } });
    const head = 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' + 'a'.repeat(100);
    let timer: NodeJS.Timeout | null = null;
    const r = await raw(portOf(s), (sock) => {
      let i = 0;
      timer = setInterval(() => (i < head.length && !sock.destroyed ? sock.write(head[i++]!) : undefined), 50);
    });
    if (timer !== null) clearInterval(timer);
    assert.match(r.text, /^HTTP\/1.1 408 /);
    assert.match(r.text, /"error":"request_timeout"/);
    assert.ok(r.closedAfterMs < 5_000, `closed after ${r.closedAfterMs} ms`);
  });

  test('a body that trickles in is cut at http.body_timeout_ms', async () => {
    const s = await serve({ http: { header_timeout_ms: 200, body_timeout_ms: 500 } });
    let timer: NodeJS.Timeout | null = null;
    const r = await raw(portOf(s), (sock) => {
      sock.write('PUT /v1/kv/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
      timer = setInterval(() => (!sock.destroyed ? sock.write('x') : undefined), 50);
    });
    if (timer !== null) clearInterval(timer);
    assert.ok(r.closedAfterMs >= 400 && r.closedAfterMs < 5_000, `closed after ${r.closedAfterMs} ms`);
    assert.match(r.text, /^HTTP\/1.1 408 [^]*"error":"request_timeout"/);
  });

  test('an idle keep-alive connection is closed after http.keep_alive_timeout_ms', async () => {
    const s = await serve({ http: { keep_alive_timeout_ms: 200 } });
    const r = await raw(portOf(s), (sock) => sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.match(r.text, /^HTTP\/1.1 200 /);
    assert.ok(r.closedAfterMs < 5_000);
  });

  test('sockets beyond http.connections_max are dropped at accept and counted', async () => {
    const s = await serve({ http: { connections_max: 2 } });
    const held: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const sock = connect(portOf(s), '127.0.0.1');
      sockets.push(sock);
      held.push(sock);
      await new Promise((resolve) => sock.once('connect', resolve));
    }
    const dropped = await raw(portOf(s), (sock) => sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(dropped.text, '');
    assert.match(await s.api.registry.metrics(), /kvstore_api_connections_refused_total\{api="http",reason="too_many_connections",node="n1"\} 1/);
    for (const h of held) h.destroy();
  });

  test('a request head over 16 KiB is 431 in the catalog JSON', async () => {
    const s = await serve({});
    const r = await fetch(`${s.base}/healthz`, { headers: { 'x-big': 'a'.repeat(20_000) } });
    assert.equal(r.status, 431);
    assert.equal(await code(r), 'headers_too_large');
  });
});
