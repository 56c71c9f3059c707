import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { OrderedKeys, orderedChunkMax } from '../../src/kv/ordered-keys.js';
import type { BinaryKey } from '../../src/kv/sharded-map.js';

const k = (s: string): BinaryKey => s as BinaryKey;

function all(index: OrderedKeys, start = '', exclusive = false): string[] {
  const out: string[] = [];
  index.forEachFrom(k(start), exclusive, (key) => out.push(key) > 0);
  return out;
}

test('ordered keys: byte order, not UTF-16 or locale order, for latin1-held keys', () => {
  const index = new OrderedKeys();
  for (const s of ['\xff', 'b', '\x00', 'a\xff', 'a', '\x80', 'B']) index.insert(k(s));
  assert.deepEqual(all(index), ['\x00', 'B', 'a', 'a\xff', 'b', '\x80', '\xff']);
  assert.deepEqual(all(index, 'a'), ['a', 'a\xff', 'b', '\x80', '\xff']);
  assert.deepEqual(all(index, 'a', true), ['a\xff', 'b', '\x80', '\xff']);
  assert.deepEqual(all(index, 'a\x00'), ['a\xff', 'b', '\x80', '\xff']);
  assert.deepEqual(all(index, '\xff\xff'), []);
});

test('ordered keys: agree with a sorted array over random inserts, deletes and scans, across chunk splits and merges', () => {
  // Keys from a small space so that inserts and deletes collide; thousands of them so chunks split and merge.
  const keyArb = fc.integer({ min: 0, max: 3000 }).map((n) => k(String.fromCharCode(n >> 8, n & 0xff)));
  const opArb = fc.oneof(
    { weight: 5, arbitrary: fc.tuple(fc.constant('insert' as const), keyArb) },
    { weight: 4, arbitrary: fc.tuple(fc.constant('delete' as const), keyArb) },
    { weight: 1, arbitrary: fc.tuple(fc.constant('scan' as const), keyArb) },
  );
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 0, maxLength: 4000 }), fc.boolean(), (ops, bulk) => {
      const oracle = new Set<string>();
      const initial = bulk ? ops.slice(0, ops.length >> 1).map(([, key]) => key) : [];
      for (const key of initial) oracle.add(key);
      const index = bulk ? OrderedKeys.of([...oracle] as BinaryKey[]) : new OrderedKeys();
      for (const [op, key] of bulk ? ops.slice(ops.length >> 1) : ops) {
        if (op === 'insert') {
          assert.equal(index.insert(key), !oracle.has(key));
          oracle.add(key);
        } else if (op === 'delete') {
          assert.equal(index.delete(key), oracle.has(key));
          oracle.delete(key);
        } else {
          const sorted = [...oracle].sort();
          assert.deepEqual(all(index, key, true), sorted.filter((x) => x > key));
        }
        assert.equal(index.size(), oracle.size);
      }
      assert.deepEqual(all(index), [...oracle].sort());
    }),
    { numRuns: 60 },
  );
});

test('ordered keys: a scan stops when the visitor says so; bulk loading refuses a duplicate', () => {
  const index = OrderedKeys.of(Array.from({ length: 3 * orderedChunkMax }, (_, i) => k(String(i).padStart(5, '0'))));
  const seen: string[] = [];
  index.forEachFrom(k('00700'), false, (key) => seen.push(key) < 3);
  assert.deepEqual(seen, ['00700', '00701', '00702']);
  assert.throws(() => OrderedKeys.of([k('a'), k('b'), k('a')]), /appears twice/);
  // Delete everything from the front: chunks empty out and disappear.
  for (let i = 0; i < 3 * orderedChunkMax; i++) assert.ok(index.delete(k(String(i).padStart(5, '0'))));
  assert.equal(index.size(), 0);
  assert.deepEqual(all(index), []);
  assert.ok(index.insert(k('z')));
  assert.deepEqual(all(index), ['z']);
});
