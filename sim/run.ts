import type { RaftConfig } from '../src/raft/config.js';
import { Workload, type ClientRouting, type ReadMode } from './clients.js';
import { SimCluster } from './cluster.js';
import { describeFault, scheduleFaults, type FaultEvent } from './faults.js';
import { InvariantViolation } from './invariants.js';
import { checkLinearizable, type HistoryOp } from './linearizability.js';
import type { NetworkFaults } from './network.js';

export interface SimOptions {
  readonly seed: number;
  readonly nodes: number;
  /** The faulty phase ends after this many steps or this much simulated time, whichever comes first. */
  readonly steps: number;
  readonly durationMs: number;
  /** Clients stop issuing operations after this many have completed. */
  readonly ops: number;
  readonly clients: number;
  readonly faults: readonly FaultEvent[];
  readonly network?: NetworkFaults;
  readonly raft?: Partial<RaftConfig>;
  /** After faults stop, a healthy cluster must converge within this much simulated time. */
  readonly livenessMs?: number;
  /** Keep the trace hash after every event, returned as `checkpoints`. */
  readonly traceCheckpoints?: boolean;
  /** Read modes the clients use; stale reads are left out of the linearizability check. */
  readonly readModes?: readonly ReadMode[];
  /** Check stale reads for linearizability too (to show that the checker catches them). */
  readonly checkStaleReads?: boolean;
  /** Keys the clients share (default 3: conflicts are common). */
  readonly keys?: number;
  /** Each node snapshots and compacts its log every this many applied entries (default: never). */
  readonly snapshotEveryEntries?: number;
  /** How each client routes its requests, by client (cycled; default: all follow the leader). */
  readonly routing?: readonly ClientRouting[];
  /** Each node's clock drift in parts per million (default: drawn within the lease bound). */
  readonly clockDriftPpm?: readonly number[];
}

export interface SimSummary {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly simulatedMs: number;
  readonly elections: number;
  readonly commits: number;
  readonly acknowledged: number;
  readonly failed: number;
  readonly indeterminate: number;
  readonly messages: number;
  readonly faults: number;
  readonly snapshotsInstalled: number;
  /** Operations the linearizability check went through (stale reads left out unless checked). */
  readonly opsChecked: number;
  /** Revisions the nodes' watches delivered, each checked against the committed log. */
  readonly watchRevisions: number;
  readonly traceHash: string;
  readonly checkpoints: readonly number[] | null;
  readonly history: readonly HistoryOp[];
}

/** A run that broke an invariant: the violation and the trace lines leading to it. */
export class SimFailure extends Error {
  constructor(
    readonly violation: InvariantViolation,
    readonly recentTrace: readonly string[],
    readonly traceHash: string,
  ) {
    super(violation.message);
  }
}

/**
 * One simulator run: a faulty phase (clients and faults on), then a liveness phase
 * (every fault healed, every node up, clients finishing) in which the cluster must
 * converge on one leader and one committed log. Throws SimFailure on any violation.
 */
export function runSimulation(opts: SimOptions): SimSummary {
  const cluster = new SimCluster({
    seed: opts.seed,
    nodes: opts.nodes,
    traceCheckpoints: opts.traceCheckpoints ?? false,
    ...(opts.raft ? { raft: opts.raft } : {}),
    ...(opts.snapshotEveryEntries ? { snapshotEveryEntries: opts.snapshotEveryEntries } : {}),
    ...(opts.clockDriftPpm ? { clockDriftPpm: opts.clockDriftPpm } : {}),
  });
  if (opts.network) cluster.network.faults = opts.network;
  const electionMs = cluster.raftConfig.electionTimeoutMs;
  const workload = new Workload(cluster, cluster.rng.fork('clients'), {
    clients: opts.clients,
    keys: opts.keys ?? 3,
    attemptTimeoutMs: electionMs / 4,
    opTimeoutMs: 5 * electionMs,
    thinkMaxMs: 20,
    opsMax: opts.ops,
    readModes: opts.readModes ?? ['linearizable', 'lease', 'stale'],
    routing: opts.routing ?? ['follow-leader'],
  });
  let faults = 0;
  const stopFaults = scheduleFaults(cluster, opts.faults, (f) => {
    faults++;
    cluster.trace.note(cluster.clock.now(), `FAULT ${describeFault(f)}`);
  });
  const baseNetwork = cluster.network.faults;
  try {
    workload.start();
    let steps = 0;
    cluster.runUntil(() => ++steps > opts.steps || workload.completed >= opts.ops, opts.durationMs);

    // Liveness: faults off, everyone up, and the cluster must settle.
    cluster.trace.note(cluster.clock.now(), 'LIVENESS');
    stopFaults();
    cluster.disarmDisks();
    cluster.heal();
    cluster.network.faults = baseNetwork;
    for (const id of cluster.ids) cluster.restart(id);
    workload.stop();
    const deadline = cluster.clock.now() + (opts.livenessMs ?? 30 * electionMs);
    const settled = (): boolean => {
      const leader = cluster.leader();
      if (leader === null || !workload.quiescent()) return false;
      const last = cluster.node(leader)!.status().lastLogIndex;
      return cluster.ids.every((id) => {
        const s = cluster.node(id)!.status();
        return s.commitIndex === last && s.lastLogIndex === last && cluster.appliedIndex(id) === last;
      });
    };
    if (!cluster.runUntil(settled, deadline)) {
      const states = cluster.ids.map((id) => JSON.stringify(cluster.node(id)!.status())).join(' ');
      cluster.checker.failLiveness(`no convergence within ${deadline}ms after faults stopped: ${states}`);
    }
    cluster.checker.checkAcknowledgedKept();
    cluster.watches.resumeAll();
    cluster.runFor(electionMs);
    cluster.watches.checkCaughtUp();
    const history = opts.checkStaleReads ? workload.fullHistory() : workload.linearizableHistory();
    const lin = checkLinearizable(history);
    if (!lin.ok) cluster.checker.failLinearizability(lin.explanation);
    const counts = workload.counts();
    return {
      seed: opts.seed,
      nodes: opts.nodes,
      steps: cluster.checker.step,
      simulatedMs: cluster.clock.now(),
      elections: cluster.checker.electionsWon,
      commits: cluster.checker.committedCount(),
      acknowledged: counts.ok,
      failed: counts.failed,
      indeterminate: counts.indeterminate,
      messages: cluster.network.counters.sent,
      faults,
      snapshotsInstalled: cluster.snapshotsInstalled,
      opsChecked: lin.ok ? lin.opsChecked : 0,
      watchRevisions: cluster.watches.stats.delivered,
      traceHash: cluster.trace.hash(),
      checkpoints: cluster.trace.checkpoints,
      history: workload.history,
    };
  } catch (e) {
    if (e instanceof InvariantViolation) throw new SimFailure(e, cluster.trace.recent(), cluster.trace.hash());
    throw e;
  }
}

export function describeSummary(s: SimSummary): string {
  return (
    `seed=${s.seed} nodes=${s.nodes} steps=${s.steps} simulated_ms=${Math.round(s.simulatedMs)} elections=${s.elections} ` +
    `commits=${s.commits} acked=${s.acknowledged} failed=${s.failed} indeterminate=${s.indeterminate} ` +
    `messages=${s.messages} faults=${s.faults} snapshots_installed=${s.snapshotsInstalled} trace=${s.traceHash} ` +
    `passed=invariants_every_step,liveness,acknowledged_writes_kept,linearizability,watches ops_checked=${s.opsChecked} watch_revisions=${s.watchRevisions}`
  );
}
