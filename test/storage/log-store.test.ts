import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chunkKey, chunksEnd, chunksStart, decodeFormat, encodeFormat, encodeRun, formatKey, hardStateKey, hex, runKey } from '../../src/storage/codec.js';
import { LogStore, type StorageMetrics } from '../../src/storage/log-store.js';
import { compacted, durably, ent, flipByte, hs, interceptBatches, openOk, plainEntries, plainSnapshot, range, type RawDb, reopen, snap, storedRun, storedRunStarts, withDir, withRaw, write } from './store-helpers.js';

function recordingMetrics(): StorageMetrics & { readonly syncs: number[]; readonly seconds: number[]; unsynced: number } {
  const syncs: number[] = [];
  const seconds: number[] = [];
  return {
    syncs,
    seconds,
    unsynced: 0,
    onSync(entries, s) {
      assert.ok(s >= 0);
      syncs.push(entries);
      seconds.push(s);
    },
    onUnsyncedWrite() {
      this.unsynced++;
    },
  };
}

const meanMs = (seconds: readonly number[]): string => ((seconds.reduce((a, b) => a + b, 0) / seconds.length) * 1000).toFixed(2);

test('LogStore: a new store recovers the empty state', async () => {
  await withDir(async (dir) => {
    const { state, warnings } = await reopen(dir);
    assert.deepEqual(warnings, []);
    assert.deepEqual(state, { hardState: hs(0, null, 0), snapshot: null, entries: [] });
  });
});

test('LogStore: hard state, entries and a snapshot of several chunks survive close and open', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    const entries = [ent(1, 1, 'noop', new Uint8Array(0)), ent(2, 1), ent(3, 2, 'command', new Uint8Array(70_000).fill(7)), ent(4, 2), ent(5, 3)];
    await durably(r.store, { hardState: hs(3, 'n2', 2), entries });
    await r.store.close();

    let back = await reopen(dir);
    assert.deepEqual(back.warnings, []);
    assert.deepEqual(back.state.hardState, hs(3, 'n2', 2));
    assert.equal(back.state.snapshot, null);
    assert.deepEqual(plainEntries(back.state.entries), plainEntries(entries));

    const s = snap(3, 2, [Uint8Array.of(1, 2, 3), new Uint8Array(0), new Uint8Array(300_000).fill(0xa5), Uint8Array.of(9)]);
    const r2 = await openOk(dir);
    await durably(r2.store, { hardState: hs(4, null, 5) });
    await compacted(r2.store, s);
    await r2.store.close();

    back = await reopen(dir);
    assert.deepEqual(back.warnings, []);
    assert.deepEqual(back.state.hardState, hs(4, null, 5));
    assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(s));
    assert.deepEqual(plainEntries(back.state.entries), plainEntries(entries.slice(3)));
  });
});

test('LogStore: entries overwrite the log from the first conflicting index on', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    await durably(r.store, { entries: range(1, 6, 1) });
    await durably(r.store, { entries: [ent(4, 2), ent(5, 2)] });
    await r.store.close();
    const { state } = await reopen(dir);
    assert.deepEqual(plainEntries(state.entries), plainEntries([...range(1, 3, 1), ent(4, 2), ent(5, 2)]));
  });
});

test('LogStore: a snapshot install replaces the whole log, and its old chunks', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    await durably(r.store, { entries: range(1, 10, 1) });
    const first = snap(5, 2, [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)]);
    await durably(r.store, { hardState: hs(2, null, 5), snapshot: first });
    await r.store.close();
    let back = await reopen(dir);
    assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(first));
    assert.deepEqual(back.state.entries, []);

    // A second install with fewer chunks, and entries after it in the same write.
    const r2 = await openOk(dir);
    const second = snap(8, 3, [Uint8Array.of(4)]);
    await durably(r2.store, { hardState: hs(3, null, 8), snapshot: second, entries: [ent(9, 3), ent(10, 3)] });
    await r2.store.close();
    back = await reopen(dir);
    assert.deepEqual(plainSnapshot(back.state.snapshot), plainSnapshot(second));
    assert.deepEqual(plainEntries(back.state.entries), plainEntries([ent(9, 3), ent(10, 3)]));
    await withRaw(dir, async (db) => {
      // Only the second snapshot's one chunk is left.
      assert.deepEqual((await db.keys({ gte: chunksStart, lt: chunksEnd }).all()).map(hex), [hex(chunkKey(8, 0))]);
      assert.deepEqual(await storedRunStarts(db), [9]);
    });
  });
});

