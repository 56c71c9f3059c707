import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { BinaryKey, KvEntry, ShardedMapOptions } from '../../src/kv/sharded-map.js';
import { binaryKey, fnv1a32, ShardedMap } from '../../src/kv/sharded-map.js';
import type { StoredEntry } from '../../src/kv/value-arena.js';
import { arenaValueBytesMax } from '../../src/kv/value-arena.js';
import { bytes, plainEntry, text } from './helpers.js';

const k = (s: string): BinaryKey => binaryKey(text(s));
const e = (revision: number, ...value: number[]): KvEntry => ({ value: Uint8Array.from(value), revision, lease: 0 });
const set = (m: ShardedMap, key: BinaryKey, entry: KvEntry): StoredEntry => m.set(key, entry.value, entry.revision, entry.lease);
const options = (reclaimDeletionsMin: number, reclaimGarbageBytesMin = 1 << 30): ShardedMapOptions => ({ reclaimDeletionsMin, reclaimGarbageBytesMin });

function plainMap(map: ReadonlyMap<BinaryKey, StoredEntry>): Map<string, KvEntry> {
  return new Map([...map].map(([key, entry]) => [key, plainEntry(entry)]));
}

function contents(m: ShardedMap): Map<string, KvEntry> {
  const out = new Map<string, KvEntry>();
  for (let s = 0; s < m.shardCount; s++) m.forEachInShard(s, (key, entry) => out.set(key, plainEntry(entry)));
  return out;
}

test('ShardedMap: the shard count must be a power of two', () => {
  for (const n of [0, 3, 6, 1.5, -2, 2 ** 17, Number.NaN]) assert.throws(() => new ShardedMap(n), /power of two/);
  for (const n of [1, 2, 1024, 2 ** 16]) assert.equal(new ShardedMap(n).shardCount, n);
  assert.throws(() => new ShardedMap(4, options(-1)), /reclaimDeletionsMin/);
  assert.throws(() => new ShardedMap(4, options(0, 0.5)), /reclaimGarbageBytesMin/);
});

test('ShardedMap: keys are hashed with FNV-1a 32 over their bytes', () => {
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  assert.equal(fnv1a32(binaryKey(bytes(0xff, 0x00))), fnv1a32('\xff\x00'));
  const m = new ShardedMap(16);
  assert.equal(m.shardOf(k('foobar')), 0xbf9cf968 & 15);
});

test('ShardedMap: get, set, delete and size; keys differing only in high bytes stay distinct', () => {
  const m = new ShardedMap(4);
  const keys = [bytes(0x80), bytes(0x9f), bytes(0xc3, 0xa9), bytes(0xe9), bytes(0x00), bytes(0x00, 0x00)].map(binaryKey);
  keys.forEach((key, i) => set(m, key, e(i + 1, i)));
  assert.equal(m.size(), keys.length);
  keys.forEach((key, i) => assert.deepEqual(plainEntry(m.get(key)), e(i + 1, i)));
  set(m, keys[0]!, e(9));
  assert.equal(m.size(), keys.length);
  assert.equal(m.delete(keys[1]!), true);
  assert.equal(m.delete(keys[1]!), false);
  assert.equal(m.get(keys[1]!), undefined);
  assert.equal(m.size(), keys.length - 1);
  assert.equal(contents(m).size, keys.length - 1);
});

test('ShardedMap: a shard is queued for reclamation once its deletions exceed max(min, live size), and rebuilt in bounded steps', () => {
  const m = new ShardedMap(1, options(10));
  for (let i = 0; i < 100; i++) set(m, k(`k${i}`), e(i + 1));
  for (let i = 0; i < 50; i++) m.delete(k(`k${i}`));
  assert.equal(m.reclaimPending(), false, '50 deletions, 50 live: not over');
  m.delete(k('k50'));
  assert.equal(m.reclaimPending(), true, '51 deletions, 49 live');
  assert.equal(m.deletionsSinceRebuild(0), 51);
  assert.equal(m.reclaimStep(20), true);
  assert.equal(m.deletionsSinceRebuild(0), 0, 'counting restarts when the rebuild starts');
  assert.equal(m.reclaimStep(20), true);
  assert.equal(m.reclaimStep(20), false, '49 entries in steps of 20');
  assert.equal(m.rebuilds(), 1);
  assert.equal(m.size(), 49);
  for (let i = 51; i < 100; i++) assert.deepEqual(plainEntry(m.get(k(`k${i}`))), e(i + 1));
  assert.throws(() => m.reclaimStep(0), /budget/);
});

