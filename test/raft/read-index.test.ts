import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ForwardedReads, ReadIndexTracker } from '../../src/raft/read-index.js';
import { logIndex, nodeId } from '../../src/raft/types.js';

test('ReadIndex: a read waits for a majority to acknowledge a broadcast sent after it arrived', () => {
  const r = new ReadIndexTracker();
  r.add(1, logIndex(10));
  assert.equal(r.needsBroadcast(), true, 'no broadcast after the read yet');
  const seq = r.broadcast(0);
  assert.equal(r.needsBroadcast(), false);
  assert.deepEqual(r.quorumAcknowledged(seq - 1), [], 'an acknowledgement of an earlier broadcast proves nothing about the read');
  assert.deepEqual(r.quorumAcknowledged(seq), [{ requestId: 1, from: null, index: 10 }]);
  assert.deepEqual(r.quorumAcknowledged(seq), [], 'released once');
});

test('ReadIndex: reads arriving while a broadcast is in flight share the next one', () => {
  const r = new ReadIndexTracker();
  r.add(1, logIndex(5));
  const first = r.broadcast(0);
  r.add(2, logIndex(6));
  r.add(3, logIndex(6));
  assert.equal(r.broadcastInFlight(), true, 'the caller waits for the round in flight before starting the next');
  assert.deepEqual(r.quorumAcknowledged(first), [{ requestId: 1, from: null, index: 5 }], 'the in-flight round was sent before reads 2 and 3');
  assert.equal(r.broadcastInFlight(), false);
  assert.equal(r.needsBroadcast(), true);
  const second = r.broadcast(50);
  assert.deepEqual(r.quorumAcknowledged(second), [{ requestId: 2, from: null, index: 6 }, { requestId: 3, from: null, index: 6 }], 'one round serves both');
});

test('ReadIndex: reads before the first commit of the term wait for it, then take its index', () => {
  const r = new ReadIndexTracker();
  r.add(1, null);
  assert.equal(r.needsBroadcast(), false, 'nothing to confirm yet: the commit index may lag');
  r.firstCommitInTerm(logIndex(12));
  assert.equal(r.needsBroadcast(), true);
  assert.deepEqual(r.quorumAcknowledged(r.broadcast(0)), [{ requestId: 1, from: null, index: 12 }]);
});

test('ReadIndex: a follower\'s read is tracked with the follower it came from, and is not the leader\'s to fail when leadership ends', () => {
  const r = new ReadIndexTracker();
  const n2 = nodeId('n2');
  r.add(7, logIndex(4), n2);
  r.add(7, logIndex(4));
  r.add(8, null, n2);
  r.firstCommitInTerm(logIndex(5));
  assert.deepEqual(r.quorumAcknowledged(r.broadcast(0)), [
    { requestId: 7, from: n2, index: 4 },
    { requestId: 7, from: null, index: 4 },
    { requestId: 8, from: n2, index: 5 },
  ]);
  r.add(9, logIndex(6), n2);
  r.add(10, logIndex(6));
  assert.deepEqual(r.drain(), [10], 'the follower fails read 9 itself, when it sees the term change');
});

test('ForwardedReads: a read is answered once; a late answer, or one after the drain, finds nothing', () => {
  const f = new ForwardedReads();
  f.add(1);
  f.add(2);
  assert.equal(f.answered(1), true);
  assert.equal(f.answered(1), false, 'a duplicate answer');
  assert.deepEqual(f.drain(), [2]);
  assert.equal(f.answered(2), false, 'an answer after the read failed');
  assert.deepEqual(f.drain(), []);
});

test('ReadIndex: the lease runs from the send time of the last majority-acknowledged broadcast, minus the drift bound', () => {
  const r = new ReadIndexTracker();
  assert.equal(r.leaseExpiryMs(1000, 100), Number.NEGATIVE_INFINITY, 'no lease before any acknowledgement');
  const a = r.broadcast(200);
  r.broadcast(300);
  r.quorumAcknowledged(a);
  assert.equal(r.leaseExpiryMs(1000, 100), 200 + 1000 - 100);
});

test('ReadIndex: when leadership ends every waiting read fails, those waiting for the first commit included', () => {
  const r = new ReadIndexTracker();
  r.add(1, null);
  r.add(2, logIndex(3));
  assert.deepEqual(r.drain().sort(), [1, 2]);
  assert.deepEqual(r.drain(), []);
});

test('ReadIndex: a released read always arrived before the broadcast whose acknowledgement released it (model)', () => {
  type Op = { kind: 'read' } | { kind: 'broadcast' } | { kind: 'ack'; back: number };
  const op = fc.oneof(fc.constant<Op>({ kind: 'read' }), fc.constant<Op>({ kind: 'broadcast' }), fc.nat(3).map<Op>((back) => ({ kind: 'ack', back })));
  fc.assert(
    fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const r = new ReadIndexTracker();
      /** For each read, the highest broadcast sent before it arrived. */
      const sentBefore = new Map<number, number>();
      let seq = 0;
      let id = 0;
      const released = new Set<number>();
      for (const o of ops) {
        if (o.kind === 'read') {
          sentBefore.set(++id, seq);
          r.add(id, logIndex(id));
        } else if (o.kind === 'broadcast') seq = r.broadcast(0);
        else {
          const acked = Math.max(0, seq - o.back);
          for (const s of r.quorumAcknowledged(acked)) {
            assert.ok(acked > sentBefore.get(s.requestId)!, `read ${s.requestId} released by a broadcast sent before it`);
            assert.ok(!released.has(s.requestId), 'released twice');
            released.add(s.requestId);
          }
        }
      }
    }),
  );
});
