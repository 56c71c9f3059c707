import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { encodeKey } from '../../src/client/json-forms.js';
import { KvClient } from '../../src/client/rest-client.js';
import { ProcessCluster } from '../e2e/process-cluster.js';

const ELECTION_MS = 500;
const ELECT_WITHIN_MS = 20 * ELECTION_MS;

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

describe('KvClient against a 3-node cluster of real processes', { concurrency: false }, () => {
  let c: ProcessCluster;
  let leader: string;
  let follower: string;
  const endpoint = (id: string): string => `http://127.0.0.1:${c.node(id).httpPort}`;

  before(async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    leader = await c.waitForLeader(ELECT_WITHIN_MS);
    follower = c.nodes.map((n) => n.id).find((id) => id !== leader)!;
  });

  after(async () => {
    await c?.stop();
  });

  test('put/get/delete through a follower: the redirect is followed and the leader cached', async () => {
    const client = new KvClient({ endpoints: [endpoint(follower)] });
    const put = await client.put('dir/sub key', 'v1');
    assert.ok(put.ok, JSON.stringify(put));
    assert.equal(client.cachedLeader, endpoint(leader));
    const got = await client.get('dir/sub key');
    assert.ok(got.ok, JSON.stringify(got));
    assert.equal(text(got.value), 'v1');
    assert.equal(got.revision, put.revision);
    const stale = await client.get('dir/sub key', { consistency: 'stale' });
    assert.ok(stale.ok);
    // a/b and a%2Fb name the same key (SPEC §3): the raw path form reads what the client wrote.
    const raw = await fetch(`${endpoint(leader)}/v1/kv/dir/sub%20key`);
    assert.equal(await raw.text(), 'v1');
    const del = await client.delete('dir/sub key');
    assert.ok(del.ok && del.deleted, JSON.stringify(del));
    const gone = await client.get('dir/sub key');
    assert.ok(!gone.ok && gone.kind === 'failed' && gone.status === 404 && gone.error === 'key_not_found', JSON.stringify(gone));
    const again = await client.delete('dir/sub key');
    assert.ok(again.ok && !again.deleted);
  });

  test('binary keys and values round-trip', async () => {
    const client = new KvClient({ endpoints: [endpoint(follower)] });
    const key = Uint8Array.from([0, 1, 0x2f, 0x25, 0xff, 0x2e]);
    const value = Uint8Array.from([0xff, 0, 0x80, 10]);
    const put = await client.put(key, value);
    assert.ok(put.ok, JSON.stringify(put));
    const got = await client.get(key);
    assert.ok(got.ok);
    assert.deepEqual([...got.value], [...value]);
    assert.equal(encodeKey('a/b.c'), 'a%2Fb%2Ec');
  });

  test('CAS (ifRevision) and create-only (ifAbsent): applied or failed with 412', async () => {
    const client = new KvClient({ endpoints: [endpoint(follower)] });
    const created = await client.put('cas', 'a', { ifAbsent: true });
    assert.ok(created.ok, JSON.stringify(created));
    const exists = await client.put('cas', 'b', { ifAbsent: true });
    assert.ok(!exists.ok && exists.kind === 'failed' && exists.status === 412 && exists.error === 'revision_mismatch', JSON.stringify(exists));
    assert.equal(exists.currentRevision, created.revision);
    const stale = await client.put('cas', 'c', { ifRevision: created.revision + 1000 });
    assert.ok(!stale.ok && stale.kind === 'failed' && stale.status === 412);
    const swapped = await client.put('cas', 'd', { ifRevision: created.revision });
    assert.ok(swapped.ok, JSON.stringify(swapped));
    const badDelete = await client.delete('cas', { ifRevision: created.revision });
    assert.ok(!badDelete.ok && badDelete.kind === 'failed' && badDelete.status === 412);
    const got = await client.get('cas');
    assert.ok(got.ok && text(got.value) === 'd');
    const del = await client.delete('cas', { ifRevision: swapped.revision });
    assert.ok(del.ok && del.deleted);
    const both = await client.put('cas', 'x', { ifAbsent: true, ifRevision: 1 });
    assert.ok(!both.ok && both.kind === 'failed' && both.status === 0);
  });

  test('a retried write with the same idempotency key is applied once', async () => {
    const client = new KvClient({ endpoints: [endpoint(follower)] });
    const first = await client.put('idem', 'one', { idempotencyKey: 'tok-1' });
    assert.ok(first.ok, JSON.stringify(first));
    assert.equal(first.idempotencyKey, 'tok-1');
    const retry = await client.put('idem', 'one', { idempotencyKey: 'tok-1' });
    assert.ok(retry.ok);
    assert.equal(retry.revision, first.revision, 'the retry is answered with the first result');
    const fresh = await client.put('idem', 'one');
    assert.ok(fresh.ok && fresh.revision > first.revision && fresh.idempotencyKey !== 'tok-1');
  });

  test('status of one endpoint and of the first that answers', async () => {
    const client = new KvClient({ endpoints: [endpoint(follower), endpoint(leader)] });
    const s = await client.status(endpoint(leader));
    assert.ok(s.ok, JSON.stringify(s));
    assert.equal(s.status.id, leader);
    assert.equal(s.status.role, 'leader');
    assert.equal(s.status.members.length, 3);
    const any = await client.status();
    assert.ok(any.ok && any.status.id === follower && any.status.leader_id === leader);
  });

  test('a dead first endpoint: the client moves on and the write succeeds', async () => {
    const victim = follower;
    const dead = endpoint(victim);
    await c.kill(victim);
    const alive = c.nodes.map((n) => n.id).filter((id) => id !== victim);
    const client = new KvClient({ endpoints: [dead, ...alive.map(endpoint)] });
    const put = await client.put('after-kill', 'yes');
    assert.ok(put.ok, JSON.stringify(put));
    const got = await client.get('after-kill');
    assert.ok(got.ok && text(got.value) === 'yes');
    const onlyDead = new KvClient({ endpoints: [dead], maxAttempts: 3, backoffBaseMs: 5 });
    const failed = await onlyDead.put('never', 'x');
    assert.ok(!failed.ok && failed.kind === 'failed' && failed.error === 'unavailable', JSON.stringify(failed));
    c.restart(victim);
    await c.waitForLeader(ELECT_WITHIN_MS);
  });
});

