import assert from 'node:assert/strict';
import { test } from 'node:test';
import { faultClasses, membershipOps, randomFaultSchedule, type FaultEvent, type FaultKind } from '../../sim/faults.js';
import { parseSimArgs } from '../../sim/options.js';
import { runSimulation } from '../../sim/run.js';
import { Prng } from '../../sim/prng.js';
import { drawSwarm } from '../../sim/swarm.js';

const allKinds: FaultKind[] = Object.values(faultClasses).flat();

test('swarm: each seed draws its own fault mix, and over seeds every kind is both on and off', () => {
  const on = new Map<FaultKind, number>(allKinds.map((k) => [k, 0]));
  const elections = new Set<number>();
  const routings = new Set<string>();
  const clocks = new Set<string>();
  const seeds = 100;
  for (let seed = 1; seed <= seeds; seed++) {
    const s = drawSwarm(new Prng(seed, 'swarm'), { allowed: allKinds, durationMs: 20_000, nodes: 3, clients: 5 });
    for (const k of s.kinds) on.set(k, on.get(k)! + 1);
    for (const f of s.faults) assert.ok(s.kinds.includes(f.kind), `seed ${seed}: a ${f.kind} fault, which the mix turned off`);
    elections.add(s.raft.electionTimeoutMs!);
    routings.add(s.routing.join(','));
    assert.ok(s.raft.heartbeatIntervalMs! * 2 <= s.raft.electionTimeoutMs!, 'at least two heartbeats per election timeout');
    // Honest runs stay within the drift bound lease reads assume: any two clocks apart by at most leaseClockDriftMs per election timeout.
    const boundPpm = (s.raft.leaseClockDriftMs! * 1_000_000) / s.raft.electionTimeoutMs!;
    assert.equal(s.clockDriftPpm.length, 3);
    assert.ok(Math.max(...s.clockDriftPpm) - Math.min(...s.clockDriftPpm) <= boundPpm, `seed ${seed}: drifts ${s.clockDriftPpm.join(',')} ppm exceed ${boundPpm}`);
    clocks.add(s.clocks);
  }
  for (const [k, n] of on) assert.ok(n > 10 && n < seeds - 10, `${k} is on in ${n} of ${seeds} seeds`);
  assert.ok(elections.size >= 4, `election timeouts drawn: ${[...elections].join(', ')}`);
  assert.ok(routings.size > 10, 'client routings hardly vary');
  assert.deepEqual([...clocks].sort(), ['edges', 'inside', 'split']);
});

test('swarm: --faults limits the mix, --swarm off gives the fixed one, and the same seed draws the same run', () => {
  const a = parseSimArgs(['--seed', '9', '--faults', 'net']);
  assert.ok('options' in a);
  assert.ok(a.options.faults.every((f) => f.kind === 'network'));
  const b = parseSimArgs(['--seed', '9', '--faults', 'net']);
  assert.ok('options' in b);
  assert.deepEqual(b.options, a.options);
  const off = parseSimArgs(['--seed', '9', '--swarm', 'off']);
  assert.ok('options' in off && off.swarm === null && off.options.raft === undefined && off.options.snapshotEveryEntries === 500);
  assert.ok('error' in parseSimArgs(['--swarm', 'maybe']));
});

test('swarm: membership changes and transfers mixed with crashes and partitions keep every invariant and linearizability', (t) => {
  const durationMs = 6000;
  let changes = 0;
  for (const [seed, nodes] of [
    [1, 3],
    [2, 5],
    [3, 3],
  ] as const) {
    const rng = new Prng(seed, 'test-faults');
    // A change or a transfer every few hundred milliseconds, over a few crashes and partitions.
    const membership = Array.from({ length: 20 }, (_, k): FaultEvent => ({ atMs: k * 300 + rng.int(300), kind: 'membership', op: rng.pick(membershipOps), pick: rng.int(64) }));
    const faults = [...randomFaultSchedule(rng, ['crash', 'isolate', 'partition'], durationMs, 4), ...membership].sort((a, b) => a.atMs - b.atMs);
    const s = runSimulation({ seed, nodes, steps: 1_000_000, durationMs, ops: 1_000_000, clients: 3, faults, snapshotEveryEntries: 200 });
    t.diagnostic(`seed ${seed}, ${nodes} nodes: ${s.membershipChanges} membership changes committed, ${s.opsChecked} operations checked, ${s.elections} elections`);
    assert.ok(s.opsChecked > 0, `seed ${seed}: no operation checked`);
    changes += s.membershipChanges;
  }
  assert.ok(changes >= 10, `only ${changes} membership changes committed over the runs`);
});
