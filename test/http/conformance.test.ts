import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseExposition } from '../metrics/exposition.js';
import { ProcessCluster } from '../e2e/process-cluster.js';
import { checkAgainstOpenApi } from './openapi-check.js';
import { assertError, call, observed } from './recorded-calls.js';

const ELECTION_MS = 500;
const ELECT_WITHIN_MS = 20 * ELECTION_MS;
const VALUE_BYTES_MAX = 1_048_576;

/** A raw HTTP/1.1 exchange, for requests fetch cannot make (no length, no chunking). */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (b: Buffer) => (out += b.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

describe('REST API conformance (SPEC §3) on a 3-node cluster of real processes', { concurrency: false }, () => {
  let c: ProcessCluster;
  let leader: string;
  let follower: string;
  const L = (path: string): string => c.url(leader, path);
  const F = (path: string): string => c.url(follower, path);

  before(async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    leader = await c.waitForLeader(ELECT_WITHIN_MS);
    follower = c.nodes.find((n) => n.id !== leader)!.id;
  });
  after(async () => {
    await c.stop();
  });

  test('PUT, GET (ETag, three consistencies), HEAD and DELETE through the leader', async () => {
    const p = await call(L('/v1/kv/hello'), { method: 'PUT', body: 'world' });
    assert.equal(p.status, 200, p.text());
    const rev = p.json()['revision'];
    assert.ok(typeof rev === 'number' && rev > 0);
    for (const q of ['', '?consistency=linearizable', '?consistency=lease', '?consistency=stale']) {
      const g = await call(L(`/v1/kv/hello${q}`));
      assert.equal(g.status, 200, `${q}: ${g.text()}`);
      assert.equal(g.text(), 'world');
      assert.equal(g.headers.get('etag'), `"${rev}"`);
      assert.equal(g.headers.get('content-type'), 'application/octet-stream');
    }
    const h = await call(L('/v1/kv/hello'), { method: 'HEAD' });
    assert.equal(h.status, 200);
    assert.equal(h.headers.get('etag'), `"${rev}"`);
    assert.equal(h.body.length, 0);
    const d = await call(L('/v1/kv/hello'), { method: 'DELETE' });
    assert.equal(d.status, 200);
    assert.equal(d.json()['deleted'], true);
    assert.ok((d.json()['revision'] as number) > (rev as number));
    const d2 = await call(L('/v1/kv/hello'), { method: 'DELETE' });
    assert.equal(d2.status, 200);
    assert.equal(d2.json()['deleted'], false);
    assertError(await call(L('/v1/kv/hello')), 'key_not_found');
    assertError(await call(L('/v1/kv/hello?consistency=stale')), 'key_not_found');
  });

  test('empty and maximum-size values', async () => {
    assert.equal((await call(L('/v1/kv/empty'), { method: 'PUT', body: '' })).status, 200);
    const g = await call(L('/v1/kv/empty'));
    assert.equal(g.status, 200);
    assert.equal(g.body.length, 0);
    const big = Buffer.alloc(VALUE_BYTES_MAX, 7);
    assert.equal((await call(L('/v1/kv/big'), { method: 'PUT', body: big })).status, 200);
    const gb = await call(L('/v1/kv/big'));
    assert.ok(gb.body.equals(big));
  });

  test('a follower redirects writes and linearizable/lease reads (307 + Location + X-Raft-Leader), serves stale reads', async () => {
    for (const [method, path, body] of [
      ['PUT', '/v1/kv/via/follower?', 'v1'],
      ['GET', '/v1/kv/via/follower', undefined],
      ['GET', '/v1/kv/via/follower?consistency=lease', undefined],
      ['GET', '/v1/kv/via/follower?consistency=linearizable', undefined],
      ['DELETE', '/v1/kv/via%2Ffollower2', undefined],
    ] as const) {
      const clean = path.endsWith('?') ? path.slice(0, -1) : path;
      const r = await call(F(clean), { method, body });
      assertError(r, 'not_leader');
      assert.equal(r.headers.get('x-raft-leader'), leader);
      assert.equal(r.headers.get('location'), L(clean), `${method} ${clean}`);
    }
    const r = await call(F('/v1/kv/via/follower'), { method: 'PUT', body: 'v1' });
    const p = await call(r.headers.get('location')!, { method: 'PUT', body: 'v1' });
    assert.equal(p.status, 200, p.text());
    const g = await call((await call(F('/v1/kv/via/follower?consistency=lease'))).headers.get('location')!);
    assert.equal(g.text(), 'v1');
    await c.waitForValue(follower, 'via/follower', 'v1', ELECT_WITHIN_MS);
    const s = await call(F('/v1/kv/via/follower?consistency=stale'));
    assert.equal(s.status, 200);
    assert.equal(s.text(), 'v1');
    assert.equal(s.headers.get('etag'), `"${p.json()['revision']}"`);
  });

  test('keys: slashes and %2F name the same key; any byte percent-encoded; 1..4096 bytes', async () => {
    assert.equal((await call(L('/v1/kv/config/app/db'), { method: 'PUT', body: 'x' })).status, 200);
    assert.equal((await call(L('/v1/kv/config%2Fapp%2Fdb'))).text(), 'x');
    assert.equal((await call(L('/v1/kv/config%2fapp/db'))).text(), 'x');
    assert.equal((await call(L('/v1/kv/%00%FF%0A%20%25'), { method: 'PUT', body: 'odd' })).status, 200);
    assert.equal((await call(L('/v1/kv/%00%ff%0a %25'))).text(), 'odd');
    assertError(await call(L('/v1/kv/%00%FF%0A%20')), 'key_not_found');
    assert.equal((await call(L(`/v1/kv/${'k'.repeat(4096)}`), { method: 'PUT', body: 'max' })).status, 200);
    assert.equal((await call(L(`/v1/kv/${'%41'.repeat(4096)}`))).text(), (await call(L(`/v1/kv/${'A'.repeat(4096)}`))).text());
    assertError(await call(L(`/v1/kv/${'k'.repeat(4097)}`), { method: 'PUT', body: 'x' }), 'bad_key');
    assertError(await call(L(`/v1/kv/${'%6B'.repeat(4097)}`)), 'bad_key');
    assertError(await call(L('/v1/kv/'), { method: 'PUT', body: 'x' }), 'bad_key');
    assertError(await call(L('/v1/kv/')), 'bad_key');
    assertError(await call(L('/v1/kv/bad%zzescape')), 'bad_key');
    assertError(await call(L('/v1/kv/bad%4')), 'bad_key');
  });

  test('preconditions: If-Match and If-None-Match: * (412), malformed ones (400)', async () => {
    const first = (await call(L('/v1/kv/cas'), { method: 'PUT', body: 'a' })).json()['revision'] as number;
    const ok = await call(L('/v1/kv/cas'), { method: 'PUT', body: 'b', headers: { 'If-Match': `"${first}"` } });
    assert.equal(ok.status, 200);
    const second = ok.json()['revision'] as number;
    const stale = await call(L('/v1/kv/cas'), { method: 'PUT', body: 'c', headers: { 'If-Match': `"${first}"` } });
    assertError(stale, 'revision_mismatch');
    assert.equal(stale.headers.get('etag'), `"${second}"`);
    assertError(await call(L('/v1/kv/cas'), { method: 'PUT', body: 'c', headers: { 'If-None-Match': '*' } }), 'revision_mismatch');
    assertError(await call(L('/v1/kv/cas'), { method: 'DELETE', headers: { 'If-Match': `"${first}"` } }), 'revision_mismatch');
    assert.equal((await call(L('/v1/kv/cas'))).text(), 'b');
    assert.equal((await call(L('/v1/kv/cas-new'), { method: 'PUT', body: 'n', headers: { 'If-None-Match': '*' } })).status, 200);
    assertError(await call(L('/v1/kv/cas-absent'), { method: 'PUT', body: 'n', headers: { 'If-Match': '"1"' } }), 'revision_mismatch');
    assert.equal((await call(L('/v1/kv/cas'), { method: 'DELETE', headers: { 'If-Match': `"${second}"` } })).json()['deleted'], true);
    for (const headers of <Record<string, string>[]>[{ 'If-Match': 'abc' }, { 'If-Match': '12' }, { 'If-Match': 'W/"12"' }, { 'If-Match': '"1", "2"' }, { 'If-None-Match': '"3"' }, { 'If-Match': '"1"', 'If-None-Match': '*' }]) {
      assertError(await call(L('/v1/kv/cas'), { method: 'PUT', body: 'z', headers }), 'bad_precondition');
    }
    assertError(await call(L('/v1/kv/cas'), { method: 'DELETE', headers: { 'If-None-Match': '*' } }), 'bad_precondition');
  });

  test('query: bad consistency, unknown parameters and queries on writes are 400', async () => {
    assertError(await call(L('/v1/kv/q?consistency=bogus')), 'bad_request');
    assertError(await call(L('/v1/kv/q?consistency=')), 'bad_request');
    assertError(await call(L('/v1/kv/q?consistency=stale&consistency=stale')), 'bad_request');
    assertError(await call(L('/v1/kv/q?limit=3')), 'bad_request');
    assertError(await call(L('/v1/kv/q?consistency=stale'), { method: 'PUT', body: 'x' }), 'bad_request');
    assertError(await call(F('/v1/kv/q?consistency=bogus')), 'bad_request');
  });

  test('Idempotency-Key: a retry is answered with the first result and applied once', async () => {
    const first = await call(L('/v1/kv/idem'), { method: 'PUT', body: 'one', headers: { 'Idempotency-Key': 'T-1' } });
    assert.equal(first.status, 200);
    const retry = await call(L('/v1/kv/idem'), { method: 'PUT', body: 'two', headers: { 'Idempotency-Key': 'T-1' } });
    assert.equal(retry.status, 200);
    assert.deepEqual(retry.json(), first.json());
    assert.equal((await call(L('/v1/kv/idem'))).text(), 'one');
    // Through a follower: the redirect is followed with the same key.
    const viaF = await c.put(follower, 'idem', 'three', { 'Idempotency-Key': 'T-1' });
    assert.deepEqual(await viaF.json(), first.json());
    const del = await call(L('/v1/kv/idem'), { method: 'DELETE', headers: { 'Idempotency-Key': 'T-2' } });
    const delRetry = await call(L('/v1/kv/idem'), { method: 'DELETE', headers: { 'Idempotency-Key': 'T-2' } });
    assert.deepEqual(delRetry.json(), del.json());
    assert.equal(del.json()['deleted'], true);
    assertError(await call(L('/v1/kv/idem'), { method: 'PUT', body: 'x', headers: { 'Idempotency-Key': 'x'.repeat(257) } }), 'bad_request');
    // The key of a DELETE reused for a PUT (and a PUT's for a transaction): refused, not applied, the first answer kept.
    assertError(await call(L('/v1/kv/idem'), { method: 'PUT', body: 'four', headers: { 'Idempotency-Key': 'T-2' } }), 'idempotency_key_reused');
    assertError(await call(L('/v1/txn'), { method: 'POST', headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'T-1' }, body: JSON.stringify({ success: [{ op: 'put', key: 'aWRlbQ==', value: 'Zml2ZQ==' }] }) }), 'idempotency_key_reused');
    assert.equal((await call(L('/v1/kv/idem'))).status, 404);
    assert.deepEqual((await call(L('/v1/kv/idem'), { method: 'DELETE', headers: { 'Idempotency-Key': 'T-2' } })).json(), del.json());
  });

  test('405 + Allow on every route, 204 + Allow for OPTIONS, 404 for unknown routes', async () => {
    for (const [path, allow] of [
      ['/v1/kv/k', 'GET, HEAD, PUT, DELETE, OPTIONS'],
      ['/v1/status', 'GET, HEAD, OPTIONS'],
      ['/healthz', 'GET, HEAD, OPTIONS'],
      ['/readyz', 'GET, HEAD, OPTIONS'],
      ['/metrics', 'GET, HEAD, OPTIONS'],
      ['/openapi.json', 'GET, HEAD, OPTIONS'],
    ] as const) {
      for (const method of path === '/v1/kv/k' ? ['POST', 'PATCH'] : ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const r = await call(L(path), { method, body: method === 'DELETE' ? undefined : 'x' });
        assertError(r, 'method_not_allowed');
        assert.equal(r.headers.get('allow'), allow);
      }
      const o = await call(L(path), { method: 'OPTIONS' });
      assert.equal(o.status, 204);
      assert.equal(o.headers.get('allow'), allow);
      assert.equal(o.headers.get('access-control-allow-origin'), null, 'CORS is off by default');
    }
    for (const path of ['/', '/v1', '/v1/kv', '/v2/kv/x', '/v1/statusx', '/metrics/x']) assertError(await call(L(path)), 'not_found');
    assertError(await call(L('/nope'), { method: 'POST', body: 'x' }), 'not_found');
  });

  test('411 without a length, 413 before the body is read, 415 for an encoded body', async () => {
    const port = c.node(leader).httpPort;
    const raw = await rawRequest(port, 'PUT /v1/kv/nolen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 411 /);
    assert.match(raw, /"error":"length_required"/);
    // A declared length over the limit is refused from the header alone.
    const declared = await rawRequest(port, `PUT /v1/kv/huge HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${VALUE_BYTES_MAX + 1}\r\n\r\nabc`);
    assert.match(declared, /^HTTP\/1\.1 413 /);
    assert.match(declared, /"error":"value_too_large"/);
    assertError(await call(L('/v1/kv/huge'), { method: 'PUT', body: Buffer.alloc(VALUE_BYTES_MAX + 1) }), 'value_too_large');
    // A chunked body is cut off as soon as it passes the limit.
    const chunk = new Uint8Array(64 * 1024);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent > 2 * VALUE_BYTES_MAX) return ctl.close();
        sent += chunk.length;
        ctl.enqueue(chunk);
      },
    });
    assertError(await call(L('/v1/kv/huge'), { method: 'PUT', body: stream, duplex: 'half' }), 'value_too_large');
    assertError(await call(L('/v1/kv/huge')), 'key_not_found');
    assertError(await call(L('/v1/kv/gz'), { method: 'PUT', body: 'x', headers: { 'Content-Encoding': 'gzip' } }), 'unsupported_media_type');
    // Any Content-Type is taken as raw bytes.
    assert.equal((await call(L('/v1/kv/typed'), { method: 'PUT', body: '{"a":1}', headers: { 'Content-Type': 'application/json' } })).status, 200);
    assert.equal((await call(L('/v1/kv/typed'))).text(), '{"a":1}');
  });

  test('status, healthz, readyz, openapi.json and metrics (route templates, never raw keys)', async () => {
    for (const id of [leader, follower]) {
      const s = await call(c.url(id, '/v1/status'));
      assert.equal(s.status, 200);
      const j = s.json();
      assert.equal(j['id'], id);
      assert.equal(j['leader_id'], leader);
      assert.equal(j['role'], id === leader ? 'leader' : 'follower');
      assert.equal((j['members'] as unknown[]).length, 3);
      assert.equal((await call(c.url(id, '/healthz'))).status, 200);
      assert.equal((await call(c.url(id, '/readyz'))).status, 200);
    }
    const doc = await call(L('/openapi.json'));
    assert.equal(doc.json()['openapi'], '3.1.0');
    const m = (await call(L('/metrics'))).text();
    const samples = parseExposition(m);
    const has = (name: string, labels: Record<string, string>, min = 0): boolean =>
      samples.some((x) => x.name === name && x.value >= min && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
    assert.ok(has('kvstore_http_requests_total', { method: 'PUT', route: '/v1/kv/{key}', status: '200', node: leader }, 1));
    assert.ok(has('kvstore_http_requests_total', { method: 'POST', route: 'unmatched', status: '404' }));
    assert.ok(has('kvstore_http_request_duration_seconds_bucket', { method: 'GET', route: '/v1/kv/{key}' }));
    for (const op of ['put', 'get', 'delete']) assert.ok(has('kvstore_kv_operation_duration_seconds_count', { op, consistency: 'linearizable' }, 1), op);
    assert.ok(has('kvstore_kv_keys', { node: leader }, 1));
    assert.ok(has('kvstore_api_errors_total', { api: 'http', code: 'not_found' }, 1));
    assert.match(m, /kvstore_nodejs_eventloop_lag_seconds/);
    assert.doesNotMatch(m, /route="\/v1\/kv\/(?!\{key\})/);
  });

  test('504 when the outcome is unknown, then 503 + Retry-After and not ready once no leader is known', async () => {
    const others = c.nodes.map((n) => n.id).filter((id) => id !== leader);
    await Promise.all(others.map((id) => c.kill(id)));
    // The write reaches the leader's log, but no quorum can commit it.
    const lost = await call(L('/v1/kv/maybe'), { method: 'PUT', body: 'x' });
    assertError(lost, 'outcome_unknown');
    await c.waitFor('the lone node to know no leader', ELECT_WITHIN_MS, async () => ((await c.status(leader))?.leader_id === null ? true : undefined));
    const w = await call(L('/v1/kv/after'), { method: 'PUT', body: 'x' });
    assertError(w, 'no_leader');
    assert.match(w.headers.get('retry-after') ?? '', /^\d+$/);
    const d = await call(L('/v1/kv/after'), { method: 'DELETE' });
    assertError(d, 'no_leader');
    assert.match(d.headers.get('retry-after') ?? '', /^\d+$/);
    const r = await call(L('/readyz'));
    assertError(r, 'not_ready');
    assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    assertError(await call(L('/v1/kv/typed')), 'no_leader');
    assert.equal((await call(L('/v1/kv/typed?consistency=stale'))).text(), '{"a":1}');
    assert.equal((await call(L('/healthz'))).status, 200);
  });

  test('every response above matches the OpenAPI document', () => {
    assert.ok(observed.length > 100, `only ${observed.length} responses observed`);
    assert.deepEqual(checkAgainstOpenApi(observed), []);
  });
});
