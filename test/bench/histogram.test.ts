import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Histogram } from '../../bench/histogram.js';

/** The exact quantile by sorting: the oracle the bucketed histogram is checked against. */
function exactQuantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(1, Math.ceil(q * s.length)) - 1]!;
}

test('every quantile is within 1.6% above the exact one, never below, and never above the maximum', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 50_000_000 }), { minLength: 1, maxLength: 300 }), fc.constantFrom(0.5, 0.9, 0.99, 0.999, 1), (xs, q) => {
      const h = new Histogram();
      for (const x of xs) h.recordUs(x);
      const exact = exactQuantile(xs, q);
      const got = h.quantileUs(q);
      assert.ok(got >= exact, `q${q}: ${got} < exact ${exact}`);
      assert.ok(got <= Math.max(exact * 1.016, exact + 1), `q${q}: ${got} too far above exact ${exact}`);
      assert.ok(got <= Math.max(...xs));
    }),
  );
});

test('merging two histograms is recording both sets into one', () => {
  const a = new Histogram();
  const b = new Histogram();
  const both = new Histogram();
  for (let i = 0; i < 1000; i++) {
    const v = (i * 7919) % 100_000;
    (i % 2 === 0 ? a : b).recordUs(v);
    both.recordUs(v);
  }
  a.merge(b);
  assert.deepEqual(a.percentiles(), both.percentiles());
  assert.equal(a.count(), 1000);
});

test('an empty histogram reports zeros', () => {
  assert.deepEqual(new Histogram().percentiles(), { count: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0, meanMs: 0 });
});
