import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { localPrometheusConfig, readPrometheusConfig, scrapeIntervalSeconds, scrapeTargets } from '../../src/observe/prometheus.js';

const nodes = [1, 2, 3].map((k) => ({ id: `n${k}`, http: { host: '127.0.0.1', port: 18080 + k }, metrics: { host: '127.0.0.1', port: 12110 + k } }));

test('the local Prometheus config is compose/prometheus.yml with each service target replaced by that node\'s port', () => {
  const compose = readPrometheusConfig();
  const local = localPrometheusConfig(compose, nodes);
  assert.deepEqual(Object.fromEntries(scrapeTargets(local)), {
    kvstore_api: ['127.0.0.1:18081', '127.0.0.1:18082', '127.0.0.1:18083'],
    kvstore_raft: ['127.0.0.1:12111', '127.0.0.1:12112', '127.0.0.1:12113'],
  });
  // Nothing else changes: same jobs, paths and intervals.
  const strip = (text: string): unknown => {
    const c = parse(text) as { scrape_configs: { static_configs: unknown }[] };
    for (const j of c.scrape_configs) j.static_configs = null;
    return c;
  };
  assert.deepEqual(strip(local), strip(compose));
  assert.equal(scrapeIntervalSeconds(local), scrapeIntervalSeconds(compose));
  assert.equal(scrapeIntervalSeconds(localPrometheusConfig(compose, nodes, 1)), 1);
});

test('a target naming no node, or a job the node does not serve, is an error', () => {
  const config = (job: string, target: string): string => `scrape_configs:\n  - job_name: ${job}\n    static_configs:\n      - targets: ['${target}']\n`;
  assert.throws(() => localPrometheusConfig(config('kvstore_api', 'n4:8084'), nodes), /target n4:8084 names no node/);
  assert.throws(() => localPrometheusConfig(config('other', 'n1:8081'), nodes), /job other is not one of kvstore_api, kvstore_raft/);
  assert.equal(scrapeIntervalSeconds('global:\n  scrape_interval: 2m\n'), 120);
  assert.equal(scrapeIntervalSeconds('{}'), 60);
  assert.throws(() => scrapeIntervalSeconds('global:\n  scrape_interval: 1h\n'), /expected seconds or minutes/);
});
