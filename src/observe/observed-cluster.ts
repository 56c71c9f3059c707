import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HostPort } from '../config/config.js';
import { LocalCluster, loadLocalNodes, type LocalNode } from '../cli/local-cluster.js';
import { dashboardQueries, expandQuery, loadDashboard, nodeVariable, type PanelQuery } from './dashboard.js';
import { localPrometheusConfig, PrometheusServer, readPrometheusConfig, SCRAPE_JOBS, type QueryResult, type TargetHealth } from './prometheus.js';

export interface ObserveOptions {
  readonly configPaths: readonly string[];
  readonly prometheusListen: HostPort;
  /** Prometheus's config, TSDB and log go here. */
  readonly dataDir: string;
  /** Overrides compose/prometheus.yml's scrape interval (tests use 1 s). */
  readonly scrapeIntervalS?: number;
  readonly onNodeLine: (nodeId: string, line: string) => void;
  readonly onNodeExit: (nodeId: string, how: string) => void;
}

export interface PanelResult {
  readonly query: PanelQuery;
  /** The query as sent, variables expanded. */
  readonly expr: string;
  readonly result: QueryResult;
}

const POLL_MS = 200;

/**
 * The local cluster plus a Prometheus scraping it with compose/prometheus.yml's
 * jobs (targets from the nodes' configs): what `npm run observe` runs, and what
 * the dashboard test checks every panel against.
 */
export class ObservedCluster {
  private constructor(
    readonly nodes: readonly LocalNode[],
    readonly cluster: LocalCluster,
    readonly prometheus: PrometheusServer,
  ) {}

  static async start(o: ObserveOptions): Promise<ObservedCluster> {
    const loaded = loadLocalNodes(o.configPaths);
    if (!loaded.ok) throw new Error(loaded.error);
    const nodes = loaded.nodes;
    mkdirSync(o.dataDir, { recursive: true });
    const configPath = join(o.dataDir, 'prometheus.yml');
    const scraped = nodes.map((n) => ({ id: n.config.node.id, http: n.config.http.addr, metrics: n.config.raft.metricsAddr }));
    writeFileSync(configPath, localPrometheusConfig(readPrometheusConfig(), scraped, o.scrapeIntervalS));
    const cluster = new LocalCluster(nodes, o.onNodeLine, o.onNodeExit);
    try {
      const prometheus = await PrometheusServer.start({ configPath, dataDir: join(o.dataDir, 'tsdb'), listen: o.prometheusListen, logPath: join(o.dataDir, 'prometheus.log') });
      return new ObservedCluster(nodes, cluster, prometheus);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
  }

  /** Waits until Prometheus has scraped both ports of every node successfully; throws naming the targets that are not up. */
  async waitForTargets(timeoutMs: number): Promise<TargetHealth[]> {
    const expected = this.nodes.length * Object.keys(SCRAPE_JOBS).length;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const targets = await this.prometheus.targets();
      if (targets.length === expected && targets.every((t) => t.health === 'up')) return targets;
      if (Date.now() > deadline) {
        const bad = targets.filter((t) => t.health !== 'up').map((t) => `${t.job} ${t.instance}: ${t.health} ${t.lastError}`);
        throw new Error(`not every target is up after ${timeoutMs} ms (${targets.length} of ${expected} known): ${bad.join('; ')}`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /**
   * Runs every panel's queries, `$node` expanded to the nodes Prometheus knows
   * (as Grafana's variable query finds them) and `$__rate_interval` as given.
   */
  async panelResults(rateInterval: string): Promise<PanelResult[]> {
    const dashboard = loadDashboard();
    const v = nodeVariable(dashboard);
    const nodes = await this.prometheus.labelValues(v.label, v.metric);
    const out: PanelResult[] = [];
    for (const query of dashboardQueries(dashboard)) {
      const expr = expandQuery(query.expr, { nodes, rateInterval });
      out.push({ query, expr, result: await this.prometheus.query(expr) });
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all([this.prometheus.stop(), this.cluster.stop()]);
  }
}
