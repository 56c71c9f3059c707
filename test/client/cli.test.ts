import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE } from '../../src/cli/cli-io.js';
import { isNodeInvocation, runCli } from '../../src/cli/kvstore-cli.js';
import { tokenHash } from '../../src/auth/tokens.js';
import { ProcessCluster } from '../e2e/process-cluster.js';

const scratch = mkdtempSync(join(tmpdir(), 'kvstore-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const ELECTION_MS = 500;
const ELECT_WITHIN_MS = 20 * ELECTION_MS;

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

async function cli(...argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const text = (c: string | Uint8Array): string => (typeof c === 'string' ? c : Buffer.from(c).toString('utf8'));
  const io = { stdout: { write: (c: string | Uint8Array) => (out += text(c)) }, stderr: { write: (c: string | Uint8Array) => (err += text(c)) } };
  const p = runCli(argv, io);
  assert.ok(p !== null, 'a CLI invocation');
  return { code: await p, out, err };
}

describe('runCli without a cluster', () => {
  test('argv with -cfg_path / --cfg_path runs a node: runCli returns null', () => {
    assert.equal(runCli(['-cfg_path', 'x.yml']), null);
    assert.equal(runCli(['--cfg_path=x.yml']), null);
    assert.ok(isNodeInvocation(['--cfg_path', 'a']));
    assert.ok(!isNodeInvocation(['get', 'k']));
  });

  test('--help and <cmd> --help describe the commands', async () => {
    const g = await cli('--help');
    assert.equal(g.code, EXIT_OK);
    for (const cmd of ['put', 'get', 'del', 'txn', 'lease', 'lock', 'watch', 'snapshot', 'status', '--endpoints']) assert.ok(g.out.includes(cmd), `help mentions ${cmd}`);
    // It points to what the project ships, not to a document users do not have.
    assert.ok(g.out.includes('config/config.example.yml') && g.out.includes('README'), g.out);
    assert.doesNotMatch(g.out, /SPEC/);
    for (const [cmd, word] of [
      ['put', '--if-absent'],
      ['put', '--lease'],
      ['get', '--consistency'],
      ['get', '--prefix'],
      ['lease', 'grant TTL'],
      ['lease', 'keepalive ID'],
      ['watch', '--from-revision'],
      ['txn', '"compare"'],
      ['lease', 'info ID'],
      ['lock', 'KVSTORE_LOCK_TOKEN'],
      ['snapshot', 'restore FILE --data-dir D --id ID --peers'],
      ['del', '--if-revision'],
      ['status', 'table'],
    ] as const) {
      const r = await cli(cmd, '--help');
      assert.equal(r.code, EXIT_OK);
      assert.ok(r.out.includes(`kvstore ${cmd}`) && r.out.includes(word), r.out);
    }
    assert.equal((await cli('help', 'get')).code, EXIT_OK);
    assert.equal((await cli('-h')).code, EXIT_OK);
  });

  test('usage errors exit 2', async () => {
    const cases: string[][] = [
      [],
      ['frobnicate'],
      ['put', 'k'],
      ['put', 'k', 'v', 'extra'],
      ['get'],
      ['del'],
      ['status', 'x'],
      ['get', 'k', '--consistency', 'eventual'],
      ['get', 'k', '--if-absent'],
      ['put', 'k', 'v', '--if-revision', 'abc'],
      ['put', 'k', 'v', '--if-revision', '3', '--if-absent'],
      ['get', 'k', '--keys-only'],
      ['get', 'k', '--prefix', '--limit', '0'],
      ['lease'],
      ['lease', 'grant'],
      ['lease', 'grant', 'soon'],
      ['lease', 'renew', '5'],
      ['lease', 'list', 'x'],
      ['lease', 'grant', '5', '--once'],
      ['watch'],
      ['watch', 'k', '--from-revision', 'soon'],
      ['snapshot', 'save'],
      ['snapshot', 'load', 'f'],
      ['snapshot', 'restore', 'f', '--data-dir', 'd'],
      ['snapshot', 'save', 'f', '--id', 'n1'],
      ['put', 'k', 'v', '--lease', 'x'],
      ['get', 'k', '--bogus'],
      ['get', 'k', '--consistency'],
      ['--endpoints', 'not a url', 'get', 'k'],
      ['lease', 'info'],
      ['lock'],
      ['lock', 'l', '--ttl', '0'],
      ['lock', 'l', '--prefix'],
      ['txn', 'a', 'b'],
      ['txn', '--prefix'],
      ...['{"compare": 3}', '{"success": [{"op": "put", "key": "k", "value": "not base64!"}]}', '{"success": [{"op": "get", "key": "k%zz"}]}', '{"compare": [{"key": "k", "target": "version"}]}', '{"other": []}', 'not json'].map((text, i) => {
        const file = join(scratch, `bad-txn-${i}.json`);
        writeFileSync(file, text);
        return ['txn', file];
      }),
    ];
    for (const argv of cases) {
      const r = await cli(...argv);
      assert.equal(r.code, EXIT_USAGE, `${JSON.stringify(argv)}: ${r.err}`);
      assert.ok(r.err.startsWith('Error:'), r.err);
    }
  });

  test('auth new-token prints a fresh token and the auth.tokens entry that admits it', async () => {
    const a = await cli('auth', 'new-token', '--name', 'ci', '--role', 'write');
    assert.equal(a.code, EXIT_OK, a.err);
    const token = /^token: (\S+)$/m.exec(a.out)?.[1];
    assert.ok(token !== undefined && token.length >= 32, a.out);
    assert.match(a.out, new RegExp(`^auth.tokens entry: \\{ name: ci, role: write, sha256: ${tokenHash(token)} \\}$`, 'm'));
    const b = await cli('auth', 'new-token', '--name', 'ci', '--role', 'write');
    assert.notEqual(/^token: (\S+)$/m.exec(b.out)?.[1], token, 'a new token each time');
    for (const argv of [['auth', 'new-token', '--name', 'ci', '--role', 'root'], ['auth', 'new-token', '--role', 'read'], ['auth', 'rotate', '--name', 'x', '--role', 'read'], ['auth']]) {
      const r = await cli(...argv);
      assert.equal(r.code, EXIT_USAGE, `${JSON.stringify(argv)}: ${r.err}`);
    }
    assert.match((await cli('auth', '--help')).out, /kvstore auth new-token --name NAME --role read\|write\|admin/);
  });

  test('no reachable endpoint: exit 1', async () => {
    const r = await cli('--endpoints', 'http://127.0.0.1:1', '--timeout', '500', 'get', 'k');
    assert.equal(r.code, EXIT_FAILED, r.err);
  });
});

describe('runCli against a 3-node cluster of real processes', { concurrency: false }, () => {
  let c: ProcessCluster;
  let endpoints: string;

  before(async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    await c.waitForLeader(ELECT_WITHIN_MS);
    endpoints = c.nodes.map((n) => `http://127.0.0.1:${n.httpPort}`).join(',');
  });

  after(async () => {
    await c?.stop();
  });

  test('put, get, del; get of a missing key exits 1', async () => {
    const put = await cli('--endpoints', endpoints, 'put', 'cli/key', 'hello');
    assert.equal(put.code, EXIT_OK, put.err);
    const rev = /^OK revision (\d+)\n$/.exec(put.out);
    assert.ok(rev !== null, put.out);
    const get = await cli(`--endpoints=${endpoints}`, 'get', 'cli/key');
    assert.deepEqual(get, { code: EXIT_OK, out: 'hello', err: '' });
    // A stale read is served by the first endpoint from its own applied state: wait until it has applied the put.
    await c.waitForValue(c.nodes[0]!.id, 'cli/key', 'hello', ELECT_WITHIN_MS);
    const withRev = await cli('get', 'cli/key', '--endpoints', endpoints, '--consistency', 'stale', '--print-revision');
    assert.equal(withRev.code, EXIT_OK, withRev.err);
    assert.equal(withRev.out, `${rev[1]}\thello`);
    const lease = await cli('--endpoints', endpoints, 'get', 'cli/key', '--consistency=lease');
    assert.equal(lease.out, 'hello');
    const del = await cli('--endpoints', endpoints, 'del', 'cli/key');
    assert.equal(del.code, EXIT_OK, del.err);
    assert.match(del.out, /^deleted revision \d+\n$/);
    const missing = await cli('--endpoints', endpoints, 'get', 'cli/key');
    assert.equal(missing.code, EXIT_FAILED);
    assert.match(missing.err, /not found/);
    assert.equal(missing.out, '');
  });

  test('put --if-absent and --if-revision: a failed precondition exits 1', async () => {
    const first = await cli('--endpoints', endpoints, 'put', 'cli/cas', 'a', '--if-absent');
    assert.equal(first.code, EXIT_OK, first.err);
    const rev = /revision (\d+)/.exec(first.out)![1]!;
    const again = await cli('--endpoints', endpoints, 'put', 'cli/cas', 'b', '--if-absent');
    assert.equal(again.code, EXIT_FAILED);
    assert.match(again.err, /revision_mismatch \(HTTP 412\)/);
    const swap = await cli('--endpoints', endpoints, 'put', 'cli/cas', 'c', '--if-revision', rev);
    assert.equal(swap.code, EXIT_OK, swap.err);
    const idem1 = await cli('--endpoints', endpoints, 'put', 'cli/idem', 'x', '--idempotency-key', 'cli-1');
    const idem2 = await cli('--endpoints', endpoints, 'put', 'cli/idem', 'x', '--idempotency-key', 'cli-1');
    assert.equal(idem1.code, EXIT_OK);
    assert.equal(idem2.out, idem1.out);
  });

  test('get --prefix lists the keys under a prefix in byte order, page after page; --keys-only, --limit, --print-revision', async () => {
    for (let i = 0; i < 12; i++) assert.equal((await cli('--endpoints', endpoints, 'put', `cli/list/${String(i).padStart(2, '0')}`, `v${i}`)).code, EXIT_OK);
    assert.equal((await cli('--endpoints', endpoints, 'put', 'cli/listz', 'not under cli/list/')).code, EXIT_OK);
    const all = await cli('--endpoints', endpoints, 'get', 'cli/list/', '--prefix');
    assert.equal(all.code, EXIT_OK, all.err);
    assert.equal(all.out, Array.from({ length: 12 }, (_, i) => `cli/list/${String(i).padStart(2, '0')}\tv${i}\n`).join(''));
    const keys = await cli('--endpoints', endpoints, 'get', 'cli/list/', '--prefix', '--keys-only', '--limit', '3');
    assert.equal(keys.out, 'cli/list/00\ncli/list/01\ncli/list/02\n');
    const revs = await cli('--endpoints', endpoints, 'get', 'cli/list/1', '--prefix', '--print-revision', '--consistency', 'stale');
    assert.match(revs.out, /^\d+\tcli\/list\/10\tv10\n\d+\tcli\/list\/11\tv11\n$/);
    const none = await cli('--endpoints', endpoints, 'get', 'cli/nothing/', '--prefix');
    assert.deepEqual(none, { code: EXIT_OK, out: '', err: '' });
  });

  test('lease grant, put --lease, lease list, lease revoke deletes the keys; a revoked lease exits 1', async () => {
    const g = await cli('--endpoints', endpoints, 'lease', 'grant', '120');
    assert.equal(g.code, EXIT_OK, g.err);
    const id = /^lease (\d+) granted with TTL 120s\n$/.exec(g.out)?.[1];
    assert.ok(id !== undefined, g.out);
    assert.equal((await cli('--endpoints', endpoints, 'put', 'cli/leased', 'v', '--lease', id)).code, EXIT_OK);
    const list = await cli('--endpoints', endpoints, 'lease', 'list');
    assert.ok(list.out.split('\n').includes(`${id}\t120`), list.out);
    const r = await cli('--endpoints', endpoints, 'lease', 'revoke', id);
    assert.equal(r.code, EXIT_OK, r.err);
    assert.match(r.out, new RegExp(`^lease ${id} revoked at revision \\d+\\n$`));
    assert.equal((await cli('--endpoints', endpoints, 'get', 'cli/leased')).code, EXIT_FAILED);
    const again = await cli('--endpoints', endpoints, 'lease', 'revoke', id);
    assert.equal(again.code, EXIT_FAILED);
    assert.match(again.err, /lease_not_found \(HTTP 404\)/);
    const bad = await cli('--endpoints', endpoints, 'put', 'cli/leased', 'v', '--lease', id);
    assert.equal(bad.code, EXIT_FAILED);
    const live = /^lease (\d+) /.exec((await cli('--endpoints', endpoints, 'lease', 'grant', '60')).out)![1]!;
    const kept = await cli('--endpoints', endpoints, 'lease', 'keepalive', live, '--once');
    assert.deepEqual(kept, { code: EXIT_OK, out: `lease ${live} kept alive (TTL 60s)\n`, err: '' });
    const gone = await cli('--endpoints', endpoints, 'lease', 'keepalive', id, '--once');
    assert.equal(gone.code, EXIT_FAILED);
    assert.match(gone.err, /lease_not_found/);
  });

  test('txn runs one branch atomically: SUCCESS or FAILURE, the revision, a line per operation', async () => {
    const put = await cli('--endpoints', endpoints, 'put', 'cli/t/a', 'one');
    const rev = Number(/revision (\d+)/.exec(put.out)![1]);
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const file = join(scratch, 'txn.json');
    writeFileSync(file, JSON.stringify({
      compare: [{ key: 'cli/t/a', target: 'revision', revision: rev }, { key: 'cli/t/b', target: 'revision', operator: 'less', revision: 1 }],
      success: [{ op: 'put', key: 'cli/t/b', value: b64('two') }, { op: 'delete', key: 'cli/t/a' }, { op: 'get', key: 'cli/t/b' }, { op: 'delete', key: 'cli/t/none' }],
      failure: [{ op: 'get', key: 'cli/t/a' }, { op: 'get', key: 'cli/t/none' }],
    }));
    const ran = await cli('--endpoints', endpoints, 'txn', file);
    assert.equal(ran.code, EXIT_OK, ran.err);
    const at = Number(/^SUCCESS revision (\d+)\n/.exec(ran.out)?.[1]);
    assert.ok(at > rev, ran.out);
    assert.equal(ran.out, `SUCCESS revision ${at}\nput\ndelete deleted\nget ${at}\ttwo\ndelete not-found\n`);
    const again = await cli('--endpoints', endpoints, 'txn', file);
    assert.equal(again.code, EXIT_OK, again.err);
    assert.match(again.out, /^FAILURE revision \d+\nget not-found\nget not-found\n$/);
    // A put on a lease that does not exist refuses the whole transaction.
    writeFileSync(file, JSON.stringify({ success: [{ op: 'put', key: 'cli/t/c', value: b64('x'), lease: 999_999 }] }));
    const refused = await cli('--endpoints', endpoints, 'txn', file);
    assert.equal(refused.code, EXIT_FAILED);
    assert.match(refused.err, /lease_not_found/);
  });

  test('lease info shows the TTL, the time left on the leader\'s clock and the keys', async () => {
    const id = /^lease (\d+) /.exec((await cli('--endpoints', endpoints, 'lease', 'grant', '90')).out)![1]!;
    for (const k of ['cli/li/a', 'cli/li/b']) assert.equal((await cli('--endpoints', endpoints, 'put', k, 'v', '--lease', id)).code, EXIT_OK);
    const info = await cli('--endpoints', endpoints, 'lease', 'info', id);
    assert.equal(info.code, EXIT_OK, info.err);
    const m = new RegExp(`^lease ${id} ttl 90s remaining (\\d+)ms\ncli/li/a\ncli/li/b\n$`).exec(info.out);
    assert.ok(m !== null, info.out);
    assert.ok(Number(m[1]) > 0 && Number(m[1]) <= 90_000, info.out);
    await cli('--endpoints', endpoints, 'lease', 'revoke', id);
    assert.equal((await cli('--endpoints', endpoints, 'lease', 'info', id)).code, EXIT_FAILED);
  });

  test('lock: a holder process keeps a second lock waiting until it is stopped; the command runs holding the lock with its token', async () => {
    const holder = spawn(process.execPath, [MAIN, '--endpoints', endpoints, 'lock', 'cli/lock'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let held = '';
    holder.stdout.on('data', (b: Buffer) => (held += b.toString()));
    const holderExit = new Promise<number | null>((resolve) => holder.once('exit', resolve));
    try {
      await c.waitFor('the holder to take the lock', ELECT_WITHIN_MS, async () => (held.includes('\n') ? true : undefined));
      const first = /^locked cli\/lock token (\d+) lease (\d+)\n$/.exec(held);
      assert.ok(first !== null, held);
      const script = 'process.stdout.write(`${process.env.KVSTORE_LOCK_KEY} ${process.env.KVSTORE_LOCK_TOKEN}`); process.exit(7)';
      let settled = false;
      const second = cli('--endpoints', endpoints, 'lock', 'cli/lock', '--ttl', '5', '--', process.execPath, '-e', script).finally(() => (settled = true));
      // While the holder lives the second waits: watch it not finish for a while.
      await c.waitFor('the lock key to be held', ELECT_WITHIN_MS, async () => ((await cli('--endpoints', endpoints, 'get', 'cli/lock')).code === EXIT_OK ? true : undefined));
      await delay(1_000);
      assert.equal(settled, false, 'the second lock was taken while the first was held');
      holder.kill('SIGTERM');
      assert.equal(await holderExit, EXIT_OK);
      const r = await second;
      assert.equal(r.code, 7, r.err);
      const [key, token] = r.out.split(' ');
      assert.equal(key, 'cli/lock');
      assert.ok(Number(token) > Number(first[1]), `token ${token} after ${first[1]}`);
      // Both released their lock: the key is gone.
      assert.equal((await cli('--endpoints', endpoints, 'get', 'cli/lock')).code, EXIT_FAILED);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  test('watch prints each change of a prefix from a revision on, as the binary runs', async () => {
    const first = await cli('--endpoints', endpoints, 'put', 'cli/w/a', '1');
    const from = /revision (\d+)/.exec(first.out)![1]!;
    await cli('--endpoints', endpoints, 'del', 'cli/w/a');
    const p = spawn(process.execPath, [MAIN, '--endpoints', endpoints, 'watch', 'cli/w/', '--prefix', '--from-revision', from], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      await c.waitFor('the watch to print two changes', ELECT_WITHIN_MS, async () => (out.split('\n').length > 2 ? true : undefined));
    } finally {
      p.kill('SIGKILL');
    }
    const lines = out.split('\n').filter((l) => l !== '');
    assert.equal(lines[0], `${from}\tput\tcli/w/a\t1`);
    assert.match(lines[1]!, /^\d+\tdelete\tcli\/w\/a$/);
  });

  test('status prints a table of every member', async () => {
    const firstOnly = endpoints.split(',')[0]!;
    const r = await cli('--endpoints', firstOnly, 'status');
    assert.equal(r.code, EXIT_OK, r.err);
    for (const h of ['ID', 'ROLE', 'TERM', 'LEADER', 'COMMIT', 'APPLIED', 'LAST INDEX']) assert.ok(r.out.includes(h), r.out);
    for (const n of c.nodes) assert.ok(r.out.includes(`| ${n.id} `) && r.out.includes(`127.0.0.1:${n.httpPort}`), r.out);
    assert.equal((r.out.match(/\| leader /g) ?? []).length, 1, r.out);
  });
});

describe('runCli writes to an unreachable endpoint', () => {
  test('a put that never reached a node exits 1 (not applied), not 3', async () => {
    const r = await cli('--endpoints', 'http://127.0.0.1:1', '--timeout', '500', 'put', 'k', 'v');
    assert.equal(r.code, EXIT_FAILED, r.err);
    assert.match(r.err, /unavailable/);
  });
});
