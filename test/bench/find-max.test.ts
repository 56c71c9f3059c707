import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateSearch, thresholdMiss } from '../../bench/find-max.js';
import type { Percentiles } from '../../bench/histogram.js';
import type { RunResult } from '../../bench/run.js';
import { parseMix } from '../../bench/workload.js';

const p = (p99Ms: number): Percentiles => ({ count: 100, p50Ms: 1, p90Ms: 1, p99Ms, p999Ms: p99Ms, maxMs: p99Ms, meanMs: 1 });

function run(rate: number, o: { getP99?: number; putP99?: number; allP99?: number; failed?: number; dropped?: number; achieved?: number } = {}): RunResult {
  return {
    system: 'kvstore',
    version: 'test',
    target: 'test',
    model: { kind: 'open', ratePerS: rate, inflightMax: 512 },
    seconds: 1,
    achievedPerS: o.achieved ?? rate,
    completed: 1000,
    dropped: o.dropped ?? 0,
    failures: o.failed === undefined ? {} : { unavailable: o.failed },
    latency: { put: p(o.putP99 ?? 5), get: p(o.getP99 ?? 2), delete: p(5), all: p(o.allP99 ?? 5) },
    nodes: [],
    serverCpuUsPerOp: null,
    generatorCpuUsPerOp: 0,
    leader: null,
  };
}

test('the k6 thresholds: failures plus drops under 1%, p99 GET under 10 ms, writes under 50 ms, the rate achieved', () => {
  assert.equal(thresholdMiss(run(1000)), null);
  assert.match(thresholdMiss(run(1000, { failed: 6, dropped: 5 }))!, /failed\+dropped/);
  assert.equal(thresholdMiss(run(1000, { failed: 5, dropped: 4 })), null);
  assert.match(thresholdMiss(run(1000, { getP99: 10 }))!, /p99 GET/);
  assert.match(thresholdMiss(run(1000, { putP99: 50 }))!, /p99 PUT/);
  assert.equal(thresholdMiss(run(1000, { putP99: 49.9, getP99: 9.9 })), null);
  assert.match(thresholdMiss(run(1000, { achieved: 900 }))!, /achieved/);
});

test('the search doubles until a rate fails, then bisects to within the precision', () => {
  const capacity = 3000;
  const search = new RateSearch(500, 0.1, 20);
  const tried: number[] = [];
  for (let rate = search.next(); rate !== null; rate = search.next()) {
    tried.push(rate);
    search.report(rate, run(rate, rate <= capacity ? {} : { putP99: 80 }));
  }
  assert.deepEqual(tried.slice(0, 5), [500, 1000, 2000, 4000, 3000]);
  const best = search.best()!.rate;
  assert.ok(best <= capacity && best >= capacity * 0.9, `best ${best}`);
});

test('the search halves from a start rate that fails, and stops after its step budget', () => {
  const search = new RateSearch(8000, 0.1, 3);
  const tried: number[] = [];
  for (let rate = search.next(); rate !== null; rate = search.next()) {
    tried.push(rate);
    search.report(rate, run(rate, rate <= 1000 ? {} : { getP99: 20 }));
  }
  assert.deepEqual(tried, [8000, 4000, 2000]);
  assert.equal(search.best(), null);
});

test('with three runs per rate, a rate is decided by the majority of its runs: a single stalled run neither fails nor passes a rate', () => {
  const search = new RateSearch(2000, 0.1, 3, 3);
  // What each run at a rate gives, in order: 2000 passes once and misses twice; 1000 misses once (a stall) and passes twice.
  const outcomes = new Map<number, boolean[]>([
    [2000, [true, false, false]],
    [1000, [false, true, true]],
    [1500, [true, true]],
  ]);
  const tried: number[] = [];
  for (let rate = search.next(); rate !== null; rate = search.next()) {
    tried.push(rate);
    const pass = outcomes.get(rate)!.shift()!;
    search.report(rate, run(rate, pass ? { getP99: rate / 1000 } : { getP99: 20 }));
  }
  assert.deepEqual(tried, [2000, 2000, 2000, 1000, 1000, 1000, 1500, 1500], 'a rate is run again until two of its runs agree');
  assert.equal(search.steps.length, 8);
  assert.equal(search.best()!.rate, 1500);
  assert.throws(() => new RateSearch(2000, 0.1, 3, 2), /odd/);
});

test('of a rate met by a majority, the passing run reported is the one with the highest p99', () => {
  const search = new RateSearch(1000, 0.1, 1, 3);
  search.report(1000, run(1000, { allP99: 7 }));
  search.report(1000, run(1000, { getP99: 20, allP99: 20 }));
  assert.equal(search.next(), 1000, 'one pass and one miss decide nothing');
  search.report(1000, run(1000, { allP99: 3 }));
  assert.equal(search.next(), null, 'one rate was allowed');
  assert.equal(search.best()!.run.latency.all.p99Ms, 7, 'the worse of the two passing runs, not the later or the luckier');
});

test('the op mix is three percentages adding up to 100', () => {
  assert.deepEqual(parseMix('50/45/5'), { put: 50, get: 45, delete: 5 });
  assert.deepEqual(parseMix('0/100/0'), { put: 0, get: 100, delete: 0 });
  assert.match(parseMix('50/45') as string, /PUT\/GET\/DELETE/);
  assert.match(parseMix('50/45/10') as string, /add up to 100/);
  assert.match(parseMix('a/b/c') as string, /PUT\/GET\/DELETE/);
});
