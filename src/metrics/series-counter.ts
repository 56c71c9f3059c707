import { Counter, type Registry } from 'prom-client';

/** One labelled series of a SeriesCounter: what a hot path holds and counts into. */
export interface CounterSeries {
  /** Adds `n` (default 1). */
  inc(n?: number): void;
}

class Count<L extends string> implements CounterSeries {
  n = 0;
  constructor(readonly labels: Readonly<Record<L, string>>) {}
  inc(n = 1): void {
    this.n += n;
  }
}

/**
 * A Prometheus counter whose series are looked up once, by a key the caller builds,
 * and then counted into with a `++`; the totals are copied into a prom-client Counter
 * when scraped. prom-client's `inc(labels)` validates and hashes the labels object on
 * every call, which per request on the API's hot path is a measurable share of a
 * node's CPU. The exposition is prom-client's own (same names, labels, order).
 */
export class SeriesCounter<L extends string> {
  private readonly series = new Map<string, Count<L>>();

  constructor(name: string, help: string, labelNames: readonly L[], registry: Registry) {
    const series = this.series;
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of series.values()) this.inc(s.labels, s.n);
      },
    });
  }

  /** The series `key` names (callers give each label combination one key), made from `labels` the first time. */
  of(key: string, labels: () => Readonly<Record<L, string>>): CounterSeries {
    let s = this.series.get(key);
    if (s === undefined) {
      s = new Count(labels());
      this.series.set(key, s);
    }
    return s;
  }
}
