// REST requests fuzzed against a live node with authentication on: methods, paths,
// percent-encodings, headers (tokens included), bodies; and raw HTTP/1.1 over TCP:
// random bytes, mutated requests, requests cut off mid-head or mid-body. Every
// answer must be one the catalog documents, and the node must keep serving, print
// only JSON and keep its memory bounded.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { tokenHash } from '../../src/auth/tokens.js';
import { errorCatalog } from '../../src/errors.js';
import { ProcessCluster } from '../e2e/process-cluster.js';
import { fuzzRuns, fuzzTimeoutMs } from '../fuzz-budget.js';

const ELECTION_MS = 500;
const REQUESTS_PER_RUN_MAX = 8;
const TOKEN = 'rest-fuzz-token-0123456789abcdef';
const RSS_GROWTH_MAX_BYTES = 256 * 1024 * 1024;

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
    fc.constantFrom('If-Match', 'If-None-Match', 'Idempotency-Key', 'Content-Type', 'Content-Encoding', 'Origin', 'Accept', 'X-Junk', 'Authorization', 'Range'),
    fc.oneof(printable, fc.constantFrom('*', '"1"', '"999999"', 'gzip', 'identity', `Bearer ${TOKEN}`, 'Bearer nope', 'Basic YTpi')),
    { maxKeys: 4 },
  ),
  authorized: fc.boolean(),
  body: fc.oneof(
    { weight: 5, arbitrary: fc.uint8Array({ maxLength: 256 }) },
    { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
    { weight: 1, arbitrary: fc.constantFrom(1_048_576, 1_048_577).map((n) => new Uint8Array(n)) },
  ),
});

/** Raw HTTP/1.1: a valid request, mutated, cut short, or plain garbage. */
const rawArb = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map((b) => ({ bytes: Buffer.from(b), cutAfter: null as number | null })),
  fc
    .tuple(
      fc.constantFrom(
        `PUT /v1/kv/raw HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 5\r\n\r\nhello`,
        `GET /v1/kv/raw?consistency=stale HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
        `PUT /v1/kv/raw HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
        'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
        // fetch refuses to send Expect, so it is fuzzed here.
        `PUT /v1/kv/raw HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nExpect: something-else\r\nContent-Length: 2\r\n\r\nhi`,
      ),
      fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }),
      fc.option(fc.nat(), { nil: null }),
    )
    .map(([text, flips, cut]) => {
      const bytes = Buffer.from(text);
      for (const f of flips) bytes[f.at % bytes.length] = f.byte;
      return { bytes, cutAfter: cut === null ? null : cut % bytes.length };
    }),
);

/** Sends raw bytes (all, or only a prefix and then hangs up) and collects what came back. */
function rawExchange(port: number, bytes: Buffer, cutAfter: number | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      if (cutAfter === null) s.end(bytes);
      else s.end(bytes.subarray(0, cutAfter));
    });
    let text = '';
    s.on('data', (b: Buffer) => (text += b.toString('latin1')));
    s.on('error', () => {});
    const timer = setTimeout(() => reject(new Error('the node held a raw connection for 10 s')), 10_000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}

function assertDocumented(status: number, body: string, what: string): void {
  assert.ok(status < 500 || status === 503 || status === 504, `${what} → ${status} ${body}`);
  if (status < 400) return;
  const j = JSON.parse(body) as Record<string, unknown>;
  assert.ok(typeof j['error'] === 'string' && j['error'] in errorCatalog, `${what} → ${status} with an uncatalogued error ${body}`);
  assert.equal(errorCatalog[j['error'] as keyof typeof errorCatalog].http, status, `${what}: ${j['error']} with the wrong status`);
  assert.equal(typeof j['message'], 'string');
}

