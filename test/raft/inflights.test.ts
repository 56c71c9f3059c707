import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Inflights } from '../../src/raft/inflights.js';
import { logIndex } from '../../src/raft/types.js';

/** Inflights against a plain array of the indexes in flight, oldest first. */

type Op =
  | { readonly kind: 'add'; readonly delta: number }
  | { readonly kind: 'freeTo'; readonly back: number }
  | { readonly kind: 'freeFirstOne' }
  | { readonly kind: 'reset' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  // Mostly increasing indexes; delta <= 0 exercises the non-increasing refusal.
  { arbitrary: fc.record({ kind: fc.constant('add' as const), delta: fc.integer({ min: -3, max: 12 }) }), weight: 6 },
  { arbitrary: fc.record({ kind: fc.constant('freeTo' as const), back: fc.integer({ min: -2, max: 30 }) }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'freeFirstOne' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'reset' as const }), weight: 1 },
);

test('Inflights behaves like an array of increasing indexes with a capacity', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(opArb, { maxLength: 200 }), (capacity, ops) => {
      const inf = new Inflights(capacity);
      const model: number[] = [];
      // The highest index ever offered: adds are relative to it, like a leader's growing log.
      let cursor = 0;
      for (const op of ops) {
        switch (op.kind) {
          case 'add': {
            const index = Math.max(0, cursor + op.delta);
            const newest = model[model.length - 1];
            if (model.length === capacity) {
              assert.throws(() => inf.add(logIndex(index)), /full/);
            } else if (newest !== undefined && index <= newest) {
              assert.throws(() => inf.add(logIndex(index)), /not after/);
            } else {
              inf.add(logIndex(index));
              model.push(index);
              cursor = Math.max(cursor, index);
            }
            break;
          }
          case 'freeTo': {
            const index = cursor - op.back;
            inf.freeTo(logIndex(index));
            while (model.length > 0 && model[0]! <= index) model.shift();
            break;
          }
          case 'freeFirstOne':
            inf.freeFirstOne();
            model.shift();
            break;
          case 'reset':
            inf.reset();
            model.length = 0;
            break;
        }
        assert.equal(inf.size(), model.length);
        assert.equal(inf.full(), model.length === capacity);
      }
      // Drain one at a time: freeTo(i) releases exactly the model's entries <= i, so the
      // stored indexes (not just their count) agree with the model.
      while (model.length > 0) {
        const oldest = model[0]!;
        inf.freeTo(logIndex(oldest - 1));
        assert.equal(inf.size(), model.length, `freeTo(${oldest - 1}) freed something newer`);
        inf.freeTo(logIndex(oldest));
        model.shift();
        assert.equal(inf.size(), model.length, `freeTo(${oldest}) did not free exactly ${oldest}`);
      }
    }),
    { seed: 0x1f, numRuns: 1000 },
  );
});

test('Inflights: add on a full window and non-increasing add throw; freeing makes room again', () => {
  const inf = new Inflights(3);
  inf.add(logIndex(5));
  assert.throws(() => inf.add(logIndex(5)), /not after/);
  assert.throws(() => inf.add(logIndex(4)), /not after/);
  inf.add(logIndex(7));
  inf.add(logIndex(9));
  assert.ok(inf.full());
  assert.throws(() => inf.add(logIndex(10)), /full/);
  inf.freeTo(logIndex(6));
  assert.equal(inf.size(), 2);
  assert.ok(!inf.full());
  // The ring wraps around: the slot freed at the start is reused at the end.
  inf.add(logIndex(10));
  assert.ok(inf.full());
  inf.freeFirstOne();
  assert.equal(inf.size(), 2);
  inf.freeTo(logIndex(100));
  assert.equal(inf.size(), 0);
  inf.freeFirstOne();
  assert.equal(inf.size(), 0);
});

test('Inflights capacity must be a positive integer', () => {
  assert.throws(() => new Inflights(0));
  assert.throws(() => new Inflights(-1));
  assert.throws(() => new Inflights(1.5));
});
