import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { logIndex, nodeId, term, type Message } from '../../src/raft/types.js';
import { SendQueue } from '../../src/transport/send-queue.js';

const msg = (seq: number): Message => ({ type: 'heartbeat', from: nodeId('a'), to: nodeId('b'), term: term(1), commit: logIndex(0), seq });

type Op = { readonly kind: 'push'; readonly size: number } | { readonly kind: 'shift' };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('push' as const), size: fc.integer({ min: 1, max: 60 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'shift' as const }) },
);

test('SendQueue behaves like an array that drops its oldest past either bound', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 120 }), fc.array(opArb, { maxLength: 200 }), (countMax, bytesMax, ops) => {
      const q = new SendQueue(countMax, bytesMax);
      const model: { seq: number; size: number }[] = [];
      let seq = 0;
      for (const op of ops) {
        if (op.kind === 'push') {
          model.push({ seq, size: op.size });
          let expectDropped = 0;
          const bytes = () => model.reduce((n, e) => n + e.size, 0);
          while (model.length > countMax || (bytes() > bytesMax && model.length > 1)) {
            model.shift();
            expectDropped++;
          }
          assert.equal(q.push(msg(seq), op.size), expectDropped);
          seq++;
        } else {
          const got = q.shift();
          const want = model.shift();
          assert.equal(got?.type === 'heartbeat' ? got.seq : undefined, want?.seq);
        }
        assert.equal(q.length, model.length);
        assert.equal(q.bytes, model.reduce((n, e) => n + e.size, 0));
        assert.equal(q.peekSize(), model[0]?.size);
        assert.ok(q.length <= countMax);
        assert.ok(q.bytes <= bytesMax || q.length === 1);
      }
    }),
  );
});
