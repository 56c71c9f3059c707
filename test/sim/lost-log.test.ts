import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Workload } from '../../sim/clients.js';
import { SimCluster } from '../../sim/cluster.js';

test('a follower that lost its whole log (empty data directory) is detected by the leader and repaired', () => {
  const c = new SimCluster({ seed: 21, nodes: 3 });
  const w = new Workload(c, c.rng.fork('clients'), {
    clients: 3,
    keys: 5,
    attemptTimeoutMs: 250,
    opTimeoutMs: 5_000,
    thinkMaxMs: 10,
    opsMax: Number.MAX_SAFE_INTEGER,
    readModes: ['linearizable'],
    routing: ['follow-leader'],
  });
  assert.ok(c.runUntil(() => c.leader() !== null, 10_000));
  w.start();
  c.runFor(2_000);
  const leader = c.leader()!;
  const follower = c.ids.find((id) => id !== leader)!;
  const before = c.node(follower)!.status().lastLogIndex;
  assert.ok(before > 50, `the follower should hold a log first (${before})`);

  c.crash(follower);
  c.disk(follower).wipe();
  c.restart(follower);
  assert.equal(c.node(follower)!.status().lastLogIndex, 0);
  c.runFor(2_000);
  w.stop();
  const settled = (): boolean => {
    const l = c.node(c.leader()!)!.status();
    const f = c.node(follower)!.status();
    return w.quiescent() && f.lastLogIndex === l.lastLogIndex && f.commitIndex === l.commitIndex;
  };
  assert.ok(c.runUntil(settled, c.clock.now() + 10_000), `the wiped follower was not repaired: ${JSON.stringify(c.node(follower)!.status())}`);
  assert.ok(c.node(follower)!.status().lastLogIndex > before);
});
