import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import type { KvChange } from '../../src/kv/change-window.js';
import type { KvCommand } from '../../src/kv/command.js';
import { encodeCommand } from '../../src/kv/command.js';
import type { BinaryKey, KvEntry } from '../../src/kv/sharded-map.js';
import type { SnapshotSource } from '../../src/kv/snapshot.js';
import type { KvStateMachineConfig } from '../../src/kv/state-machine.js';
import { KvStateMachine, kvStateMachineDefaults, SnapshotReader } from '../../src/kv/state-machine.js';
import { ValueArena } from '../../src/kv/value-arena.js';
import type { StateDump } from './helpers.js';
import { bytes, concat, del, dump, dumpChunks, modelCommandArb, plainEntry, put, readAll, smallTagArb, text } from './helpers.js';

// Rebuilds (which move values to new arena blocks) after every few replaced bytes, under the readers.
const config: KvStateMachineConfig = { ...kvStateMachineDefaults, shardCount: 4, reclaimDeletionsMin: 0, reclaimGarbageBytesMin: 0 };

function machine(commands: readonly KvCommand[]): KvStateMachine {
  const sm = new KvStateMachine(config);
  commands.forEach((c, i) => sm.apply(i + 1, encodeCommand(c)));
  return sm;
}

function restored(chunks: Iterable<Uint8Array>, cfg: KvStateMachineConfig = config): KvStateMachine {
  const sm = KvStateMachine.restore(cfg, chunks);
  if (!(sm instanceof KvStateMachine)) throw new Error(sm.error);
  return sm;
}

const commandsArb = fc.array(modelCommandArb(smallTagArb), { maxLength: 120, size: 'max' });

test('snapshot: restore reproduces keys, values, revisions, sessions and the applied index, for any chunk size', () => {
  fc.assert(
    fc.property(commandsArb, fc.integer({ min: 1, max: 300 }), (commands, maxBytes) => {
      const sm = machine(commands);
      const chunks = readAll(sm, maxBytes);
      for (const c of chunks) assert.ok(c.length >= 1 && c.length <= maxBytes);
      const copy = restored(chunks);
      assert.deepEqual(dump(copy), dump(sm));
      assert.equal(copy.appliedIndex(), sm.appliedIndex());
      assert.equal(copy.size(), sm.size());
      assert.equal(copy.sessionCount(), sm.sessionCount());
    }),
    { numRuns: 200 },
  );
});

test('snapshot: a restored machine answers retries from the restored sessions and continues identically', () => {
  const sm = new KvStateMachine(config);
  const first = sm.apply(1, put(text('k'), text('v'), { kind: 'none' }, { clientId: 'c', requestId: 'r' }));
  sm.apply(2, put(text('k'), text('w')));
  const copy = restored(readAll(sm, 5));
  for (const m of [sm, copy]) {
    assert.deepEqual(m.apply(3, put(text('k'), text('v'), { kind: 'none' }, { clientId: 'c', requestId: 'r' })), first);
    assert.deepEqual(m.apply(4, del(text('k'), { kind: 'revision', revision: 2 })), { op: 'delete', ok: true, deleted: true, revision: 4 });
  }
  assert.deepEqual(dump(copy), dump(sm));
});

test('snapshot: writes, reclamation and other snapshots interleaved with next() do not leak into what a reader yields', () => {
  fc.assert(
    fc.property(
      commandsArb,
      fc.array(fc.tuple(modelCommandArb(smallTagArb), fc.integer({ min: 1, max: 64 }), fc.nat({ max: 4 })), { maxLength: 80, size: 'max' }),
      (before, during) => {
        const sm = machine(before);
        const expected = dump(sm);
        const reader = sm.snapshot();
        assert.equal(reader.appliedIndex, before.length);
        const chunks: Uint8Array[] = [];
        let index = before.length;
        let others = 0;
        for (const [command, maxBytes, extra] of during) {
          const chunk = reader.next(maxBytes);
          if (chunk !== null) chunks.push(chunk);
          sm.apply(++index, encodeCommand(command));
          if (extra === 0) sm.reclaimStep(3);
          if (extra === 1 && others++ < 3) sm.snapshot(); // abandoned: must not disturb anything
        }
        for (let c = reader.next(50); c !== null; c = reader.next(50)) chunks.push(c);
        assert.deepEqual(dumpChunks(chunks), expected);
        assert.deepEqual(dump(restored(chunks)), expected);
      },
    ),
    { numRuns: 200 },
  );
});

