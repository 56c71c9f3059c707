import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { LogWrite } from '../../src/raft/host/ready-executor.js';
import { configuration } from '../../src/raft/membership.js';
import type { Entry, EntryKind, HardState, Snapshot } from '../../src/raft/types.js';
import { logIndex, nodeId, term } from '../../src/raft/types.js';
import { decodeRun, encodeRun, firstOfRunKey, runKey } from '../../src/storage/codec.js';
import { Plan, type RecordOp } from '../../src/storage/plan.js';
import { recoverRecords, type RecordReader } from '../../src/storage/recover.js';
import type { StoredLog } from '../../src/storage/stored-log.js';

// The record layer without LevelDB: writes planned into batches (as LogStore and
// SimDisk plan them), their records applied to a map, and the map read back by the
// recovery both use, against a plain model of the log.

function ent(index: number, t: number, kind: EntryKind = 'command', data: Uint8Array = Uint8Array.of(index & 0xff, t & 0xff)): Entry {
  return { index: logIndex(index), term: term(t), kind, data };
}

const plain = (entries: readonly Entry[]): unknown[] => entries.map((e) => ({ index: e.index, term: e.term, kind: e.kind, data: [...e.data] }));

const config = configuration([{ id: nodeId('n1'), role: 'voter', addrs: { raftAddr: 'n1', httpAddr: 'n1', grpcAddr: 'n1' } }]);

function snap(index: number, t: number): Snapshot {
  return { meta: { index: logIndex(index), term: term(t), config }, chunks: [Uint8Array.of(index & 0xff)] };
}

function hs(t: number, commit: number): HardState {
  return { term: term(t), votedFor: null, commit: logIndex(commit) };
}

/** Records in a map, read in key order: the simulator's disk without its faults. */
class Records implements RecordReader {
  private readonly map = new Map<string, readonly [Uint8Array, Uint8Array]>();

  apply(ops: readonly RecordOp[]): void {
    for (const op of ops) {
      if (op.type === 'put') this.map.set(Buffer.from(op.key).toString('hex'), [op.key, op.value]);
      else this.map.delete(Buffer.from(op.key).toString('hex'));
    }
  }

  get(key: Uint8Array): Uint8Array | undefined {
    return this.map.get(Buffer.from(key).toString('hex'))?.[1];
  }

  *range(gte: Uint8Array, lt: Uint8Array): Iterable<readonly [Uint8Array, Uint8Array]> {
    const lo = Buffer.from(gte).toString('hex');
    const hi = Buffer.from(lt).toString('hex');
    const keys = [...this.map.keys()].filter((k) => k >= lo && k < hi).sort();
    for (const k of keys) yield this.map.get(k)!;
  }

  runStarts(): number[] {
    return [...this.range(runKey(0), runKey(Number.MAX_SAFE_INTEGER))].map(([key]) => firstOfRunKey(key)!);
  }
}

/** Recovers `records` (which must recover cleanly, with no warnings), applying its repairs. */
function recoverClean(records: Records): { entries: readonly Entry[]; snapshotIndex: number; snapshotTerm: number; log: StoredLog; commit: number } {
  const r = recoverRecords(records);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(r.warnings, []);
  records.apply(r.repairs);
  return { entries: r.state.entries, snapshotIndex: r.state.snapshot?.meta.index ?? 0, snapshotTerm: r.state.snapshot?.meta.term ?? 0, log: r.log, commit: r.state.hardState.commit };
}

test('codec: a run round-trips, entries of every kind and size, data as views into the value', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 40 }),
      fc.array(fc.record({ t: fc.integer({ min: 0, max: 2 ** 40 }), kind: fc.constantFrom<EntryKind>('noop', 'command', 'config'), data: fc.uint8Array({ maxLength: 300 }) }), { minLength: 1, maxLength: 20 }),
      (first, specs) => {
        const entries = specs.map((s, k) => ent(first + k, s.t, s.kind, s.data));
        const value = encodeRun(first, entries);
        const back = decodeRun(value);
        assert.ok(back.ok, back.ok ? '' : back.reason);
        assert.equal(back.value.first, first);
        assert.deepEqual(plain(back.value.entries), plain(entries));
        for (const e of back.value.entries) if (e.data.length > 0) assert.equal(e.data.buffer, value.buffer);
      },
    ),
    { numRuns: 200 },
  );
  assert.throws(() => encodeRun(5, [ent(5, 1), ent(7, 1)]), /entry 7 at position 1 of a run from 5/);
  assert.throws(() => encodeRun(5, []), /0 entries/);
});

