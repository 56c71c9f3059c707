// The load models. Open: a constant arrival rate for a duration, at most
// `inflightMax` operations in flight, an arrival that finds none free dropped
// (k6's constant-arrival-rate), latency measured from the arrival's intended
// time, so a stalled server cannot hide its stall (no coordinated omission).
// Closed: C clients, each sending its next operation when the last one returns.
import { performance } from 'node:perf_hooks';
import { Histogram } from './histogram.js';
import type { FailureKind, Target } from './targets/target.js';
import { OPS, type Op, type Workload } from './workload.js';

export type LoadModel = { readonly kind: 'open'; readonly ratePerS: number; readonly inflightMax: number } | { readonly kind: 'closed'; readonly clients: number };

/** How often the open model's scheduler wakes up to send what is due. */
const TICK_MS = 1;

export interface PhaseResult {
  readonly seconds: number;
  /** Answered operations (successes and failures), in the window. */
  readonly completed: number;
  /** Open model: arrivals that found `inflightMax` operations in flight. */
  readonly dropped: number;
  readonly latency: Readonly<Record<Op, Histogram>>;
  readonly failures: ReadonlyMap<FailureKind, number>;
}

/** What a phase reports once a second while it runs. */
export type Progress = (elapsedS: number, completed: number, failed: number, dropped: number) => void;

class Recorder {
  readonly latency: Record<Op, Histogram> = { put: new Histogram(), get: new Histogram(), delete: new Histogram() };
  readonly failures = new Map<FailureKind, number>();
  completed = 0;
  failed = 0;
  dropped = 0;

  record(op: Op, outcome: string, us: number): void {
    this.completed++;
    if (outcome === 'ok') {
      this.latency[op].recordUs(us);
      return;
    }
    this.failed++;
    const kind = outcome as FailureKind;
    this.failures.set(kind, (this.failures.get(kind) ?? 0) + 1);
  }
}

/**
 * Runs `model` for `seconds` against `target`. Operations still in flight at the
 * end are waited for: in the open model they count (they arrived in the window),
 * in the closed model they do not (the window is over for them).
 */
export async function runPhase(target: Target, workload: Workload, model: LoadModel, seconds: number, progress: Progress | null): Promise<PhaseResult> {
  const rec = new Recorder();
  const startMs = performance.now();
  const endMs = startMs + seconds * 1000;
  const ticker =
    progress === null
      ? null
      : setInterval(() => progress((performance.now() - startMs) / 1000, rec.completed, rec.failed, rec.dropped), 1000);
  try {
    if (model.kind === 'closed') await closedLoop(target, workload, model.clients, endMs, rec);
    else await openLoop(target, workload, model.ratePerS, model.inflightMax, startMs, endMs, rec);
  } finally {
    if (ticker !== null) clearInterval(ticker);
  }
  return { seconds, completed: rec.completed, dropped: rec.dropped, latency: rec.latency, failures: rec.failures };
}

async function closedLoop(target: Target, workload: Workload, clients: number, endMs: number, rec: Recorder): Promise<void> {
  const client = async (): Promise<void> => {
    for (;;) {
      const sentMs = performance.now();
      if (sentMs >= endMs) return;
      const { op, key } = workload.next();
      const outcome = await target.run(op, key);
      const doneMs = performance.now();
      if (doneMs <= endMs) rec.record(op, outcome, (doneMs - sentMs) * 1000);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
}

function openLoop(target: Target, workload: Workload, ratePerS: number, inflightMax: number, startMs: number, endMs: number, rec: Recorder): Promise<void> {
  const total = Math.floor(((endMs - startMs) / 1000) * ratePerS);
  const intervalMs = 1000 / ratePerS;
  let sent = 0;
  let inflight = 0;
  return new Promise((resolve) => {
    const finishIfDone = (): void => {
      if (sent === total && inflight === 0) resolve();
    };
    const launch = (intendedMs: number): void => {
      const { op, key } = workload.next();
      inflight++;
      void target.run(op, key).then((outcome) => {
        inflight--;
        rec.record(op, outcome, (performance.now() - intendedMs) * 1000);
        finishIfDone();
      });
    };
    const tick = (): void => {
      const due = Math.min(total, Math.floor((performance.now() - startMs) / intervalMs) + 1);
      while (sent < due) {
        const intendedMs = startMs + sent * intervalMs;
        sent++;
        if (inflight >= inflightMax) rec.dropped++;
        else launch(intendedMs);
      }
      if (sent < total) setTimeout(tick, TICK_MS);
      else finishIfDone();
    };
    tick();
  });
}

/** PUTs every key of the key space once (64 at a time), so that GETs find values. */
export async function prefill(target: Target, workload: Workload): Promise<number> {
  let next = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    while (next < workload.keySpace) {
      const key = next++;
      if ((await target.run('put', key)) !== 'ok') failed++;
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  return failed;
}

export { OPS };
