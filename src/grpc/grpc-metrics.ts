import { latencyBucketsSeconds } from '../metrics/buckets.js';
import * as grpc from '@grpc/grpc-js';
import { Counter, type Registry } from 'prom-client';
import { SeriesHistogram } from '../metrics/series-histogram.js';

/** Methods a label may carry (KV's by name, others as Service.Method); anything else is OTHER, so labels stay bounded. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['Put', 'Get', 'Delete', 'Range', 'Txn', 'Lease.Grant', 'Lease.Revoke', 'Lease.Leases', 'Lease.KeepAlive', 'Lease.TimeToLive', 'Watch.Watch']);

/** `OK`, `NOT_FOUND`, … for a gRPC status code (the name, not the number). */
export function grpcCodeName(code: grpc.status): string {
  return grpc.status[code] ?? `CODE_${code}`;
}

/** The API port's gRPC request metrics (SPEC §6), registered in the same registry as the HTTP ones. */
export class GrpcMetrics {
  private readonly requests: Counter<'method' | 'code'>;
  private readonly duration: SeriesHistogram<'method'>;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: 'kvstore_grpc_requests_total',
      help: 'gRPC calls answered, by method and status code',
      labelNames: ['method', 'code'],
      registers: [registry],
    });
    this.duration = new SeriesHistogram('kvstore_grpc_request_duration_seconds', 'gRPC call latency (forwarding included), by method', ['method'], latencyBucketsSeconds, registry);
  }

  observeCall(method: string, code: grpc.status, seconds: number): void {
    const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
    this.requests.inc({ method: m, code: grpcCodeName(code) });
    this.duration.of(m, () => ({ method: m })).observe(seconds);
  }
}