test('codec: a run with any bit flipped or cut short anywhere does not decode', () => {
  const value = encodeRun(41, [ent(41, 3, 'noop', new Uint8Array(0)), ent(42, 3, 'command', new Uint8Array(40).fill(9)), ent(43, 4, 'config', Uint8Array.of(1, 2))]);
  for (let at = 0; at < value.length; at++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Uint8Array.from(value);
      copy[at]! ^= 1 << bit;
      assert.equal(decodeRun(copy).ok, false, `bit ${bit} of byte ${at} flipped`);
    }
  }
  for (let length = 0; length < value.length; length++) {
    const cut = decodeRun(value.subarray(0, length));
    assert.equal(cut.ok, false, `cut to ${length} bytes`);
  }
  assert.match(String((decodeRun(value.subarray(0, 10)) as { reason: string }).reason), /shorter than a run header/);
});

test('plan: a conflicting suffix from the middle of a run is a new run, and recovery counts the old run up to it', () => {
  const records = new Records();
  const { log } = recoverClean(records);
  const batch = (writes: readonly Partial<LogWrite>[]): void => {
    const plan = new Plan(log);
    for (const w of writes) plan.write({ hardState: null, snapshot: null, entries: [], mustSync: true, ...w });
    records.apply(plan.records());
  };
  batch([{ entries: [1, 2, 3, 4, 5, 6].map((i) => ent(i, 1)) }]);
  batch([{ entries: [4, 5].map((i) => ent(i, 2)), hardState: hs(2, 3) }]);
  assert.deepEqual(records.runStarts(), [1, 4]);
  let back = recoverClean(records);
  assert.deepEqual(plain(back.entries), plain([ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 2), ent(5, 2)]));
  assert.equal(back.log.lastIndex, 5);

  // A compaction cutting across the run from 4 keeps it; the run from 1 goes.
  const plan = new Plan(back.log);
  plan.compact(snap(4, 2));
  records.apply(plan.records());
  assert.deepEqual(records.runStarts(), [4]);
  back = recoverClean(records);
  assert.deepEqual(plain(back.entries), plain([ent(5, 2)]));
});

/** One step of the property below. */
type Step =
  | { readonly kind: 'append'; readonly back: number; readonly count: number; readonly newTerm: boolean }
  | { readonly kind: 'commit'; readonly by: number }
  | { readonly kind: 'compact'; readonly by: number }
  | { readonly kind: 'install'; readonly ahead: number; readonly then: number }
  | { readonly kind: 'sync' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 6 })), count: fc.integer({ min: 1, max: 4 }), newTerm: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('commit' as const), by: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), by: fc.integer({ min: 0, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('install' as const), ahead: fc.integer({ min: 0, max: 5 }), then: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('sync' as const) }) },
);

/** The log as Raft sees it: a snapshot and the entries after it. */
class ModelLog {
  snapshotIndex = 0;
  snapshotTerm = 0;
  entries: Entry[] = [];
  commit = 0;
  term = 1;
  private serial = 0;

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  termAt(index: number): number {
    return index === this.snapshotIndex ? this.snapshotTerm : this.entries[index - this.snapshotIndex - 1]!.term;
  }

  /** Entries from `first` on (never at or below the commit index, as Raft never overwrites it). */
  append(first: number, count: number): Entry[] {
    this.entries.length = first - 1 - this.snapshotIndex;
    const out: Entry[] = [];
    for (let k = 0; k < count; k++) out.push(ent(first + k, this.term, 'command', Uint8Array.of(this.serial++ & 0xff, k)));
    this.entries.push(...out);
    return out;
  }

  compact(index: number): void {
    const keep = Math.max(0, this.lastIndex() - index);
    this.snapshotTerm = index <= this.lastIndex() ? this.termAt(index) : this.term;
    this.entries = keep === 0 ? [] : this.entries.slice(this.entries.length - keep);
    this.snapshotIndex = index;
  }

  install(index: number): void {
    this.entries = [];
    this.snapshotIndex = index;
    this.snapshotTerm = this.term;
    this.commit = Math.max(this.commit, index);
  }
}

