import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Entry, Snapshot } from '../../src/raft/types.js';
import { chunkKey, chunksEnd, chunksStart, encodeChunk, encodeFormat, encodeSnapshotMeta, format2ChunkKey, format2ChunksEnd, format2ChunksStart, formatKey, hardStateKey, encodeHardState, hex, snapshotMetaKey } from '../../src/storage/codec.js';
import type { RecordOp } from '../../src/storage/plan.js';
import { chunksOf, compacted, durably, ent, holdsMeta, hs, isSlice, lastStored, openOk, plainEntries, plainSnapshot, range, type Recorded, recordingBatches, reopen, snap, storedChunkKeys, tornSlice, withCrashAt, withDir, withRaw } from './store-helpers.js';

// The compaction's durable write is sliced (src/storage/log-store.ts): its chunks
// go to LevelDB a slice per synced batch, and a last batch switches the metadata.
// These tests record every batch LevelDB is given, then replay each prefix of them
// into a fresh store (a crash after that batch: LevelDB batches are atomic), with
// the slice at the cut also torn (a disk that is not), and check what recovers.

/**
 * A store with a snapshot at 4 (5 chunks) and the log to 20, compacted onto a
 * snapshot at 20 (10 chunks) in slices of 3 chunks while the log goes on to 30;
 * the batches recorded.
 */
async function slicedCompaction(dir: string): Promise<{ old: Snapshot; next: Snapshot; batches: Recorded[]; log: Entry[] }> {
  // The old snapshot fits in a slice: installed in one batch.
  const old = snap(4, 1, chunksOf(4, 5, 40));
  const next = snap(20, 2, chunksOf(20, 10, 100));
  return recordingBatches(async (batches) => {
    const r = await openOk(dir, undefined, undefined, { snapshotSliceBytes: 3 * (next.chunks[0]!.length + 12) });
    const log = range(old.meta.index + 1, 30, 2);
    await durably(r.store, { snapshot: old, hardState: hs(2, null, old.meta.index) });
    const held = next.meta.index - old.meta.index;
    await durably(r.store, { entries: log.slice(0, held), hardState: hs(2, null, next.meta.index) });
    const done = compacted(r.store, next);
    // Appends keep coming while the slices are written: each its own tick.
    for (let i = held; i < log.length; i++) await durably(r.store, { entries: [log[i]!], hardState: hs(2, null, log[i]!.index) });
    await done;
    await r.store.close();
    return { old, next, batches, log };
  });
}

test('LogStore: a compaction is written in slices of chunks, alternating with group commits, then one batch switches to it', async () => {
  await withDir(async (dir) => {
    const { old, next, batches, log } = await slicedCompaction(dir);
    const slices = batches.filter(isSlice);
    assert.deepEqual(
      slices.map((b) => b.ops.length),
      [3, 3, 3, 1],
      'slices of at most 3 chunks',
    );
    // Group commits between the slices: none waits for the whole snapshot.
    const firstSlice = batches.findIndex(isSlice);
    const lastSlice = batches.length - 1 - [...batches].reverse().findIndex(isSlice);
    assert.ok(batches.slice(firstSlice, lastSlice).some((b) => !isSlice(b)), 'a group commit between two slices');
    // The switch comes after every slice, and only it puts the metadata of the new snapshot.
    const switches = batches.filter((b, k) => k > firstSlice && holdsMeta(b));
    assert.equal(switches.length, 1);
    assert.ok(batches.indexOf(switches[0]!) > lastSlice);
    // It deletes the old snapshot's chunks, and the runs the snapshot covers.
    const dels = switches[0]!.ops.filter((op) => op.type === 'del').map((op) => hex(op.key));
    for (let k = 0; k < old.chunks.length; k++) assert.ok(dels.includes(hex(chunkKey(4, k))), `deletes old chunk ${k}`);
    const back = await reopen(dir);
    assert.deepEqual(back.warnings, []);
    assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(next));
    assert.deepEqual(plainEntries(back.state.entries), plainEntries(log.filter((e) => e.index > 20)));
    await withRaw(dir, async (db) => {
      const keys = (await db.keys({ gte: chunksStart, lt: chunksEnd }).all()).map(hex);
      assert.deepEqual(keys, next.chunks.map((_, k) => hex(chunkKey(20, k))));
    });
  });
});

test('LogStore: a crash after any batch of a sliced compaction, or tearing the slice at the cut, recovers the old or the new snapshot whole, with the log after it', async () => {
  await withDir(async (dir) => {
    const { old, next, batches, log } = await slicedCompaction(dir);
    const installAt = batches.findIndex(holdsMeta);
    const switchAt = batches.findIndex((b, k) => k > batches.findIndex(isSlice) && holdsMeta(b));
    assert.ok(installAt > 0 && switchAt > installAt);
    /** Replays batches[0, cut), then `torn` of batch cut, into a fresh store, and checks what it recovers. */
    const crashAt = (cut: number, torn: readonly RecordOp[]): Promise<void> =>
      withCrashAt(batches, cut, torn, async (fresh) => {
        const back = await reopen(fresh);
        const expected = cut > switchAt ? next : cut > installAt ? old : null;
        const base = expected === null ? 0 : expected.meta.index;
        const what = `crash at batch ${cut} of ${batches.length} (switch at ${switchAt}), ${torn.length} ops of it torn in`;
        assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(expected), what);
        const last = lastStored(batches.slice(0, cut));
        assert.deepEqual(plainEntries(back.state.entries), plainEntries(log.filter((e) => e.index > base && e.index <= last)), what);
        const strays = (cut <= switchAt && batches.slice(0, cut).some(isSlice)) || torn.length > 0;
        assert.equal(back.warnings.some((w) => /deleted \d+ stored snapshot chunks? of other snapshots/.test(w)), strays, `${what}: ${back.warnings.join('; ')}`);
        // Recovery deleted the chunks of the snapshot it did not take, and the store goes on.
        assert.deepEqual(await storedChunkKeys(fresh), (expected?.chunks ?? []).map((_, k) => hex(chunkKey(base, k))), what);
        const r = await openOk(fresh);
        const later = snap(25, 2, chunksOf(25, 2, 10));
        if (last >= 25) await compacted(r.store, later);
        await r.store.close();
        if (last >= 25) assert.deepEqual(plainSnapshot((await reopen(fresh)).state.snapshot), plainSnapshot(later), what);
      });
    // Whole batches: every boundary.
    for (let cut = 0; cut <= batches.length; cut++) await crashAt(cut, []);
    // A slice torn at the cut: some of its puts made, the last of them cut short (LevelDB's are atomic; a disk need not be).
    const sliceCuts = batches.flatMap((b, k) => (isSlice(b) ? [k] : []));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...sliceCuts), fc.nat(), fc.nat(), (cut, n, m) => crashAt(cut, tornSlice(batches, cut, n, m))),
      { numRuns: 8 },
    );
  });
});