describe('KvClient outcomes against a scripted server', { concurrency: false }, () => {
  let server: Server;
  let base: string;
  let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
  const seen: { method: string; url: string; idem: string | undefined }[] = [];

  before(async () => {
    server = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', idem: req.headers['idempotency-key'] as string | undefined });
      req.resume();
      req.on('end', () => handler(req, res));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };

  test('503 is retried with the same idempotency key, then fails after bounded attempts', async () => {
    seen.length = 0;
    handler = (_req, res) => json(res, 503, { error: 'no_leader', message: 'no leader' }, { 'retry-after': '1' });
    const client = new KvClient({ endpoints: [base], maxAttempts: 4, backoffBaseMs: 1, backoffMaxMs: 5 });
    const r = await client.put('k', 'v');
    assert.ok(!r.ok && r.kind === 'failed' && r.status === 503 && r.error === 'no_leader', JSON.stringify(r));
    assert.equal(seen.length, 4);
    assert.equal(new Set(seen.map((s) => s.idem)).size, 1);
    assert.ok(seen[0]!.idem !== undefined && seen[0]!.idem.length > 0);
  });

  test('503 then success: the write succeeds', async () => {
    seen.length = 0;
    let n = 0;
    handler = (_req, res) => (n++ < 2 ? json(res, 503, { error: 'no_leader', message: '' }) : json(res, 200, { revision: 7 }));
    const client = new KvClient({ endpoints: [base], backoffBaseMs: 1 });
    const r = await client.put('k', 'v', { idempotencyKey: 'mine' });
    assert.deepEqual(r, { ok: true, revision: 7, idempotencyKey: 'mine' });
    assert.deepEqual(seen.map((s) => s.idem), ['mine', 'mine', 'mine']);
  });

  test('504 is maybe_applied and not retried', async () => {
    seen.length = 0;
    handler = (_req, res) => json(res, 504, { error: 'outcome_unknown', message: 'may have been applied' });
    const client = new KvClient({ endpoints: [base], backoffBaseMs: 1 });
    const r = await client.delete('k', { idempotencyKey: 'd1' });
    assert.ok(!r.ok && r.kind === 'maybe_applied' && r.status === 504 && r.idempotencyKey === 'd1', JSON.stringify(r));
    assert.equal(seen.length, 1);
  });

  test('a timeout after sending a write is maybe_applied; a read is retried', async () => {
    seen.length = 0;
    handler = () => undefined; // never answers
    const client = new KvClient({ endpoints: [base], requestTimeoutMs: 200, callTimeoutMs: 700, backoffBaseMs: 1 });
    const w = await client.put('k', 'v');
    assert.ok(!w.ok && w.kind === 'maybe_applied' && w.status === 0, JSON.stringify(w));
    assert.equal(seen.length, 1);
    seen.length = 0;
    const g = await client.get('k');
    assert.ok(!g.ok && g.kind === 'failed' && g.error === 'unavailable', JSON.stringify(g));
    assert.ok(seen.length >= 2, `the read was retried (${seen.length} attempts)`);
  });

  test('a redirect preserves method, body and headers and caches the leader', async () => {
    seen.length = 0;
    const other = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', idem: req.headers['idempotency-key'] as string | undefined });
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => json(res, 200, { revision: Buffer.concat(chunks).toString() === 'body' && req.headers['if-match'] === '"3"' ? 9 : -1 }));
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherBase = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
    try {
      handler = (req, res) => json(res, 307, { error: 'not_leader', message: '' }, { location: `${otherBase}${req.url}`, 'x-raft-leader': 'n2' });
      const client = new KvClient({ endpoints: [base] });
      const r = await client.put('a/b', 'body', { ifRevision: 3, idempotencyKey: 'r1' });
      assert.deepEqual(r, { ok: true, revision: 9, idempotencyKey: 'r1' });
      assert.equal(client.cachedLeader, otherBase);
      assert.deepEqual(seen, [
        { method: 'PUT', url: '/v1/kv/a%2Fb', idem: 'r1' },
        { method: 'PUT', url: '/v1/kv/a%2Fb', idem: 'r1' },
      ]);
    } finally {
      other.closeAllConnections();
      await new Promise((r) => other.close(r));
    }
  });
});
