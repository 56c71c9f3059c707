import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { SeriesCounter } from '../../src/metrics/series-counter.js';

test("SeriesCounter: its exposition is exactly prom-client Counter's for the same increments, series in first-seen order", async () => {
  const theirs = new Registry();
  const ours = new Registry();
  for (const r of [theirs, ours]) r.setDefaultLabels({ node: 'n1' });
  const reference = new Counter({ name: 'c_total', help: 'answers', labelNames: ['method', 'status'], registers: [theirs] });
  const counter = new SeriesCounter('c_total', 'answers', ['method', 'status'], ours);
  const incs: Record<'method' | 'status', string>[] = [
    { method: 'PUT', status: '200' },
    { method: 'GET', status: '307' },
    { method: 'PUT', status: '200' },
    { method: 'DELETE', status: '404' },
    { method: 'PUT', status: '200' },
  ];
  assert.equal(await ours.metrics(), await theirs.metrics(), 'no series before any increment');
  for (const labels of incs) {
    reference.inc(labels);
    counter.of(`${labels.method} ${labels.status}`, () => labels).inc();
  }
  const text = await ours.metrics();
  assert.equal(text, await theirs.metrics());
  assert.match(text, /^c_total\{method="PUT",status="200",node="n1"\} 3$/m);
  // A scrape copies the totals in; it must not add them again on the next one.
  assert.equal(await ours.metrics(), text);
  counter.of('GET 307', () => ({ method: 'GET', status: '307' })).inc();
  assert.match(await ours.metrics(), /^c_total\{method="GET",status="307",node="n1"\} 2$/m);
  // inc(n) adds n, as prom-client's inc(labels, n) does.
  reference.inc({ method: 'GET', status: '307' });
  reference.inc({ method: 'GET', status: '307' }, 40);
  counter.of('GET 307', () => ({ method: 'GET', status: '307' })).inc(40);
  assert.equal(await ours.metrics(), await theirs.metrics());
  assert.match(await ours.metrics(), /^c_total\{method="GET",status="307",node="n1"\} 42$/m);
});