test('LogStore: compaction deletes the runs the snapshot covers, keeps a run it cuts across and the later ones', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    // Three synced batches: runs from 1, 5 and 8.
    await durably(r.store, { hardState: hs(1, null, 8), entries: range(1, 4, 1) });
    await durably(r.store, { entries: range(5, 7, 1) });
    await durably(r.store, { entries: range(8, 10, 1) });
    await compacted(r.store, snap(6, 1, [Uint8Array.of(6)]));
    // An older snapshot changes nothing.
    await compacted(r.store, snap(4, 1, [Uint8Array.of(4)]));
    await r.store.close();
    let back = await reopen(dir);
    assert.deepEqual(back.warnings, []);
    assert.equal(back.state.snapshot?.meta.index, 6);
    assert.deepEqual(plainEntries(back.state.entries), plainEntries(range(7, 10, 1)));
    await withRaw(dir, async (db) => assert.deepEqual(await storedRunStarts(db), [5, 8]));

    // The run the snapshot cut across goes once a compaction passes its last entry; writes go on after it.
    const r2 = await openOk(dir);
    await compacted(r2.store, snap(7, 1, [Uint8Array.of(7)]));
    await durably(r2.store, { entries: range(11, 12, 2) });
    await r2.store.close();
    back = await reopen(dir);
    assert.deepEqual(back.warnings, []);
    assert.deepEqual(plainEntries(back.state.entries), plainEntries([...range(8, 10, 1), ...range(11, 12, 2)]));
    await withRaw(dir, async (db) => assert.deepEqual(await storedRunStarts(db), [8, 11]));
  });
});

test('LogStore: a compaction past the end of the log deletes every run, and the log goes on after the snapshot', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    await durably(r.store, { hardState: hs(1, null, 3), entries: range(1, 3, 1) });
    await compacted(r.store, snap(5, 1, [Uint8Array.of(5)]));
    await durably(r.store, { entries: range(6, 7, 1) });
    await r.store.close();
    const { state, warnings } = await reopen(dir);
    assert.deepEqual(warnings, []);
    assert.equal(state.snapshot?.meta.index, 5);
    assert.deepEqual(plainEntries(state.entries), plainEntries(range(6, 7, 1)));
    await withRaw(dir, async (db) => assert.deepEqual(await storedRunStarts(db), [6]));
  });
});

test('LogStore: group commit puts the writes of one tick into one synced batch, durable in call order', async (t) => {
  await withDir(async (dir) => {
    const metrics = recordingMetrics();
    const r = await openOk(dir, metrics);
    const writes = 200;
    const order: number[] = [];
    const all: Promise<void>[] = [];
    for (let i = 1; i <= writes; i++) {
      all.push(new Promise((resolve) => r.store.write(write({ entries: [ent(i, 1)] }), () => (order.push(i), resolve()))));
    }
    await Promise.all(all);
    t.diagnostic(`${writes} writes in one tick: ${metrics.syncs.length} sync(s), entries per sync ${metrics.syncs.join(',')}, mean fsync ${meanMs(metrics.seconds)} ms`);
    assert.ok(metrics.syncs.length < writes);
    assert.ok(Math.max(...metrics.syncs) > 1);
    assert.equal(metrics.syncs.reduce((a, b) => a + b, 0), writes);
    assert.deepEqual(
      order,
      Array.from({ length: writes }, (_, k) => k + 1),
    );
    await r.store.close();
    assert.equal((await reopen(dir)).state.entries.length, writes);
  });
});

