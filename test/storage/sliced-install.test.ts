import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Entry, Snapshot } from '../../src/raft/types.js';
import { chunkKey, hex } from '../../src/storage/codec.js';
import type { RecordOp } from '../../src/storage/plan.js';
import { chunksOf, compacted, durably, holdsMeta, hs, isSlice, lastStored, openOk, plainEntries, plainSnapshot, range, type Recorded, recordingBatches, reopen, snap, storedChunkKeys, tornSlice, withCrashAt, withDir } from './store-helpers.js';

// A follower's install of the leader's snapshot is sliced like a compaction
// (src/storage/log-store.ts): its chunks go to LevelDB a slice per synced batch,
// then the batch planned when it was written switches to it; the writes made
// after it wait for that batch. Every prefix of the batches is replayed into a
// fresh store (a crash after that batch), with the slice at the cut also torn.

interface SlicedInstall {
  readonly old: Snapshot;
  readonly next: Snapshot;
  readonly batches: Recorded[];
  /** The batches that set up the old state, before the install. */
  readonly setUp: number;
  /** Every entry written: the old log, then the install's and the appends after it. */
  readonly log: Entry[];
  /** What became durable, in order. */
  readonly order: string[];
}

/**
 * A store with a snapshot at 4 (one batch) and the log to 20; one more append
 * (21), and in the same tick a leader's snapshot at 40 (10 chunks, slices of 3)
 * installed with entry 41, then appends 42-50, one per tick, while it is stored.
 */
