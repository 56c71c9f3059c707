import type { Clock } from '../../src/raft/host/raft-node.js';

/** A clock for tests that drive the core by hand: time moves only when told, and due timers fire in deadline order. */
export class ManualClock implements Clock {
  nowMs = 0;
  private seq = 0;
  private readonly timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];

  setTimeout(fn: () => void, timeoutMs: number): unknown {
    const t = { at: this.nowMs + timeoutMs, seq: this.seq++, fn, cancelled: false };
    this.timers.push(t);
    return t;
  }

  clearTimeout(id: unknown): void {
    (id as { cancelled: boolean }).cancelled = true;
  }

  /** Fires, in deadline order, every timer due within `ms`. */
  advance(ms: number): void {
    const until = this.nowMs + ms;
    for (;;) {
      const due = this.timers.filter((t) => !t.cancelled && t.at <= until).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.nowMs = due.at;
      due.fn();
    }
    this.nowMs = until;
  }
}
