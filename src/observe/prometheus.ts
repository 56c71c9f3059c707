import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { formatHostPort, type HostPort } from '../config/config.js';

/** compose/prometheus.yml, from the package root (this file runs as dist/src/observe/prometheus.js). */
export const COMPOSE_PROMETHEUS_CONFIG = fileURLToPath(new URL('../../../compose/prometheus.yml', import.meta.url));

/** The scrape jobs of compose/prometheus.yml: which port of each node they scrape. */
export const SCRAPE_JOBS = { kvstore_api: 'http', kvstore_raft: 'metrics' } as const;
export type ScrapeJob = keyof typeof SCRAPE_JOBS;

/** Where a node serves its two metrics ports. */
export interface ScrapedNode {
  readonly id: string;
  readonly http: HostPort;
  readonly metrics: HostPort;
}

interface ScrapeConfig {
  job_name?: unknown;
  static_configs?: { targets?: unknown }[];
}

/** The global scrape interval of a Prometheus config, in seconds (Prometheus's default: 60). */
export function scrapeIntervalSeconds(configText: string): number {
  const config = parse(configText) as { global?: { scrape_interval?: unknown } };
  const text = String(config.global?.scrape_interval ?? '1m');
  const m = /^(\d+)(s|m)$/.exec(text);
  if (m === null) throw new Error(`scrape_interval ${text}: expected seconds or minutes, like 5s`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

/** The targets of each job in a Prometheus config, as written (`n1:8081`). */
export function scrapeTargets(configText: string): Map<string, string[]> {
  const config = parse(configText) as { scrape_configs?: ScrapeConfig[] };
  const out = new Map<string, string[]>();
  for (const job of config.scrape_configs ?? []) {
    const targets = (job.static_configs ?? []).flatMap((s) => (Array.isArray(s.targets) ? s.targets.map(String) : []));
    out.set(String(job.job_name), targets);
  }
  return out;
}

/**
 * compose/prometheus.yml with each target `SERVICE:PORT` replaced by the local
 * address of the node whose id is SERVICE (the compose services are named after
 * the nodes), for the job's port; optionally a shorter scrape interval (tests).
 * Every other setting stays, so the local Prometheus scrapes what compose's does.
 */
export function localPrometheusConfig(composeConfigText: string, nodes: readonly ScrapedNode[], scrapeIntervalS?: number): string {
  const config = parse(composeConfigText) as { global?: Record<string, unknown>; scrape_configs?: ScrapeConfig[] };
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const job of config.scrape_configs ?? []) {
    const port = SCRAPE_JOBS[String(job.job_name) as ScrapeJob];
    if (port === undefined) throw new Error(`compose/prometheus.yml: job ${String(job.job_name)} is not one of ${Object.keys(SCRAPE_JOBS).join(', ')}`);
    for (const s of job.static_configs ?? []) {
      s.targets = (Array.isArray(s.targets) ? s.targets : []).map((t) => {
        const service = String(t).split(':')[0]!;
        const node = byId.get(service);
        if (node === undefined) throw new Error(`compose/prometheus.yml: target ${String(t)} names no node (${[...byId.keys()].join(', ')})`);
        return formatHostPort(node[port]);
      });
    }
  }
  if (scrapeIntervalS !== undefined) config.global = { ...config.global, scrape_interval: `${scrapeIntervalS}s`, evaluation_interval: `${scrapeIntervalS}s` };
  return stringify(config);
}

export interface PrometheusOptions {
  readonly configPath: string;
  readonly dataDir: string;
  readonly listen: HostPort;
  /** Prometheus's own log lines are appended here. */
  readonly logPath: string;
}

/** One series of a query result: its labels and latest value. */
export interface QuerySample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: number;
}

export type QueryResult = { readonly ok: true; readonly samples: readonly QuerySample[] } | { readonly ok: false; readonly error: string };

export interface TargetHealth {
  readonly job: string;
  readonly instance: string;
  readonly health: string;
  readonly lastError: string;
}

const STOP_GRACE_MS = 5000;
const POLL_MS = 100;

/** A Prometheus server (the Debian package's `prometheus`) run as a child process, and its HTTP API. */
export class PrometheusServer {
  readonly url: string;
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess, listen: HostPort) {
    this.url = `http://${formatHostPort(listen)}`;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  /** Starts Prometheus and waits until it answers /-/ready; throws (after stopping it) if it does not within `timeoutMs`. */
  static async start(o: PrometheusOptions, timeoutMs = 30_000): Promise<PrometheusServer> {
    const log = createWriteStream(o.logPath, { flags: 'a' });
    const child = spawn(
      'prometheus',
      [`--config.file=${o.configPath}`, `--storage.tsdb.path=${o.dataDir}`, `--web.listen-address=${formatHostPort(o.listen)}`, '--storage.tsdb.retention.time=1d', '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let spawnError: NodeJS.ErrnoException | null = null;
    child.once('error', (e) => (spawnError = e));
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const p = new PrometheusServer(child, o.listen);
    let exited = false;
    void p.exited.then(() => (exited = true));
    const deadline = Date.now() + timeoutMs;
    while (!(await p.ready())) {
      const problem: string | null =
        spawnError !== null
          ? (spawnError as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'prometheus is not installed (Debian: apt-get install prometheus)'
            : `prometheus did not start: ${(spawnError as Error).message}`
          : exited
            ? `prometheus exited; see ${o.logPath}`
            : Date.now() > deadline
              ? `prometheus not ready after ${timeoutMs} ms; see ${o.logPath}`
              : null;
      if (problem !== null) {
        await p.stop();
        throw new Error(problem);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    return p;
  }

  private async ready(): Promise<boolean> {
    try {
      const r = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      return r.status === 200;
    } catch {
      return false;
    }
  }

  /** An instant query; a PromQL error or a non-vector answer is `ok: false` with Prometheus's message. */
  async query(expr: string): Promise<QueryResult> {
    const r = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: expr })}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
    if (body.status !== 'success') return { ok: false, error: body.error ?? `HTTP ${r.status}` };
    const data = body.data!;
    if (data.resultType === 'scalar') return { ok: true, samples: [{ metric: {}, value: Number((data.result as [number, string])[1]) }] };
    if (data.resultType !== 'vector') return { ok: false, error: `expected an instant vector, got a ${data.resultType}` };
    const result = data.result as { metric: Record<string, string>; value: [number, string] }[];
    return { ok: true, samples: result.map((s) => ({ metric: s.metric, value: Number(s.value[1]) })) };
  }

  /** The values a label takes on the series of `metric` (what Grafana's label_values() asks). */
  async labelValues(label: string, metric: string): Promise<string[]> {
    const r = await fetch(`${this.url}/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': metric })}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as { status: string; data?: string[] };
    return body.status === 'success' ? (body.data ?? []) : [];
  }

  async targets(): Promise<TargetHealth[]> {
    const r = await fetch(`${this.url}/api/v1/targets?state=active`, { signal: AbortSignal.timeout(10_000) });
    const body = (await r.json()) as { data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] } };
    return body.data.activeTargets.map((t) => ({ job: t.labels['job'] ?? '', instance: t.labels['instance'] ?? '', health: t.health, lastError: t.lastError }));
  }

  /** SIGTERM, then SIGKILL if it has not exited within a few seconds. */
  async stop(): Promise<void> {
    if (this.child.pid === undefined || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Reads compose/prometheus.yml (or another file of its shape). */
export function readPrometheusConfig(path = COMPOSE_PROMETHEUS_CONFIG): string {
  return readFileSync(path, 'utf8');
}