test('snapshot: an empty state machine round-trips; next() after the end keeps returning null', () => {
  const sm = new KvStateMachine(config);
  sm.applyNoop(7);
  const reader = sm.snapshot();
  const chunks: Uint8Array[] = [];
  for (let c = reader.next(1000); c !== null; c = reader.next(1000)) chunks.push(c);
  assert.equal(reader.next(1000), null);
  assert.equal(chunks.length, 1);
  const copy = restored(chunks);
  assert.equal(copy.appliedIndex(), 7);
  assert.equal(copy.size(), 0);
  assert.throws(() => sm.snapshot().next(0), /next\(0\)/);
});

test('snapshot: each chunk has a SharedArrayBuffer of its own, exactly its bytes (so V8 does not count the chunks a node keeps as external memory)', () => {
  const sm = machine(Array.from({ length: 50 }, (_, i): KvCommand => ({ op: 'put', key: text(`key-${i}`), value: text(`value-${i}`), condition: { kind: 'none' }, tag: null })));
  const reader = sm.snapshot();
  const chunks: Uint8Array[] = [];
  for (let c = reader.next(100); c !== null; c = reader.next(100)) chunks.push(c);
  assert.ok(chunks.length > 5);
  for (const c of chunks) {
    assert.ok(c.buffer instanceof SharedArrayBuffer);
    assert.equal(c.byteOffset, 0);
    assert.equal(c.buffer.byteLength, c.length);
  }
  assert.equal(new Set(chunks.map((c) => c.buffer)).size, chunks.length);
  assert.equal(restored(chunks).size(), 50);
});

test('snapshot: close() releases the reader early; writes then go on in place', () => {
  const sm = machine([{ op: 'put', key: text('a'), value: text('1'), condition: { kind: 'none' }, tag: null }]);
  const reader = sm.snapshot();
  reader.next(3);
  reader.close();
  assert.equal(reader.next(100), null);
  sm.apply(2, put(text('b'), text('2')));
  assert.equal(sm.size(), 2);
});

test('snapshot: a restore may use another shard count, and smaller session bounds trim the oldest', () => {
  const sm = new KvStateMachine({ ...config, shardCount: 8 });
  for (let i = 1; i <= 40; i++) sm.apply(i, put(bytes(i), bytes(i), { kind: 'none' }, { clientId: `c${i % 5}`, requestId: `r${i}` }));
  const chunks = readAll(sm, 64);
  const same = restored(chunks, { ...config, shardCount: 1 });
  assert.deepEqual(dump(same), dump(sm));
  const trimmed = restored(chunks, { ...config, sessionClientsMax: 2, sessionResultsPerClient: 3 });
  assert.equal(trimmed.sessionCount(), 2);
  const sessions = dump(trimmed).sessions;
  assert.deepEqual(sessions.map((s) => s[0]), ['c4', 'c0']);
  assert.equal(JSON.parse(sessions[1]![2]).length, 3);
  // c0's newest three results survive: r30, r35, r40.
  assert.deepEqual(trimmed.apply(41, put(bytes(1), bytes(0), { kind: 'none' }, { clientId: 'c0', requestId: 'r30' })), {
    op: 'put',
    ok: true,
    revision: 30,
  });
  assert.deepEqual(trimmed.apply(42, put(bytes(1), bytes(0), { kind: 'none' }, { clientId: 'c0', requestId: 'r25' })), {
    op: 'put',
    ok: true,
    revision: 42,
  });
});

function sample(): Uint8Array {
  const sm = new KvStateMachine(config);
  sm.apply(1, put(text('alpha'), text('one'), { kind: 'none' }, { clientId: 'c', requestId: 'r' }));
  sm.apply(2, put(bytes(0xff, 0x00), new Uint8Array(40).fill(7)));
  sm.apply(3, del(text('alpha'), { kind: 'none' }, { clientId: 'c', requestId: 's' }));
  sm.apply(4, put(text('beta'), new Uint8Array(0)));
  return concat(readAll(sm));
}

function rejects(chunks: Iterable<Uint8Array>, why?: RegExp): void {
  const out = KvStateMachine.restore(config, chunks);
  assert.ok(!(out instanceof KvStateMachine), 'restored from a corrupt snapshot');
  if (why !== undefined) assert.match(out.error, why);
}

test('snapshot: every truncation, every single-bit flip and any appended byte is rejected with an error value', () => {
  const good = sample();
  assert.ok(restored([good]) instanceof KvStateMachine);
  for (let n = 0; n < good.length; n++) rejects([good.subarray(0, n)]);
  rejects([good.subarray(0, good.length - 3)], /truncated/);
  for (let i = 0; i < good.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const bad = good.slice();
      bad[i]! ^= 1 << bit;
      rejects([bad]);
    }
  }
  rejects([good, bytes(0)], /after the trailer/);
  rejects([], /truncated/);
  const flipped = good.slice();
  flipped[flipped.length - 1]! ^= 1;
  rejects([flipped], /checksum mismatch/);
});

