import type { RaftConfig } from '../src/raft/config.js';
import type { CoreTap } from '../src/raft/host/core-tap.js';
import type { NodeId } from '../src/raft/types.js';
import { Workload, type ClientRouting, type ReadMode } from './clients.js';
import { SimCluster } from './cluster.js';
import { describeFault, restoreMembership, scheduleFaults, type FaultEvent } from './faults.js';
import { InvariantViolation } from './invariants.js';
import { TraceFile } from './trace-file.js';
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
  /** A tap on each node's Raft core as it starts (flight recorders): it only observes. */
  readonly tapFor?: (id: NodeId) => CoreTap | undefined;
  /** Writes the run as trace records (sim/trace-file.ts), one line each; the run is the same with it or without. */
  readonly traceSink?: (line: string) => void;
  /** The command line, for the trace file's first record. */
  readonly traceArgs?: readonly string[];
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
  /** Writes made without a sync (only the commit index moved) that crashes lost. */
  readonly unsyncedWritesLost: number;
  /** Configuration entries committed (membership changes that took effect). */
  readonly membershipChanges: number;
  /** Linearizable reads served by followers through follower ReadIndex. */
  readonly followerReads: number;
  /** Followers' reads their leader answered without a heartbeat round (it and the follower make a majority), counted by the nodes running at the end. */
  readonly roundlessFollowerReads: number;
  /** Batches of writes followers forwarded to their leader. */
  readonly forwardedBatches: number;
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
  // The trace file reads the cluster's clock, which exists once the cluster does (before any node takes an input).
  let clusterRef: SimCluster | null = null;
  const traceFile = opts.traceSink === undefined ? null : new TraceFile(opts.traceSink, () => clusterRef!.clock.now());
  const tapFor = combineTaps(opts.tapFor, traceFile === null ? undefined : (id) => traceFile.tapFor(id));
  const cluster = new SimCluster({
    seed: opts.seed,
    nodes: opts.nodes,
    traceCheckpoints: opts.traceCheckpoints ?? false,
    ...(opts.raft ? { raft: opts.raft } : {}),
    ...(opts.snapshotEveryEntries ? { snapshotEveryEntries: opts.snapshotEveryEntries } : {}),
    ...(opts.clockDriftPpm ? { clockDriftPpm: opts.clockDriftPpm } : {}),
    ...(tapFor ? { tapFor } : {}),
  });
  clusterRef = cluster;
  if (traceFile !== null) {
    traceFile.write({ type: 'meta', source: 'sim', nodes: cluster.ids, args: opts.traceArgs ?? [] });
    cluster.trace.onNote = (t, text) => traceFile.write({ type: 'note', t, text });
    const states = (): void => {
      for (const id of cluster.ids) traceFile.state(id, cluster.node(id)?.status() ?? null, cluster.appliedIndex(id));
    };
    cluster.onStep = states;
    states();
  }
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
    // Checked stale reads are there to show the checker failing a run: read where staleness is likeliest.
    ...(opts.checkStaleReads === true ? { staleFromLaggard: true } : {}),
  });
  let faults = 0;
  // A committed configuration entry is applied once per node: counted once, by index.
  const configEntries = new Set<number>();
  cluster.onApply((_, e) => {
    if (e.kind === 'config') configEntries.add(e.index);
  });
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
    // Membership faults are not undone one by one: every node becomes a voter again now.
    const membersRestored = opts.faults.some((f) => f.kind === 'membership') ? restoreMembership(cluster, electionMs / 4) : () => true;
    const deadline = cluster.clock.now() + (opts.livenessMs ?? 30 * electionMs);
    const settled = (): boolean => {
      const leader = cluster.leader();
      if (leader === null || !workload.quiescent() || !membersRestored()) return false;
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
    const summary: SimSummary = {
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
      unsyncedWritesLost: cluster.ids.reduce((n, id) => n + cluster.disk(id).unsyncedLost, 0),
      membershipChanges: configEntries.size,
      followerReads: cluster.followerReadsServed,
      roundlessFollowerReads: cluster.ids.reduce((n, id) => n + (cluster.node(id)?.counters.readsConfirmedByRequester ?? 0), 0),
      forwardedBatches: cluster.batchesForwarded,
      opsChecked: lin.ok ? lin.opsChecked : 0,
      watchRevisions: cluster.watches.stats.delivered,
      traceHash: cluster.trace.hash(),
      checkpoints: cluster.trace.checkpoints,
      history: workload.history,
    };
    traceFile?.write({ type: 'end', t: cluster.clock.now(), summary: describeSummary(summary) });
    return summary;
  } catch (e) {
    if (e instanceof InvariantViolation) {
      traceFile?.write({ type: 'violation', t: cluster.clock.now(), step: e.step, property: e.property, nodes: e.nodes, detail: e.detail });
      throw new SimFailure(e, cluster.trace.recent(), cluster.trace.hash());
    }
    throw e;
  }
}

/** One tap that shows every input to each of the given ones. */
function combineTaps(a: SimOptions['tapFor'], b: SimOptions['tapFor']): SimOptions['tapFor'] {
  if (a === undefined || b === undefined) return a ?? b;
  return (id) => {
    const taps = [a(id), b(id)].filter((t): t is CoreTap => t !== undefined);
    return {
      attached: (core) => taps.forEach((t) => t.attached?.(core)),
      input: (seq, atMs, input) => taps.forEach((t) => t.input(seq, atMs, input)),
      reading: (r) => taps.forEach((t) => t.reading(r)),
      transition: (tr) => taps.forEach((t) => t.transition?.(tr)),
    };
  };
}

export function describeSummary(s: SimSummary): string {
  return (
    `seed=${s.seed} nodes=${s.nodes} steps=${s.steps} simulated_ms=${Math.round(s.simulatedMs)} elections=${s.elections} ` +
    `commits=${s.commits} acked=${s.acknowledged} failed=${s.failed} indeterminate=${s.indeterminate} ` +
    `messages=${s.messages} faults=${s.faults} snapshots_installed=${s.snapshotsInstalled} unsynced_writes_lost=${s.unsyncedWritesLost} membership_changes=${s.membershipChanges} follower_reads=${s.followerReads} forwarded_batches=${s.forwardedBatches} trace=${s.traceHash} ` +
    `passed=invariants_every_step,liveness,acknowledged_writes_kept,linearizability,watches ops_checked=${s.opsChecked} watch_revisions=${s.watchRevisions}`
  );
}
