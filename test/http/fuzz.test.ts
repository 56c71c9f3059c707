import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ProcessCluster } from '../e2e/process-cluster.js';

const ELECTION_MS = 500;
const RUNS = 25;
const REQUESTS_PER_RUN_MAX = 8;

const printable = fc.string({ unit: fc.mapToConstant({ num: 95, build: (v) => String.fromCharCode(0x20 + v) }), maxLength: 24 });
const pathChars = fc.string({ unit: fc.constantFrom(...'abz09/-._~%?&=:@!$'.split('')), maxLength: 30 });

const encodeBytes = (b: Uint8Array): string => Array.from(b, (x) => `%${x.toString(16).padStart(2, '0')}`).join('');

const requestArb = fc.record({
  method: fc.constantFrom('GET', 'PUT', 'DELETE', 'HEAD', 'POST', 'PATCH', 'OPTIONS'),
  path: fc.oneof(
    fc.uint8Array({ maxLength: 48 }).map((k) => `/v1/kv/${encodeBytes(k)}`),
    fc.constantFrom('same', 'a/b', 'a%2Fb', '%00', '%ff%fe', '%', '%zz', '').map((k) => `/v1/kv/${k}`),
    pathChars.map((p) => `/v1/kv/${p}`),
    pathChars.map((p) => `/${p}`),
    fc.constantFrom('/v1/status', '/healthz', '/readyz', '/metrics', '/openapi.json', '/v1/kv', '/'),
  ),
  query: fc.oneof(fc.constant(''), fc.constantFrom('?consistency=stale', '?consistency=lease', '?consistency=linearizable', '?consistency=x'), pathChars.map((q) => `?${q}`)),
  headers: fc.dictionary(
    fc.constantFrom('If-Match', 'If-None-Match', 'Idempotency-Key', 'Content-Type', 'Content-Encoding', 'Origin', 'Accept', 'X-Junk'),
    fc.oneof(printable, fc.constantFrom('*', '"1"', '"999999"', 'gzip', 'identity')),
    { maxKeys: 3 },
  ),
  body: fc.oneof(
    { weight: 5, arbitrary: fc.uint8Array({ maxLength: 256 }) },
    { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 1, arbitrary: fc.constantFrom(1_048_576, 1_048_577).map((n) => new Uint8Array(n)) },
  ),
});

describe('HTTP fuzzing against a running node', { concurrency: false }, () => {
  let c: ProcessCluster;
  before(async () => {
    c = await ProcessCluster.start(1, ELECTION_MS);
    await c.waitForLeader(20 * ELECTION_MS);
  });
  after(async () => {
    await c.stop();
  });

  test('random request sequences never get a 5xx other than 503/504, and the node keeps answering', async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { minLength: 1, maxLength: REQUESTS_PER_RUN_MAX }), async (requests) => {
        for (const r of requests) {
          const withBody = r.method !== 'GET' && r.method !== 'HEAD';
          const res = await fetch(c.url('n1', r.path + r.query), {
            method: r.method,
            headers: r.headers,
            body: withBody ? r.body : undefined,
            redirect: 'manual',
          });
          const text = await res.text();
          sent++;
          assert.ok(res.status < 500 || res.status === 503 || res.status === 504, `${r.method} ${r.path}${r.query} ${JSON.stringify(r.headers)} → ${res.status} ${text}`);
          if (res.status >= 400 && r.method !== 'HEAD') {
            const j = JSON.parse(text) as Record<string, unknown>;
            assert.equal(typeof j['error'], 'string');
            assert.equal(typeof j['message'], 'string');
          }
        }
      }),
      { numRuns: RUNS },
    );
    assert.ok(sent > 0);
    const h = await fetch(c.url('n1', '/healthz'));
    assert.equal(h.status, 200);
    const w = await c.put('n1', 'after-fuzz', 'ok');
    assert.equal(w.status, 200);
  });
});
