import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { MeasuredProcess } from '../procs.js';

/** A cluster under test: its processes (to measure) and how clients reach it. */
export interface BenchCluster {
  /** `kvstore` or `etcd`. */
  readonly system: string;
  /** Empty when the bench did not start the cluster (--endpoints). */
  readonly processes: readonly MeasuredProcess[];
  /** REST base URLs (kvstore only), in member order. */
  readonly restEndpoints: readonly string[];
  /** gRPC host:port, in member order. */
  readonly grpcEndpoints: readonly string[];
  /** Each started member's Prometheus /metrics URL, in member order (empty with --endpoints). */
  readonly metricsUrls: readonly string[];
  /** The current leader's index in the member order. */
  leaderIndex(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Polls `check` until it returns a value (a rejection is "not yet"), or throws after
 * `timeoutMs`, or at once when `failed` says why waiting is pointless.
 */
export async function waitFor<T>(what: () => string, timeoutMs: number, check: () => Promise<T | undefined>, failed: () => string | null = () => null): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    const why = failed();
    if (why !== null) throw new Error(`${why} while waiting for ${what()}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export function stopProcess(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Keeps the last lines a process printed, for the error when it fails to start. */
function tailOf(child: ChildProcess, keep = 40): () => string {
  const lines: string[] = [];
  const take = (b: Buffer): void => {
    for (const l of b.toString().split('\n')) if (l !== '') lines.push(l);
    if (lines.length > keep) lines.splice(0, lines.length - keep);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return () => lines.join('\n');
}

const START_TIMEOUT_MS = 30_000;

export interface Launched {
  readonly system: string;
  /** The temporary directory holding the members' data: removed on stop. */
  readonly dir: string;
  readonly children: readonly ChildProcess[];
  readonly names: readonly string[];
  readonly restEndpoints: readonly string[];
  readonly grpcEndpoints: readonly string[];
  readonly metricsUrls: readonly string[];
  /** The leader's index in member order; rejects while there is none everyone agrees on. */
  readonly leaderIndex: () => Promise<number>;
  readonly stopGraceMs: number;
}

/** Waits until the started members agree on a leader (stopping them all if they do not), and wraps them as a BenchCluster. */
export async function whenLeaderElected(l: Launched): Promise<BenchCluster> {
  const tails = l.children.map((c) => tailOf(c));
  const stop = async (): Promise<void> => {
    await Promise.all(l.children.map((c) => stopProcess(c, l.stopGraceMs)));
    rmSync(l.dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => `a leader in the ${l.system} cluster\n${tails.map((t, k) => `--- ${l.names[k]!}\n${t()}`).join('\n')}`,
      START_TIMEOUT_MS,
      l.leaderIndex,
      () => (l.children.some((c) => c.exitCode !== null) ? 'a member exited' : null),
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    system: l.system,
    processes: l.children.map((c, k) => ({ name: l.names[k]!, pid: c.pid! })),
    restEndpoints: l.restEndpoints,
    grpcEndpoints: l.grpcEndpoints,
    metricsUrls: l.metricsUrls,
    leaderIndex: () => waitFor(() => `a ${l.system} leader`, START_TIMEOUT_MS, l.leaderIndex),
    stop,
  };
}