test('ShardedMap: writes to visited, unvisited and new keys during a rebuild all reach the swapped-in Map', () => {
  const m = new ShardedMap(1, options(0));
  for (let i = 0; i < 10; i++) set(m, k(`k${i}`), e(i + 1));
  for (let i = 0; i < 6; i++) m.delete(k(`k${i}`));
  assert.equal(m.reclaimStep(2), true, 'k6 and k7 copied; k8 and k9 not yet');
  set(m, k('k6'), e(100)); // visited
  m.delete(k('k7')); // visited
  set(m, k('k8'), e(101)); // not yet visited
  m.delete(k('k9')); // not yet visited
  set(m, k('new'), e(102));
  set(m, k('k9'), e(103)); // deleted, then back
  while (m.reclaimStep(1));
  assert.deepEqual(
    contents(m),
    new Map([
      [k('k6'), e(100)],
      [k('k8'), e(101)],
      [k('new'), e(102)],
      [k('k9'), e(103)],
    ]),
  );
  assert.equal(m.size(), 4);
});

test('ShardedMap: a write to a pinned shard mid-rebuild clones it and cancels the rebuild; the pinned Map stays intact', () => {
  const m = new ShardedMap(1, options(0));
  for (let i = 0; i < 10; i++) set(m, k(`k${i}`), e(i + 1));
  for (let i = 0; i < 6; i++) m.delete(k(`k${i}`));
  assert.equal(m.reclaimStep(2), true);
  const [pinned] = m.pinShards();
  set(m, k('k6'), e(100));
  m.delete(k('k8'));
  assert.equal(m.reclaimPending(), false, 'the clone was the rebuild');
  assert.deepEqual([...pinned!.keys()], ['k6', 'k7', 'k8', 'k9'].map(k));
  assert.deepEqual(plainEntry(pinned!.get(k('k6'))), e(7));
  assert.deepEqual(
    contents(m),
    new Map([
      [k('k6'), e(100)],
      [k('k7'), e(8)],
      [k('k9'), e(10)],
    ]),
  );
});

test('ShardedMap: replaced value bytes queue a shard once they exceed max(min, its live value bytes); the rebuild moves every value and keeps old entries readable', () => {
  const m = new ShardedMap(1, options(1 << 30, 100));
  for (let i = 0; i < 10; i++) set(m, k(`k${i}`), e(i + 1, ...new Array<number>(10).fill(i)));
  const first = m.get(k('k0'))!;
  for (let i = 0; i < 10; i++) set(m, k(`k${i}`), e(20 + i, ...new Array<number>(10).fill(100 + i)));
  assert.equal(m.garbageSinceRebuild(0), 100);
  assert.equal(m.reclaimPending(), false, '100 bytes replaced, 100 live: not over');
  set(m, k('k0'), e(40, 7));
  assert.equal(m.garbageSinceRebuild(0), 110);
  assert.equal(m.reclaimPending(), true, '110 bytes replaced, 91 live');
  const before = m.get(k('k1'))!;
  while (m.reclaimStep(3));
  assert.equal(m.rebuilds(), 1);
  assert.equal(m.garbageSinceRebuild(0), 0);
  assert.notEqual(m.get(k('k1')), before, 'a new entry, its value in a new block');
  assert.deepEqual(plainEntry(m.get(k('k1'))), plainEntry(before));
  assert.deepEqual(plainEntry(first), e(1, ...new Array<number>(10).fill(0)), 'an entry replaced long ago still reads its own bytes');
  assert.deepEqual(contents(m).get(k('k0')), e(40, 7));
  assert.equal(contents(m).size, 10);
});

type Op =
  | { readonly kind: 'set'; readonly key: number; readonly revision: number }
  | { readonly kind: 'delete'; readonly key: number }
  | { readonly kind: 'step'; readonly budget: number }
  | { readonly kind: 'pin' }
  | { readonly kind: 'unpin'; readonly which: number };

// Pins are optional per run: a write to a pinned shard clones it, which cancels
// that shard's rebuild, so runs with pins see few rebuilds through to the swap.
const opArb = (pins: boolean): fc.Arbitrary<Op> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.nat({ max: 30 }), revision: fc.nat({ max: 1000 }) }) },
    { weight: 4, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.nat({ max: 30 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('step' as const), budget: fc.integer({ min: 1, max: 4 }) }) },
    { weight: pins ? 1 : 0, arbitrary: fc.constant({ kind: 'pin' } as const) },
    { weight: pins ? 1 : 0, arbitrary: fc.record({ kind: fc.constant('unpin' as const), which: fc.nat() }) },
  );

