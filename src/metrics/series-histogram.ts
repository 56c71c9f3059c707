import type { Metric, Registry } from 'prom-client';

/** One labelled series of a SeriesHistogram: what a hot path holds and observes into. */
export interface HistogramSeries {
  observe(seconds: number): void;
}

class Series implements HistogramSeries {
  /** Per bucket, not cumulative; the last slot counts what is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && v > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
  }
}

interface ExportedValue {
  readonly metricName: string;
  readonly labels: Readonly<Record<string, string | number>>;
  readonly sharedLabels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * A Prometheus histogram whose series are looked up once, by a key the caller
 * builds, and then observed into directly: prom-client's Histogram validates and
 * hashes the labels object on every observation (~2 µs), which per request on the
 * API's hot path is a measurable share of a node's CPU. It exports exactly what
 * prom-client's Histogram does (same names, buckets, label order), through the
 * same registry.
 */
export class SeriesHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    // prom-client's registry takes any object that exports as its metrics do.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series `key` names (callers give each label combination one key), made from `labels` the first time. */
  of(key: string, labels: () => Readonly<Record<L, string>>): HistogramSeries {
    let s = this.series.get(key);
    if (s === undefined) {
      const made = labels();
      const ordered: Record<string, string> = {};
      for (const n of this.labelNames) ordered[n] = made[n];
      s = new Series(this.bounds, ordered);
      this.series.set(key, s);
    }
    return s;
  }

  /** What the registry formats: the bucket label `le` first, the series' labels shared. */
  getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.series.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ metricName: bucket, labels: { le }, sharedLabels: s.labels, value: acc });
      });
      values.push({ metricName: bucket, labels: { le: '+Inf' }, sharedLabels: s.labels, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: {}, sharedLabels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: {}, sharedLabels: s.labels, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** The JSON form (registry.getMetricsAsJSON): each value's labels in one object. */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { metricName: string; labels: Record<string, string | number>; value: number }[] }> {
    const data = await this.getForPromString();
    return { ...data, values: data.values.map((v) => ({ metricName: v.metricName, labels: { ...v.labels, ...v.sharedLabels }, value: v.value })) };
  }
}
