import assert from 'node:assert/strict';
import fc from 'fast-check';
import { runSimulation, SimFailure } from '../../sim/run.js';
import { faultScheduleArb } from './fault-arbitrary.js';

/**
 * The simulator's main property: for any seed and any fault schedule, every Raft
 * invariant holds at every step, the cluster converges once faults stop, no
 * acknowledged write is lost, and the clients' key-value history (puts, deletes,
 * compare-and-sets, ReadIndex and lease reads; stale reads excluded) is linearizable. A failure reports fast-check's { seed, path } and
 * the violated property with the trace around it.
 */
export function checkSafetyProperty(nodes: number, runs: number, fcSeed: number): void {
  const durationMs = 10_000;
  // A shorter election timeout than the default packs more elections into each run;
  // small append and window sizes split replication into many messages, which is
  // where ordering bugs (Figure 8, stale acknowledgements) live.
  const raftArb = fc.record({
    electionTimeoutMs: fc.constant(500),
    heartbeatIntervalMs: fc.constant(50),
    appendEntriesMax: fc.integer({ min: 1, max: 64 }),
    inflightAppendsMax: fc.integer({ min: 1, max: 16 }),
    // A short catch-up tail sends lagging followers down the snapshot path often.
    snapshotCatchUpEntries: fc.integer({ min: 0, max: 100 }),
  });
  let elections = 0;
  let commits = 0;
  let snapshots = 0;
  let reads = 0;
  fc.assert(
    // Frequent snapshots make lagging and restarted nodes catch up by InstallSnapshot.
    fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), faultScheduleArb(durationMs, 6, 16), raftArb, fc.integer({ min: 20, max: 400 }), (seed, faults, raft, snapshotEveryEntries) => {
      try {
        const s = runSimulation({ seed, nodes, steps: Number.MAX_SAFE_INTEGER, durationMs, ops: Number.MAX_SAFE_INTEGER, clients: 4, faults, raft, snapshotEveryEntries });
        elections += s.elections;
        commits += s.commits;
        snapshots += s.snapshotsInstalled;
        reads += s.history.filter((op) => op.input.kind === 'get' && op.outcome.status === 'ok').length;
      } catch (e) {
        if (e instanceof SimFailure) throw new Error(`${e.message}\nrecent trace:\n${e.recentTrace.join('\n')}`);
        throw e;
      }
    }),
    { numRuns: runs, seed: fcSeed, includeErrorInReport: true },
  );
  console.log(
    `${runs} runs of ${nodes} nodes: per run ${(elections / runs).toFixed(1)} elections, ${(commits / runs).toFixed(0)} commits, ` +
      `${(reads / runs).toFixed(0)} reads, ${(snapshots / runs).toFixed(1)} snapshots installed`,
  );
  // The runs must have exercised something: several elections and many commits on average.
  assert.ok(elections / runs >= 3, `only ${elections / runs} elections per run`);
  assert.ok(commits / runs >= 200, `only ${commits / runs} commits per run`);
  assert.ok(snapshots / runs >= 0.5, `only ${snapshots / runs} snapshot installs per run`);
}
