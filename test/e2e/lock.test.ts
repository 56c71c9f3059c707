// client.lock on real processes. A holder whose lease ends under it is fenced off
// by its token, and a waiter on a lock held while the change window moves past it
// waits rather than spins. Then contender processes take one lock in turn while
// the cluster's leader is killed; their unprotected increments of a counter must
// all survive (mutual exclusion), their fenced writes must all hold, and the
// fencing tokens must grow from one holder to the next.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { KvClient } from '../../src/client/index.js';
import { parseExposition } from '../metrics/exposition.js';
import { ProcessCluster } from './process-cluster.js';

const CONTENDER = fileURLToPath(new URL('./lock-contender.js', import.meta.url));
const ELECTION_MS = 500;
const RUN_MS = 9_000;
const CONTENDERS = 4;

interface Section {
  readonly name: string;
  readonly token: number;
  readonly acquiredAt: number;
  readonly releasedAt: number;
  readonly read: number;
  readonly fenced: boolean;
  readonly lost: unknown;
}

let c: ProcessCluster;
const children: ReturnType<typeof spawn>[] = [];
before(async () => {
  c = await ProcessCluster.start(3, ELECTION_MS);
  await c.waitForLeader(20 * ELECTION_MS);
});
after(async () => {
  for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
  await c?.stop();
});

/** PUTs every node answered 412 (a create-only put of a held lock key, say), from their /metrics. */
async function refusedPuts(): Promise<number> {
  let n = 0;
  for (const node of c.nodes) {
    const samples = parseExposition(await (await fetch(c.url(node.id, '/metrics'))).text());
    for (const x of samples) if (x.name === 'kvstore_http_requests_total' && x.labels['method'] === 'PUT' && x.labels['route'] === '/v1/kv/{key}' && x.labels['status'] === '412') n += x.value;
  }
  return n;
}

test('client.lock: a holder whose lease ended is fenced off by its token; a waiter on a long-held lock waits, not spins', async (t) => {
  const endpoints = c.nodes.map((n) => `http://127.0.0.1:${n.httpPort}`);
  const a = new KvClient({ endpoints });
  const b = new KvClient({ endpoints });
  const takenA = await a.lock('locks/fence', { ttlSeconds: 2 });
  assert.ok(takenA.ok, JSON.stringify(takenA));
  const lockA = takenA.lock;
  const busy = await b.lock('locks/fence', { timeoutMs: 300 });
  assert.ok(!busy.ok && busy.kind === 'failed' && busy.error === 'timeout', JSON.stringify(busy));

  // A's lease ends under it (as if A paused past its TTL): its key goes, B takes the lock with a larger token.
  assert.ok((await b.revokeLease(lockA.lease.id)).ok);
  const takenB = await b.lock('locks/fence', { ttlSeconds: 10 });
  assert.ok(takenB.ok, JSON.stringify(takenB));
  const lockB = takenB.lock;
  assert.ok(lockB.token > lockA.token, `token ${lockB.token} after ${lockA.token}`);
  // A, still believing it holds the lock, writes fenced by its token: refused. B's fenced write holds.
  const fenced = (lock: typeof lockA, who: string) => ({ compare: [{ key: 'locks/fence', target: 'revision' as const, revision: lock.token }], success: [{ op: 'put' as const, key: 'fenced/resource', value: who }] });
  const staleWrite = await a.txn(fenced(lockA, 'a'));
  assert.ok(staleWrite.ok && !staleWrite.succeeded, JSON.stringify(staleWrite));
  const write = await b.txn(fenced(lockB, 'b'));
  assert.ok(write.ok && write.succeeded, JSON.stringify(write));
  // A learns it lost the lock at its next keep-alive; its unlock leaves B's key alone.
  assert.equal((await lockA.lost).kind, 'expired');
  await lockA.unlock();
  const held = await b.get('locks/fence');
  assert.ok(held.ok && held.revision === lockB.token, JSON.stringify(held));

  // B holds the lock while the change window (16 MiB) moves past its put; then C waits for it.
  const big = 'x'.repeat(1_000_000);
  for (let i = 0; i < 20; i++) assert.ok((await b.put('fill/big', `${i}${big}`)).ok);
  const rolled = await fetch(c.url(await c.waitForLeader(20 * ELECTION_MS), `/v1/watch/locks/fence?index=${lockB.token}&wait=1ms`));
  await rolled.arrayBuffer();
  assert.equal(rolled.status, 410, "the change window no longer holds B's put");
  const waiting = new KvClient({ endpoints }).lock('locks/fence', { ttlSeconds: 10, timeoutMs: 120_000 });
  // Meanwhile C tries the create a few times at most: a waiter that spun would try it hundreds of times a second.
  const from = await refusedPuts();
  assert.ok(from > 0, "B's create while A held the lock was refused, and counted");
  await delay(1_500);
  const tries = (await refusedPuts()) - from;
  assert.ok(tries < 10, `${tries} refused creates in 1.5 s while C waited`);
  await lockB.unlock();
  const takenC = await waiting;
  assert.ok(takenC.ok, JSON.stringify(takenC));
  assert.ok(takenC.lock.token > lockB.token);
  await takenC.lock.unlock();
  t.diagnostic(`tokens ${lockA.token} < ${lockB.token} < ${takenC.lock.token}; ${tries} creates tried while C waited 1.5 s on a compacted lock key`);
});

