// Disk faults on real node processes: a full disk under the leader and under a
// follower, a read-only data directory, a vanished one.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { ProcessCluster, type ProcessNode } from './process-cluster.js';
import { smallDisk, type SmallDisk } from './small-disk.js';

const ELECTION_MS = 400;
const ELECT_WITHIN_MS = 25 * ELECTION_MS;
const ANSWER_WITHIN_MS = 15_000;

type Outcome = { readonly status: number; readonly body: string } | { readonly error: string };

/** One PUT on its own connection (no keep-alive reuse), answered or failed, within ANSWER_WITHIN_MS. */
function putOnce(port: number, key: string, value: Buffer): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'PUT', path: `/v1/kv/${encodeURIComponent(key)}`, agent: false, headers: { 'content-length': value.length } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.setTimeout(ANSWER_WITHIN_MS, () => reject(new Error(`PUT ${key} hung for ${ANSWER_WITHIN_MS} ms`)));
    req.end(value);
  });
}

/** A cluster whose every node has its data on a small disk. */
async function clusterOnSmallDisks(size: number): Promise<{ c: ProcessCluster; disks: Map<string, SmallDisk> }> {
  const disks = new Map<string, SmallDisk>();
  const c = await ProcessCluster.start(size, ELECTION_MS, { prepare: (n: ProcessNode, cluster) => disks.set(n.id, smallDisk(n, cluster)) });
  return { c, disks };
}

async function exitOf(c: ProcessCluster, id: string): Promise<number | null> {
  const n = c.node(id);
  const code = await n.exited;
  n.proc = null;
  return code;
}

test('a full disk under the leader: in-flight writes are answered 200, 503 or 504, nothing acknowledged is lost, and it rejoins once space returns', async () => {
  const { c, disks } = await clusterOnSmallDisks(3);
  try {
    const leader = await c.waitForLeader(ELECT_WITHIN_MS);
    const acknowledged = new Map<string, string>();
    for (let i = 0; i < 5; i++) {
      const r = await c.put(leader, `before-${i}`, `v${i}`);
      assert.equal(r.status, 200);
      acknowledged.set(`before-${i}`, `v${i}`);
    }
    disks.get(leader)!.fill();
    const value = Buffer.alloc(48 * 1024, 0x61);
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => putOnce(c.node(leader).httpPort, `during-${i}`, value)));
    for (const [i, o] of outcomes.entries()) {
      assert.ok('status' in o, `during-${i} was cut instead of answered: ${JSON.stringify(o)}\n${c.logs()}`);
      assert.ok([200, 503, 504].includes(o.status), `during-${i}: ${o.status} ${o.body}`);
      if (o.status === 200) acknowledged.set(`during-${i}`, value.toString());
    }
    assert.equal(await exitOf(c, leader), 1, 'the leader stops');
    assert.match(c.node(leader).output.join(''), /storage failed; stopping/);
    assert.match(c.node(leader).output.join(''), /ENOSPC|No space left|EFBIG|File too large/i);

    const others = c.nodes.filter((n) => n.id !== leader).map((n) => n.id);
    const next = await c.waitForLeader(ELECT_WITHIN_MS, others);
    for (const [k, v] of acknowledged) {
      const r = await c.get(next, k);
      assert.equal(r.status, 200, `${k} was acknowledged and is lost`);
      assert.equal(await r.text(), v);
    }
    disks.get(leader)!.free();
    c.restart(leader);
    assert.equal((await c.put(next, 'after', 'back')).status, 200);
    await c.waitForValue(leader, 'after', 'back', ELECT_WITHIN_MS);
    await c.waitForValue(leader, 'before-4', 'v4', ELECT_WITHIN_MS);
  } finally {
    await c.stop();
  }
});

test('a full disk under a follower: it stops with a clear message, writes go on, and it catches up once space returns', async () => {
  const { c, disks } = await clusterOnSmallDisks(3);
  try {
    const leader = await c.waitForLeader(ELECT_WITHIN_MS);
    const follower = c.nodes.find((n) => n.id !== leader)!.id;
    disks.get(follower)!.fill();
    const value = 'x'.repeat(16 * 1024);
    for (let i = 0; i < 20; i++) assert.equal((await c.put(leader, `k${i}`, value)).status, 200);
    assert.equal(await exitOf(c, follower), 1, 'the follower stops');
    assert.match(c.node(follower).output.join(''), /storage failed; stopping/);
    disks.get(follower)!.free();
    c.restart(follower);
    await c.waitForValue(follower, 'k19', value, ELECT_WITHIN_MS);
    await c.waitForValue(follower, 'k0', value, ELECT_WITHIN_MS);
  } finally {
    await c.stop();
  }
});

test('a read-only data directory stops a running node and keeps a stopped one from starting, with a clear message', async () => {
  const { c, disks } = await clusterOnSmallDisks(1);
  try {
    await c.waitForLeader(ELECT_WITHIN_MS);
    assert.equal((await c.put('n1', 'kept', 'yes')).status, 200);
    const disk = disks.get('n1')!;
    disk.readOnly();
    assert.equal(await exitOf(c, 'n1'), 1);
    assert.match(c.node('n1').output.join(''), /node\.data_dir .* became (on a read-only file system|not writable by this process) while the node ran/);

    c.restart('n1');
    assert.equal(await exitOf(c, 'n1'), 1, 'refuses to start');
    assert.match(c.node('n1').output.join(''), /node\.data_dir .* is (on a read-only file system|not writable)/);

    disk.writable();
    c.restart('n1');
    await c.waitForLeader(ELECT_WITHIN_MS);
    const r = await c.get('n1', 'kept');
    assert.equal(await r.text(), 'yes');
  } finally {
    await c.stop();
  }
});

test('a data directory that vanishes under a running node stops it with a clear message', async () => {
  const c = await ProcessCluster.start(1, ELECTION_MS);
  try {
    await c.waitForLeader(ELECT_WITHIN_MS);
    assert.equal((await c.put('n1', 'k', 'v')).status, 200);
    rmSync(c.node('n1').dataDir, { recursive: true, force: true });
    assert.equal(await exitOf(c, 'n1'), 1);
    assert.match(c.node('n1').output.join(''), /node\.data_dir .* vanished while the node ran/);
  } finally {
    await c.stop();
  }
});
