import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import type { NodeConfig } from '../../src/config/config.js';
import { createHttpApp, listen } from '../../src/http/server.js';
import { createLogger } from '../../src/log.js';
import { ApiMetrics } from '../../src/metrics/api-metrics.js';
import type { KvNode } from '../../src/node/kv-node.js';

/** Just enough of a node for routes that do not touch Raft: stale reads and health. */
const fakeNode = {
  id: 'n1',
  status: () => ({ id: 'n1', role: 'leader', term: 1, leaderId: 'n1', commitIndex: 0, appliedIndex: 0, lastLogIndex: 0 }),
  ready: () => true,
  staleState: () => ({ size: () => 0, get: () => undefined }),
} as unknown as KvNode;

async function serve(corsOrigins: readonly string[]): Promise<{ server: Server; base: string }> {
  const config = { raft: { peers: [] }, http: { valueBytesMax: 16, corsOrigins } } as unknown as NodeConfig;
  const app = createHttpApp(config, fakeNode, createLogger('n1', 'fatal'), new ApiMetrics('n1', () => ({ keys: 0, bytes: 0, sessions: 0, shardRebuilds: 0 })));
  const server = await listen(app, '127.0.0.1', 0);
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('CORS (http.cors_origins)', () => {
  const servers: Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  test('off by default: no CORS headers, even for a preflight', async () => {
    const { server, base } = await serve([]);
    servers.push(server);
    const r = await fetch(`${base}/v1/kv/k?consistency=stale`, { headers: { Origin: 'https://app.example.com' } });
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('access-control-allow-origin'), null);
    const p = await fetch(`${base}/v1/kv/k`, { method: 'OPTIONS', headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'PUT' } });
    assert.equal(p.status, 204);
    assert.equal(p.headers.get('access-control-allow-origin'), null);
    assert.equal(p.headers.get('access-control-allow-methods'), null);
  });

  test('on: allowed origins get Allow-Origin and exposed headers, preflights are answered; others get nothing', async () => {
    const { server, base } = await serve(['https://app.example.com']);
    servers.push(server);
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
    const { server, base } = await serve(['*']);
    servers.push(server);
    const r = await fetch(`${base}/healthz`, { headers: { Origin: 'https://any.example.com' } });
    assert.equal(r.headers.get('access-control-allow-origin'), '*');
  });
});
