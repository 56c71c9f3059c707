import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ProcessCluster } from './process-cluster.js';

const ELECTION_MS = 500;
/** "A few election timeouts", generously: process start-up and a loaded CI machine included. */
const ELECT_WITHIN_MS = 20 * ELECTION_MS;

async function putOk(c: ProcessCluster, key: string, value: string): Promise<number> {
  const id = await c.waitForLeader(ELECT_WITHIN_MS);
  const r = await c.put(id, key, value);
  const body = await r.text();
  assert.equal(r.status, 200, `PUT ${key}: ${r.status} ${body}`);
  return (JSON.parse(body) as { revision: number }).revision;
}

async function assertAllHave(c: ProcessCluster, ids: readonly string[], data: ReadonlyMap<string, string>): Promise<void> {
  for (const id of ids) for (const [k, v] of data) await c.waitForValue(id, k, v, ELECT_WITHIN_MS);
}

describe('a 3-node cluster of real processes', { concurrency: false }, () => {
  let c: ProcessCluster;
  const written = new Map<string, string>();

  after(async () => {
    await c?.stop();
  });

  test('elects one leader and replicates committed entries to all', async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    await c.waitForLeader(ELECT_WITHIN_MS);
    for (const id of ['n1', 'n2', 'n3']) assert.doesNotMatch(c.node(id).output.join(''), /started without/, `${id} runs with NODE_PROCESS_FLAGS, as every launcher starts it`);
    for (let k = 0; k < 20; k++) {
      written.set(`key-${k}`, `value-${k}`);
      await putOk(c, `key-${k}`, `value-${k}`);
    }
    await assertAllHave(c, ['n1', 'n2', 'n3'], written);
  });

  test('kill -9 of the leader: a new leader within a few election timeouts, nothing committed lost', async () => {
    const old = await c.waitForLeader(ELECT_WITHIN_MS);
    const before = (await c.status(old))!.term;
    await c.kill(old);
    const others = c.nodes.map((n) => n.id).filter((id) => id !== old);
    const leader = await c.waitForLeader(ELECT_WITHIN_MS, others);
    assert.notEqual(leader, old);
    assert.ok((await c.status(leader))!.term > before);
    written.set('after-failover', 'yes');
    await putOk(c, 'after-failover', 'yes');
    for (const [k, v] of written) {
      const r = await c.get(leader, k);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), v);
    }
    c.restart(old);
    await assertAllHave(c, [old], written);
  });

  test('kill -9 of every node in turn, then restart: all committed data is back', async () => {
    for (const n of c.nodes) {
      await c.kill(n.id);
      c.restart(n.id);
      await c.waitForLeader(ELECT_WITHIN_MS);
      written.set(`turn-${n.id}`, 'ok');
      await putOk(c, `turn-${n.id}`, 'ok');
    }
    await assertAllHave(c, ['n1', 'n2', 'n3'], written);
  });

  test('kill -9 of all nodes at once, then restart: all committed data is back', async () => {
    await Promise.all(c.nodes.map((n) => c.kill(n.id)));
    for (const n of c.nodes) c.restart(n.id);
    await c.waitForLeader(ELECT_WITHIN_MS);
    await assertAllHave(c, ['n1', 'n2', 'n3'], written);
  });

  test('a follower restarted from an empty data dir is re-synced from the leader', async () => {
    const leader = await c.waitForLeader(ELECT_WITHIN_MS);
    const follower = c.nodes.map((n) => n.id).find((id) => id !== leader)!;
    await c.kill(follower);
    c.wipe(follower);
    c.restart(follower);
    await assertAllHave(c, [follower], written);
  });

  test('a follower paused (SIGSTOP) for longer than the election timeout rejoins without disrupting the cluster', async () => {
    const leader = await c.waitForLeader(ELECT_WITHIN_MS);
    const term = (await c.status(leader))!.term;
    const follower = c.nodes.map((n) => n.id).find((id) => id !== leader)!;
    c.pause(follower);
    written.set('while-paused', 'yes');
    const r = await c.put(leader, 'while-paused', 'yes');
    assert.equal(r.status, 200, await r.text());
    // The pause itself must last: this waits out a duration, it does not synchronise on an event.
    await delay(4 * ELECTION_MS);
    c.resume(follower);
    await c.waitForValue(follower, 'while-paused', 'yes', ELECT_WITHIN_MS);
    const after = await c.status(leader);
    assert.equal(after!.role, 'leader', 'the paused follower disrupted the leader');
    assert.equal(after!.term, term, 'the paused follower forced a new term');
  });
});

describe('bad configuration', () => {
  const main = fileURLToPath(new URL('../../src/main.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'kvstore-cfg-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  function run(yaml: string, env: Record<string, string> = {}): { status: number | null; stderr: string } {
    const path = join(dir, 'bad.yml');
    writeFileSync(path, yaml);
    const r = spawnSync(process.execPath, [main, '-cfg_path', path], { env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8', timeout: 20_000 });
    return { status: r.status, stderr: r.stderr };
  }

  const good = [
    'node: { id: n1, data_dir: ./data/n1 }',
    'http: { addr: "127.0.0.1:8081" }',
    'grpc: { addr: "127.0.0.1:9081" }',
    'raft:',
    '  addr: "127.0.0.1:7081"',
    '  metrics_addr: "127.0.0.1:2112"',
    '  peers:',
    '    - { id: n1, raft_addr: "127.0.0.1:7081", http_addr: "127.0.0.1:8081", grpc_addr: "127.0.0.1:9081" }',
    '',
  ].join('\n');

  test('an unknown key is refused with exit code 2, naming the key', () => {
    const r = run(`${good}bogus: 1\n`);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bogus/);
  });

  test('a bad value is refused, naming the key and the value', () => {
    const r = run(good.replace('"127.0.0.1:8081" }', '"127.0.0.1:99999" }'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /http\.addr/);
    assert.match(r.stderr, /99999/);
  });

  test('an environment override is validated too, naming the variable', () => {
    const r = run(good, { KV_RAFT_ELECTION_TIMEOUT_MS: 'soon' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /raft\.election_timeout_ms/);
    assert.match(r.stderr, /KV_RAFT_ELECTION_TIMEOUT_MS/);
  });

  test('a missing file is refused, naming the path', () => {
    const r = spawnSync(process.execPath, [main, '--cfg_path', join(dir, 'nope.yml')], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /nope\.yml/);
  });
});
