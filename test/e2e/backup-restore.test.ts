// Backup and restore end to end: a loaded 3-node cluster is backed up with
// `kvstore snapshot save` while writes go on, a new 3-node cluster is built from the
// file with `kvstore snapshot restore` (real CLI processes), and every key, value,
// revision and lease of the new cluster must be the old one's at the backup's index.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { KvClient } from '../../src/client/rest-client.js';
import { ProcessCluster } from './process-cluster.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const ELECTION_MS = 500;

/** What one write did, at its revision: keys put (value, lease) or deleted. */
interface Effect {
  readonly revision: number;
  readonly puts: readonly (readonly [string, string, number])[];
  readonly deletes: readonly string[];
}

/** The state the writes made, through `index`: key -> [value, revision, lease]. */
function stateAt(effects: readonly Effect[], leaseKeys: (lease: number, state: Map<string, [string, number, number]>) => string[], revokes: readonly { revision: number; lease: number }[], index: number): Map<string, [string, number, number]> {
  const state = new Map<string, [string, number, number]>();
  const events = [...effects.map((e) => ({ revision: e.revision, effect: e as Effect | null, lease: 0 })), ...revokes.map((r) => ({ revision: r.revision, effect: null, lease: r.lease }))].sort((a, b) => a.revision - b.revision);
  for (const ev of events) {
    if (ev.revision > index) break;
    if (ev.effect === null) {
      for (const k of leaseKeys(ev.lease, state)) state.delete(k);
      continue;
    }
    for (const [k, v, lease] of ev.effect.puts) state.set(k, [v, ev.revision, lease]);
    for (const k of ev.effect.deletes) state.delete(k);
  }
  return state;
}

