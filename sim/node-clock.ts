import type { Clock } from '../src/raft/host/raft-node.js';
import type { SimClock } from './clock.js';

/**
 * One simulated node's own clock: it runs at `1 + driftPpm / 10^6` times the
 * simulated (true) time, from its own reading at the start. Timers set on it
 * fire after that many milliseconds of its own time. Real clocks drift like this;
 * lease reads assume the drift between any two nodes stays within
 * leaseClockDriftMs per election timeout, and the simulator tests both sides of
 * that bound.
 */
export class NodeClock implements Clock {
  private readonly rate: number;

  constructor(
    private readonly sim: SimClock,
    readonly driftPpm: number,
    private readonly startMs: number,
  ) {
    this.rate = 1 + driftPpm / 1_000_000;
  }

  now(): number {
    return this.startMs + this.sim.now() * this.rate;
  }

  setTimeout(fn: () => void, localMs: number): unknown {
    return this.sim.setTimeout(fn, localMs / this.rate);
  }

  clearTimeout(handle: unknown): void {
    this.sim.clearTimeout(handle);
  }
}
