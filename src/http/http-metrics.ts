import { requestLatencyBucketsSeconds } from '../metrics/buckets.js';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** HTTP methods a label may carry; anything else is counted as OTHER, so labels stay bounded. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS']);

export type KvOp = 'get' | 'put' | 'delete';

/**
 * The API port's request metrics (SPEC §6). Routes are labelled by template
 * (`/v1/kv/{key}`), never by the raw path, so a key never becomes a label value.
 */
export class HttpMetrics {
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: Histogram<'method' | 'route'>;
  private readonly kvDuration: Histogram<'op'>;

  constructor(registry: Registry, keyCount: () => number) {
    this.requests = new Counter({
      name: 'kvstore_http_requests_total',
      help: 'HTTP requests answered, by method, route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'kvstore_http_request_duration_seconds',
      help: 'HTTP request latency, by method and route template',
      labelNames: ['method', 'route'],
      buckets: requestLatencyBucketsSeconds,
      registers: [registry],
    });
    this.kvDuration = new Histogram({
      name: 'kvstore_kv_operation_duration_seconds',
      help: 'Key-value operation latency (proposal or read to answer), by op',
      labelNames: ['op'],
      buckets: requestLatencyBucketsSeconds,
      registers: [registry],
    });
    new Gauge({
      name: 'kvstore_kv_keys',
      help: 'Keys in this node\'s applied state',
      registers: [registry],
      collect() {
        this.set(keyCount());
      },
    });
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
    this.requests.inc({ method: m, route, status: String(status) });
    this.duration.observe({ method: m, route }, seconds);
  }

  observeKv(op: KvOp, seconds: number): void {
    this.kvDuration.observe({ op }, seconds);
  }
}