function run(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const clusters: ProcessCluster[] = [];
const dir = mkdtempSync(join(tmpdir(), 'kvstore-backup-'));
after(async () => {
  for (const c of clusters) await c.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a backup of a loaded cluster, taken under writes, restores a new 3-node cluster with every key, revision and lease', async (t) => {
  const a = await ProcessCluster.start(3, ELECTION_MS);
  clusters.push(a);
  await a.waitForLeader(20 * ELECTION_MS);
  const endpoints = a.nodes.map((n) => `http://127.0.0.1:${n.httpPort}`);
  const client = new KvClient({ endpoints });
  const effects: Effect[] = [];
  const revokes: { revision: number; lease: number }[] = [];
  const must = <T extends { ok: boolean }>(r: T): T & { ok: true } => {
    assert.ok(r.ok, JSON.stringify(r));
    return r as T & { ok: true };
  };

  // The load: keys under several prefixes, overwrites, deletes, transactions, and keys on leases.
  const lease = must(await client.grantLease(600)).id;
  const doomed = must(await client.grantLease(600)).id;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 150; i++) {
        const key = `load/${w}/${i % 60}`;
        const value = `w${w}-i${i}`;
        const onLease = i % 17 === 0 ? (i % 34 === 0 ? doomed : lease) : 0;
        if (i % 11 === 10) {
          const d = must(await client.delete(key));
          if (d.deleted) effects.push({ revision: d.revision, puts: [], deletes: [key] });
        } else {
          const p = must(await client.put(key, value, onLease === 0 ? {} : { lease: onLease }));
          effects.push({ revision: p.revision, puts: [[key, value, onLease]], deletes: [] });
        }
        if (i % 25 === 0) {
          const t = must(await client.txn({ compare: [{ key, target: 'revision', operator: 'greater', revision: 0 }], success: [{ op: 'put', key: `txn/${w}/${i}`, value: 'yes' }, { op: 'delete', key }], failure: [{ op: 'put', key: `txn/${w}/${i}`, value: 'no' }] }));
          effects.push(t.succeeded ? { revision: t.revision, puts: [[`txn/${w}/${i}`, 'yes', 0]], deletes: [key] } : { revision: t.revision, puts: [[`txn/${w}/${i}`, 'no', 0]], deletes: [] });
        }
      }
    }),
  );
  revokes.push({ lease: doomed, revision: must(await client.revokeLease(doomed)).revision });

  // The backup, by the CLI, while writers go on.
  let writing = true;
  const writers = Array.from({ length: 3 }, async (_, w) => {
    for (let i = 0; writing; i++) {
      const key = `live/${w}/${i % 40}`;
      const p = must(await client.put(key, `during-${i}`));
      effects.push({ revision: p.revision, puts: [[key, `during-${i}`, 0]], deletes: [] });
    }
  });
  const file = join(dir, 'backup.snap');
  const saved = await run(['--endpoints', endpoints.join(','), 'snapshot', 'save', file]);
  writing = false;
  await Promise.all(writers);
  assert.equal(saved.code, 0, saved.stderr);
  const m = /revision (\d+), (\d+) keys, (\d+) leases, sha256 ([0-9a-f]{64})/.exec(saved.stdout);
  assert.ok(m !== null, saved.stdout);
  const index = Number(m[1]);
  assert.ok(effects.some((e) => e.revision > index), 'writes went on after the backup point');

  // What the old cluster held at the backup's index, from the writes' own answers.
  const leaseKeys = (l: number, state: Map<string, [string, number, number]>): string[] => [...state].filter(([, [, , owner]]) => owner === l).map(([k]) => k);
  const expected = stateAt(effects, leaseKeys, revokes, index);
  assert.equal(Number(m[2]), expected.size, 'the CLI counts the keys of the state at the backup index');
  assert.equal(Number(m[3]), 1, 'one lease left: the other was revoked before the backup');

  // A damaged or truncated copy is refused whole by its checksum, and nothing is written.
  const bytes = readFileSync(file);
  const damaged = Buffer.from(bytes);
  damaged[Math.floor(damaged.length / 2)]! ^= 0x01;
  for (const [name, content] of [['damaged', damaged], ['truncated', bytes.subarray(0, bytes.length - 100)]] as const) {
    const copy = join(dir, `${name}.snap`);
    writeFileSync(copy, content);
    const into = join(dir, `restore-${name}`);
    const r = spawnSync(process.execPath, [MAIN, 'snapshot', 'restore', copy, '--data-dir', into, '--id', 'n1', '--peers', 'n1,n2,n3'], { encoding: 'utf8' });
    assert.equal(r.status, 1, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /checksum mismatch: the file is damaged or truncated/, name);
    assert.ok(!existsSync(into) || readdirSync(into).length === 0, `${name}: the restore left ${existsSync(into) ? readdirSync(into).join(',') : ''} behind`);
  }

  // A new cluster from the file: each member restored by the CLI into its fresh data directory.
  const b = await ProcessCluster.start(3, ELECTION_MS, {
    prepare: (n, cluster) => {
      const r = spawnSync(process.execPath, [MAIN, 'snapshot', 'restore', file, '--data-dir', n.dataDir, '--id', n.id, '--peers', cluster.nodes.map((x) => x.id).join(',')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`restored revision ${index} \\(${expected.size} keys, 1 leases`));
    },
  });
  clusters.push(b);
  await b.waitForLeader(20 * ELECTION_MS);
  const restored = new KvClient({ endpoints: b.nodes.map((n) => `http://127.0.0.1:${n.httpPort}`) });
  const got = new Map<string, [string, number, number]>();
  for await (const e of restored.listAll('', { limit: 500 })) got.set(Buffer.from(e.key).toString(), [Buffer.from(e.value!).toString(), e.revision, e.lease]);
  assert.equal(got.size, expected.size);
  for (const [k, v] of expected) assert.deepEqual(got.get(k), v, k);
  const leases = must(await restored.leases());
  assert.deepEqual(leases.leases, [{ id: lease, ttl: 600 }]);
  // Every member holds the same state (a stale read is each node's own).
  for (const n of b.nodes) {
    const page = await new KvClient({ endpoints: [`http://127.0.0.1:${n.httpPort}`] }).list('', { consistency: 'stale', keysOnly: true, limit: 10_000 });
    assert.ok(page.ok && page.entries.length === expected.size && page.revision >= index, `${n.id}: ${JSON.stringify(page).slice(0, 200)}`);
  }
  t.diagnostic(`backup at revision ${index} of ${Math.max(...effects.map((e) => e.revision))} written: ${expected.size} keys compared`);
  // A data directory in use is not overwritten.
  const again = spawnSync(process.execPath, [MAIN, 'snapshot', 'restore', file, '--data-dir', b.nodes[0]!.dataDir, '--id', b.nodes[0]!.id, '--peers', b.nodes.map((x) => x.id).join(',')], { encoding: 'utf8' });
  assert.equal(again.status, 1, again.stdout);
  assert.match(again.stderr, /is not empty: restore into a fresh data directory/);
  // The new cluster goes on from the backup's revision.
  const next = must(await restored.put('after/restore', 'x'));
  assert.ok(next.revision > index, `revision ${next.revision} after a backup at ${index}`);
  // Its lease still carries its keys: revoking it deletes them.
  must(await restored.revokeLease(lease));
  assert.equal([...got.values()].filter(([, , l]) => l === lease).length > 0, true);
  for await (const e of restored.listAll('load/')) assert.notEqual(e.lease, lease);
});
