import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteBlocks } from '../../src/kv/byte-blocks.js';

test('byte blocks: every copy keeps its bytes while later copies fill and replace blocks', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 200 }), (strings) => {
      const blocks = new ByteBlocks(16, 64);
      const copies = strings.map((s) => blocks.copy(s));
      copies.forEach((c, i) => assert.deepEqual([...c], [...strings[i]!]));
    }),
  );
});

test('byte blocks: short strings share one buffer, a string past an eighth of a block gets its own', () => {
  const blocks = new ByteBlocks(1024, 1024);
  const a = blocks.copy(new Uint8Array(100).fill(1));
  const b = blocks.copy(new Uint8Array(28).fill(2));
  assert.equal(a.buffer, b.buffer);
  assert.equal(b.byteOffset, 100);
  const long = blocks.copy(new Uint8Array(129).fill(3));
  assert.notEqual(long.buffer, a.buffer);
  assert.equal(long.buffer.byteLength, 129);
  // The next short one still goes to the shared block.
  assert.equal(blocks.copy(new Uint8Array(1)).buffer, a.buffer);
});

test('byte blocks: a copy is not a view of its source', () => {
  const blocks = new ByteBlocks(64, 64);
  const source = new Uint8Array([1, 2, 3]);
  const c = blocks.copy(source);
  source[0] = 9;
  assert.deepEqual([...c], [1, 2, 3]);
});

test('byte blocks: blocks double from the smallest to the largest size', () => {
  const blocks = new ByteBlocks(16, 64);
  const sizes: number[] = [];
  for (let i = 0; i < 20; i++) {
    blocks.append(new Uint8Array(8));
    const size = blocks.block().byteLength;
    if (sizes[sizes.length - 1] !== size) sizes.push(size);
  }
  assert.deepEqual(sizes, [16, 32, 64]);
});

test('byte blocks: append refuses a string too long to share, and bad sizes are refused', () => {
  assert.throws(() => new ByteBlocks(64, 64).append(new Uint8Array(9)), /9 bytes, more than the 8/);
  assert.throws(() => new ByteBlocks(0, 64), /not 1 <= min <= max/);
  assert.throws(() => new ByteBlocks(128, 64), /not 1 <= min <= max/);
});

test('byte blocks: a long string from a Buffer is copied, not viewed (Buffer.slice is a view)', () => {
  const frame = Buffer.alloc(4096, 7);
  const view = frame.subarray(1000, 1000 + 200);
  const c = new ByteBlocks(64, 64).copy(view);
  assert.equal(c.buffer.byteLength, 200);
  frame.fill(0);
  assert.deepEqual([...c], new Array<number>(200).fill(7));
});
