import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { latencyBucketsSeconds } from '../../src/metrics/buckets.js';
import { SeriesHistogram } from '../../src/metrics/series-histogram.js';

/** The same observations through prom-client's Histogram and a SeriesHistogram, each in a registry of its own. */
async function bothExpositions(labelNames: readonly string[], observations: readonly [Record<string, string>, number][]): Promise<[string, string]> {
  const theirs = new Registry();
  const ours = new Registry();
  for (const r of [theirs, ours]) r.setDefaultLabels({ node: 'n1' });
  const reference = new Histogram({ name: 'h_seconds', help: 'a latency', labelNames, buckets: latencyBucketsSeconds, registers: [theirs] });
  const series = new SeriesHistogram('h_seconds', 'a latency', labelNames, latencyBucketsSeconds, ours);
  // Without labels prom-client's one series exists from the start: a SeriesHistogram's is made at once.
  if (labelNames.length === 0) series.of('', () => ({}));
  for (const [labels, v] of observations) {
    reference.observe(labels, v);
    series.of(Object.values(labels).join(' '), () => labels).observe(v);
  }
  return [await theirs.metrics(), await ours.metrics()];
}

test('SeriesHistogram: its exposition is exactly prom-client Histogram\'s for the same observations, bounds and overflow included', async () => {
  const values = [0, 0.0001, 0.00010001, 0.003, 0.01, 9.99, 10, 12.5, 1e9];
  const observations = values.flatMap((v, k): [Record<string, string>, number][] => [
    [{ method: 'GET', route: '/v1/kv/{key}' }, v],
    [{ method: k % 2 === 0 ? 'PUT' : 'DELETE', route: '/v1/kv/{key}' }, v / 2],
  ]);
  const [theirs, ours] = await bothExpositions(['method', 'route'], observations);
  assert.equal(ours, theirs);
  assert.match(ours, /h_seconds_bucket\{le="\+Inf",node="n1",method="GET",route="\/v1\/kv\/\{key\}"\} 9\n/);
});

test('SeriesHistogram: without labels it exports its zero series before any observation, as prom-client does', async () => {
  const [before, oursBefore] = await bothExpositions([], []);
  assert.equal(oursBefore, before);
  assert.match(oursBefore, /h_seconds_count\{node="n1"\} 0/);
  const [after, oursAfter] = await bothExpositions([], [[{}, 0.02], [{}, 0.5]]);
  assert.equal(oursAfter, after);
});