test('LogStore: the writes of one batch put the hard state once, the last one, and it is what recovers', async (t) => {
  // A spy on the synced batches LevelDB gets: how many hard-state puts each holds.
  const hardStatePuts: number[] = [];
  const opsPerBatch: number[] = [];
  const isKey = (key: Uint8Array, of: Uint8Array): boolean => Buffer.from(key).equals(Buffer.from(of));
  t.after(
    interceptBatches((ops, write) => {
      // Not the new store's format record, written at open.
      if (!ops.every((op) => isKey(op.key, formatKey))) {
        hardStatePuts.push(ops.filter((op) => op.type === 'put' && isKey(op.key, hardStateKey)).length);
        opsPerBatch.push(ops.length);
      }
      return write();
    }),
  );
  await withDir(async (dir) => {
    const metrics = recordingMetrics();
    const r = await openOk(dir, metrics);
    const all: Promise<void>[] = [];
    // One tick: 50 writes, each an entry and the hard state it commits; a hard-state-only write in the middle.
    for (let i = 1; i <= 50; i++) {
      all.push(durably(r.store, { entries: [ent(i, 2)], hardState: hs(2, 'n1', i - 1) }));
      if (i === 25) all.push(durably(r.store, { hardState: hs(2, 'n1', 24) }));
    }
    await Promise.all(all);
    // Then, while nothing is in flight, two writes that are each their own batch's only hard state.
    await durably(r.store, { hardState: hs(3, null, 50) });
    await durably(r.store, { entries: [ent(51, 3)], hardState: hs(3, 'n2', 50) });
    await r.store.close();
    t.diagnostic(`hard-state puts per synced batch: ${hardStatePuts.join(',')}; entries per sync ${metrics.syncs.join(',')}`);
    assert.ok(metrics.syncs.length < 52, 'the first 51 writes share batches');
    assert.deepEqual(hardStatePuts, hardStatePuts.map(() => 1), 'each batch puts the hard state once');
    // A batch of appends is two operations whatever its entry count: one run, one hard state (the hard-state-only batch one).
    t.diagnostic(`operations per synced batch: ${opsPerBatch.join(',')}`);
    assert.deepEqual(opsPerBatch, metrics.syncs.map((entries) => (entries === 0 ? 1 : 2)));
    const { state } = await reopen(dir);
    assert.deepEqual(state.hardState, hs(3, 'n2', 50));
    assert.deepEqual(plainEntries(state.entries), plainEntries([...range(1, 50, 2), ent(51, 3)]));
  });
});

test('LogStore: group commit collects the writes made while a sync is in flight into the next batch', async (t) => {
  await withDir(async (dir) => {
    const metrics = recordingMetrics();
    const r = await openOk(dir, metrics);
    const order: number[] = [];
    const first = durably(r.store, { entries: [ent(1, 1)] }).then(() => order.push(1));
    await Promise.resolve(); // the first batch is now being synced
    const rest: Promise<unknown>[] = [];
    for (let i = 2; i <= 101; i++) rest.push(durably(r.store, { entries: [ent(i, 1)] }).then(() => order.push(i)));
    await Promise.all([first, ...rest]);
    t.diagnostic(`1 write, then 100 during its sync: entries per sync ${metrics.syncs.join(',')}, mean fsync ${meanMs(metrics.seconds)} ms`);
    assert.deepEqual(metrics.syncs, [1, 100]);
    assert.deepEqual(
      order,
      Array.from({ length: 101 }, (_, k) => k + 1),
    );
    await r.store.close();
  });
});

test('LogStore: group commit batches closed-loop writers that each wait for their last write', async (t) => {
  await withDir(async (dir) => {
    const metrics = recordingMetrics();
    const r = await openOk(dir, metrics);
    const writers = 8;
    const writesEach = 50;
    let next = 1;
    const run = (left: number, done: () => void): void => {
      if (left === 0) return done();
      r.store.write(write({ entries: [ent(next++, 1)] }), () => run(left - 1, done));
    };
    await Promise.all(Array.from({ length: writers }, () => new Promise<void>((resolve) => run(writesEach, resolve))));
    const total = writers * writesEach;
    t.diagnostic(`${writers} closed-loop writers x ${writesEach}: ${total} writes, ${metrics.syncs.length} syncs, max ${Math.max(...metrics.syncs)} entries per sync, mean fsync ${meanMs(metrics.seconds)} ms`);
    assert.equal(metrics.syncs.reduce((a, b) => a + b, 0), total);
    assert.ok(metrics.syncs.length <= writesEach);
    await r.store.close();
  });
});

