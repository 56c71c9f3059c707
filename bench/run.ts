// One measured run: a fresh cluster (or the given endpoints), prefill, warm-up,
// the measured window with each server process's CPU time read before and after,
// then the cluster stopped.
import { hrtime } from 'node:process';
import type { BenchCluster } from './clusters/cluster.js';
import { etcdVersion, startEtcdCluster } from './clusters/etcd.js';
import { startKvstoreCluster } from './clusters/kvstore.js';
import type { Percentiles } from './histogram.js';
import { Histogram } from './histogram.js';
import { prefill, runPhase, type LoadModel, type Progress } from './load.js';
import { cpuSecondsOf, peakRssBytesOf } from './procs.js';
import { activityBetween, readCounters, type CounterReading, type ServerActivity } from './server-counters.js';
import { etcdDialect, GrpcTarget, kvstoreDialect, type GrpcConsistency } from './targets/grpc.js';
import { RestTarget } from './targets/rest.js';
import type { Target } from './targets/target.js';
import { OPS, Workload, type Op, type OpMix } from './workload.js';

export type System = 'kvstore' | 'etcd';

export interface RunSpec {
  readonly system: System;
  /** kvstore only: REST or gRPC (etcd is always reached over gRPC, its own API). */
  readonly protocol: 'rest' | 'grpc';
  readonly model: LoadModel;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly keySpace: number;
  readonly prefill: boolean;
  readonly mix: OpMix;
  readonly consistency: GrpcConsistency;
  readonly leaderAware: boolean;
  /** REST: keep-alive connections to each node. */
  readonly connectionsPerNode: number;
  readonly seed: number;
  /** kvstore: extra config lines by section, Node.js flags, environment. */
  readonly nodeConfig: Readonly<Record<string, readonly string[]>>;
  readonly nodeArgs: readonly string[];
  /** The node program to start (another build's dist/src/main.js), or null for this build's. */
  readonly nodeMain: string | null;
  /** Use a running cluster instead of starting one (no CPU or memory figures then). */
  readonly endpoints: readonly string[] | null;
  /** Members of each cluster the bench starts (1, 3 or 5). */
  readonly nodes: number;
}

export interface NodeFigures extends ServerActivity {
  readonly name: string;
  readonly cpuSeconds: number;
  readonly peakRssMiB: number;
}

export interface RunResult {
  readonly system: System;
  readonly version: string;
  readonly target: string;
  readonly model: LoadModel;
  readonly seconds: number;
  readonly achievedPerS: number;
  readonly completed: number;
  readonly dropped: number;
  readonly failures: Readonly<Record<string, number>>;
  readonly latency: Readonly<Record<Op | 'all', Percentiles>>;
  readonly nodes: readonly NodeFigures[];
  /** Server CPU (all nodes) per answered operation, or null without processes to measure. */
  readonly serverCpuUsPerOp: number | null;
  /** The load generator's own CPU per operation (it shares the machine). */
  readonly generatorCpuUsPerOp: number;
  readonly leader: string | null;
}

function versionOf(system: System): string {
  if (system === 'etcd') return etcdVersion() ?? 'missing';
  return process.env['npm_package_version'] ?? 'dev';
}

async function startCluster(spec: RunSpec): Promise<BenchCluster> {
  if (spec.system === 'etcd') {
    if (etcdVersion() === null) throw new Error('etcd is not installed: apt-get install -y --no-install-recommends etcd-server');
    return startEtcdCluster(spec.nodes);
  }
  return startKvstoreCluster({ size: spec.nodes, config: spec.nodeConfig, nodeArgs: spec.nodeArgs, main: spec.nodeMain, env: {} });
}

/** A cluster given by --endpoints: nothing to start, stop or measure. */
function externalCluster(spec: RunSpec, endpoints: readonly string[]): BenchCluster {
  const rest = spec.protocol === 'rest' ? endpoints : [];
  return {
    system: spec.system,
    processes: [],
    restEndpoints: rest,
    grpcEndpoints: spec.protocol === 'grpc' ? endpoints : [],
    metricsUrls: [],
    leaderIndex: async () => {
      if (rest.length === 0) return 0;
      const s = (await (await fetch(`${rest[0]!}/v1/status`)).json()) as { leader_id: string | null; members: { id: string; http_addr: string }[] };
      const leader = s.members.find((m) => m.id === s.leader_id);
      return Math.max(0, leader === undefined ? 0 : rest.findIndex((u) => u.endsWith(leader.http_addr)));
    },
    stop: () => Promise.resolve(),
  };
}

