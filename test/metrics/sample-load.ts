import assert from 'node:assert/strict';
import { KvGrpcClient } from '../../src/client/grpc-client.js';
import type { ProcessCluster } from '../e2e/process-cluster.js';

/**
 * A little of every kind of traffic, through every node, so that every metric a
 * dashboard panel reads has samples: REST and gRPC puts, deletes and reads of each
 * consistency, and a few errors (absent keys, a failed precondition, a bad key).
 * `prefix` keeps the keys of separate rounds apart.
 */
export async function runSampleLoad(cluster: ProcessCluster, prefix: string): Promise<void> {
  const grpc = new KvGrpcClient({ endpoints: cluster.nodes.map((n) => `127.0.0.1:${n.grpcPort}`) });
  try {
    for (const n of cluster.nodes) {
      for (let i = 0; i < 5; i++) {
        const key = `${prefix}-${n.id}-${i}`;
        const put = await cluster.put(n.id, key, `value ${i}`);
        assert.equal(put.status, 200, `PUT ${key} through ${n.id}`);
        for (const consistency of ['linearizable', 'lease', 'stale'] as const) await (await cluster.get(n.id, key, consistency)).arrayBuffer();
      }
      const missing = await cluster.get(n.id, `${prefix}-${n.id}-absent`, 'stale');
      assert.equal(missing.status, 404);
      await missing.arrayBuffer();
      const stale = await cluster.put(n.id, `${prefix}-${n.id}-0`, 'x', { 'If-Match': '"1"' });
      assert.equal(stale.status, 412);
      await stale.arrayBuffer();
      const bad = await fetch(cluster.url(n.id, '/v1/kv/%zz'), { method: 'PUT', body: 'x' });
      assert.equal(bad.status, 400);
      await bad.arrayBuffer();
      const del = await fetch(cluster.url(n.id, `/v1/kv/${prefix}-${n.id}-4`), { method: 'DELETE', redirect: 'follow' });
      assert.equal(del.status, 200);
      await del.arrayBuffer();
    }
    for (let i = 0; i < 5; i++) {
      const key = `${prefix}-grpc-${i}`;
      assert.equal((await grpc.put(key, `value ${i}`)).ok, true, `gRPC Put ${key}`);
      for (const consistency of ['linearizable', 'lease', 'stale'] as const) await grpc.get(key, { consistency });
    }
    assert.equal((await grpc.delete(`${prefix}-grpc-0`)).ok, true);
    assert.equal((await grpc.get(`${prefix}-grpc-absent`)).ok, false);
  } finally {
    grpc.close();
  }
}
