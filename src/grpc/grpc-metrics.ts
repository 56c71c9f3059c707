import { latencyBucketsSeconds } from '../metrics/buckets.js';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { SeriesCounter, type CounterSeries } from '../metrics/series-counter.js';
import { SeriesHistogram } from '../metrics/series-histogram.js';
import { Table } from '../metrics/table.js';

/** Methods a label may carry (KV's by name, others as Service.Method); anything else is OTHER, so labels stay bounded. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['Put', 'Get', 'Delete', 'Range', 'Txn', 'Lease.Grant', 'Lease.Revoke', 'Lease.Leases', 'Lease.KeepAlive', 'Lease.TimeToLive', 'Watch.Watch']);

/** `OK`, `NOT_FOUND`, … for a gRPC status code (the name, not the number). */
export function grpcCodeName(code: grpc.status): string {
  return grpc.status[code] ?? `CODE_${code}`;
}

/** The API port's gRPC request metrics (SPEC §6), registered in the same registry as the HTTP ones. */
export class GrpcMetrics {
  // Found per call by the strings the call holds, counted with a `++` (prom-client's labelled inc hashes the labels every time).
  private readonly requests: Table<string, grpc.status, CounterSeries>;
  private readonly duration: SeriesHistogram<'method'>;

  constructor(registry: Registry) {
    const requests = new SeriesCounter('kvstore_grpc_requests_total', 'gRPC calls answered, by method and status code', ['method', 'code'], registry);
    this.requests = new Table((method, code) => requests.of(`${method} ${code}`, () => ({ method, code: grpcCodeName(code) })));
    this.duration = new SeriesHistogram('kvstore_grpc_request_duration_seconds', 'gRPC call latency (forwarding included), by method', ['method'], latencyBucketsSeconds, registry);
  }

  observeCall(method: string, code: grpc.status, seconds: number): void {
    const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
    this.requests.get(m, code).inc();
    this.duration.of(m, () => ({ method: m })).observe(seconds);
  }
}
