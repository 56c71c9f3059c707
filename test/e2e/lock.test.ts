// client.lock on real processes: contender processes take one lock in turn while
// the cluster's leader is killed; their unprotected increments of a counter must
// all survive (mutual exclusion), their fenced writes must all hold, and the
// fencing tokens must grow from one holder to the next.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { KvClient } from '../../src/client/index.js';
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

let cluster: ProcessCluster | null = null;
const children: ReturnType<typeof spawn>[] = [];
after(async () => {
  for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
  await cluster?.stop();
});

test('client.lock: mutual exclusion and growing fencing tokens across contender processes, through a leader kill', async (t) => {
  const c = await ProcessCluster.start(3, ELECTION_MS);
  cluster = c;
  await c.waitForLeader(20 * ELECTION_MS);
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