test('client.lock: mutual exclusion and growing fencing tokens across contender processes, through a leader kill', async (t) => {
  const endpoints = c.nodes.map((n) => `http://127.0.0.1:${n.httpPort}`).join(',');
  const sections: Section[] = [];
  const done = Array.from({ length: CONTENDERS }, (_, k) => {
    const p = spawn(process.execPath, [CONTENDER, endpoints, `c${k}`, String(RUN_MS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(p);
    let buffered = '';
    p.stdout!.on('data', (b: Buffer) => {
      buffered += b.toString();
      for (let at = buffered.indexOf('\n'); at >= 0; at = buffered.indexOf('\n')) {
        const line = JSON.parse(buffered.slice(0, at)) as Section & { error?: string };
        buffered = buffered.slice(at + 1);
        if (line.error === undefined) sections.push(line);
      }
    });
    return new Promise<number | null>((resolve) => p.once('exit', resolve));
  });
  await delay(RUN_MS / 3);
  const leader = await c.waitForLeader(20 * ELECTION_MS);
  await c.kill(leader);
  const codes = await Promise.all(done);
  assert.deepEqual(codes, Array(CONTENDERS).fill(0));

  assert.ok(sections.length >= 10, `only ${sections.length} critical sections`);
  assert.ok(new Set(sections.map((s) => s.name)).size > 1, 'more than one contender got the lock');
  const byTime = [...sections].sort((a, b) => a.acquiredAt - b.acquiredAt);
  for (let i = 1; i < byTime.length; i++) {
    const prev = byTime[i - 1]!;
    const cur = byTime[i]!;
    assert.ok(cur.acquiredAt >= prev.releasedAt, `${prev.name} held the lock until ${prev.releasedAt}, ${cur.name} took it at ${cur.acquiredAt}`);
    assert.ok(cur.token > prev.token, `token ${cur.token} after ${prev.token}`);
  }
  for (const s of sections) {
    assert.equal(s.fenced, true, `${s.name}'s fenced write with token ${s.token} did not hold`);
    assert.equal(s.lost, null, `${s.name} lost its lease while holding the lock`);
  }
  // Every increment survived: no two holders read the same counter.
  const counter = await new KvClient({ endpoints: endpoints.split(',') }).get('counter');
  assert.ok(counter.ok);
  assert.equal(Number(Buffer.from(counter.value).toString()), sections.length);
  assert.deepEqual(byTime.map((s) => s.read), byTime.map((_, i) => i));
  t.diagnostic(`${sections.length} critical sections by ${new Set(sections.map((s) => s.name)).size} processes, leader ${leader} killed at ${RUN_MS / 3} ms`);
});
