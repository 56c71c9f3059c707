import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { configWith, serveApp, type ServedApp } from './app-harness.js';

async function serve(corsOrigins: readonly string[]): Promise<ServedApp> {
  return serveApp(configWith({ http: { cors_origins: [...corsOrigins] } }));
}

describe('CORS (http.cors_origins)', () => {
  const servers: ServedApp[] = [];
  after(() => Promise.all(servers.map((s) => s.close())));

  test('off by default: no CORS headers, even for a preflight', async () => {
    const server = await serve([]);
    servers.push(server);
    const base = server.base;
    const r = await fetch(`${base}/v1/kv/k?consistency=stale`, { headers: { Origin: 'https://app.example.com' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const p = await fetch(`${base}/v1/kv/k`, { method: 'OPTIONS', headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'PUT' } });
    assert.equal(p.status, 204);
    assert.equal(p.headers.get('access-control-allow-origin'), null);
    assert.equal(p.headers.get('access-control-allow-methods'), null);
  });

  test('on: allowed origins get Allow-Origin and exposed headers, preflights are answered; others get nothing', async () => {
    const server = await serve(['https://app.example.com']);
    servers.push(server);
    const base = server.base;
    const r = await fetch(`${base}/v1/kv/k?consistency=stale`, { headers: { Origin: 'https://app.example.com' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.equal(r.headers.get('vary'), 'Origin');
    for (const h of ['ETag', 'X-Raft-Leader', 'Location']) assert.ok(r.headers.get('access-control-expose-headers')!.includes(h));
    const p = await fetch(`${base}/v1/kv/k`, { method: 'OPTIONS', headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'if-match' } });
    assert.equal(p.status, 204);
    assert.equal(p.headers.get('access-control-allow-methods'), 'GET, HEAD, PUT, DELETE');
    assert.match(p.headers.get('access-control-allow-headers')!, /If-Match/);
    const other = await fetch(`${base}/healthz`, { headers: { Origin: 'https://evil.example.com' } });
    assert.equal(other.status, 200);
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  });

  test('"*" allows any origin', async () => {
    const server = await serve(['*']);
    servers.push(server);
    const base = server.base;
    const r = await fetch(`${base}/healthz`, { headers: { Origin: 'https://any.example.com' } });
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
  });
});