test('LogStore: a barrier write becomes durable in order, without a sync of its own', async () => {
  await withDir(async (dir) => {
    const metrics = recordingMetrics();
    const r = await openOk(dir, metrics);
    const order: string[] = [];
    const a = new Promise<void>((resolve) => r.store.write(write({ entries: [ent(1, 1)] }), () => (order.push('a'), resolve())));
    await Promise.resolve(); // a's batch is being synced: the barrier waits for it
    const barrier = new Promise<void>((resolve) => r.store.write(write({}), () => (order.push('barrier'), resolve())));
    const c = new Promise<void>((resolve) => r.store.write(write({ entries: [ent(2, 1)] }), () => (order.push('c'), resolve())));
    await Promise.all([a, barrier, c]);
    assert.deepEqual(order, ['a', 'barrier', 'c']);

    // On an idle store a barrier needs no fsync, and still fires asynchronously.
    const syncsBefore = metrics.syncs.length;
    let fired = false;
    const alone = new Promise<void>((resolve) => r.store.write(write({}), () => ((fired = true), resolve())));
    assert.equal(fired, false);
    await alone;
    assert.equal(metrics.syncs.length, syncsBefore);
    await r.store.close();
  });
});

test('LogStore: a batch of commit-index moves alone is reported durable in call order without a write of its own, and goes to disk in front of the next batch, or at close', async (t) => {
  const batches: { readonly sync: boolean; readonly ops: number }[] = [];
  t.after(
    interceptBatches((ops, write, sync) => {
      if (!ops.every((op) => Buffer.from(op.key).equals(formatKey))) batches.push({ sync, ops: ops.length });
      return write();
    }),
  );
  await withDir(async (dir) => {
    const metrics = recordingMetrics();
    const r = await openOk(dir, metrics);
    await durably(r.store, { entries: range(1, 3, 1), hardState: hs(1, 'n1', 0) });
    assert.deepEqual(batches, [{ sync: true, ops: 2 }]);

    // Alone, a commit move is reported at once and not written.
    await durably(r.store, { hardState: hs(1, 'n1', 2), mustSync: false });
    assert.equal(batches.length, 1);
    assert.deepEqual([metrics.syncs.length, metrics.unsynced], [1, 1]);

    // Behind a synced batch in flight, it waits its turn; the next batch carries the one before it.
    const order: string[] = [];
    const done = (name: string) => () => void order.push(name);
    const a = durably(r.store, { entries: [ent(4, 1)] }).then(done('a'));
    await Promise.resolve(); // a's batch is being synced
    const b = durably(r.store, { hardState: hs(1, 'n1', 3), mustSync: false }).then(done('b'));
    await b;
    await a;
    assert.deepEqual(order, ['a', 'b'], 'the commit move waited for the synced write before it');
    assert.deepEqual(batches.slice(1), [{ sync: true, ops: 2 }], "a's entry and the first commit move");
    // In a batch with an entry it is synced with it (b's commit move in front of it).
    const c = durably(r.store, { hardState: hs(1, 'n1', 4), mustSync: false }).then(done('c'));
    const d = durably(r.store, { entries: [ent(5, 1)] }).then(done('d'));
    await Promise.all([c, d]);
    assert.deepEqual(order, ['a', 'b', 'c', 'd']);
    assert.deepEqual(batches.slice(2), [{ sync: true, ops: 3 }]);
    assert.deepEqual([metrics.syncs.length, metrics.unsynced], [3, 2]);

    await durably(r.store, { hardState: hs(1, 'n1', 5), mustSync: false });
    assert.equal(batches.length, 3);
    await r.store.close();
    assert.deepEqual(batches.slice(3), [{ sync: false, ops: 1 }], 'the last commit move, written at close');

    const { state } = await reopen(dir);
    assert.deepEqual(state.hardState, hs(1, 'n1', 5));
    assert.equal(state.entries.length, 5);
  });
});