test('LogStore: an install during a sliced compaction cancels it: its chunks are deleted, it is durable with the install, and the install recovers', async () => {
  // Installs in one batch (2 chunks, within a slice) and sliced (3 chunks of 150 bytes), at the compaction's own index and past it.
  for (const [count, bytes] of [[2, 50], [3, 150]] as const) {
    for (const installAt of [20, 26]) {
      await withDir(async (dir) => {
        await recordingBatches(async (batches) => {
          const r = await openOk(dir, undefined, undefined, { snapshotSliceBytes: 200 });
          await durably(r.store, { entries: range(1, 22, 1), hardState: hs(1, null, 20) });
          const order: string[] = [];
          const compaction = compacted(r.store, snap(20, 1, chunksOf(20, 10, 100))).then(() => order.push('compaction'));
          // Once a slice is on disk, the leader's snapshot (at the compaction's own index, or past it) arrives.
          while (!batches.some(isSlice)) await durably(r.store, { hardState: hs(1, null, 20) });
          const installed = snap(installAt, 2, chunksOf(installAt, count, bytes));
          const before = batches.length;
          await durably(r.store, { snapshot: installed, hardState: hs(2, null, installAt), entries: [ent(installAt + 1, 2)] }).then(() => order.push('install'));
          await compaction;
          assert.deepEqual(order, ['install', 'compaction']);
          // The compaction's 10 chunks are a slice each, and a sliced install's 3.
          assert.ok(batches.filter(isSlice).length < 10 + (count === 3 ? 3 : 0), 'the compaction stopped');
          assert.equal(batches.slice(before).some(isSlice), count === 3, 'the bigger install is sliced');
          await r.store.close();
          const back = await reopen(dir);
          assert.deepEqual(back.warnings, []);
          assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(installed));
          assert.deepEqual(plainEntries(back.state.entries), plainEntries([ent(installAt + 1, 2)]));
          assert.deepEqual(await storedChunkKeys(dir), installed.chunks.map((_, k) => hex(chunkKey(installAt, k))));
        });
      });
    }
  }
});

test('LogStore: chunks that no snapshot metadata names (a first snapshot cut short) are deleted with a warning', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    await durably(r.store, { entries: range(1, 5, 1), hardState: hs(1, null, 5) });
    await r.store.close();
    await withRaw(dir, (db) => db.batch([0, 1].map((k) => ({ type: 'put', key: chunkKey(3, k), value: encodeChunk(3, Uint8Array.of(k)) }))));
    const back = await reopen(dir);
    assert.equal(back.state.snapshot, null);
    assert.deepEqual(plainEntries(back.state.entries), plainEntries(range(1, 5, 1)));
    assert.deepEqual(back.warnings, ['deleted 2 stored snapshot chunks of other snapshots (a snapshot write cut short, or replaced): there is no snapshot']);
    await withRaw(dir, async (db) => assert.deepEqual(await db.keys({ gte: chunksStart, lt: chunksEnd }).all(), []));
  });
});

test('LogStore: a format 2 store (chunks keyed by number alone) is upgraded in place and recovers the same state', async () => {
  await withDir(async (dir) => {
    const s = snap(4, 1, chunksOf(4, 3, 20));
    await withRaw(dir, (db) =>
      db.batch([
        { type: 'put', key: formatKey, value: encodeFormat(2) },
        { type: 'put', key: hardStateKey, value: encodeHardState(hs(1, null, 4)) },
        { type: 'put', key: snapshotMetaKey, value: encodeSnapshotMeta(s.meta, 3) },
        ...s.chunks.map((c, k) => ({ type: 'put' as const, key: format2ChunkKey(k), value: encodeChunk(4, c) })),
      ]),
    );
    const back = await reopen(dir);
    assert.deepEqual(back.warnings, ['upgraded the log store from format 2 to 3 (snapshot chunks keyed by their snapshot\'s index)']);
    assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(s));
    await withRaw(dir, async (db) => {
      assert.deepEqual(await db.keys({ gte: format2ChunksStart, lt: format2ChunksEnd }).all(), []);
      assert.deepEqual((await db.keys({ gte: chunksStart, lt: chunksEnd }).all()).map(hex), s.chunks.map((_, k) => hex(chunkKey(4, k))));
    });
    // Once upgraded it opens as format 3, with no warning, and takes writes.
    const again = await reopen(dir);
    assert.deepEqual(again.warnings, []);
    assert.deepEqual(plainSnapshot(again.state.snapshot), plainSnapshot(s));
  });
});