async function slicedInstall(dir: string): Promise<SlicedInstall> {
  const old = snap(4, 1, chunksOf(4, 2, 40));
  const next = snap(40, 3, chunksOf(40, 10, 100));
  return recordingBatches(async (batches) => {
    const r = await openOk(dir, undefined, undefined, { snapshotSliceBytes: 3 * (next.chunks[0]!.length + 12) });
    const oldLog = range(5, 21, 2);
    await durably(r.store, { snapshot: old, hardState: hs(2, null, 4), entries: oldLog.slice(0, -1) });
    const setUp = batches.length;
    const order: string[] = [];
    const before = durably(r.store, { entries: oldLog.slice(-1), hardState: hs(2, null, 20) }).then(() => order.push('append 21'));
    const newLog = range(41, 50, 3);
    const installed = durably(r.store, { snapshot: next, hardState: hs(3, null, 40), entries: newLog.slice(0, 1) }).then(() => order.push('install'));
    const after: Promise<unknown>[] = [];
    for (const e of newLog.slice(1)) {
      after.push(durably(r.store, { entries: [e], hardState: hs(3, null, 40) }).then(() => order.push(`append ${e.index}`)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all([before, installed, ...after]);
    await r.store.close();
    return { old, next, batches, setUp, log: [...oldLog, ...newLog], order };
  });
}

test('LogStore: an install is written in slices, then one batch switches to it; no later write is durable before it', async () => {
  await withDir(async (dir) => {
    const { old, next, batches, setUp, log, order } = await slicedInstall(dir);
    assert.equal(batches.slice(0, setUp).filter(isSlice).length, 0, 'the old snapshot fits in a slice: one batch');
    const slices = batches.filter(isSlice);
    assert.deepEqual(
      slices.map((b) => b.ops.length),
      [3, 3, 3, 1],
      'slices of at most 3 chunks',
    );
    const lastSlice = batches.lastIndexOf(slices[slices.length - 1]!);
    const switches = batches.filter((b, k) => k >= setUp && holdsMeta(b));
    assert.equal(switches.length, 1);
    assert.ok(batches.indexOf(switches[0]!) > lastSlice, 'the switch comes after every slice');
    // It deletes the old snapshot's chunks and the old log's runs.
    const dels = switches[0]!.ops.filter((op) => op.type === 'del').map((op) => hex(op.key));
    for (let k = 0; k < old.chunks.length; k++) assert.ok(dels.includes(hex(chunkKey(4, k))), `deletes old chunk ${k}`);
    // The append made before the install went first, between slices; every append after it after it.
    assert.equal(order[0], 'append 21');
    assert.equal(order[1], 'install');
    assert.equal(order.length, 2 + 9);
    assert.ok(lastStored(batches.slice(0, batches.findIndex(isSlice) + 2)) === 21, 'the append before the install did not wait for its slices');
    const back = await reopen(dir);
    assert.deepEqual(back.warnings, []);
    assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(next));
    assert.deepEqual(plainEntries(back.state.entries), plainEntries(log.filter((e) => e.index > 40)));
    assert.deepEqual(await storedChunkKeys(dir), next.chunks.map((_, k) => hex(chunkKey(40, k))));
  });
});

test('LogStore: a crash after any batch of a sliced install, or tearing the slice at the cut, recovers the old state or the installed one whole', async () => {
  await withDir(async (dir) => {
    const { old, next, batches, setUp, log } = await slicedInstall(dir);
    const switchAt = batches.findIndex((b, k) => k >= setUp && holdsMeta(b));
    const crashAt = (cut: number, torn: readonly RecordOp[]): Promise<void> =>
      withCrashAt(batches, cut, torn, async (fresh) => {
        const back = await reopen(fresh);
        const expected = cut > switchAt ? next : old;
        const base = expected.meta.index;
        const what = `crash at batch ${cut} of ${batches.length} (switch at ${switchAt}), ${torn.length} ops of it torn in`;
        assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(expected), what);
        const last = lastStored(batches.slice(0, cut));
        assert.deepEqual(plainEntries(back.state.entries), plainEntries(log.filter((e) => e.index > base && e.index <= last)), what);
        // Only the chunks of the install not switched to are deleted: no log entry is lost or cut off.
        const strays = (cut <= switchAt && batches.slice(setUp, cut).some(isSlice)) || torn.length > 0;
        assert.deepEqual(back.warnings.length > 0, strays, `${what}: ${back.warnings.join('; ')}`);
        for (const w of back.warnings) assert.match(w, /^deleted \d+ stored snapshot chunks? of other snapshots/, what);
        assert.deepEqual(await storedChunkKeys(fresh), expected.chunks.map((_, k) => hex(chunkKey(base, k))), what);
        // The store goes on: a compaction past what it holds recovers.
        const r = await openOk(fresh);
        const later = snap(last, expected.meta.term, chunksOf(last, 2, 10));
        if (last > base) await compacted(r.store, later);
        await r.store.close();
        if (last > base) assert.deepEqual(plainSnapshot((await reopen(fresh)).state.snapshot), plainSnapshot(later), what);
      });
    for (let cut = setUp; cut <= batches.length; cut++) await crashAt(cut, []);
    const sliceCuts = batches.flatMap((b, k) => (isSlice(b) ? [k] : []));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...sliceCuts), fc.nat(), fc.nat(), (cut, n, m) => crashAt(cut, tornSlice(batches, cut, n, m))),
      { numRuns: 8 },
    );
  });
});

test('LogStore: an install at a snapshot index the store already holds is one batch (its chunk keys are that snapshot\'s)', async () => {
  await withDir(async (dir) => {
    await recordingBatches(async (batches) => {
      const r = await openOk(dir, undefined, undefined, { snapshotSliceBytes: 200 });
      const first = snap(30, 2, chunksOf(30, 4, 100));
      await durably(r.store, { snapshot: first, hardState: hs(2, null, 30) });
      const again = snap(30, 2, chunksOf(31, 3, 120));
      const from = batches.length;
      await durably(r.store, { snapshot: again, hardState: hs(2, null, 30) });
      assert.equal(batches.slice(from).filter(isSlice).length, 0);
      await r.store.close();
      const back = await reopen(dir);
      assert.deepEqual(back.warnings, []);
      assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(again));
    });
  });
});