test('LogStore: close flushes pending writes first, and a write after close throws', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    let durable = false;
    r.store.write(write({ hardState: hs(1, 'n1', 0), entries: [ent(1, 1)] }), () => (durable = true));
    await r.store.close();
    assert.equal(durable, true);
    assert.throws(() => r.store.write(write({}), () => {}), /after close/);
    const { state } = await reopen(dir);
    assert.deepEqual(state.hardState, hs(1, 'n1', 0));
    assert.equal(state.entries.length, 1);
  });
});

test('LogStore: a write that does not fit the log throws and changes nothing', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    await durably(r.store, { entries: range(1, 3, 1) });
    assert.throws(() => r.store.write(write({ hardState: hs(9, null, 0), entries: [ent(5, 1)] }), () => {}), /do not fit/);
    assert.throws(() => r.store.write(write({ entries: [ent(4, 1), ent(6, 1)] }), () => {}), /not contiguous/);
    await durably(r.store, { entries: [ent(4, 1)] });
    await r.store.close();
    const { state } = await reopen(dir);
    assert.deepEqual(state.hardState, hs(0, null, 0));
    assert.deepEqual(plainEntries(state.entries), plainEntries(range(1, 4, 1)));
  });
});

test('LogStore: a failed synced write calls onFatal and never reports durable', async () => {
  await withDir(async (dir) => {
    let onFatal: (e: Error) => void = () => {};
    const fatal = new Promise<Error>((resolve) => (onFatal = resolve));
    const r = await openOk(dir, undefined, onFatal);
    // Pull the database out from under the store so that its next batch fails.
    await (r.store as unknown as { db: RawDb }).db.close();
    let durable = false;
    r.store.write(write({ entries: [ent(1, 1)] }), () => (durable = true));
    assert.match((await fatal).message, /LevelDB write failed/);
    // Nothing becomes durable any more, not even a barrier.
    r.store.write(write({}), () => (durable = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(durable, false);
    await r.store.close();
  });
});

/** A store with entries 1..3 (commit 3) in one run and entries 4 and 5 in a run each, closed. */
async function threeRunsCommitThree(dir: string): Promise<void> {
  const r = await openOk(dir);
  await durably(r.store, { hardState: hs(1, 'n1', 3), entries: range(1, 3, 1) });
  await durably(r.store, { entries: [ent(4, 1)] });
  await durably(r.store, { entries: [ent(5, 1)] });
  await r.store.close();
  await withRaw(dir, async (db) => assert.deepEqual(await storedRunStarts(db), [1, 4, 5]));
}

test('LogStore: a torn uncommitted last run is deleted with a warning, the rest intact', async () => {
  await withDir(async (dir) => {
    await threeRunsCommitThree(dir);
    await withRaw(dir, (db) => flipByte(db, runKey(5), 22));
    const { state, warnings } = await reopen(dir);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /the log run from entry 5 is corrupt \(checksum mismatch\) and uncommitted/);
    assert.deepEqual(plainEntries(state.entries), plainEntries(range(1, 4, 1)));
    // The repair is durable: the next start is clean.
    const again = await reopen(dir);
    assert.deepEqual(again.warnings, []);
    assert.equal(again.state.entries.length, 4);
  });
});

test('LogStore: a truncated last run is deleted with a warning', async () => {
  await withDir(async (dir) => {
    await threeRunsCommitThree(dir);
    await withRaw(dir, async (db) => {
      const value = await db.get(runKey(5));
      await db.put(runKey(5), value!.slice(0, 7));
    });
    const { state, warnings } = await reopen(dir);
    assert.match(warnings.join('\n'), /the log run from entry 5 is corrupt \(7 bytes, shorter than a run header\)/);
    assert.equal(state.entries.length, 4);
  });
});

test('LogStore: a corrupt uncommitted run takes the runs after it with it', async () => {
  await withDir(async (dir) => {
    await threeRunsCommitThree(dir);
    await withRaw(dir, (db) => flipByte(db, runKey(4), 0));
    const { state, warnings } = await reopen(dir);
    assert.match(warnings.join('\n'), /the log run from entry 4 is corrupt .* deleted 2 stored log runs/);
    assert.deepEqual(plainEntries(state.entries), plainEntries(range(1, 3, 1)));
  });
});

test('LogStore: corruption in a run holding committed entries refuses to start, naming the run', async () => {
  await withDir(async (dir) => {
    await threeRunsCommitThree(dir);
    await withRaw(dir, (db) => flipByte(db, runKey(1), 21));
    const r = await LogStore.open(dir);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /refusing to start: the log run from entry 1 is corrupt \(checksum mismatch\) and it is committed/);
    // Nothing was repaired: the run is still there, still refused.
    assert.equal((await LogStore.open(dir)).ok, false);
  });
});

