import { latencyBucketsSeconds } from '../metrics/buckets.js';
import { Counter, type Registry } from 'prom-client';
import { SeriesHistogram } from '../metrics/series-histogram.js';

/** HTTP methods a label may carry; anything else is counted as OTHER, so labels stay bounded. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS']);

/**
 * The API port's HTTP request metrics (SPEC §6). Routes are labelled by template
 * (`/v1/kv/{key}`), never by the raw path, so a key never becomes a label value.
 */
export class HttpMetrics {
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: SeriesHistogram<'method' | 'route'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'kvstore_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
    this.duration = new SeriesHistogram('kvstore_http_request_duration_seconds', 'HTTP request latency, by method and route template', ['method', 'route'], latencyBucketsSeconds, registry);
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
    this.requests.inc({ method: m, route, status: String(status) });
    this.duration.of(`${m} ${route}`, () => ({ method: m, route })).observe(seconds);
  }
}
