import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { KvCommand } from '../../src/kv/command.js';
import { encodeCommand } from '../../src/kv/command.js';
import type { KvStateMachineConfig } from '../../src/kv/state-machine.js';
import { KvStateMachine, kvStateMachineDefaults } from '../../src/kv/state-machine.js';
import type { StateDump } from './helpers.js';
import { bytes, concat, del, dump, dumpChunks, modelCommandArb, put, readAll, smallTagArb, text } from './helpers.js';

const config: KvStateMachineConfig = { ...kvStateMachineDefaults, shardCount: 4, reclaimDeletionsMin: 0 };

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
  // header: magic(4) version(1) appliedIndex(1); entry record: 1, 1, 'k', revision 1, 1, 'v' (6 bytes)
  const entry = good.subarray(6, 12);
  assert.deepEqual([...entry], [1, 1, 0x6b, 1, 1, 0x76]);
  const doubled = concat([good.subarray(0, 12), entry, good.subarray(12)]);
  rejects([doubled], /a key appears twice/);
});
