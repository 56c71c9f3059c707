import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeStatus } from '../../src/client/rest-client.js';
import { freePorts } from '../../src/cli/free-ports.js';
import { NODE_PROCESS_FLAGS } from '../../src/node/process-flags.js';

export { freePorts };

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const POLL_MS = 25;
const OUTPUT_CHUNKS_KEPT = 200;
const START_ATTEMPTS_MAX = 5;
/** Generous: a loaded 2-core machine can take seconds to start three Node processes. */
const LISTEN_TIMEOUT_MS = 30_000;


export interface ProcessNode {
  readonly id: string;
  readonly httpPort: number;
  readonly raftPort: number;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly dataDir: string;
  readonly cfgPath: string;
  proc: ChildProcess | null;
  exited: Promise<number | null> | null;
  output: string[];
  /** Extra environment (KV_* config overrides) for the next spawn. */
  env: Record<string, string>;
  /** RLIMIT_FSIZE for the next spawn (a stand-in for a full disk), or null. */
  fileSizeLimitBytes: number | null;
}

export interface StartOptions {
  /** Runs for each node before its first start: mount its data dir (undone with cluster.onStop), set env, … */
  readonly prepare?: (n: ProcessNode, cluster: ProcessCluster) => void;
  /** A bearer token the cluster's own requests (status, put, get, metrics) carry, for clusters with authentication on. */
  readonly token?: string;
}

function newNode(dir: string, id: string, ports: readonly number[]): ProcessNode {
  return {
    id,
    httpPort: ports[0]!,
    raftPort: ports[1]!,
    grpcPort: ports[2]!,
    metricsPort: ports[3]!,
    dataDir: join(dir, id),
    cfgPath: join(dir, `${id}.yml`),
    proc: null,
    exited: null,
    output: [],
    env: {},
    fileSizeLimitBytes: null,
  };
}

/**
 * A real cluster of node processes on 127.0.0.1 with temporary data directories,
 * for end-to-end tests: start, kill -9, pause, restart, and talk to them over HTTP.
 * `stop()` always kills every process and removes the directories.
 */
export class ProcessCluster {
  readonly dir: string;
  readonly nodes: ProcessNode[];
  private readonly cleanups: (() => void)[] = [];

  /** Sent with the cluster's own requests (StartOptions.token). */
  private auth: Readonly<Record<string, string>> = {};

  private constructor(
    dir: string,
    nodes: ProcessNode[],
    /** raft.cluster_id of every node: a fresh one per cluster. */
    readonly clusterId: string,
    private readonly electionTimeoutMs: number,
    /** Lines for the raft section of every config. */
    private readonly extra: readonly string[],
  ) {
    this.dir = dir;
    this.nodes = nodes;
  }

  /**
   * Starts `size` nodes and returns once each has bound all its ports or exited.
   * A port probed free can still be taken before the node listens on it (other test
   * files, other suites on the machine): a cluster in which a node lost that race is
   * discarded and started again on fresh ports.
   */
  static async start(size: number, electionTimeoutMs = 500, options: StartOptions = {}): Promise<ProcessCluster> {
    for (let attempt = 1; ; attempt++) {
      const cluster = await ProcessCluster.configure(size, electionTimeoutMs);
      if (options.token !== undefined) cluster.auth = { authorization: `Bearer ${options.token}` };
      try {
        for (const n of cluster.nodes) options.prepare?.(n, cluster);
      } catch (e) {
        await cluster.stop();
        throw e;
      }
      for (const n of cluster.nodes) cluster.spawn(n);
      let lostPortRace: boolean;
      try {
        lostPortRace = await cluster.waitForListeners();
      } catch (e) {
        await cluster.stop();
        throw e;
      }
      if (!lostPortRace || attempt === START_ATTEMPTS_MAX) return cluster;
      await cluster.stop();
    }
  }

  /** Waits until every node answers on its last-bound port (Raft metrics) or has exited; true if one exited on EADDRINUSE. */
  private async waitForListeners(): Promise<boolean> {
    const up = async (n: ProcessNode): Promise<boolean> => {
      try {
        await fetch(`http://127.0.0.1:${n.metricsPort}/metrics`, { signal: AbortSignal.timeout(1000) });
        return true;
      } catch {
        return false;
      }
    };
    const exited = new Set<ProcessNode>();
    for (const n of this.nodes) void n.exited?.then(() => exited.add(n));
    await this.waitFor('every node to bind its ports or exit', LISTEN_TIMEOUT_MS, async () => {
      const states = await Promise.all(this.nodes.map(async (n) => exited.has(n) || (await up(n))));
      return states.every(Boolean) ? true : undefined;
    });
    return [...exited].some((n) => n.output.join('').includes('EADDRINUSE'));
  }

