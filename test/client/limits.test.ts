import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KvGrpcClient } from '../../src/client/grpc-client.js';
import { KvClient } from '../../src/client/rest-client.js';
import { idempotencyKeyBytesMax, keyBytesMax } from '../../src/kv/limits.js';

// Nothing listens on these: every call below must be refused before anything is sent.
const rest = new KvClient({ endpoints: ['http://127.0.0.1:1'], maxAttempts: 1 });
const grpc = new KvGrpcClient({ endpoints: ['127.0.0.1:1'], maxAttempts: 1 });

test('both clients refuse a key longer than the servers take, without a round trip', async () => {
  const long = 'k'.repeat(keyBytesMax + 1);
  for (const client of [rest, grpc]) {
    for (const r of [await client.put(long, 'v'), await client.get(long), await client.delete(long)]) {
      assert.ok(!r.ok && r.kind === 'failed' && r.status === 0 && r.error === 'bad_key', JSON.stringify(r));
    }
  }
});

test('both clients refuse an idempotency key longer than the servers take', async () => {
  const long = 'i'.repeat(idempotencyKeyBytesMax + 1);
  for (const client of [rest, grpc]) {
    const r = await client.put('k', 'v', { idempotencyKey: long });
    assert.ok(!r.ok && r.kind === 'failed' && r.status === 0 && r.error === 'bad_request', JSON.stringify(r));
  }
  // REST carries the key in a header: visible ASCII only.
  const r = await rest.delete('k', { idempotencyKey: 'clé' });
  assert.ok(!r.ok && r.kind === 'failed' && r.error === 'bad_request', JSON.stringify(r));
  grpc.close();
});
