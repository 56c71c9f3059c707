// A fresh local etcd cluster (Debian's etcd-server, `etcd` on the PATH)
// for one bench run: free 127.0.0.1 ports, data in a new temporary directory.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../src/cli/free-ports.js';
import { whenLeaderElected, type BenchCluster } from './cluster.js';

const STOP_GRACE_MS = 5_000;

/** The etcd version on the PATH, or null when there is none (`apt-get install etcd-server`). */
export function etcdVersion(): string | null {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) return null;
  return /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? 'unknown';
}

interface EtcdStatus {
  readonly header: { readonly member_id: string };
  readonly leader?: string;
}

export async function startEtcdCluster(size: number): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-bench-'));
  const ports = await freePorts(size * 2);
  const members = Array.from({ length: size }, (_, k) => ({ name: `e${k + 1}`, client: ports[2 * k]!, peer: ports[2 * k + 1]! }));
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const token = `bench-${process.pid}-${Date.now()}`;
  const children: ChildProcess[] = [];
  for (const m of members) {
    const child = spawn(
      'etcd',
      [
        '--name', m.name,
        '--data-dir', join(dir, m.name),
        '--listen-client-urls', `http://127.0.0.1:${m.client}`,
        '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
        '--listen-peer-urls', `http://127.0.0.1:${m.peer}`,
        '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
        '--initial-cluster', initialCluster,
        '--initial-cluster-token', token,
        '--initial-cluster-state', 'new',
        '--logger', 'zap',
        '--log-level', 'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
  }
  const clients = members.map((m) => `http://127.0.0.1:${m.client}`);
  // etcd's JSON gateway on the client port names the leader by member id.
  const status = async (url: string): Promise<EtcdStatus> => (await (await fetch(`${url}/v3/maintenance/status`, { method: 'POST', body: '{}', signal: AbortSignal.timeout(2000) })).json()) as EtcdStatus;
  const leaderIndex = async (): Promise<number> => {
    const statuses = await Promise.all(clients.map(status));
    const leader = statuses[0]!.leader;
    const k = statuses.findIndex((s) => s.header.member_id === leader);
    if (leader === undefined || leader === '0' || k < 0 || !statuses.every((s) => s.leader === leader)) throw new Error('no leader yet');
    return k;
  };
  return whenLeaderElected({
    system: 'etcd',
    dir,
    children,
    names: members.map((m) => m.name),
    restEndpoints: [],
    grpcEndpoints: members.map((m) => `127.0.0.1:${m.client}`),
    metricsUrls: clients.map((u) => `${u}/metrics`),
    leaderIndex,
    stopGraceMs: STOP_GRACE_MS,
  });
}
