// The gRPC API (SPEC §4) against a real 3-node cluster of processes.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { KVClient } from '../../src/grpc/generated/kvstore/v1/KV.js';
import { createKvClient, loadKvProto } from '../../src/grpc/proto.js';
import { LEADER_METADATA } from '../../src/grpc/unary.js';
import { ProcessCluster } from '../e2e/process-cluster.js';
import { grpcFrame, rawGrpcCall, rawSession } from './raw-http2.js';

const ELECTION_MS = 500;
const ELECT_WITHIN_MS = 20 * ELECTION_MS;
const CALL_DEADLINE_MS = 5000;
const VALUE_BYTES_MAX = 1_048_576;

type Unary<Req, Res> = (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

interface Reply<Res> {
  readonly err: grpc.ServiceError | null;
  readonly res: Res | undefined;
  /** Initial metadata (x-raft-leader), or the trailers of an error. */
  readonly leader: string | undefined;
}

/** Calls a unary method and collects the response, the status and the leader metadata. */
function call<Req, Res>(method: Unary<Req, Res>, client: KVClient, req: Req): Promise<Reply<Res>> {
  return new Promise((resolve) => {
    let leader: string | undefined;
    const c = method.call(client, req, new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => {
      const fromTrailers = err?.metadata?.get(LEADER_METADATA)[0];
      resolve({ err, res, leader: leader ?? (fromTrailers === undefined ? undefined : String(fromTrailers)) });
    });
    c.on('metadata', (md: grpc.Metadata) => {
      const v = md.get(LEADER_METADATA)[0];
      if (v !== undefined) leader = String(v);
    });
  });
}

const key = (s: string): Buffer => Buffer.from(s);

describe('gRPC API on a 3-node cluster', { concurrency: false }, () => {
  let c: ProcessCluster;
  let leaderId: string;
  let followerId: string;
  const clients = new Map<string, KVClient>();
  const kv = (id: string): KVClient => {
    let k = clients.get(id);
    if (k === undefined) {
      k = createKvClient(`127.0.0.1:${c.node(id).grpcPort}`);
      clients.set(id, k);
    }
    return k;
  };
  const put = (id: string, req: Parameters<KVClient['Put']>[0]) => call(kv(id).Put as Unary<typeof req, { revision: number }>, kv(id), req);
  const get = (id: string, req: Parameters<KVClient['Get']>[0]) => call(kv(id).Get as Unary<typeof req, { value: Buffer; revision: number }>, kv(id), req);
  const del = (id: string, req: Parameters<KVClient['Delete']>[0]) => call(kv(id).Delete as Unary<typeof req, { deleted: boolean; revision: number }>, kv(id), req);

  before(async () => {
    c = await ProcessCluster.start(3, ELECTION_MS);
    leaderId = await c.waitForLeader(ELECT_WITHIN_MS);
    followerId = c.nodes.map((n) => n.id).find((id) => id !== leaderId)!;
  });

  after(async () => {
    for (const k of clients.values()) k.close();
    await c?.stop();
  });

  test('Put, Get and Delete through the leader carry x-raft-leader', async () => {
    const p = await put(leaderId, { key: key('a'), value: key('1') });
    assert.equal(p.err, null, p.err?.details);
    assert.ok(p.res!.revision > 0);
    assert.equal(p.leader, leaderId);
    const g = await get(leaderId, { key: key('a') });
    assert.equal(g.err, null, g.err?.details);
    assert.equal(g.res!.value.toString(), '1');
    assert.equal(g.res!.revision, p.res!.revision);
    assert.equal(g.leader, leaderId);
    const d = await del(leaderId, { key: key('a') });
    assert.equal(d.err, null, d.err?.details);
    assert.equal(d.res!.deleted, true);
    assert.ok(d.res!.revision > p.res!.revision);
    const again = await del(leaderId, { key: key('a') });
    assert.equal(again.res!.deleted, false);
    const gone = await get(leaderId, { key: key('a') });
    assert.equal(gone.err?.code, grpc.status.NOT_FOUND);
    assert.equal(gone.leader, leaderId);
  });

  test('a follower forwards Put, linearizable and lease Get, and Delete to the leader', async () => {
    const p = await put(followerId, { key: key('f/1'), value: key('via follower') });
    assert.equal(p.err, null, p.err?.details);
    assert.equal(p.leader, leaderId);
    for (const consistency of ['LINEARIZABLE', 'LEASE'] as const) {
      const g = await get(followerId, { key: key('f/1'), consistency });
      assert.equal(g.err, null, g.err?.details);
      assert.equal(g.res!.value.toString(), 'via follower');
      assert.equal(g.res!.revision, p.res!.revision);
      assert.equal(g.leader, leaderId);
    }
    const mismatch = await put(followerId, { key: key('f/1'), value: key('x'), expected_revision: p.res!.revision + 1000 });
    assert.equal(mismatch.err?.code, grpc.status.FAILED_PRECONDITION, 'a forwarded error keeps its status');
    assert.equal(mismatch.leader, leaderId);
    const d = await del(followerId, { key: key('f/1'), expected_revision: p.res!.revision });
    assert.equal(d.err, null, d.err?.details);
    assert.equal(d.res!.deleted, true);
    assert.equal(d.leader, leaderId);
  });

  test('stale Get is served by the follower itself', async () => {
    const p = await put(leaderId, { key: key('s'), value: key('stale ok') });
    assert.equal(p.err, null, p.err?.details);
    await c.waitForValue(followerId, 's', 'stale ok', ELECT_WITHIN_MS);
    const g = await get(followerId, { key: key('s'), consistency: 'STALE' });
    assert.equal(g.err, null, g.err?.details);
    assert.equal(g.res!.value.toString(), 'stale ok');
    assert.equal(g.res!.revision, p.res!.revision);
  });

  test('compare-and-set: expected_revision succeeds once, then FAILED_PRECONDITION', async () => {
    const first = await put(leaderId, { key: key('cas'), value: key('v1') });
    const ok = await put(leaderId, { key: key('cas'), value: key('v2'), expected_revision: first.res!.revision });
    assert.equal(ok.err, null, ok.err?.details);
    const stale = await put(leaderId, { key: key('cas'), value: key('v3'), expected_revision: first.res!.revision });
    assert.equal(stale.err?.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(stale.err?.metadata.get('x-kvstore-revision')[0], String(ok.res!.revision));
    const delStale = await del(leaderId, { key: key('cas'), expected_revision: first.res!.revision });
    assert.equal(delStale.err?.code, grpc.status.FAILED_PRECONDITION);
    const g = await get(leaderId, { key: key('cas') });
    assert.equal(g.res!.value.toString(), 'v2');
  });

  test('create_only writes an absent key once', async () => {
    const a = await put(leaderId, { key: key('once'), value: key('1'), create_only: true });
    assert.equal(a.err, null, a.err?.details);
    const b = await put(followerId, { key: key('once'), value: key('2'), create_only: true });
    assert.equal(b.err?.code, grpc.status.FAILED_PRECONDITION);
    const both = await put(leaderId, { key: key('once'), value: key('3'), create_only: true, expected_revision: 1 });
    assert.equal(both.err?.code, grpc.status.INVALID_ARGUMENT);
  });

  test('a retry with the same request_id answers the first revision and applies once', async () => {
    const first = await put(leaderId, { key: key('idem'), value: key('a'), request_id: 'req-1' });
    assert.equal(first.err, null, first.err?.details);
    const retry = await put(followerId, { key: key('idem'), value: key('a'), request_id: 'req-1' });
    assert.equal(retry.err, null, retry.err?.details);
    assert.equal(retry.res!.revision, first.res!.revision);
    const g = await get(leaderId, { key: key('idem') });
    assert.equal(g.res!.revision, first.res!.revision);
    // The request_id of a Put reused for a Delete: refused, not applied.
    const reused = await del(followerId, { key: key('idem'), request_id: 'req-1' });
    assert.equal(reused.err?.code, grpc.status.INVALID_ARGUMENT, reused.err?.details);
    assert.match(reused.err!.details, /first used for a put/);
    assert.equal((await get(leaderId, { key: key('idem') })).res!.revision, first.res!.revision);
  });

  test('bad keys are INVALID_ARGUMENT and a too-large value is RESOURCE_EXHAUSTED', async () => {
    for (const id of [leaderId, followerId]) {
      assert.equal((await put(id, { key: Buffer.alloc(0), value: key('v') })).err?.code, grpc.status.INVALID_ARGUMENT);
      assert.equal((await put(id, { key: Buffer.alloc(4097, 0x61), value: key('v') })).err?.code, grpc.status.INVALID_ARGUMENT);
      assert.equal((await get(id, { key: Buffer.alloc(0) })).err?.code, grpc.status.INVALID_ARGUMENT);
      assert.equal((await del(id, { key: Buffer.alloc(4097, 0x61) })).err?.code, grpc.status.INVALID_ARGUMENT);
      const big = await put(id, { key: key('big'), value: Buffer.alloc(VALUE_BYTES_MAX + 1) });
      assert.equal(big.err?.code, grpc.status.RESOURCE_EXHAUSTED, big.err?.details);
    }
    const max = await put(leaderId, { key: Buffer.alloc(4096, 0x62), value: Buffer.alloc(VALUE_BYTES_MAX) });
    assert.equal(max.err, null, max.err?.details);
  });

  // (grpc-health-check decodes Check and Watch leniently: an undecodable one reads as the empty request.)
  test('a body that is not valid protobuf is INVALID_ARGUMENT, on KV and Health.List, and the node keeps serving', async () => {
    const session = await rawSession(c.node(followerId).grpcPort);
    try {
      // A field tag of wire type 7 (no such type), then a length prefix running past the end.
      for (const garbage of [Uint8Array.from([0x0f, 0x01]), Uint8Array.from([0x0a, 0xff, 0xff, 0x01])]) {
        for (const path of ['/kvstore.v1.KV/Put', '/kvstore.v1.KV/Get', '/kvstore.v1.KV/Delete', '/grpc.health.v1.Health/List']) {
          const a = await rawGrpcCall(session, path, grpcFrame(garbage));
          assert.equal(a.grpcStatus, grpc.status.INVALID_ARGUMENT, `${path}: ${a.grpcStatus} ${a.grpcMessage}`);
        }
      }
    } finally {
      session.close();
    }
    const p = await put(followerId, { key: key('after-garbage'), value: key('ok') });
    assert.equal(p.err, null, p.err?.details);
  });

  test('grpc.health.v1.Health answers SERVING on every node', async () => {
    const { definition } = loadKvProto();
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: typeof grpc.Client } } } };
    for (const n of c.nodes) {
      const h = new pkg.grpc.health.v1.Health(`127.0.0.1:${n.grpcPort}`, grpc.credentials.createInsecure()) as grpc.Client & {
        Check(req: { service: string }, opts: grpc.CallOptions, cb: grpc.requestCallback<{ status: string }>): void;
      };
      try {
        for (const service of ['', 'kvstore.v1.KV']) {
          const status = await new Promise<string>((resolve, reject) =>
            h.Check({ service }, { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => (err === null ? resolve(res!.status) : reject(err))),
          );
          assert.equal(status, 'SERVING', `${n.id} '${service}'`);
        }
      } finally {
        h.close();
      }
    }
  });

  test('server reflection lists kvstore.v1.KV and grpc.health.v1.Health', async () => {
    const reflectionDir = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '..', 'proto');
    const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [reflectionDir], keepCase: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: typeof grpc.Client } } } };
    const r = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${c.node(followerId).grpcPort}`, grpc.credentials.createInsecure()) as grpc.Client & {
      ServerReflectionInfo(opts: grpc.CallOptions): grpc.ClientDuplexStream<{ list_services: string }, { list_services_response?: { service: { name: string }[] } }>;
    };
    try {
      const names = await new Promise<string[]>((resolve, reject) => {
        const s = r.ServerReflectionInfo({ deadline: Date.now() + CALL_DEADLINE_MS });
        s.on('data', (m: { list_services_response?: { service: { name: string }[] } }) => {
          resolve((m.list_services_response?.service ?? []).map((x) => x.name));
          s.end();
        });
        s.on('error', reject);
        s.write({ list_services: '' });
      });
      assert.ok(names.includes('kvstore.v1.KV'), names.join(','));
      assert.ok(names.includes('grpc.health.v1.Health'), names.join(','));
    } finally {
      r.close();
    }
  });
});