test('ShardedMap: reclaimStep keeps contents (and the byte count) identical to a plain Map under interleaved writes and pins, and finishes', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(1, 2, 4),
      fc.nat({ max: 3 }),
      fc.nat({ max: 12 }),
      fc.boolean().chain((pins) => fc.array(opArb(pins), { maxLength: 400, size: 'max' })),
      (shards, min, garbageMin, ops) => {
      const m = new ShardedMap(shards, options(min, garbageMin));
      const model = new Map<string, KvEntry>();
      const pinned: { maps: ReadonlyMap<BinaryKey, StoredEntry>[]; frozen: Map<string, KvEntry>[] }[] = [];
      for (const op of ops) {
        switch (op.kind) {
          case 'set': {
            // Values of 0 to 4 bytes, so overwrites change the byte count both ways,
            // and now and then one too long to share an arena block.
            const length = op.revision % 61 === 0 ? arenaValueBytesMax + 1 : op.revision % 5;
            const entry = e(op.revision, ...new Array<number>(length).fill(op.key));
            set(m, k(`key${op.key}`), entry);
            model.set(k(`key${op.key}`), entry);
            break;
          }
          case 'delete':
            assert.equal(m.delete(k(`key${op.key}`)), model.delete(k(`key${op.key}`)));
            break;
          case 'step':
            m.reclaimStep(op.budget);
            break;
          case 'pin': {
            const maps = m.pinShards();
            pinned.push({ maps, frozen: maps.map(plainMap) });
            break;
          }
          case 'unpin': {
            const p = pinned.splice(op.which % Math.max(1, pinned.length), 1)[0];
            p?.maps.forEach((map, s) => m.unpinShard(s, map));
            break;
          }
        }
        assert.equal(m.size(), model.size);
        assert.equal(m.bytes(), [...model].reduce((n, [key, entry]) => n + key.length + entry.value.length, 0));
        for (const [key, entry] of model) assert.deepEqual(plainEntry(m.get(key as BinaryKey)), entry);
        // Entries are immutable and rebuilds copy values to new blocks: a pinned Map reads the same bytes as when pinned.
        for (const p of pinned) p.maps.forEach((map, s) => assert.deepEqual(plainMap(map), p.frozen[s]));
      }
      let steps = 0;
      while (m.reclaimStep(3)) assert.ok(++steps <= model.size + shards * 2, 'reclaim does not finish');
      assert.deepEqual(contents(m), model);
      for (let s = 0; s < shards; s++) {
        assert.ok(m.deletionsSinceRebuild(s) <= Math.max(min, m.shardSize(s)));
        let blockBytes = 0;
        for (const [key, entry] of model) if (m.shardOf(key as BinaryKey) === s && entry.value.length <= arenaValueBytesMax) blockBytes += entry.value.length;
        assert.ok(m.garbageSinceRebuild(s) <= Math.max(garbageMin, blockBytes), `shard ${s}: ${m.garbageSinceRebuild(s)} garbage bytes left over ${blockBytes} live`);
      }
      },
    ),
    { numRuns: 300 },
  );
});

test('ShardedMap: a pinned shard is cloned on its first write only; an unpinned one is written in place', () => {
  const m = new ShardedMap(1);
  set(m, k('a'), e(1));
  const [before] = m.pinShards();
  set(m, k('b'), e(2));
  assert.equal(before!.size, 1, 'the pinned Map did not change');
  const [clone] = m.pinShards();
  assert.notEqual(clone, before);
  m.unpinShard(0, clone!);
  m.unpinShard(0, before!); // already replaced: ignored
  set(m, k('c'), e(3));
  const [after] = m.pinShards();
  assert.equal(after, clone, 'no reader held it, so no clone');
  assert.equal(after!.size, 3);
});

test('sharded map: a value too long to share a block, given as a view into a larger Buffer, is stored as its own bytes', () => {
  const m = new ShardedMap(1);
  const frame = Buffer.alloc(3 * arenaValueBytesMax, 1);
  frame.fill(2, arenaValueBytesMax, 2 * arenaValueBytesMax + 1);
  const value = frame.subarray(arenaValueBytesMax, 2 * arenaValueBytesMax + 1);
  m.set(binaryKey(Uint8Array.of(1)), value, 5, 0);
  frame.fill(0);
  const got = m.get(binaryKey(Uint8Array.of(1)))!.value;
  assert.equal(got.length, arenaValueBytesMax + 1);
  assert.ok(got.every((b) => b === 2));
});
