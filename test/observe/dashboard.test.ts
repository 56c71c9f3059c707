import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ObservedCluster, type PanelResult } from '../../src/observe/observed-cluster.js';
import { freePorts, ProcessCluster } from '../e2e/process-cluster.js';
import { runSampleLoad } from '../metrics/sample-load.js';

const SCRAPE_INTERVAL_S = 1;
/** What Grafana makes $__rate_interval at this scrape interval (at least four scrapes), plus one. */
const RATE_INTERVAL = '5s';
const TARGETS_UP_WITHIN_MS = 30_000;
const PANELS_WITHIN_MS = 30_000;

function problemOf(r: PanelResult): string | null {
  if (!r.result.ok) return `query error: ${r.result.error}`;
  if (r.result.samples.length === 0) return 'empty result';
  return null;
}

/**
 * The dashboard proven against the real thing: a Prometheus (the Debian package)
 * scraping a real 3-node cluster through compose/prometheus.yml's jobs, started
 * the way `npm run observe` starts them, with a little load of every kind running.
 * Every panel's every query must run and return data; a failure names the panel.
 */
describe('dashboards/kvstore.json against a real Prometheus and a real 3-node cluster', () => {
  let cluster: ProcessCluster;
  let observed: ObservedCluster | null = null;
  const nodeLines: string[] = [];
  const logs = (): string => nodeLines.slice(-40).join('\n');

  before(async () => {
    // Small snapshots, so the snapshot panels see some.
    cluster = await ProcessCluster.configure(3, 500, ['snapshot_every_entries: 100']);
    const [prometheusPort] = await freePorts(1);
    observed = await ObservedCluster.start({
      configPaths: cluster.nodes.map((n) => n.cfgPath),
      prometheusListen: { host: '127.0.0.1', port: prometheusPort! },
      dataDir: join(cluster.dir, 'prometheus'),
      scrapeIntervalS: SCRAPE_INTERVAL_S,
      onNodeLine: (id, line) => {
        nodeLines.push(`${id}: ${line}`);
        if (nodeLines.length > 400) nodeLines.shift();
      },
      onNodeExit: (id, how) => nodeLines.push(`${id}: exited (${how})`),
    });
    await cluster.waitForLeader(15_000, cluster.nodes.map((n) => n.id));
  });
  after(async () => {
    await observed?.stop();
    await cluster?.stop();
  });

  test('Prometheus scrapes all six targets, and sees exactly one leader', async () => {
    const targets = await observed!.waitForTargets(TARGETS_UP_WITHIN_MS);
    assert.deepEqual(targets.map((t) => t.job).sort(), ['kvstore_api', 'kvstore_api', 'kvstore_api', 'kvstore_raft', 'kvstore_raft', 'kvstore_raft']);
    const expected = cluster.nodes.flatMap((n) => [`127.0.0.1:${n.httpPort}`, `127.0.0.1:${n.metricsPort}`]).sort();
    assert.deepEqual(targets.map((t) => t.instance).sort(), expected);
    let leaders: number | undefined;
    await cluster.waitFor(() => `sum(kvstore_raft_is_leader) == 1 (last: ${leaders})`, 15_000, async () => {
      const r = await observed!.prometheus.query('sum(kvstore_raft_is_leader)');
      leaders = r.ok ? r.samples[0]?.value : undefined;
      return leaders === 1 ? true : undefined;
    });
  });

  test('every panel\'s queries run and return data while the cluster takes a little load', async () => {
    await observed!.waitForTargets(TARGETS_UP_WITHIN_MS);
    let loading = true;
    let round = 0;
    const loadErrors: string[] = [];
    const load = (async () => {
      while (loading) {
        // The load only feeds the panels, which are what this test checks; a request
        // that fails (say, during an election on a loaded machine) is noted, not fatal.
        await runSampleLoad(cluster, `load${round++}`).catch((e: unknown) => loadErrors.push(String(e)));
      }
    })();
    let results: PanelResult[] = [];
    try {
      const deadline = Date.now() + PANELS_WITHIN_MS;
      for (;;) {
        results = await observed!.panelResults(RATE_INTERVAL);
        if (results.every((r) => problemOf(r) === null) || Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    } finally {
      loading = false;
      await load;
    }
    const failures = results.flatMap((r) => {
      const p = problemOf(r);
      return p === null ? [] : [`${r.query.row} / ${r.query.panel} (${r.query.refId}): ${p}\n    ${r.expr}`];
    });
    assert.deepEqual(failures, [], `panels without data after ${PANELS_WITHIN_MS} ms:\n${failures.join('\n')}\nload errors: ${loadErrors.slice(-5).join('; ')}\n${logs()}`);
    assert.ok(results.length >= 40, `queries checked: ${results.length}`);
    console.log(`${results.length} panel queries returned data after ${round} load rounds`);
  });
});
