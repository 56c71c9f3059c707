// A fresh local kvstore cluster of `size` nodes for one bench run: node processes
// of dist/src/main.js on free 127.0.0.1 ports, data in a new temporary directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../src/cli/free-ports.js';
import { whenLeaderElected, type BenchCluster } from './cluster.js';
import { NODE_PROCESS_FLAGS } from '../../src/node/process-flags.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
/** A clean stop (which also writes a --cpu-prof profile) gets this long before SIGKILL. */
const STOP_GRACE_MS = 15_000;

export interface KvstoreClusterOptions {
  readonly size: number;
  /** Extra config lines per section, e.g. { http: ['forward_writes: true'] }. */
  readonly config: Readonly<Record<string, readonly string[]>>;
  /** Node.js flags for every node besides NODE_PROCESS_FLAGS (e.g. --cpu-prof). */
  readonly nodeArgs: readonly string[];
  /** The node program (another build's dist/src/main.js), or null for this build's. */
  readonly main: string | null;
  /** Extra environment for every node (KV_* overrides). */
  readonly env: Readonly<Record<string, string>>;
}

interface Member {
  readonly id: string;
  readonly http: number;
  readonly grpc: number;
  readonly raft: number;
  readonly metrics: number;
}

export async function startKvstoreCluster(o: KvstoreClusterOptions): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'kvstore-bench-'));
  const ports = await freePorts(o.size * 4);
  const members: Member[] = Array.from({ length: o.size }, (_, k) => ({ id: `n${k + 1}`, http: ports[4 * k]!, grpc: ports[4 * k + 1]!, raft: ports[4 * k + 2]!, metrics: ports[4 * k + 3]! }));
  const peers = members.map((m) => `  - { id: ${m.id}, raft_addr: "127.0.0.1:${m.raft}", http_addr: "127.0.0.1:${m.http}", grpc_addr: "127.0.0.1:${m.grpc}" }`);
  const section = (name: string, lines: readonly string[]): string[] => [`${name}:`, ...lines.map((l) => `  ${l}`), ...(o.config[name] ?? []).map((l) => `  ${l}`)];
  const children: ChildProcess[] = [];
  for (const m of members) {
    const cfg = join(dir, `${m.id}.yml`);
    writeFileSync(
      cfg,
      [
        ...section('node', [`id: ${m.id}`, `data_dir: ${JSON.stringify(join(dir, m.id))}`]),
        ...section('http', [`addr: "127.0.0.1:${m.http}"`]),
        ...section('grpc', [`addr: "127.0.0.1:${m.grpc}"`]),
        ...section('raft', [`addr: "127.0.0.1:${m.raft}"`, `metrics_addr: "127.0.0.1:${m.metrics}"`, 'peers:', ...peers]),
        ...section('log', ['level: warn']),
        '',
      ].join('\n'),
    );
    const child = spawn(process.execPath, [...NODE_PROCESS_FLAGS, ...o.nodeArgs, o.main ?? MAIN, '--cfg_path', cfg], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env }, cwd: dir });
    children.push(child);
  }
  const rest = members.map((m) => `http://127.0.0.1:${m.http}`);
  const leaderIndex = async (): Promise<number> => {
    const statuses = await Promise.all(rest.map(async (u) => (await (await fetch(`${u}/v1/status`, { signal: AbortSignal.timeout(2000) })).json()) as { leader_id: string | null; role: string }));
    const k = statuses.findIndex((s) => s.role === 'leader');
    if (k < 0 || !statuses.every((s) => s.leader_id === members[k]!.id)) throw new Error('no leader yet');
    return k;
  };
  return whenLeaderElected({
    system: 'kvstore',
    dir,
    children,
    names: members.map((m) => m.id),
    restEndpoints: rest,
    grpcEndpoints: members.map((m) => `127.0.0.1:${m.grpc}`),
    metricsUrls: members.map((m) => `http://127.0.0.1:${m.metrics}/metrics`),
    leaderIndex,
    stopGraceMs: STOP_GRACE_MS,
  });
}