  /**
   * Writes the configs (free ports, temporary data directories) without starting
   * anything: for tests that start the nodes some other way (`npm start`, `npm run
   * observe`) and still talk to them through this class. `extra` lines go into the
   * raft section of every config.
   */
  static async configure(size: number, electionTimeoutMs = 500, extra: readonly string[] = []): Promise<ProcessCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'kvstore-e2e-'));
    const ports = await freePorts(size * 4);
    const nodes = Array.from({ length: size }, (_, k) => newNode(dir, `n${k + 1}`, ports.slice(4 * k, 4 * k + 4)));
    // Its own cluster id: should another test's cluster get one of our ports, their peers refuse each other.
    const clusterId = `e2e-${randomBytes(6).toString('hex')}`;
    const cluster = new ProcessCluster(dir, nodes, clusterId, electionTimeoutMs, extra);
    for (const n of nodes) cluster.writeConfig(n, nodes, []);
    return cluster;
  }

  /** Writes `n`'s config: `peers` as raft.peers, `raft` lines beside the cluster's own. */
  private writeConfig(n: ProcessNode, peers: readonly ProcessNode[], raft: readonly string[]): void {
    const peerLines = peers.map((p) => `    - { id: ${p.id}, raft_addr: "127.0.0.1:${p.raftPort}", http_addr: "127.0.0.1:${p.httpPort}", grpc_addr: "127.0.0.1:${p.grpcPort}" }`);
    writeFileSync(
      n.cfgPath,
      [
        'node:',
        `  id: ${n.id}`,
        `  data_dir: ${JSON.stringify(n.dataDir)}`,
        'http:',
        `  addr: "127.0.0.1:${n.httpPort}"`,
        'grpc:',
        `  addr: "127.0.0.1:${n.grpcPort}"`,
        'raft:',
        `  cluster_id: ${this.clusterId}`,
        `  addr: "127.0.0.1:${n.raftPort}"`,
        `  metrics_addr: "127.0.0.1:${n.metricsPort}"`,
        `  election_timeout_ms: ${this.electionTimeoutMs}`,
        `  heartbeat_interval_ms: ${Math.floor(this.electionTimeoutMs / 10)}`,
        ...[...this.extra, ...raft].map((line) => `  ${line}`),
        '  peers:',
        ...peerLines,
        'log:',
        `  level: ${process.env['E2E_LOG_LEVEL'] ?? 'warn'}`,
        '',
      ].join('\n'),
    );
  }

  /**
   * Starts a new node `id` on fresh ports and an empty data directory, with only
   * itself in raft.peers and raft.join naming `joinVia`'s HTTP address: it asks the
   * cluster to add it (README "Membership"). `env` holds its KV_* overrides.
   */
  async join(id: string, joinVia: string, env: Record<string, string> = {}): Promise<ProcessNode> {
    const n = newNode(this.dir, id, await freePorts(4));
    Object.assign(n.env, env);
    this.nodes.push(n);
    this.writeConfig(n, [n], [`join: "127.0.0.1:${this.node(joinVia).httpPort}"`]);
    this.spawn(n);
    return n;
  }

  /** Runs `undo` in stop(), after every process is gone and before the directory is removed (unmount, …). */
  onStop(undo: () => void): void {
    this.cleanups.push(undo);
  }

  node(id: string): ProcessNode {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  private spawn(n: ProcessNode): void {
    const env = { ...process.env, ...n.env };
    const args = [...NODE_PROCESS_FLAGS, MAIN, '--cfg_path', n.cfgPath];
    // Past RLIMIT_FSIZE a write fails with EFBIG instead of killing the process, because SIGXFSZ is ignored.
    const proc =
      n.fileSizeLimitBytes === null
        ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
        : spawn('/bin/sh', ['-c', 'trap "" XFSZ; ulimit -f "$1"; shift; exec "$@"', 'sh', String(Math.ceil(n.fileSizeLimitBytes / 512)), process.execPath, ...args], {
            stdio: ['ignore', 'pipe', 'pipe'],
            env,
          });
    n.proc = proc;
    n.output = [];
    const keep = (b: Buffer): void => {
      n.output.push(b.toString());
      if (n.output.length > OUTPUT_CHUNKS_KEPT) n.output.shift();
    };
    proc.stdout!.on('data', keep);
    proc.stderr!.on('data', keep);
    n.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  /** Kills a node's process (SIGKILL by default) and waits until it is gone. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const n = this.node(id);
    if (n.proc === null) return null;
    n.proc.kill(signal);
    const code = await n.exited;
    n.proc = null;
    return code;
  }

  pause(id: string): void {
    this.node(id).proc?.kill('SIGSTOP');
  }

  resume(id: string): void {
    this.node(id).proc?.kill('SIGCONT');
  }

  restart(id: string): void {
    const n = this.node(id);
    if (n.proc !== null) throw new Error(`${id} is still running`);
    this.spawn(n);
  }

  wipe(id: string): void {
    rmSync(this.node(id).dataDir, { recursive: true, force: true });
  }

  url(id: string, path: string): string {
    return `http://127.0.0.1:${this.node(id).httpPort}${path}`;
  }

  async status(id: string): Promise<NodeStatus | null> {
    try {
      const r = await fetch(this.url(id, '/v1/status'), { headers: this.auth, signal: AbortSignal.timeout(1000) });
      return r.ok ? ((await r.json()) as NodeStatus) : null;
    } catch {
      return null;
    }
  }

  /** Polls until `check` returns a value (not undefined), or fails after `timeoutMs`. */
  async waitFor<T>(what: string | (() => string), timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await check();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}\n${this.logs()}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Waits until exactly one running node leads and every running node follows it; returns it. */
  async waitForLeader(timeoutMs: number, among: readonly string[] = this.nodes.filter((n) => n.proc !== null).map((n) => n.id)): Promise<string> {
    let last: (NodeStatus | null)[] = [];
    const describe = (): string => last.map((s, k) => (s === null ? `${among[k]}: no answer` : `${s.id}: ${s.role} term ${s.term} leader ${s.leader_id}`)).join('; ');
    return this.waitFor(() => `one leader among ${among.join(',')} (last seen: ${describe()})`, timeoutMs, async () => {
      const statuses = await Promise.all(among.map((id) => this.status(id)));
      last = statuses;
      if (statuses.some((s) => s === null)) return undefined;
      const leaders = statuses.filter((s) => s!.role === 'leader');
      if (leaders.length !== 1) return undefined;
      const leader = leaders[0]!;
      return statuses.every((s) => s!.leader_id === leader.id && s!.term === leader.term) ? leader.id : undefined;
    });
  }

  /** PUT through the given node, following one redirect to the leader. */
  async put(id: string, key: string, value: string, headers: Record<string, string> = {}): Promise<Response> {
    const h = { ...this.auth, ...headers };
    const r = await fetch(this.url(id, `/v1/kv/${encodeURIComponent(key)}`), { method: 'PUT', body: value, headers: h, redirect: 'manual' });
    if (r.status !== 307) return r;
    return fetch(r.headers.get('location')!, { method: 'PUT', body: value, headers: h });
  }

  async get(id: string, key: string, consistency: 'linearizable' | 'lease' | 'stale' = 'linearizable'): Promise<Response> {
    return fetch(this.url(id, `/v1/kv/${encodeURIComponent(key)}?consistency=${consistency}`), { headers: this.auth, redirect: 'follow' });
  }

  /** Waits until `id` serves `key` = `value` from its own applied state. */
  async waitForValue(id: string, key: string, value: string, timeoutMs: number): Promise<void> {
    await this.waitFor(`${id} to apply ${key}=${value}`, timeoutMs, async () => {
      try {
        const r = await this.get(id, key, 'stale');
        return r.status === 200 && (await r.text()) === value ? true : undefined;
      } catch {
        return undefined;
      }
    });
  }

  /** Lines a node printed that are not one JSON object each (the node logs nothing else). */
  nonJsonLines(id: string): string[] {
    const n = this.node(id);
    const lines = n.output.join('').split('\n');
    // Only the last OUTPUT_CHUNKS_KEPT chunks are kept: the first line may have lost its start.
    if (n.output.length >= OUTPUT_CHUNKS_KEPT) lines.shift();
    return lines.filter((line) => {
      if (line.trim() === '') return false;
      try {
        const v: unknown = JSON.parse(line);
        return typeof v !== 'object' || v === null;
      } catch {
        return true;
      }
    });
  }

  /** The resident set size a node reports on its API port's /metrics, in bytes. */
  async residentBytes(id: string): Promise<number> {
    const text = await (await fetch(this.url(id, '/metrics'), { headers: this.auth })).text();
    const m = /^kvstore_process_resident_memory_bytes(?:\{[^}]*\})? (\S+)$/m.exec(text);
    if (m === null) throw new Error(`${id}: no kvstore_process_resident_memory_bytes in /metrics`);
    return Number(m[1]);
  }

  logs(): string {
    return this.nodes.map((n) => `--- ${n.id}\n${n.output.join('').slice(-3000)}`).join('\n');
  }

  /** Kills every process (resuming paused ones first) and removes the data. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        if (n.proc === null) return;
        n.proc.kill('SIGCONT');
        n.proc.kill('SIGKILL');
        await n.exited;
        n.proc = null;
      }),
    );
    for (const undo of this.cleanups.splice(0).reverse()) undo();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
