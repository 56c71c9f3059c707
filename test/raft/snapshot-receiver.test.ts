import { votersConfig } from './configs.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnapshotReceiver } from '../../src/raft/snapshot-receiver.js';
import type { InstallSnapshot, SnapshotMeta } from '../../src/raft/types.js';
import { logIndex, nodeId, term } from '../../src/raft/types.js';

const meta = (index: number, t = 1): SnapshotMeta => ({ index: logIndex(index), term: term(t), config: votersConfig(['n1']) });
const chunk = (m: SnapshotMeta, k: number, count: number): InstallSnapshot => ({
  type: 'installSnapshot',
  from: nodeId('n2'),
  to: nodeId('n1'),
  term: term(1),
  meta: m,
  chunk: k,
  chunkCount: count,
  data: new Uint8Array([k]),
});

test('SnapshotReceiver: chunks in order complete the snapshot, asking for the next one each time', () => {
  const r = new SnapshotReceiver();
  const m = meta(10);
  assert.deepEqual(r.receive(chunk(m, 0, 3)), { nextChunk: 1 });
  assert.deepEqual(r.receive(chunk(m, 1, 3)), { nextChunk: 2 });
  const done = r.receive(chunk(m, 2, 3));
  assert.ok('complete' in done);
  assert.deepEqual(done.complete.meta, m);
  assert.deepEqual(done.complete.chunks.map((c) => c[0]), [0, 1, 2]);
  assert.deepEqual(r.receive(chunk(m, 2, 3)), { nextChunk: 0 }, 'a completed transfer is forgotten: a late chunk asks to start over');
});

test('SnapshotReceiver: a gap or a duplicate is answered with the chunk needed, and changes nothing', () => {
  const r = new SnapshotReceiver();
  const m = meta(10);
  r.receive(chunk(m, 0, 4));
  assert.deepEqual(r.receive(chunk(m, 2, 4)), { nextChunk: 1 }, 'gap');
  assert.deepEqual(r.receive(chunk(m, 0, 4)), { nextChunk: 1 }, 'duplicate');
  assert.deepEqual(r.receive(chunk(m, 1, 4)), { nextChunk: 2 });
});

test('SnapshotReceiver: another snapshot replaces the one in transfer, but only from its first chunk', () => {
  const r = new SnapshotReceiver();
  r.receive(chunk(meta(10), 0, 2));
  assert.deepEqual(r.receive(chunk(meta(20), 1, 2)), { nextChunk: 0 }, 'the middle of another snapshot');
  assert.ok('complete' in r.receive(chunk(meta(10), 1, 2)), 'the old transfer went on and completed');
  const r2 = new SnapshotReceiver();
  r2.receive(chunk(meta(10), 0, 2));
  assert.deepEqual(r2.receive(chunk(meta(20), 0, 2)), { nextChunk: 1 }, 'a new snapshot from its start replaces the old');
  const done = r2.receive(chunk(meta(20), 1, 2));
  assert.ok('complete' in done && done.complete.meta.index === 20);
});

test('SnapshotReceiver: reset drops a partial transfer', () => {
  const r = new SnapshotReceiver();
  r.receive(chunk(meta(10), 0, 2));
  r.reset();
  assert.deepEqual(r.receive(chunk(meta(10), 1, 2)), { nextChunk: 0 });
});