test('snapshot: arbitrary bytes, split anywhere, never make restore throw', () => {
  const good = sample();
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([at, junk]) => {
          const i = at % good.length;
          return concat([good.subarray(0, i), junk, good.subarray(i + junk.length)]);
        }),
      ),
      fc.array(fc.nat(), { maxLength: 4 }),
      (b, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
        const chunks: Uint8Array[] = [];
        let from = 0;
        for (const p of [...points, b.length]) {
          chunks.push(b.subarray(from, p));
          from = p;
        }
        const out = KvStateMachine.restore(config, chunks);
        if (out instanceof KvStateMachine) assert.deepEqual(dump(out), dumpChunks([good]));
      },
    ),
    { numRuns: 1000 },
  );
});

test('snapshot: a structurally valid snapshot with inconsistent content is rejected', () => {
  // Two snapshots of one key at different revisions, spliced: the key then appears twice.
  const one = machine([{ op: 'put', key: text('k'), value: text('v'), condition: { kind: 'none' }, tag: null }]);
  const chunks = readAll(one);
  const expected: StateDump = dump(one);
  assert.equal(expected.entries.length, 1);
  const good = concat(chunks);
  // header: magic(4) version(1) appliedIndex(1) windowCompactedThrough(1);
  // entry record: 1, 1, 'k', revision 1, 1, 'v', lease 0 (7 bytes)
  const entry = good.subarray(7, 14);
  assert.deepEqual([...entry], [1, 1, 0x6b, 1, 1, 0x76, 0]);
  const doubled = concat([good.subarray(0, 14), entry, good.subarray(14)]);
  rejects([doubled], /a key appears twice/);
});

/** Snapshot bytes of an arbitrary (possibly inconsistent) source, with a valid checksum. */
function craft(source: Partial<SnapshotSource> & { entries?: [string, KvEntry][] }): Uint8Array[] {
  const arena = new ValueArena();
  const shard = new Map((source.entries ?? []).map(([k, e]) => [k as BinaryKey, arena.store(e.value, e.revision, e.lease)]));
  const reader = new SnapshotReader({
    appliedIndex: source.appliedIndex ?? 10,
    windowCompactedThrough: source.windowCompactedThrough ?? 10,
    leases: source.leases ?? [],
    shards: [shard],
    release: () => {},
    sessions: source.sessions ?? [],
    window: source.window ?? [],
  });
  const chunks: Uint8Array[] = [];
  for (let c = reader.next(1000); c !== null; c = reader.next(1000)) chunks.push(c);
  return chunks;
}

const entry = (revision: number, value: string, lease = 0): KvEntry => ({ value: text(value), revision, lease });
const change = (key: string, value: string | null, lease = 0): KvChange => ({ key: key as BinaryKey, value: value === null ? null : text(value), lease });

test('snapshot: leases, the keys attached to them and the change window survive a restore', () => {
  const sm = new KvStateMachine(config);
  sm.apply(1, encodeCommand({ op: 'lease_grant', ttlSeconds: 30, tag: null }));
  sm.apply(2, put(text('svc/a'), text('1'), { kind: 'none' }, null, 1));
  sm.apply(3, put(text('svc/b'), text('2'), { kind: 'none' }, null, 1));
  sm.apply(4, put(text('plain'), text('3')));
  sm.apply(5, del(text('plain')));
  const copy = restored(readAll(sm, 9));
  assert.deepEqual(dump(copy), dump(sm));
  assert.deepEqual(copy.leaseRecords(), [{ id: 1, ttlSeconds: 30 }]);
  assert.deepEqual([...copy.lease(1)!.keys].sort(), ['svc/a', 'svc/b']);
  const revisions: number[] = [];
  copy.changes().forEachFrom(1, (r) => revisions.push(r.revision) > 0);
  assert.deepEqual(revisions, [2, 3, 4, 5]);
  // Revoking on the copy deletes the attached keys, in byte order, at one revision.
  assert.deepEqual(copy.apply(6, encodeCommand({ op: 'lease_revoke', lease: 1, tag: null })), { op: 'lease_revoke', ok: true, revision: 6 });
  const last: string[] = [];
  copy.changes().forEachFrom(6, (r) => last.push(...r.changes.map((c) => `${c.key}=${c.value === null ? 'deleted' : 'put'}`)) > 0);
  assert.deepEqual(last, ['svc/a=deleted', 'svc/b=deleted']);
  assert.equal(copy.size(), 0);
});

