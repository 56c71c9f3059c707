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

/** One system's search: which rate to try next, given what passed and what failed. */
export class RateSearch {
  private bestPass: { rate: number; run: RunResult } | null = null;
  private lowestFail: number | null = null;
  readonly steps: { rate: number; miss: string | null; run: RunResult }[] = [];

  constructor(
    private readonly startRate: number,
    /** Stop once the bracket [pass, fail] is narrower than this fraction of pass. */
    private readonly precision: number,
    private readonly stepsMax: number,
  ) {}

  /** The next rate to try, or null when the search is over. */
  next(): number | null {
    if (this.steps.length >= this.stepsMax) return null;
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
    if (miss === null) {
      if (this.bestPass === null || rate > this.bestPass.rate) this.bestPass = { rate, run };
    } else if (this.lowestFail === null || rate < this.lowestFail) this.lowestFail = rate;
  }

  best(): { rate: number; run: RunResult } | null {
    return this.bestPass;
  }
}