test('LogStore: a missing committed run refuses to start', async () => {
  await withDir(async (dir) => {
    await threeRunsCommitThree(dir);
    await withRaw(dir, (db) => db.del(runKey(1)));
    const r = await LogStore.open(dir);
    assert.match(r.ok ? '' : r.error, /log entry 1 is missing and it is committed/);
  });
});

test('LogStore: a corrupt hard state refuses to start', async () => {
  await withDir(async (dir) => {
    await threeRunsCommitThree(dir);
    await withRaw(dir, (db) => flipByte(db, hardStateKey, 10));
    const r = await LogStore.open(dir);
    assert.match(r.ok ? '' : r.error, /refusing to start: the hard state \(key 01\) is corrupt \(checksum mismatch\)/);
  });
});

test('LogStore: a corrupt or missing snapshot chunk refuses to start', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    await durably(r.store, { hardState: hs(1, null, 4), entries: range(1, 5, 1) });
    await compacted(r.store, snap(4, 1, [Uint8Array.of(1), Uint8Array.of(2), Uint8Array.of(3)]));
    await r.store.close();
    await withRaw(dir, (db) => flipByte(db, chunkKey(4, 1), 12));
    let bad = await LogStore.open(dir);
    assert.match(bad.ok ? '' : bad.error, /snapshot chunk 1 of 3 .* is corrupt \(checksum mismatch\)/);
    await withRaw(dir, (db) => db.del(chunkKey(4, 1)));
    bad = await LogStore.open(dir);
    assert.match(bad.ok ? '' : bad.error, /snapshot chunk 1 of 3 .* is missing/);
  });
});

test('LogStore: runs found behind the snapshot are ignored and deleted', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    await durably(r.store, { hardState: hs(1, null, 4), entries: range(1, 2, 1) });
    await durably(r.store, { entries: range(3, 4, 1) });
    await durably(r.store, { entries: range(5, 6, 1) });
    await compacted(r.store, snap(4, 1, [Uint8Array.of(1)]));
    await r.store.close();
    await withRaw(dir, async (db) => {
      assert.deepEqual(await storedRunStarts(db), [5]);
      // A run behind the snapshot, as a compaction deleting out of band could leave.
      await db.put(runKey(3), encodeRun(3, range(3, 4, 1)));
    });
    const { state, warnings } = await reopen(dir);
    assert.match(warnings.join('\n'), /deleted 1 log run left behind the snapshot at 4/);
    assert.deepEqual(plainEntries(state.entries), plainEntries(range(5, 6, 1)));
    await withRaw(dir, async (db) => assert.deepEqual(await storedRunStarts(db), [5]));
  });
});

test('LogStore: a conflicting suffix from the middle of a run is overwritten by a run of its own, and stays overwritten', async () => {
  await withDir(async (dir) => {
    const r = await openOk(dir);
    await durably(r.store, { hardState: hs(1, null, 2), entries: range(1, 6, 1) });
    await durably(r.store, { hardState: hs(2, null, 3), entries: range(4, 5, 2) });
    await r.store.close();
    let back = await reopen(dir);
    assert.deepEqual(back.warnings, []);
    assert.deepEqual(plainEntries(back.state.entries), plainEntries([...range(1, 3, 1), ...range(4, 5, 2)]));
    await withRaw(dir, async (db) => {
      assert.deepEqual(await storedRunStarts(db), [1, 4]);
      // The run from 1 keeps its overwritten entries 4..6: the run from 4 counts from there on.
      assert.equal((await storedRun(db, 1)).length, 6);
      // The overwriting run torn (uncommitted): recovery drops it and rewrites the run from 1 to end at 3,
      // so that its old entries 4..6 do not come back at the next start.
      await flipByte(db, runKey(4), 30);
    });
    back = await reopen(dir);
    assert.match(back.warnings.join('\n'), /the log run from entry 4 is corrupt \(checksum mismatch\) and uncommitted \(commit index 3\)/);
    assert.deepEqual(plainEntries(back.state.entries), plainEntries(range(1, 3, 1)));
    const again = await reopen(dir);
    assert.deepEqual(again.warnings, []);
    assert.deepEqual(plainEntries(again.state.entries), plainEntries(range(1, 3, 1)));
    await withRaw(dir, async (db) => {
      assert.deepEqual(await storedRunStarts(db), [1]);
      assert.deepEqual(plainEntries(await storedRun(db, 1)), plainEntries(range(1, 3, 1)));
    });
  });
});

