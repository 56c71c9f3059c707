import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseBackup } from '../../src/backup/backup-file.js';
import { KvStateMachine, kvStateMachineDefaults } from '../../src/kv/state-machine.js';
import { ProcessCluster } from '../e2e/process-cluster.js';
import { checkAgainstOpenApi } from './openapi-check.js';
import { assertError, call, observed } from './recorded-calls.js';

const ELECTION_MS = 500;
const ELECT_WITHIN_MS = 20 * ELECTION_MS;

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

interface ListEntry {
  readonly key: string;
  readonly value?: string;
  readonly revision: number;
  readonly lease: number;
}

describe('REST: listing, transactions, leases and backups on a 3-node cluster of real processes', { concurrency: false }, () => {
  let c: ProcessCluster;
  let leader: string;
  let follower: string;
  const L = (path: string): string => c.url(leader, path);
  const F = (path: string): string => c.url(follower, path);
  const put = async (key: string, value: string, query = ''): Promise<number> => {
    const a = await call(L(`/v1/kv/${key}${query}`), { method: 'PUT', body: value });
    assert.equal(a.status, 200, a.text());
    return a.json()['revision'] as number;
  };

  before(async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    leader = await c.waitForLeader(ELECT_WITHIN_MS);
    follower = c.nodes.find((n) => n.id !== leader)!.id;
  });
  after(async () => {
    await c.stop();
  });

  test('?list pages a prefix in byte order with values, revisions and leases, through a continuation token', async () => {
    const revs = new Map<string, number>();
    for (const k of ['app/b', 'app/a', 'app/a/x', 'app%FF', 'app/%00', 'apq', 'ap']) revs.set(k, await put(k, `v:${k}`));
    const first = await call(L('/v1/kv/app/?list&limit=2'));
    assert.equal(first.status, 200, first.text());
    assert.match(first.headers.get('content-type') ?? '', /application\/json/);
    const page1 = first.json() as { revision: number; entries: ListEntry[]; next_page_token: string | null };
    assert.deepEqual(page1.entries.map((e) => e.key), ['app/%00', 'app/a']);
    assert.equal(page1.entries[1]!.value, b64('v:app/a'));
    assert.equal(page1.entries[1]!.revision, revs.get('app/a'));
    assert.equal(page1.entries[1]!.lease, 0);
    assert.ok(page1.revision >= Math.max(...revs.values()), 'a page says the revision it was read at');
    assert.equal(typeof page1.next_page_token, 'string');
    const page2 = (await call(L(`/v1/kv/app/?list&limit=2&page_token=${page1.next_page_token}`))).json() as { entries: ListEntry[]; next_page_token: string | null };
    assert.deepEqual(page2.entries.map((e) => e.key), ['app/a/x', 'app/b']);
    const page3 = (await call(L(`/v1/kv/app/?list&limit=2&page_token=${page2.next_page_token}`))).json() as { entries: ListEntry[]; next_page_token: string | null };
    assert.deepEqual(page3.entries.map((e) => e.key), []);
    assert.equal(page3.next_page_token, null);
    // No slash: "app" is a byte prefix, so app%FF and apq's neighbours show in byte order.
    const all = (await call(L('/v1/kv/ap?list&keys_only'))).json() as { entries: ListEntry[] };
    assert.deepEqual(all.entries.map((e) => e.key), ['ap', 'app/%00', 'app/a', 'app/a/x', 'app/b', 'app%FF', 'apq']);
    assert.ok(all.entries.every((e) => !('value' in e)), 'keys_only leaves values out');
    const everything = (await call(L('/v1/kv/?list'))).json() as { entries: ListEntry[] };
    assert.ok(everything.entries.length >= 7);
  });

  test('listing has the consistency levels of GET: a follower redirects linearizable and lease, serves stale itself', async () => {
    await put('cons/a', '1');
    for (const q of ['', '&consistency=linearizable', '&consistency=lease']) {
      const r = await call(F(`/v1/kv/cons/?list${q}`));
      assert.equal(r.status, 307, q);
      assert.equal(r.headers.get('x-raft-leader'), leader);
      assert.match(r.headers.get('location') ?? '', /\/v1\/kv\/cons\/\?list/);
    }
    await c.waitFor('the follower to apply cons/a', ELECT_WITHIN_MS, async () => (((await call(F('/v1/kv/cons/?list&consistency=stale'))).json()['entries'] as ListEntry[]).length === 1 ? true : undefined));
  });

  test('listing refuses what it does not understand', async () => {
    assertError(await call(L('/v1/kv/a?list&limit=0')), 'bad_request', /limit/);
    assertError(await call(L('/v1/kv/a?list&limit=10001')), 'bad_request', /limit/);
    assertError(await call(L('/v1/kv/a?list&page_token=%21%21')), 'bad_request', /page_token/);
    assertError(await call(L('/v1/kv/a?list&recurse')), 'bad_request', /unknown query parameter/);
    assertError(await call(L('/v1/kv/a?list=yes')), 'bad_request', /flag/);
    assertError(await call(L('/v1/kv/a?limit=3')), 'bad_request', /unknown query parameter/);
    assertError(await call(L('/v1/kv/')), 'bad_key');
  });

  test('a transaction compares and runs one branch atomically at one revision; gets see earlier writes', async () => {
    const rev = await put('txn/a', 'old');
    const ok = await call(
      L('/v1/txn'),
      json({
        compare: [{ key: 'txn/a', target: 'revision', operator: 'equal', revision: rev }, { key: 'txn/a', target: 'value', value: b64('old') }],
        success: [{ op: 'put', key: 'txn/a', value: b64('new') }, { op: 'put', key: 'txn/b', value: b64('b') }, { op: 'get', key: 'txn/b' }, { op: 'delete', key: 'txn/none' }],
        failure: [{ op: 'get', key: 'txn/a' }],
      }),
    );
    assert.equal(ok.status, 200, ok.text());
    const r = ok.json() as { succeeded: boolean; revision: number; results: unknown[] };
    assert.equal(r.succeeded, true);
    assert.deepEqual(r.results, [{ op: 'put' }, { op: 'put' }, { op: 'get', found: true, value: b64('b'), revision: r.revision }, { op: 'delete', deleted: false }]);
    const listed = (await call(L('/v1/kv/txn/?list'))).json() as { entries: ListEntry[] };
    assert.deepEqual(listed.entries.map((e) => [e.key, e.revision]), [['txn/a', r.revision], ['txn/b', r.revision]]);
    // The same comparison now fails (the revision moved): the failure branch runs.
    const failed = (await call(L('/v1/txn'), json({ compare: [{ key: 'txn/a', target: 'revision', revision: rev }], success: [{ op: 'delete', key: 'txn/a' }], failure: [{ op: 'get', key: 'txn/a' }] }))).json();
    assert.deepEqual(failed['results'], [{ op: 'get', found: true, value: b64('new'), revision: r.revision }]);
    assert.equal(failed['succeeded'], false);
  });

  test('a transaction retried with its Idempotency-Key is applied once and answered with the first result', async () => {
    const body = json({ compare: [{ key: 'once', target: 'revision', revision: 0 }], success: [{ op: 'put', key: 'once', value: b64('1') }] });
    const headers = { 'content-type': 'application/json', 'idempotency-key': 'txn-once-1' };
    const first = await call(L('/v1/txn'), { ...body, headers });
    const again = await call(L('/v1/txn'), { ...body, headers });
    assert.deepEqual(again.json(), first.json());
    assert.equal(first.json()['succeeded'], true, 'the key was absent: revision 0');
  });

  test('transactions refuse bad bodies before the log, and report lease and read-size problems from it', async () => {
    assertError(await call(L('/v1/txn'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }), 'bad_request', /not JSON/);
    assertError(await call(L('/v1/txn'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' }), 'unsupported_media_type');
    assertError(await call(L('/v1/txn'), json({ success: [{ op: 'put', key: 'k', value: b64('1') }, { op: 'delete', key: 'k' }] })), 'bad_request', /writes a key twice/);
    assertError(await call(L('/v1/txn'), json({ success: [{ op: 'put', key: 'k', value: 'not base64!' }] })), 'bad_request', /base64/);
    assertError(await call(L('/v1/txn'), json({ compare: [{ key: 'k', target: 'lease' }] })), 'bad_request', /target/);
    assertError(await call(L('/v1/txn'), json({ success: [{ op: 'get', key: '' }] })), 'bad_key');
    assertError(await call(L('/v1/txn'), json({ success: [], extra: 1 })), 'bad_request', /unknown field/);
    assertError(await call(L('/v1/txn'), json({ success: Array.from({ length: 129 }, (_, i) => ({ op: 'get', key: `k${i}` })) })), 'bad_request', /more than 128/);
    assertError(await call(L('/v1/txn'), json({ success: [{ op: 'put', key: 'big', value: Buffer.alloc(1_048_577).toString('base64') }] })), 'value_too_large');
    assertError(await call(L('/v1/txn'), json({ success: [{ op: 'put', key: 'k', value: b64('1'), lease: 999999 }] })), 'lease_not_found', /999999/);
    await put('wide', 'x'.repeat(40_000));
    assertError(await call(L('/v1/txn'), json({ success: [{ op: 'get', key: 'wide' }, { op: 'get', key: 'wide' }] })), 'txn_reads_too_large');
    const f = await call(F('/v1/txn'), json({}));
    assert.equal(f.status, 307, 'a follower redirects a transaction');
  });

  test('leases: grant (raised to the minimum TTL), attach keys with ?lease, list, inspect, revoke deletes the keys at one revision', async () => {
    const g = await call(L('/v1/leases'), json({ ttl: 1 }));
    assert.equal(g.status, 200, g.text());
    const { id, ttl } = g.json() as { id: number; ttl: number };
    assert.equal(ttl, 1, '1.5 election timeouts of 500 ms round up to 1 s');
    const long = (await call(L('/v1/leases'), json({ ttl: 600 }))).json() as { id: number; ttl: number };
    assert.equal(long.ttl, 600);
    await put('svc/a', 'a', `?lease=${long.id}`);
    await put('svc/b', 'b', `?lease=${long.id}`);
    await put('svc/c', 'c');
    const listed = (await call(L('/v1/kv/svc/?list'))).json() as { entries: ListEntry[] };
    assert.deepEqual(listed.entries.map((e) => [e.key, e.lease]), [['svc/a', long.id], ['svc/b', long.id], ['svc/c', 0]]);
    const info = (await call(L(`/v1/leases/${long.id}`))).json() as { id: number; ttl: number; remaining_ms: number; keys: string[] };
    assert.deepEqual({ ...info, remaining_ms: 0 }, { id: long.id, ttl: 600, remaining_ms: 0, keys: ['svc/a', 'svc/b'] });
    assert.ok(info.remaining_ms > 590_000 && info.remaining_ms <= 600_000, `${info.remaining_ms} ms left`);
    const stale = (await call(F(`/v1/leases/${long.id}?consistency=stale`))).json();
    assert.equal(stale['remaining_ms'], null, 'only the leader keeps the lease clock');
    const kept = await call(L(`/v1/leases/${long.id}/keepalive`), { method: 'POST' });
    assert.deepEqual(kept.json(), { id: long.id, ttl: 600 });
    assert.equal((await call(F(`/v1/leases/${long.id}/keepalive`), { method: 'POST' })).status, 307);
    const all = (await call(L('/v1/leases'))).json() as { leases: { id: number }[] };
    assert.ok(all.leases.some((l) => l.id === long.id));
    const revoked = await call(L(`/v1/leases/${long.id}`), { method: 'DELETE' });
    assert.equal(revoked.status, 200, revoked.text());
    const at = revoked.json()['revision'] as number;
    assert.deepEqual(((await call(L('/v1/kv/svc/?list'))).json() as { entries: ListEntry[] }).entries.map((e) => e.key), ['svc/c']);
    assertError(await call(L(`/v1/leases/${long.id}`)), 'lease_not_found');
    assertError(await call(L(`/v1/leases/${long.id}`), { method: 'DELETE' }), 'lease_not_found');
    assertError(await call(L('/v1/kv/svc/d?lease=424242'), { method: 'PUT', body: 'd' }), 'lease_not_found');
    assert.ok(at > 0 && id > 0);
    assertError(await call(L('/v1/leases'), json({ ttl: 0 })), 'bad_request', /ttl/);
    assertError(await call(L('/v1/leases'), json({ ttl: 5, extra: true })), 'bad_request', /unknown field/);
    assertError(await call(L('/v1/leases/abc')), 'bad_request', /lease id/);
    assertError(await call(L(`/v1/leases/${long.id}/keepalive`), { method: 'POST' }), 'lease_not_found');
    assertError(await call(L('/v1/kv/k?lease=0'), { method: 'PUT', body: 'x' }), 'bad_request', /lease/);
  });

  test('GET /v1/snapshot streams a checksummed backup of the state at a linearizable read, which restores to the same keys', async () => {
    await put('snap/a', 'A');
    const at = await put('snap/b', 'B');
    const r = await fetch(L('/v1/snapshot'), { redirect: 'manual' });
    assert.equal(r.status, 200);
    const file = new Uint8Array(await r.arrayBuffer());
    observed.push({ path: '/v1/snapshot', method: 'GET', status: 200, contentType: r.headers.get('content-type') ?? '', body: '' });
    const backup = parseBackup(file);
    assert.ok(!('error' in backup), JSON.stringify(backup));
    assert.equal(String(backup.index), r.headers.get('x-kvstore-snapshot-index'));
    assert.ok(backup.index >= at);
    const sm = KvStateMachine.restore(kvStateMachineDefaults, [backup.snapshot]);
    assert.ok(sm instanceof KvStateMachine, JSON.stringify(sm));
    assert.deepEqual(sm.get(Buffer.from('snap/b'))?.revision, at);
    const listed = (await call(L('/v1/kv/?list&keys_only&limit=10000'))).json() as { entries: ListEntry[] };
    assert.equal(sm.size(), listed.entries.length, 'nothing was written meanwhile: the same keys');
    const damaged = file.slice();
    damaged[damaged.length - 40]! ^= 1;
    assert.match((parseBackup(damaged) as { error: string }).error, /checksum mismatch/);
    assert.equal((await call(F('/v1/snapshot'))).status, 307);
    const head = await call(L('/v1/snapshot'), { method: 'HEAD' });
    assert.equal(head.status, 405);
    assert.match(head.headers.get('allow') ?? '', /^GET, OPTIONS$/);
  });

  test('a blocking watch query on a follower answers the next change of the key; a watch from before the window is 410', async () => {
    const at = await put('bw/k', '1');
    const pending = call(F(`/v1/watch/bw/k?index=${at}&wait=10s`));
    await put('bw/other', 'x');
    const next = await put('bw/k', '2');
    const a = await pending;
    assert.equal(a.status, 200, a.text());
    const body = a.json() as { index: number; events: { revision: number; events: { type: string; key: string; value: string }[] }[] };
    assert.equal(body.index, next);
    assert.deepEqual(body.events, [{ revision: next, events: [{ type: 'put', key: 'bw/k', value: b64('2'), revision: next, lease: 0 }] }]);
    const quiet = await call(F(`/v1/watch/bw/?prefix&index=${next + 1000}&wait=100ms`));
    assert.deepEqual((quiet.json() as { events: unknown[] }).events, []);
    // Past the window's 16 MiB of history, revision 1 is compacted.
    for (let i = 0; i < 17; i++) await put('bw/big', String(i).padEnd(1_048_576, 'x'));
    const old = await call(L('/v1/watch/bw/k?from_revision=1'));
    assertError(old, 'compacted', /compacted/);
    assert.ok(Number(old.headers.get('x-kvstore-oldest-revision')) > 1);
  });

  test('every answer above is documented in the OpenAPI document', () => {
    assert.deepEqual(checkAgainstOpenApi(observed), []);
  });
});