/** Plans `steps` into batches (each `sync` ends one) against `log`, applies each batch's records, and makes the same steps on `model`. */
function run(steps: readonly Step[], records: Records, log: StoredLog, model: ModelLog): void {
  let plan = new Plan(log);
  const write = (w: Partial<LogWrite>): void => plan.write({ hardState: null, snapshot: null, entries: [], mustSync: true, ...w });
  for (const s of steps) {
    switch (s.kind) {
      case 'append': {
        if (s.newTerm) model.term++;
        const first = Math.max(model.lastIndex() + 1 - s.back, model.commit + 1, model.snapshotIndex + 1);
        write({ entries: model.append(first, s.count) });
        break;
      }
      case 'commit':
        model.commit = Math.min(model.lastIndex(), model.commit + s.by);
        write({ hardState: hs(model.term, model.commit) });
        break;
      case 'compact': {
        const index = Math.min(model.snapshotIndex + s.by, model.commit);
        if (index <= model.snapshotIndex) break;
        model.compact(index);
        plan.compact(snap(index, model.snapshotTerm));
        break;
      }
      case 'install': {
        const index = model.lastIndex() + s.ahead;
        if (index <= model.snapshotIndex) break;
        model.install(index);
        write({ snapshot: snap(index, model.snapshotTerm), hardState: hs(model.term, model.commit), entries: s.then === 0 ? [] : model.append(index + 1, s.then) });
        break;
      }
      case 'sync':
        records.apply(plan.records());
        plan = new Plan(log);
        break;
    }
  }
  records.apply(plan.records());
}

function assertRecovered(back: { entries: readonly Entry[]; snapshotIndex: number; snapshotTerm: number; log: StoredLog }, model: ModelLog, why: string): void {
  assert.deepEqual(plain(back.entries), plain(model.entries), why);
  assert.equal(back.snapshotIndex, model.snapshotIndex, why);
  assert.equal(back.snapshotTerm, model.snapshotTerm, why);
  assert.equal(back.log.lastIndex, model.lastIndex(), why);
  assert.equal(back.log.snapshotIndex, model.snapshotIndex, why);
}

test('plan and recovery: any writes, overwrites, compactions and installs in any batches recover to the model log, and writes go on from there', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), fc.array(step, { maxLength: 20 }), (first, then) => {
      const records = new Records();
      const { log } = recoverClean(records);
      const model = new ModelLog();
      run(first, records, log, model);
      const back = recoverClean(records);
      assertRecovered(back, model, 'after the first steps');
      // Recovery rebuilds the very log the planner kept: the next writes are planned the same either way.
      assert.deepEqual(back.log, log);
      run(then, records, back.log, model);
      assertRecovered(recoverClean(records), model, 'after more steps, planned on the recovered log');
    }),
    { numRuns: 300 },
  );
});

test('plan and recovery: a torn last write of entries is dropped whole with a warning, its overwritten entries do not come back, and writes go on', () => {
  fc.assert(
    fc.property(
      fc.array(step, { maxLength: 40 }),
      fc.record({ back: fc.integer({ min: 0, max: 6 }), count: fc.integer({ min: 1, max: 4 }), cut: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }) }),
      fc.array(step, { maxLength: 15 }),
      (first, torn, then) => {
        const records = new Records();
        const { log } = recoverClean(records);
        const model = new ModelLog();
        run(first, records, log, model);
        // One write of entries alone, as the simulator tears it: its deletions made, its run cut short.
        const from = Math.max(model.lastIndex() + 1 - torn.back, model.commit + 1, model.snapshotIndex + 1);
        const plan = new Plan(log);
        const entries = Array.from({ length: torn.count }, (_, k) => ent(from + k, model.term + 1, 'command', Uint8Array.of(0xee, k)));
        plan.write({ hardState: null, snapshot: null, entries, mustSync: true });
        const ops = plan.records();
        const last = ops[ops.length - 1]!;
        assert.ok(last.type === 'put' && firstOfRunKey(last.key) === from);
        records.apply(ops.slice(0, -1));
        records.apply([{ type: 'put', key: last.key, value: last.value.subarray(0, Math.floor(torn.cut * last.value.length)) }]);
        model.entries.length = from - 1 - model.snapshotIndex;

        const r = recoverRecords(records);
        assert.ok(r.ok, r.ok ? '' : r.error);
        assert.equal(r.warnings.length, 1);
        assert.match(r.warnings[0]!, new RegExp(`the log run from entry ${from} is corrupt .* and uncommitted .* the log now ends at ${from - 1}`));
        records.apply(r.repairs);
        assertRecovered({ entries: r.state.entries, snapshotIndex: r.state.snapshot?.meta.index ?? 0, snapshotTerm: r.state.snapshot?.meta.term ?? 0, log: r.log }, model, 'after the torn write');
        const back = recoverClean(records);
        assertRecovered(back, model, 'at the start after the repair');
        run(then, records, back.log, model);
        assertRecovered(recoverClean(records), model, 'after more steps');
      },
    ),
    { numRuns: 300 },
  );
});
