/**
 * Simulated time: a priority queue of callbacks keyed by (deadline, sequence number),
 * so ties fire in the order they were scheduled and a run is reproducible. Time
 * jumps straight to the next deadline. Cancelled entries are skipped lazily.
 * Implements XState's Clock interface, so the role machines' timers run on it.
 * `soon` callbacks (setImmediate's counterpart) run right after the callback that
 * queued them, in order, before time moves on: one event and the turns it caused
 * make one step.
 */
interface Scheduled {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

export class SimClock {
  private heap: Scheduled[] = [];
  private seq = 0;
  private nowMs = 0;
  /** Callbacks to run before time moves on, in the order they were queued; `soonNext` is the first not yet run. */
  private readonly soonQueue: (() => void)[] = [];
  private soonNext = 0;

  now(): number {
    return this.nowMs;
  }

  setTimeout = (fn: () => void, delayMs: number): Scheduled => {
    const s: Scheduled = { at: this.nowMs + Math.max(0, delayMs), seq: this.seq++, fn, cancelled: false };
    this.push(s);
    return s;
  };

  clearTimeout = (handle: unknown): void => {
    if (handle !== undefined && handle !== null) (handle as Scheduled).cancelled = true;
  };

  /** Runs `fn` after what is running now, before time moves on. */
  soon(fn: () => void): void {
    this.soonQueue.push(fn);
  }

  /** Time of the next live callback, or null when nothing is scheduled. */
  peekTime(): number | null {
    while (this.heap.length > 0 && this.heap[0]!.cancelled) this.pop();
    return this.heap.length > 0 ? this.heap[0]!.at : null;
  }

  /** Moves time forward to `t` (never back) without running anything. */
  advanceTo(t: number): void {
    if (t > this.nowMs) this.nowMs = t;
  }

  /** Runs the next live callback and the `soon` ones it queued; false when none is left. */
  runNext(): boolean {
    while (this.heap.length > 0) {
      const s = this.pop();
      if (s.cancelled) continue;
      this.nowMs = s.at;
      s.fn();
      this.runSoon();
      return true;
    }
    return false;
  }

  /** Runs the `soon` callbacks queued so far, and those they queue, in order. */
  runSoon(): void {
    while (this.soonNext < this.soonQueue.length) this.soonQueue[this.soonNext++]!();
    this.soonQueue.length = 0;
    this.soonNext = 0;
  }

  private less(x: Scheduled, y: Scheduled): boolean {
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  private push(s: Scheduled): void {
    const h = this.heap;
    h.push(s);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): Scheduled {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
