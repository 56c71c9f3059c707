// Loads proto/kvstore/v1/kv.proto (and the standard health proto) at run time with
// @grpc/proto-loader. The options here must match the `proto:grpc` npm script that
// generates the types in ./generated/ (gitignored).
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import type { ProtoGrpcType } from './generated/kv.js';
import type { KVClient } from './generated/kvstore/v1/KV.js';
import type { LeaseClient } from './generated/kvstore/v1/Lease.js';
import type { WatchClient } from './generated/kvstore/v1/Watch.js';

/** From dist/src/grpc/ (or src/grpc/) up to the repository root. */
export const kvProtoPath = fileURLToPath(new URL('../../../proto/kvstore/v1/kv.proto', import.meta.url));
const kvProtoPathFromSrc = fileURLToPath(new URL('../../proto/kvstore/v1/kv.proto', import.meta.url));

export const loaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

function kvPath(): string {
  return import.meta.url.includes('/dist/') ? kvProtoPath : kvProtoPathFromSrc;
}

let cached: { definition: protoLoader.PackageDefinition; kv: ProtoGrpcType } | null = null;

/** The package definition of kvstore.v1 and grpc.health.v1 (for reflection), and the typed KV package. */
export function loadKvProto(): { definition: protoLoader.PackageDefinition; kv: ProtoGrpcType } {
  if (cached === null) {
    const definition = protoLoader.loadSync([kvPath(), healthProtoPath], loaderOptions);
    const kv = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
    cached = { definition, kv };
  }
  return cached;
}

/** A typed KV client (tests, tools, and the follower-to-leader forwarder). */
export function createKvClient(address: string, credentials = grpc.credentials.createInsecure(), options?: grpc.ChannelOptions): KVClient {
  const { kv } = loadKvProto();
  return new kv.kvstore.v1.KV(address, credentials, options);
}

/** A typed Lease client. */
export function createLeaseClient(address: string, credentials = grpc.credentials.createInsecure(), options?: grpc.ChannelOptions): LeaseClient {
  const { kv } = loadKvProto();
  return new kv.kvstore.v1.Lease(address, credentials, options);
}

/** A typed Watch client. */
export function createWatchClient(address: string, credentials = grpc.credentials.createInsecure(), options?: grpc.ChannelOptions): WatchClient {
  const { kv } = loadKvProto();
  return new kv.kvstore.v1.Watch(address, credentials, options);
}
