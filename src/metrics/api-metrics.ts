import { Counter, Registry } from 'prom-client';
import type { ErrorCode } from '../errors.js';
import type { KvStats } from '../node/kv-node.js';
import { latencyBucketsSeconds } from './buckets.js';
import { collectedCounter, collectedGauge } from './collected.js';
import { SeriesHistogram } from './series-histogram.js';

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
  private readonly kvDuration: SeriesHistogram<'op' | 'consistency'>;
  private readonly errors: Counter<'api' | 'code'>;
  private readonly connectionsRefused: Counter<'api' | 'reason'>;

  constructor(nodeId: string, stats: () => KvStats) {
    this.registry.setDefaultLabels({ node: nodeId });
    const registers = [this.registry];
    this.kvDuration = new SeriesHistogram(
      'kvstore_kv_operation_duration_seconds',
      'Key-value operation latency (proposal or read to answer), by op and read consistency (writes: linearizable)',
      ['op', 'consistency'],
      latencyBucketsSeconds,
      this.registry,
    );
    this.errors = new Counter({
      name: 'kvstore_api_errors_total',
      help: 'Error answers, by API (http, grpc) and error catalog code',
      labelNames: ['api', 'code'],
      registers,
    });
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
    this.kvDuration.of(`${op} ${consistency}`, () => ({ op, consistency })).observe(seconds);
  }

  errorAnswered(api: Api, code: ErrorCode): void {
    this.errors.inc({ api, code });
  }

  /** `reason` comes from a fixed set (the listeners'), never from a client. */
  connectionRefused(api: Api, reason: 'too_many_connections' | 'tls_failed' | 'timeout'): void {
    this.connectionsRefused.inc({ api, reason });
  }
}