describe('HTTP fuzzing against a running node with authentication on', { concurrency: false, timeout: fuzzTimeoutMs(120_000) }, () => {
  let c: ProcessCluster;
  let rssBefore: number;
  before(async () => {
    c = await ProcessCluster.start(1, ELECTION_MS, {
      prepare: (n) => (n.env['KV_AUTH_TOKENS'] = `[{name: fuzzer, role: write, sha256: "${tokenHash(TOKEN)}"}]`),
      token: TOKEN,
    });
    await c.waitForLeader(20 * ELECTION_MS);
    rssBefore = await c.residentBytes('n1');
  });
  after(async () => {
    await c.stop();
  });

  const authorized = { authorization: `Bearer ${TOKEN}` };

  test('random request sequences get only catalogued answers, never a 5xx other than 503/504', async () => {
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(requestArb, { minLength: 1, maxLength: REQUESTS_PER_RUN_MAX }), async (requests) => {
        for (const r of requests) {
          const withBody = r.method !== 'GET' && r.method !== 'HEAD';
          const res = await fetch(c.url('n1', r.path + r.query), {
            method: r.method,
            headers: r.authorized ? { ...r.headers, ...authorized } : r.headers,
            body: withBody ? r.body : undefined,
            redirect: 'manual',
          });
          const text = await res.text();
          sent++;
          if (r.method !== 'HEAD') assertDocumented(res.status, text, `${r.method} ${r.path}${r.query} ${JSON.stringify(r.headers)}`);
        }
      }),
      { numRuns: fuzzRuns(25) },
    );
    assert.ok(sent > 0);
  });

  test('raw HTTP/1.1 garbage, mutations and requests cut short get a catalogued answer or a closed socket', async () => {
    await fc.assert(
      fc.asyncProperty(rawArb, async ({ bytes, cutAfter }) => {
        const text = await rawExchange(c.node('n1').httpPort, bytes, cutAfter);
        // Several answers may come back (pipelining); check each status line and its JSON body.
        for (const m of text.matchAll(/HTTP\/1\.1 (\d{3})[^\r\n]*\r\n([^]*?)\r\n\r\n/g)) {
          const status = Number(m[1]);
          const after = text.slice(m.index + m[0].length);
          const length = Number(/content-length: (\d+)/i.exec(m[2]!)?.[1] ?? '0');
          const body = after.slice(0, length);
          if (/content-type: application\/json/i.test(m[2]!)) assertDocumented(status, body, `raw ${JSON.stringify(bytes.toString('latin1'))}`);
          else assert.ok(status < 400, `raw request answered ${status} without the catalog's JSON: ${text.slice(0, 300)}`);
        }
      }),
      { numRuns: fuzzRuns(40) },
    );
  });

  test('clients that hang up mid-body or before their answer leave JSON lines only (Koa printed plain-text stack traces)', async () => {
    const port = c.node('n1').httpPort;
    const hangUp = (text: string, afterMs: number): Promise<void> =>
      new Promise((resolve) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(text);
          setTimeout(() => s.destroy(), afterMs);
        });
        s.on('error', () => {});
        s.on('close', () => resolve());
      });
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    await hangUp(`PUT /v1/kv/dropped HTTP/1.1\r\nHost: x\r\n${auth}Content-Length: 1000\r\n\r\n0123456789`, 100);
    await hangUp(`PUT /v1/kv/dropped HTTP/1.1\r\nHost: x\r\n${auth}Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n`, 100);
    await hangUp(`GET /v1/kv/dropped HTTP/1.1\r\nHost: x\r\n${auth}\r\n`, 0);
    // The node answers /healthz after it handled the hang-ups: then their log lines, if any, are out.
    assert.equal((await fetch(c.url('n1', '/healthz'))).status, 200);
    assert.deepEqual(c.nonJsonLines('n1'), []);
  });

  test('afterwards the node serves, printed only JSON, and its memory is bounded', async () => {
    assert.equal((await fetch(c.url('n1', '/healthz'))).status, 200);
    assert.equal((await c.put('n1', 'after-fuzz', 'ok')).status, 200);
    assert.deepEqual(c.nonJsonLines('n1'), []);
    const rss = await c.residentBytes('n1');
    assert.ok(rss - rssBefore < RSS_GROWTH_MAX_BYTES, `RSS grew from ${rssBefore} to ${rss}`);
  });
});
