// --find-max: the highest open-model rate that meets the original's k6
// thresholds, found by doubling from the starting rate until a run fails them,
// then bisecting between the best pass and the lowest failure.
import type { RunResult } from './run.js';

/** The original system's k6 thresholds. */
export const thresholds = {
  failedOrDroppedFractionMax: 0.01,
  getP99MsMax: 10,
  writeP99MsMax: 50,
} as const;

/** Why a run misses the thresholds, or null when it meets them. */
export function thresholdMiss(r: RunResult): string | null {
  const arrivals = r.completed + r.dropped;
  const failed = Object.values(r.failures).reduce((s, n) => s + n, 0) + r.dropped;
  if (arrivals === 0) return 'nothing was answered';
  if (failed / arrivals >= thresholds.failedOrDroppedFractionMax) return `failed+dropped ${((100 * failed) / arrivals).toFixed(2)}% ≥ 1%`;
  if (r.latency.get.count > 0 && r.latency.get.p99Ms >= thresholds.getP99MsMax) return `p99 GET ${r.latency.get.p99Ms} ms ≥ ${thresholds.getP99MsMax}`;
  for (const op of ['put', 'delete'] as const) {
    if (r.latency[op].count > 0 && r.latency[op].p99Ms >= thresholds.writeP99MsMax) return `p99 ${op.toUpperCase()} ${r.latency[op].p99Ms} ms ≥ ${thresholds.writeP99MsMax}`;
  }
  // Below the rate asked for, the generator or the server could not keep up.
  if (r.model.kind === 'open' && r.achievedPerS < 0.97 * r.model.ratePerS) return `achieved ${r.achievedPerS}/s of ${r.model.ratePerS}/s`;
  return null;
}

/**
 * One system's search: which rate to try next, given what passed and what failed.
 * A rate's verdict is the majority of up to `runsPerRate` runs at it (an odd
 * number): on a shared host one stall of 10–25 ms in a 5-second run decides its
 * p99, for either system, and a single run per rate let that decide the whole
 * bisection. The same rate is tried again until a majority of its runs agree.
 */
export class RateSearch {
  private bestPass: { rate: number; run: RunResult } | null = null;
  private lowestFail: number | null = null;
  /** Every run, in order. */
  readonly steps: { rate: number; miss: string | null; run: RunResult }[] = [];
  /** The rate being decided and its runs so far. */
  private current: { rate: number; passes: RunResult[]; misses: number } | null = null;
  private decided = 0;

  constructor(
    private readonly startRate: number,
    /** Stop once the bracket [pass, fail] is narrower than this fraction of pass. */
    private readonly precision: number,
    /** Rates decided at most. */
    private readonly ratesMax: number,
    private readonly runsPerRate = 1,
  ) {
    if (!Number.isInteger(runsPerRate) || runsPerRate < 1 || runsPerRate % 2 === 0) throw new Error(`RateSearch: runsPerRate must be a positive odd number, got ${runsPerRate}`);
  }

  /** The next rate to run, or null when the search is over. */
  next(): number | null {
    if (this.current !== null) return this.current.rate;
    if (this.decided >= this.ratesMax) return null;
    const pass = this.bestPass?.rate ?? null;
    const fail = this.lowestFail;
    if (pass === null && fail === null) return this.startRate;
    if (fail === null) return pass! * 2;
    if (pass === null) return fail / 2 < 1 ? null : Math.floor(fail / 2);
    if (fail - pass <= this.precision * pass) return null;
    return Math.round((pass + fail) / 2);
  }

  report(rate: number, run: RunResult): void {
    const miss = thresholdMiss(run);
    this.steps.push({ rate, miss, run });
    if (this.current === null || this.current.rate !== rate) this.current = { rate, passes: [], misses: 0 };
    const c = this.current;
    if (miss === null) c.passes.push(run);
    else c.misses++;
    const majority = (this.runsPerRate + 1) / 2;
    if (c.passes.length < majority && c.misses < majority) return;
    this.current = null;
    this.decided++;
    if (c.passes.length >= majority) {
      // The reported run is the passing one with the highest p99, not the luckiest.
      const worst = c.passes.reduce((a, b) => (b.latency.all.p99Ms > a.latency.all.p99Ms ? b : a));
      if (this.bestPass === null || rate > this.bestPass.rate) this.bestPass = { rate, run: worst };
    } else if (this.lowestFail === null || rate < this.lowestFail) this.lowestFail = rate;
  }

  /** The highest rate a majority of whose runs met the thresholds, with the worst of those runs. */
  best(): { rate: number; run: RunResult } | null {
    return this.bestPass;
  }
}
