import { Counter, Registry } from 'prom-client';
import type { ErrorCode } from '../errors.js';
import type { KvStats } from '../node/kv-node.js';
import { latencyBucketsSeconds } from './buckets.js';
import { collectedCounter, collectedGauge } from './collected.js';
import { SeriesCounter, type CounterSeries } from './series-counter.js';
import { SeriesHistogram, type HistogramSeries } from './series-histogram.js';
import { Table } from './table.js';

export type KvOp = 'get' | 'put' | 'delete' | 'list' | 'txn' | 'lease_grant' | 'lease_revoke' | 'lease_keepalive';

/** A read's consistency; writes are always linearizable. */
export type KvConsistency = 'linearizable' | 'lease' | 'stale';

export type Api = 'http' | 'grpc';

/**
 * What the API port's `/metrics` serves besides the per-protocol request metrics
 * (HttpMetrics, GrpcMetrics, registered in the same registry): key-value operation
 * latency, errors by catalog code, and the applied state's sizes, read when scraped.
 * Every series carries `node`; no label ever holds a key or a request id.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly kvDuration: Table<KvOp, KvConsistency, HistogramSeries>;
  private readonly errors: Table<Api, ErrorCode, CounterSeries>;
  private readonly connectionsRefused: Counter<'api' | 'reason'>;

  constructor(nodeId: string, stats: () => KvStats) {
    this.registry.setDefaultLabels({ node: nodeId });
    const registers = [this.registry];
    const kvDuration = new SeriesHistogram(
      'kvstore_kv_operation_duration_seconds',
      'Key-value operation latency (proposal or read to answer), by op and read consistency (writes: linearizable)',
      ['op', 'consistency'],
      latencyBucketsSeconds,
      this.registry,
    );
    this.kvDuration = new Table((op, consistency) => kvDuration.of(`${op} ${consistency}`, () => ({ op, consistency })));
    const errors = new SeriesCounter('kvstore_api_errors_total', 'Error answers, by API (http, grpc) and error catalog code', ['api', 'code'], this.registry);
    this.errors = new Table((api, code) => errors.of(`${api} ${code}`, () => ({ api, code })));
    this.connectionsRefused = new Counter({
      name: 'kvstore_api_connections_refused_total',
      help: 'Client connections refused or closed before any request: too_many_connections, tls_failed, timeout (sent nothing)',
      labelNames: ['api', 'reason'],
      registers,
    });
    const r = this.registry;
    collectedGauge(r, 'kvstore_kv_keys', "Keys in this node's applied state", () => stats().keys);
    collectedGauge(r, 'kvstore_kv_bytes', 'Key and value bytes in the applied state (approximate memory of the data itself)', () => stats().bytes);
    collectedGauge(r, 'kvstore_kv_sessions', 'Idempotency sessions remembered (one per idempotency key / request id)', () => stats().sessions);
    collectedCounter(r, 'kvstore_kv_shard_rebuilds_total', 'Shards rebuilt to reclaim memory after many deletions', () => stats().shardRebuilds);
  }

  observeKv(op: KvOp, consistency: KvConsistency, seconds: number): void {
    this.kvDuration.get(op, consistency).observe(seconds);
  }

  errorAnswered(api: Api, code: ErrorCode): void {
    this.errors.get(api, code).inc();
  }

  /** `reason` comes from a fixed set (the listeners'), never from a client. */
  connectionRefused(api: Api, reason: 'too_many_connections' | 'tls_failed' | 'timeout'): void {
    this.connectionsRefused.inc({ api, reason });
  }
}