async function targetFor(spec: RunSpec, cluster: BenchCluster, workload: Workload): Promise<{ target: Target; leader: string | null }> {
  const leaderIdx = spec.leaderAware ? await cluster.leaderIndex() : null;
  if (spec.system === 'kvstore' && spec.protocol === 'rest') {
    const t = new RestTarget({ endpoints: cluster.restEndpoints, connectionsPerNode: spec.connectionsPerNode, leaderAware: spec.leaderAware, consistency: spec.consistency, workload });
    await t.init();
    return { target: t, leader: leaderIdx === null ? null : cluster.restEndpoints[leaderIdx]! };
  }
  const leader = leaderIdx === null ? null : cluster.grpcEndpoints[leaderIdx]!;
  const dialect = spec.system === 'etcd' ? etcdDialect(spec.consistency) : kvstoreDialect(spec.consistency);
  return { target: new GrpcTarget({ endpoints: cluster.grpcEndpoints, leader, dialect, workload }), leader };
}

function cpuOf(cluster: BenchCluster): number[] {
  return cluster.processes.map((p) => cpuSecondsOf(p.pid) ?? Number.NaN);
}

function countersOf(cluster: BenchCluster): Promise<CounterReading[]> {
  return Promise.all(cluster.processes.map((p, k) => readCounters(p.pid, cluster.metricsUrls[k] ?? null)));
}

/** The clusters of runs in progress: stopped on SIGINT or SIGTERM too (stopLiveClusters), so an interrupted bench leaves no node running. */
const liveClusters = new Set<BenchCluster>();

export async function stopLiveClusters(): Promise<void> {
  await Promise.all([...liveClusters].map((c) => c.stop()));
}

export async function runOnce(spec: RunSpec, progress: (label: string) => Progress | null): Promise<RunResult> {
  const cluster = spec.endpoints === null ? await startCluster(spec) : externalCluster(spec, spec.endpoints);
  liveClusters.add(cluster);
  try {
    const workload = new Workload(spec.keySpace, spec.mix, spec.seed);
    const { target, leader } = await targetFor(spec, cluster, workload);
    try {
      if (spec.prefill) {
        const failed = await prefill(target, workload);
        if (failed > 0) throw new Error(`prefill: ${failed} of ${spec.keySpace} PUTs failed`);
      }
      if (spec.warmupSeconds > 0) await runPhase(target, workload, spec.model, spec.warmupSeconds, progress(`${spec.system} warm-up`));
      const countersBefore = await countersOf(cluster);
      const cpuBefore = cpuOf(cluster);
      const genBefore = process.cpuUsage();
      const t0 = hrtime.bigint();
      const phase = await runPhase(target, workload, spec.model, spec.seconds, progress(spec.system));
      const elapsedS = Number(hrtime.bigint() - t0) / 1e9;
      const gen = process.cpuUsage(genBefore);
      const cpuAfter = cpuOf(cluster);
      const countersAfter = await countersOf(cluster);
      const nodes = cluster.processes.map((p, k) => ({
        name: p.name,
        cpuSeconds: round(cpuAfter[k]! - cpuBefore[k]!, 2),
        peakRssMiB: round((peakRssBytesOf(p.pid) ?? Number.NaN) / 2 ** 20, 1),
        ...activityBetween(spec.system, countersBefore[k]!, countersAfter[k]!, elapsedS),
      }));
      const serverCpu = nodes.reduce((s, n) => s + n.cpuSeconds, 0);
      const all = new Histogram();
      for (const op of OPS) all.merge(phase.latency[op]);
      const completed = phase.completed;
      // The open model ends when its last arrival is answered; its rate is over the arrival window.
      const windowS = spec.model.kind === 'open' ? spec.seconds : Math.min(elapsedS, spec.seconds);
      return {
        system: spec.system,
        version: versionOf(spec.system),
        target: target.description,
        model: spec.model,
        seconds: spec.seconds,
        achievedPerS: round(completed / windowS, 0),
        completed,
        dropped: phase.dropped,
        failures: Object.fromEntries(phase.failures),
        latency: { put: phase.latency.put.percentiles(), get: phase.latency.get.percentiles(), delete: phase.latency.delete.percentiles(), all: all.percentiles() },
        nodes,
        serverCpuUsPerOp: nodes.length === 0 || completed === 0 ? null : round((serverCpu * 1e6) / completed, 1),
        generatorCpuUsPerOp: completed === 0 ? 0 : round((gen.user + gen.system) / completed, 1),
        leader,
      };
    } finally {
      await target.close();
    }
  } finally {
    liveClusters.delete(cluster);
    await cluster.stop();
  }
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
