import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NodeId } from '../../src/raft/types.js';
import { recoverRecords } from '../../src/storage/recover.js';
import { Workload } from '../../sim/clients.js';
import { SimCluster } from '../../sim/cluster.js';
import { runSimulation } from '../../sim/run.js';

// The simulated disk holds the records the real store writes, and a restarted node
// recovers through the real recovery code: a torn write is cut off there, and a
// failed sync stops the node as production's onFatal does.

function busyCluster(seed: number): { c: SimCluster; w: Workload; leader: NodeId } {
  const c = new SimCluster({ seed, nodes: 3 });
  const w = new Workload(c, c.rng.fork('clients'), {
    clients: 4,
    keys: 3,
    attemptTimeoutMs: 250,
    opTimeoutMs: 5_000,
    thinkMaxMs: 5,
    opsMax: Number.MAX_SAFE_INTEGER,
    readModes: ['linearizable'],
    routing: ['follow-leader'],
  });
  assert.ok(c.runUntil(() => c.leader() !== null, 10_000));
  w.start();
  c.runFor(500);
  return { c, w, leader: c.leader()! };
}

test('a crash that tears the last unsynced write: recovery cuts the torn record off, the node rejoins, nothing acknowledged is lost', () => {
  const { c, w, leader } = busyCluster(31);
  const follower = c.ids.find((id) => id !== leader)!;
  let tornSeen = 0;
  for (let round = 0; round < 40 && tornSeen < 3; round++) {
    // Crash the follower while a write of log entries alone is on its way to disk.
    assert.ok(c.runUntil(() => c.disk(follower).pendingEntriesOnlyWrite(), c.clock.now() + 1_000), 'no entries-only write in flight');
    c.crash(follower, 'tear-last-write');
    const check = recoverRecords(c.disk(follower));
    assert.ok(check.ok, `the torn disk refused to recover: ${check.ok ? '' : check.error}`);
    if (check.warnings.some((line) => /corrupt/.test(line))) tornSeen++;
    c.runFor(50);
    c.restart(follower);
    c.runFor(200);
  }
  assert.ok(tornSeen >= 3, `recovery found a torn record only ${tornSeen} times`);
  w.stop();
  const settled = (): boolean => w.quiescent() && c.ids.every((id) => c.appliedIndex(id) === c.node(leader)?.log.committed());
  assert.ok(c.runUntil(settled, c.clock.now() + 20_000), 'the cluster did not settle');
  c.checker.checkAcknowledgedKept();
});

test('a crash that loses commit-index moves written without a sync: the node restarts from a lower commit index, catches up, nothing acknowledged is lost', () => {
  const { c, w } = busyCluster(33);
  let behind = 0;
  for (let round = 0; round < 40 && behind < 3; round++) {
    // A node crashed while commit moves it reported done are not yet synced.
    assert.ok(c.runUntil(() => c.ids.some((n) => c.isUp(n) && c.disk(n).holdsUnsynced()), c.clock.now() + 1_000), 'no node wrote a commit move without a sync');
    const id = c.ids.find((n) => c.isUp(n) && c.disk(n).holdsUnsynced())!;
    const commitBefore = c.node(id)!.log.committed();
    c.crash(id);
    if (c.disk(id).durableHardState().commit < commitBefore) behind++;
    c.runFor(50);
    c.restart(id);
    c.runFor(300);
  }
  assert.ok(behind >= 3, `a crash left the durable commit index behind only ${behind} times`);
  assert.ok(c.ids.reduce((n, id) => n + c.disk(id).unsyncedLost, 0) >= behind);
  w.stop();
  const settled = (): boolean => {
    const l = c.leader();
    return l !== null && w.quiescent() && c.ids.every((id) => c.appliedIndex(id) === c.node(l)!.log.committed());
  };
  assert.ok(c.runUntil(settled, c.clock.now() + 20_000), 'the cluster did not settle');
  c.checker.checkAcknowledgedKept();
});

test('a failed sync stops the node (as onFatal does) before it acknowledges anything of it; it restarts and catches up', () => {
  const { c, w, leader } = busyCluster(32);
  const committedBefore = c.node(leader)!.log.committed();
  c.failNextSync(leader, 300);
  assert.ok(c.runUntil(() => !c.isUp(leader), c.clock.now() + 1_000), 'the node went on after its sync failed');
  assert.ok(c.runUntil(() => c.isUp(leader), c.clock.now() + 1_000), 'the node was not restarted');
  assert.ok(c.runUntil(() => c.leader() !== null && c.node(c.leader()!)!.log.committed() > committedBefore + 50, c.clock.now() + 10_000), 'no progress after the restart');
  w.stop();
  const settled = (): boolean => w.quiescent() && c.ids.every((id) => c.isUp(id) && c.appliedIndex(id) === c.node(c.leader() ?? id)?.log.committed());
  assert.ok(c.runUntil(settled, c.clock.now() + 20_000), 'the cluster did not settle');
  c.checker.checkAcknowledgedKept();
});

test('disk faults in a full run: torn writes, crashes the moment a write lands, failed syncs; every check passes', () => {
  for (const seed of [1, 2, 3, 4]) {
    const s = runSimulation({
      seed,
      nodes: seed % 2 === 0 ? 5 : 3,
      steps: Number.MAX_SAFE_INTEGER,
      durationMs: 8_000,
      ops: Number.MAX_SAFE_INTEGER,
      clients: 4,
      snapshotEveryEntries: 100,
      faults: Array.from({ length: 12 }, (_, k) => ({
        atMs: 400 + 600 * k,
        kind: (['crashTorn', 'crashAtSync', 'failSync'] as const)[k % 3]!,
        target: k % 2 === 0 ? ('leader' as const) : k,
        forMs: 300,
      })),
    });
    assert.ok(s.commits > 100, `seed ${seed}: only ${s.commits} commits`);
  }
});

test('crashes of one node and of all in a full run lose commit moves written without a sync; every check passes', () => {
  let lost = 0;
  for (const seed of [5, 6, 7]) {
    const s = runSimulation({
      seed,
      nodes: 3,
      steps: Number.MAX_SAFE_INTEGER,
      durationMs: 8_000,
      ops: Number.MAX_SAFE_INTEGER,
      clients: 4,
      snapshotEveryEntries: 100,
      faults: Array.from({ length: 12 }, (_, k) =>
        k % 4 === 3 ? { atMs: 400 + 600 * k, kind: 'crashAll' as const, forMs: 200 } : { atMs: 400 + 600 * k, kind: 'crash' as const, target: k % 2 === 0 ? ('leader' as const) : k, forMs: 300 },
      ),
    });
    // A crash of all every 2.4 s leaves less time to commit than the runs above.
    assert.ok(s.commits > 50, `seed ${seed}: only ${s.commits} commits`);
    lost += s.unsyncedWritesLost;
  }
  assert.ok(lost > 0, 'no crash lost a commit move written without a sync');
});
