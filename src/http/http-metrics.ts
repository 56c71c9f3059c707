import type { Registry } from 'prom-client';
import { latencyBucketsSeconds } from '../metrics/buckets.js';
import { SeriesCounter, type CounterSeries } from '../metrics/series-counter.js';
import { SeriesHistogram, type HistogramSeries } from '../metrics/series-histogram.js';
import { Table } from '../metrics/table.js';

/** HTTP methods a label may carry; anything else is counted as OTHER, so labels stay bounded. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS']);

/** The series of one method on one route: its latency, and its count by status. */
interface RouteSeries {
  readonly duration: HistogramSeries;
  readonly byStatus: Map<number, CounterSeries>;
}

/**
 * The API port's HTTP request metrics (SPEC §6). Routes are labelled by template
 * (`/v1/kv/{key}`), never by the raw path, so a key never becomes a label value.
 */
export class HttpMetrics {
  private readonly requests: SeriesCounter<'method' | 'route' | 'status'>;
  private readonly series: Table<string, string, RouteSeries>;

  constructor(registry: Registry) {
    this.requests = new SeriesCounter('kvstore_http_requests_total', 'HTTP requests answered, by method, route template and status', ['method', 'route', 'status'], registry);
    const duration = new SeriesHistogram('kvstore_http_request_duration_seconds', 'HTTP request latency, by method and route template', ['method', 'route'], latencyBucketsSeconds, registry);
    this.series = new Table((method, route) => ({ duration: duration.of(`${method} ${route}`, () => ({ method, route })), byStatus: new Map() }));
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
    const s = this.series.get(m, route);
    let count = s.byStatus.get(status);
    if (count === undefined) {
      count = this.requests.of(`${m} ${route} ${status}`, () => ({ method: m, route, status: String(status) }));
      s.byStatus.set(status, count);
    }
    count.inc();
    s.duration.observe(seconds);
  }
}
