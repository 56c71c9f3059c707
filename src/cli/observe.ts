import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { parseHostPort } from '../config/host-port.js';
import { ObservedCluster, type PanelResult } from '../observe/observed-cluster.js';
import { readPrometheusConfig, scrapeIntervalSeconds } from '../observe/prometheus.js';
import { renderLegend } from '../observe/dashboard.js';
import { LOCAL_CLUSTER_CONFIGS, parseLauncherArgs } from './local-cluster.js';

/**
 * `npm run observe`: the local 3-node cluster (config/n1.yml … n3.yml) plus a
 * Prometheus scraping it with compose/prometheus.yml's jobs (targets taken from the
 * configs), for a user without Docker. It prints the Grafana dashboard's queries
 * (dashboards/kvstore.json), evaluated by that Prometheus, every `--every` seconds;
 * the Prometheus UI at `--prometheus-addr` runs any other query. Node logs go to
 * `<data-dir>/logs/<id>.log`. Ctrl-C stops everything.
 */
const USAGE = 'usage: npm run observe -- [--config FILE]... [--prometheus-addr 127.0.0.1:9090] [--data-dir data/observe] [--every SECONDS]';
const SERIES_SHOWN_MAX = 6;
const TARGETS_UP_WITHIN_MS = 60_000;

function formatValue(v: number, unit: string): string {
  if (!Number.isFinite(v)) return '–';
  const round = (x: number): string => (Math.abs(x) >= 100 || Number.isInteger(x) ? x.toFixed(0) : x.toPrecision(3));
  switch (unit) {
    case 's':
      return v >= 1 ? `${round(v)} s` : v >= 0.001 ? `${round(v * 1e3)} ms` : `${round(v * 1e6)} µs`;
    case 'bytes':
    case 'Bps': {
      const suffix = unit === 'Bps' ? '/s' : '';
      for (const [scale, name] of [[2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']] as const) if (v >= scale) return `${round(v / scale)} ${name}${suffix}`;
      return `${round(v)} B${suffix}`;
    }
    case 'percentunit':
      return `${round(v * 100)}%`;
    case 'reqps':
    case 'ops':
      return `${round(v)}/s`;
    default:
      return round(v);
  }
}

function render(results: readonly PanelResult[]): string {
  const lines: string[] = [];
  let row = '';
  let panel = '';
  for (const r of results) {
    if (r.query.row !== row) {
      row = r.query.row;
      lines.push(row);
    }
    let text: string;
    if (!r.result.ok) text = `error: ${r.result.error}`;
    else if (r.result.samples.length === 0) text = 'no data';
    else {
      const shown = r.result.samples.slice(0, SERIES_SHOWN_MAX).map((s) => `${renderLegend(r.query.legend, s.metric)}=${formatValue(s.value, r.query.unit)}`);
      const more = r.result.samples.length - shown.length;
      text = shown.join('  ') + (more > 0 ? `  (+${more} more)` : '');
    }
    lines.push(`  ${(r.query.panel === panel ? '' : r.query.panel).padEnd(28)} ${text}`);
    panel = r.query.panel;
  }
  return lines.join('\n');
}

async function main(): Promise<number> {
  const args = parseLauncherArgs(USAGE, {
    config: { type: 'string', multiple: true },
    'prometheus-addr': { type: 'string', default: '127.0.0.1:9090' },
    'data-dir': { type: 'string', default: 'data/observe' },
    every: { type: 'string', default: '15' },
  });
  if (!args.ok) return args.code;
  const listen = parseHostPort(args.values['prometheus-addr']);
  const everyS = Number(args.values.every);
  if (listen === null || !Number.isInteger(everyS) || everyS < 1) {
    process.stderr.write(`bad --prometheus-addr or --every\n${USAGE}\n`);
    return 2;
  }
  const dataDir = args.values['data-dir'];
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logs = new Map<string, WriteStream>();
  const logOf = (id: string): WriteStream => {
    let s = logs.get(id);
    if (s === undefined) logs.set(id, (s = createWriteStream(join(logDir, `${id}.log`), { flags: 'a' })));
    return s;
  };
  let observed: ObservedCluster;
  try {
    observed = await ObservedCluster.start({
      configPaths: args.values.config ?? LOCAL_CLUSTER_CONFIGS,
      prometheusListen: listen,
      dataDir: join(dataDir, 'prometheus'),
      onNodeLine: (id, line) => logOf(id).write(`${line}\n`),
      onNodeExit: (id, how) => process.stdout.write(`${id} exited (${how}); stopping\n`),
    });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  const stop = (): void => void observed.stop();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  void observed.cluster.exited.then(stop);
  process.stdout.write(`Prometheus: ${observed.prometheus.url} (config and data under ${join(dataDir, 'prometheus')}); node logs: ${logDir}/\n`);
  try {
    await observed.waitForTargets(TARGETS_UP_WITHIN_MS);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    await observed.stop();
    return 1;
  }
  // As Grafana does: $__rate_interval spans at least four scrapes.
  const scrapeS = scrapeIntervalSeconds(readPrometheusConfig());
  const rateInterval = `${4 * scrapeS}s`;
  const print = (): void => {
    observed.panelResults(rateInterval).then(
      (results) => process.stdout.write(`\n── ${new Date().toLocaleTimeString()}  dashboards/kvstore.json via ${observed.prometheus.url}\n${render(results)}\n`),
      (e: unknown) => process.stderr.write(`queries failed: ${(e as Error).message}\n`),
    );
  };
  // The first table once rates have two scrapes to work with, then every --every seconds.
  const first = setTimeout(print, 2 * scrapeS * 1000);
  const timer = setInterval(print, everyS * 1000);
  await observed.cluster.exited;
  clearTimeout(first);
  clearInterval(timer);
  await observed.stop();
  for (const s of logs.values()) s.end();
  return 0;
}

main().then((code) => process.exit(code));