test('LogStore: the writes of one batch append one run, even across a conflicting suffix within the batch', async () => {
  await withDir(async (dir) => {
    const metrics = recordingMetrics();
    const r = await openOk(dir, metrics);
    await durably(r.store, { hardState: hs(1, null, 2), entries: range(1, 3, 1) });
    // One tick: appends, then a conflicting suffix from the middle of the batch's own run, then more appends.
    const all = [
      durably(r.store, { entries: range(4, 6, 1) }),
      durably(r.store, { entries: range(7, 8, 1) }),
      durably(r.store, { hardState: hs(2, null, 3), entries: range(6, 7, 2) }),
      durably(r.store, { entries: range(8, 9, 2) }),
    ];
    await Promise.all(all);
    // Another tick: a conflicting suffix from before the batch's run (in the run of an earlier batch).
    await Promise.all([durably(r.store, { entries: range(10, 11, 2) }), durably(r.store, { hardState: hs(3, null, 3), entries: range(3, 4, 3) })]);
    await r.store.close();
    assert.deepEqual(metrics.syncs, [3, 9, 4]);
    const { state, warnings } = await reopen(dir);
    assert.deepEqual(warnings, []);
    assert.deepEqual(plainEntries(state.entries), plainEntries([...range(1, 2, 1), ...range(3, 4, 3)]));
    await withRaw(dir, async (db) => {
      assert.deepEqual(await storedRunStarts(db), [1, 3]);
      assert.deepEqual(plainEntries(await storedRun(db, 3)), plainEntries(range(3, 4, 3)));
    });
  });
});

test('LogStore: a new store writes its format record; a store of another format, or with data and no format record, refuses to start', async () => {
  await withDir(async (dir) => {
    await reopen(dir);
    await withRaw(dir, async (db) => {
      const format = decodeFormat((await db.get(formatKey))!);
      assert.deepEqual(format, { ok: true, value: 3 });
      await db.put(formatKey, encodeFormat(4));
    });
    let r = await LogStore.open(dir);
    assert.match(r.ok ? '' : r.error, /refusing to start: the log store is in format 4, and this build reads only formats 2 and 3/);
    await withRaw(dir, (db) => flipByte(db, formatKey, 6));
    r = await LogStore.open(dir);
    assert.match(r.ok ? '' : r.error, /refusing to start: the format record \(key 00\) is corrupt \(checksum mismatch\)/);
  });
  await withDir(async (dir) => {
    // Format 1, as builds before it wrote: a record per entry under 0x04 ‖ index, and no format record.
    await withRaw(dir, async (db) => {
      const key = new Uint8Array(9);
      key[0] = 0x04;
      key[8] = 1;
      await db.put(key, Uint8Array.of(1, 2, 3));
      await db.put(hardStateKey, Uint8Array.of(4, 5, 6));
    });
    const r = await LogStore.open(dir);
    assert.match(r.ok ? '' : r.error, /refusing to start: the log store holds data but no format record: .*format 1 \(one LevelDB record per log entry\).*reads only format 3.*kvstore snapshot restore.*raft\.join/);
    // Refused, not repaired: the old records are untouched.
    await withRaw(dir, async (db) => {
      assert.equal(await db.get(formatKey), undefined);
      assert.equal((await db.keys().all()).length, 2);
    });
  });
});