test('snapshot: the window shares its values with the entries, after writes and after a restore', () => {
  const sm = new KvStateMachine(config);
  sm.apply(1, put(text('k'), new Uint8Array(1000).fill(1)));
  const copy = restored(readAll(sm));
  for (const m of [sm, copy]) {
    let windowed: Uint8Array | null = null;
    m.changes().forEachFrom(1, (r) => {
      windowed = r.changes[0]!.value;
      return false;
    });
    const stored = m.get(text('k'))!.value;
    assert.ok(windowed !== null);
    const w: Uint8Array = windowed;
    assert.equal(w.buffer, stored.buffer, 'a view of the arena block that holds the entry');
    assert.equal(w.byteOffset, stored.byteOffset);
    assert.deepEqual(w, stored);
  }
});

test('snapshot: content that contradicts itself is refused, naming why', () => {
  // Each of these is well formed and checksummed; only its meaning is wrong.
  rejects(craft({ entries: [['k', entry(3, 'v', 9)]] }), /names lease 9, which does not exist/);
  rejects(craft({ leases: [{ id: 4, ttlSeconds: 5 }, { id: 2, ttlSeconds: 5 }] }), /lease 2 is not after lease 4/);
  rejects(craft({ leases: [{ id: 11, ttlSeconds: 5 }] }), /lease 11 outside 1\.\.10/);
  rejects(craft({ windowCompactedThrough: 11 }), /compacted through 11, after the applied index 10/);
  rejects(craft({ windowCompactedThrough: 5, window: [{ revision: 5, changes: [change('k', null)] }] }), /window revision 5 outside 6\.\.10/);
  rejects(craft({ windowCompactedThrough: 5, entries: [['k', entry(7, 'v')]] }), /1 entries were written after revision 5, but the window has 0/);
  rejects(craft({ windowCompactedThrough: 5, entries: [['k', entry(7, 'v')]], window: [{ revision: 7, changes: [change('k', 'other')] }] }), /put at 7 disagrees/);
  rejects(craft({ windowCompactedThrough: 5, entries: [['k', entry(7, 'v')]], window: [{ revision: 8, changes: [change('k', null)] }] }), /deletes a key at 8 that is present/);
  rejects(craft({ windowCompactedThrough: 5, window: [{ revision: 7, changes: [change('k', null)] }, { revision: 6, changes: [change('j', null)] }] }), /window revision 6 is not after 7/);
  rejects(craft({ windowCompactedThrough: 5, window: [{ revision: 7, changes: [change('k', null), change('k', null)] }] }), /changes a key twice/);
  rejects(craft({ windowCompactedThrough: 5, window: [{ revision: 7, changes: [change('k', 'v', 7)] }] }), /names lease 7, granted later/);
  // And the consistent version of the same shapes restores.
  const ok = restored(craft({ windowCompactedThrough: 5, leases: [{ id: 2, ttlSeconds: 5 }], entries: [['k', entry(7, 'v', 2)]], window: [{ revision: 6, changes: [change('j', null)] }, { revision: 7, changes: [change('k', 'v', 2)] }] }));
  assert.deepEqual(plainEntry(ok.get(text('k'))), entry(7, 'v', 2));
  assert.equal(ok.changes().oldestServable(), 6);
});

test('snapshot: records out of their order are refused', () => {
  // A lease record after an entry: splice one in by hand and fix the checksum.
  const good = concat(craft({ entries: [['k', entry(3, 'v')]] }));
  // header 4+1+1+1, entry record 1,1,'k',3,1,'v',0 (7 bytes), then the trailer.
  const withLate = concat([good.subarray(0, 14), bytes(3, 2, 5), good.subarray(14, good.length - 4)]);
  // Trailer counts: entries 1, sessions 0, leases 1, revisions 0.
  withLate[withLate.length - 2] = 1;
  const crc = crc32(withLate);
  rejects([concat([withLate, bytes(crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff)])], /record 3 out of order/);
});

test('snapshot: a version 1 snapshot (before leases and watches) still restores, with an empty window', () => {
  // "KVSN" 1, applied 9, entry 'k' rev 4 'v', session c: last seen 4, one result (put rev 4), trailer.
  const body = bytes(0x4b, 0x56, 0x53, 0x4e, 1, 9, 1, 1, 0x6b, 4, 1, 0x76, 2, 1, 0x63, 4, 1, 1, 0x72, 1, 4, 0, 1, 1);
  const crc = crc32(body);
  const v1 = concat([body, bytes(crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff)]);
  const sm = restored([v1]);
  assert.equal(sm.appliedIndex(), 9);
  assert.deepEqual(plainEntry(sm.get(text('k'))), entry(4, 'v'));
  assert.equal(sm.sessionCount(), 1);
  assert.equal(sm.changes().oldestServable(), 10);
  assert.deepEqual(sm.apply(10, put(text('k'), text('v'), { kind: 'none' }, { clientId: 'c', requestId: 'r' })), { op: 'put', ok: true, revision: 4 });
});
