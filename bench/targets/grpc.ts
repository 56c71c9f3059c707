// gRPC targets, ours (kvstore.v1.KV) and etcd's (etcdserverpb.KV), on @grpc/grpc-js
// with one channel per node and hand-encoded requests; responses are not decoded
// (the status says all the bench needs).
import * as grpc from '@grpc/grpc-js';
import type { Op, Workload } from '../workload.js';
import { encodeMessage } from './proto-wire.js';
import type { Outcome, Target } from './target.js';

const REQUEST_TIMEOUT_MS = 10_000;

/** One RPC per operation: its path and its encoded request, built once per key. */
export interface GrpcDialect {
  readonly name: string;
  path(op: Op): string;
  request(op: Op, key: Buffer, value: Buffer): Buffer;
  /** A status that is a correct answer besides OK (our Get of an absent key is NOT_FOUND). */
  okStatus(op: Op, code: grpc.status): boolean;
}

export type GrpcConsistency = 'linearizable' | 'lease' | 'stale';

/** kvstore.v1.KV: Put {key=1, value=2}, Get {key=1, consistency=2}, Delete {key=1}. */
export function kvstoreDialect(consistency: GrpcConsistency): GrpcDialect {
  const level = consistency === 'linearizable' ? 0 : consistency === 'lease' ? 1 : 2;
  return {
    name: 'kvstore.v1.KV',
    path: (op) => (op === 'put' ? '/kvstore.v1.KV/Put' : op === 'get' ? '/kvstore.v1.KV/Get' : '/kvstore.v1.KV/Delete'),
    request: (op, key, value) =>
      op === 'put' ? encodeMessage([{ no: 1, bytes: key }, { no: 2, bytes: value }]) : op === 'get' ? encodeMessage([{ no: 1, bytes: key }, { no: 2, varint: level }]) : encodeMessage([{ no: 1, bytes: key }]),
    okStatus: (op, code) => op === 'get' && code === grpc.status.NOT_FOUND,
  };
}

/**
 * etcdserverpb.KV (etcd's rpc.proto): PutRequest {key=1, value=2}, RangeRequest
 * {key=1, serializable=7}, DeleteRangeRequest {key=1}. Linearizable is etcd's
 * default Range; stale is a serializable one (etcd has no lease reads).
 */
export function etcdDialect(consistency: GrpcConsistency): GrpcDialect {
  const serializable = consistency === 'stale' ? 1 : 0;
  return {
    name: 'etcdserverpb.KV',
    path: (op) => (op === 'put' ? '/etcdserverpb.KV/Put' : op === 'get' ? '/etcdserverpb.KV/Range' : '/etcdserverpb.KV/DeleteRange'),
    request: (op, key, value) =>
      op === 'put' ? encodeMessage([{ no: 1, bytes: key }, { no: 2, bytes: value }]) : op === 'get' ? encodeMessage([{ no: 1, bytes: key }, { no: 7, varint: serializable }]) : encodeMessage([{ no: 1, bytes: key }]),
    okStatus: () => false,
  };
}

const passThrough = (b: Buffer): Buffer => b;

export interface GrpcTargetOptions {
  /** host:port of each node. */
  readonly endpoints: readonly string[];
  /** Leader-aware: every call goes to this endpoint; else calls are spread over all. */
  readonly leader: string | null;
  readonly dialect: GrpcDialect;
  readonly workload: Workload;
}

export class GrpcTarget implements Target {
  readonly description: string;
  private readonly clients: grpc.Client[];
  private readonly leaderClient: grpc.Client | null;
  private nextNode = 0;
  private readonly requests: Record<Op, Buffer[]>;

  constructor(private readonly o: GrpcTargetOptions) {
    // A channel of its own per node (grpc-js would otherwise share one subchannel per address);
    // no channelz, whose per-call bookkeeping would be the generator's cost, not the system's.
    const options: grpc.ChannelOptions = { 'grpc.use_local_subchannel_pool': 1, 'grpc.enable_channelz': 0 };
    this.clients = o.endpoints.map((e) => new grpc.Client(e, grpc.credentials.createInsecure(), options));
    this.leaderClient = o.leader === null ? null : (this.clients[o.endpoints.indexOf(o.leader)] ?? new grpc.Client(o.leader, grpc.credentials.createInsecure(), options));
    const w = o.workload;
    const build = (op: Op): Buffer[] => w.keyBuffers.map((k) => o.dialect.request(op, k, w.value));
    this.requests = { put: build('put'), get: build('get'), delete: build('delete') };
    this.description = `gRPC ${o.dialect.name}, 1 channel per node × ${o.endpoints.length} nodes, ${o.leader === null ? 'spread over all nodes' : `leader-aware (${o.leader})`}`;
  }

  run(op: Op, key: number): Promise<Outcome> {
    let client = this.leaderClient;
    if (client === null) {
      client = this.clients[this.nextNode]!;
      this.nextNode = (this.nextNode + 1) % this.clients.length;
    }
    const dialect = this.o.dialect;
    return new Promise((resolve) => {
      client.makeUnaryRequest(dialect.path(op), passThrough, passThrough, this.requests[op][key]!, new grpc.Metadata(), { deadline: Date.now() + REQUEST_TIMEOUT_MS }, (err) => {
        if (err === null || dialect.okStatus(op, err.code)) return resolve('ok');
        if (err.code === grpc.status.UNAVAILABLE) return resolve('unavailable');
        if (err.code === grpc.status.DEADLINE_EXCEEDED || err.code === grpc.status.UNKNOWN) return resolve('outcome_unknown');
        resolve(`grpc_${err.code}`);
      });
    });
  }

  close(): Promise<void> {
    for (const c of this.clients) c.close();
    if (this.leaderClient !== null && !this.clients.includes(this.leaderClient)) this.leaderClient.close();
    return Promise.resolve();
  }
}
