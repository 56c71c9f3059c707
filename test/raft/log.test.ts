import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RaftLog } from '../../src/raft/log.js';
import type { Entry } from '../../src/raft/types.js';
import { logIndex, term as toTerm } from '../../src/raft/types.js';

const i = logIndex;
const t = toTerm;

function ent(index: number, term: number, data: Uint8Array = new Uint8Array(0)): Entry {
  return { index: i(index), term: t(term), kind: 'command', data };
}

/** Entries 1..terms.length with the given terms. */
function entries(terms: readonly number[]): Entry[] {
  return terms.map((tm, k) => ent(k + 1, tm, Uint8Array.of(k & 0xff, tm & 0xff)));
}

/** The log's entries as [index, term] pairs. */
function shape(log: RaftLog): [number, number][] {
  const out: [number, number][] = [];
  for (let k = log.firstIndex(); k <= log.lastIndex(); k++) out.push([k, log.term(i(k))!]);
  return out;
}

test('RaftLog: a persisted log must be contiguous from index 1', () => {
  assert.throws(() => new RaftLog([ent(1, 1), ent(3, 1)], i(0)), /contiguous/);
  assert.throws(() => new RaftLog([ent(2, 1)], i(0)), /contiguous/);
  const log = new RaftLog(entries([1, 1, 2]), i(9));
  assert.equal(log.committed(), 3, 'a recovered commit index is capped at the last entry');
  assert.equal(log.term(i(0)), 0);
  assert.equal(log.term(i(4)), null);
  assert.deepEqual(log.takeUnpersisted(), [], 'recovered entries are already on disk');
});

test('RaftLog.maybeAppend: a matching append extends the log and the new entries are unpersisted', () => {
  const log = new RaftLog(entries([1, 1, 2]), i(0));
  const r = log.maybeAppend(i(3), t(2), [ent(4, 2), ent(5, 3)]);
  assert.deepEqual(r, { ok: true, lastNewIndex: 5 });
  assert.deepEqual(shape(log), [[1, 1], [2, 1], [3, 2], [4, 2], [5, 3]]);
  assert.deepEqual(log.takeUnpersisted().map((e) => e.index), [4, 5]);
  assert.deepEqual(log.takeUnpersisted(), []);
  // A heartbeat-like empty append proves the match up to prevLogIndex only.
  assert.deepEqual(log.maybeAppend(i(2), t(1), []), { ok: true, lastNewIndex: 2 });
  assert.equal(log.lastIndex(), 5);
});

test('RaftLog.maybeAppend: a conflict truncates the log and marks the rewrite unpersisted from the conflict', () => {
  const log = new RaftLog(entries([1, 1, 1, 1, 1]), i(1));
  const r = log.maybeAppend(i(1), t(1), [ent(2, 1), ent(3, 2)]);
  assert.deepEqual(r, { ok: true, lastNewIndex: 3 });
  assert.deepEqual(shape(log), [[1, 1], [2, 1], [3, 2]], 'entries 4..5 of the old term are gone');
  const out = log.takeUnpersisted();
  assert.deepEqual(out.map((e) => [e.index, e.term]), [[3, 2]], 'storage overwrites from index 3');
});

test('RaftLog.maybeAppend: a truncation below entries not yet persisted moves the unpersisted start back', () => {
  const log = new RaftLog(entries([1, 1]), i(0));
  log.maybeAppend(i(2), t(1), [ent(3, 1), ent(4, 1), ent(5, 1)]);
  assert.deepEqual(log.takeUnpersisted().map((e) => e.index), [3, 4, 5]);
  log.maybeAppend(i(5), t(1), [ent(6, 1), ent(7, 1)]);
  // Not yet taken: 6..7 are pending; now a conflict at 4 rewrites from there.
  log.maybeAppend(i(3), t(1), [ent(4, 3)]);
  assert.deepEqual(log.takeUnpersisted().map((e) => [e.index, e.term]), [[4, 3]]);
  // And a conflict above the pending start keeps the earlier start.
  log.maybeAppend(i(4), t(3), [ent(5, 3), ent(6, 3)]);
  log.maybeAppend(i(5), t(3), [ent(6, 4)]);
  assert.deepEqual(log.takeUnpersisted().map((e) => [e.index, e.term]), [[5, 3], [6, 4]]);
});

test('RaftLog.maybeAppend refuses to truncate a committed entry', () => {
  const log = new RaftLog(entries([1, 1, 1]), i(3));
  assert.throws(() => log.maybeAppend(i(1), t(1), [ent(2, 2)]), /committed/);
  assert.throws(() => log.maybeAppend(i(2), t(1), [ent(3, 2)]), /committed/);
  // Above the commit index a conflict is fine.
  const log2 = new RaftLog(entries([1, 1, 1]), i(2));
  assert.deepEqual(log2.maybeAppend(i(2), t(1), [ent(3, 2)]), { ok: true, lastNewIndex: 3 });
});

test('RaftLog.maybeAppend: duplicate and reordered older appends never truncate', () => {
  const log = new RaftLog([], i(0));
  const leader = entries([1, 1, 2, 2, 2, 3]);
  assert.deepEqual(log.maybeAppend(i(0), t(0), leader), { ok: true, lastNewIndex: 6 });
  log.takeUnpersisted();
  // An older append (sent before the one above, delivered after it).
  assert.deepEqual(log.maybeAppend(i(1), t(1), leader.slice(1, 3)), { ok: true, lastNewIndex: 3 });
  assert.equal(log.lastIndex(), 6, 'an older append must not cut the log back to its end');
  // A duplicate.
  assert.deepEqual(log.maybeAppend(i(0), t(0), leader), { ok: true, lastNewIndex: 6 });
  assert.deepEqual(log.takeUnpersisted(), [], 'nothing changed, so nothing to write');
  assert.deepEqual(shape(log), leader.map((e) => [e.index, e.term]));
});

test('RaftLog conflict hints: a short log gives last+1 and no term; a mismatch gives the first index of our term there', () => {
  const log = new RaftLog(entries([1, 2, 2, 2, 4]), i(0));
  assert.deepEqual(log.maybeAppend(i(7), t(4), [ent(8, 4)]), { ok: false, hint: { index: 6, term: null } });
  assert.deepEqual(log.maybeAppend(i(6), t(4), []), { ok: false, hint: { index: 6, term: null } });
  assert.deepEqual(log.maybeAppend(i(4), t(3), [ent(5, 3)]), { ok: false, hint: { index: 2, term: 2 } });
  assert.deepEqual(log.maybeAppend(i(3), t(3), []), { ok: false, hint: { index: 2, term: 2 } });
  assert.deepEqual(log.maybeAppend(i(5), t(5), []), { ok: false, hint: { index: 5, term: 4 } });
  assert.deepEqual(log.maybeAppend(i(1), t(2), []), { ok: false, hint: { index: 1, term: 1 } });
  assert.equal(log.lastIndex(), 5, 'a rejected append changes nothing');
  assert.deepEqual(log.takeUnpersisted(), []);
});

test('RaftLog.nextIndexFromHint: resume after our last entry of the hinted term, or skip the follower\'s term', () => {
  const leader = new RaftLog(entries([1, 1, 2, 2, 4, 4]), i(0));
  assert.equal(leader.nextIndexFromHint({ index: i(7), term: null }), 7);
  assert.equal(leader.nextIndexFromHint({ index: i(3), term: null }), 3);
  assert.equal(leader.nextIndexFromHint({ index: i(3), term: t(3) }), 3, 'we hold no term 3: skip the follower\'s whole term');
  assert.equal(leader.nextIndexFromHint({ index: i(2), term: t(2) }), 5, 'we hold term 2 up to 4');
  assert.equal(leader.nextIndexFromHint({ index: i(1), term: t(1) }), 3);
  assert.equal(leader.nextIndexFromHint({ index: i(6), term: t(5) }), 6);
});

test('RaftLog.isUpToDate follows §5.4.1: later last term wins, then the longer log', () => {
  const log = new RaftLog(entries([1, 2, 2]), i(0));
  assert.ok(log.isUpToDate(i(3), t(2)));
  assert.ok(log.isUpToDate(i(4), t(2)));
  assert.ok(!log.isUpToDate(i(2), t(2)));
  assert.ok(log.isUpToDate(i(1), t(3)));
  assert.ok(!log.isUpToDate(i(10), t(1)));
  const empty = new RaftLog([], i(0));
  assert.ok(empty.isUpToDate(i(0), t(0)));
  assert.ok(!log.isUpToDate(i(0), t(0)));
});

test('RaftLog.commitTo and takeCommitted hand out committed entries once, in order', () => {
  const log = new RaftLog(entries([1, 1, 2, 2, 3]), i(0));
  assert.deepEqual(log.takeCommitted(), []);
  assert.throws(() => log.commitTo(i(6)), /beyond/);
  assert.ok(log.commitTo(i(2)));
  assert.ok(!log.commitTo(i(2)), 'commit never moves back or stays as news');
  assert.ok(!log.commitTo(i(1)));
  assert.equal(log.committed(), 2);
  assert.deepEqual(log.takeCommitted().map((e) => e.index), [1, 2]);
  assert.equal(log.applied(), 2);
  assert.deepEqual(log.takeCommitted(), []);
  assert.ok(log.commitTo(i(4)));
  assert.ok(log.commitTo(i(5)));
  assert.deepEqual(log.takeCommitted().map((e) => e.index), [3, 4, 5]);
  assert.equal(log.applied(), 5);
});

test('RaftLog.slice is capped by count and by bytes, and always returns at least one entry', () => {
  const hundred = (k: number): Entry => ent(k, 1, new Uint8Array(100));
  const log = new RaftLog(Array.from({ length: 10 }, (_, k) => hundred(k + 1)), i(0));
  assert.deepEqual(log.slice(i(1), i(10), 3, 1 << 20).map((e) => e.index), [1, 2, 3]);
  assert.deepEqual(log.slice(i(4), i(10), 100, 250).map((e) => e.index), [4, 5]);
  assert.deepEqual(log.slice(i(4), i(10), 100, 200).map((e) => e.index), [4, 5], 'exactly maxBytes fits');
  assert.deepEqual(log.slice(i(4), i(10), 100, 50).map((e) => e.index), [4], 'an entry larger than maxBytes still goes alone');
  assert.deepEqual(log.slice(i(8), i(9), 100, 1 << 20).map((e) => e.index), [8, 9], 'hi is inclusive and respected');
  assert.throws(() => log.slice(i(0), i(3), 10, 100), /compacted/);
});

/**
 * A leader log (terms non-decreasing) and a follower log that agrees with it on a
 * prefix and then diverges with terms the leader never used (odd terms; the leader
 * uses even ones), as a follower of an earlier leader could hold.
 */
const scenarioArb = fc
  .record({
    leaderSteps: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 40 }),
    common: fc.nat(),
    followerSteps: fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 15 }),
  })
  .map(({ leaderSteps, common, followerSteps }) => {
    let tm = 2;
    const leaderTerms = leaderSteps.map((s) => (tm += 2 * s));
    const c = common % (leaderTerms.length + 1);
    let ft = c === 0 ? 1 : leaderTerms[c - 1]! + 1;
    const followerTerms = [...leaderTerms.slice(0, c), ...followerSteps.map((s) => (ft += 2 * s))];
    return { leader: entries(leaderTerms), follower: entries(followerTerms), common: c };
  });

interface Append {
  readonly prev: number;
  readonly count: number;
  readonly commit: number;
}

function appendsArb(leaderLen: number): fc.Arbitrary<Append[]> {
  const one = fc.record({ prev: fc.integer({ min: 0, max: leaderLen }), count: fc.integer({ min: 0, max: 8 }), commit: fc.nat() });
  return fc.array(one, { maxLength: 30 }).map((as) => as.map((a) => ({ ...a, count: Math.min(a.count, leaderLen - a.prev) })));
}

/** Applies takeUnpersisted() output the way storage does: overwrite from the first index. */
function persist(disk: Entry[], out: readonly Entry[]): void {
  if (out.length === 0) return;
  disk.length = out[0]!.index - 1;
  disk.push(...out);
}

test('RaftLog: random valid leader appends (any order, duplicates) leave a follower log that matches the leader up to every acknowledged index', () => {
  fc.assert(
    fc.property(
      scenarioArb.chain((s) => fc.tuple(fc.constant(s), appendsArb(s.leader.length), fc.array(fc.boolean(), { minLength: 30, maxLength: 30 }))),
      ([{ leader, follower, common }, appends, persistAfter]) => {
        const log = new RaftLog(follower, i(0));
        const disk = [...follower];
        // The leader commits only what the follower shares with it (what a majority could hold).
        const leaderCommit = common;
        let acked = 0;
        appends.forEach((a, k) => {
          const prevTerm = a.prev === 0 ? t(0) : leader[a.prev - 1]!.term;
          const r = log.maybeAppend(i(a.prev), prevTerm, leader.slice(a.prev, a.prev + a.count));
          if (r.ok) {
            assert.equal(r.lastNewIndex, a.prev + a.count);
            acked = Math.max(acked, r.lastNewIndex);
            log.commitTo(i(Math.min(a.commit % (leaderCommit + 1), r.lastNewIndex)));
            for (let j = 1; j <= r.lastNewIndex; j++) assert.equal(log.term(i(j)), leader[j - 1]!.term, `index ${j} after acking ${r.lastNewIndex}`);
          } else {
            // Only a log not matching at prev may reject, and the hint never points past it.
            assert.notEqual(log.term(i(a.prev)), prevTerm);
            assert.ok(r.hint.index <= a.prev);
          }
          if (persistAfter[k]) persist(disk, log.takeUnpersisted());
        });
        for (let j = 1; j <= acked; j++) assert.equal(log.entry(i(j))!.term, leader[j - 1]!.term);
        // When the follower started from a prefix of the leader, it is still a prefix.
        if (common === follower.length) {
          assert.ok(log.lastIndex() <= leader.length);
          for (let j = 1; j <= log.lastIndex(); j++) assert.deepEqual(log.entry(i(j)), leader[j - 1], `not a prefix at ${j}`);
        }
        persist(disk, log.takeUnpersisted());
        assert.deepEqual(disk.map((e) => [e.index, e.term]), shape(log), 'persisting every takeUnpersisted() reproduces the in-memory log');
      },
    ),
    { seed: 0x106, numRuns: 1000 },
  );
});

test('RaftLog: a new leader probing with conflict hints brings any diverged follower to its log in at most one round per term', () => {
  fc.assert(
    fc.property(scenarioArb, ({ leader: before, follower, common }) => {
      // A new leader's log ends with its no-op, of a term above every other (§8).
      const top = Math.max(...[...before, ...follower].map((e) => e.term));
      const leader = [...before, ent(before.length + 1, top + 2 - (top % 2))];
      const leaderLog = new RaftLog(leader, i(common));
      const log = new RaftLog(follower, i(common));
      const terms = new Set([...leader, ...follower].map((e) => e.term)).size;
      let next = leader.length + 1;
      let rounds = 0;
      for (;;) {
        assert.ok(++rounds <= terms + 2, `no convergence after ${rounds} rounds`);
        const prev = next - 1;
        const r = log.maybeAppend(i(prev), leaderLog.term(i(prev))!, leader.slice(prev));
        if (r.ok) break;
        // As the machine does: Progress.maybeDecrTo(prev, nextIndexFromHint(hint)) in probe mode.
        const hinted = leaderLog.nextIndexFromHint(r.hint);
        const moved = Math.max(Math.min(prev, hinted), common + 1);
        assert.ok(moved < next, 'a rejection must move the probe back');
        assert.ok(moved > common, 'the probe must not go below the shared committed prefix');
        next = moved;
      }
      assert.deepEqual(shape(log), shape(leaderLog));
    }),
    { seed: 0x107, numRuns: 1000 },
  );
});

/** The payload bytes of the entries `log` holds, counted entry by entry. */
function bytesHeld(log: RaftLog): number {
  let b = 0;
  for (let k = log.firstIndex(); k <= log.lastIndex(); k++) b += log.entry(i(k))!.data.length;
  return b;
}

test('RaftLog.payloadBytes follows every append, truncation, compaction and restore; a copy keeps it and shares no array', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('append' as const), sizes: fc.array(fc.nat(40), { maxLength: 5 }) }),
    fc.record({ kind: fc.constant('rewrite' as const), back: fc.nat(6), sizes: fc.array(fc.nat(40), { maxLength: 5 }) }),
    fc.record({ kind: fc.constant('compact' as const), upTo: fc.nat() }),
    fc.record({ kind: fc.constant('restore' as const), ahead: fc.nat(4), keep: fc.boolean() }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
      const log = new RaftLog([ent(1, 1, new Uint8Array(7)), ent(2, 1, new Uint8Array(3))], i(0));
      let tm = 1;
      const fresh = (from: number, sizes: readonly number[]): Entry[] => sizes.map((n, k) => ent(from + k, tm, new Uint8Array(n)));
      for (const o of ops) {
        if (o.kind === 'append') log.append(fresh(log.lastIndex() + 1, o.sizes));
        else if (o.kind === 'rewrite') {
          // A new leader's entries replacing an uncommitted tail.
          const prev = Math.max(log.committed(), log.lastIndex() - o.back);
          tm++;
          const r = log.maybeAppend(i(prev), log.term(i(prev))!, fresh(prev + 1, o.sizes));
          assert.ok(r.ok);
        } else if (o.kind === 'compact') {
          log.commitTo(log.lastIndex());
          log.takeCommitted();
          log.compact(i(log.firstIndex() - 1 + (o.upTo % (log.length() + 1))));
        } else {
          // A snapshot ending inside the log (its tail stays) or past it (the log is replaced).
          const at = o.keep ? log.lastIndex() - o.ahead : log.lastIndex() + o.ahead + 1;
          if (at <= log.committed()) continue;
          log.restore(i(at), o.keep ? log.term(i(at))! : t(++tm));
        }
        assert.equal(log.payloadBytes(), bytesHeld(log));
      }
      const copy = log.copy();
      assert.equal(copy.payloadBytes(), log.payloadBytes());
      copy.append(fresh(copy.lastIndex() + 1, [5]));
      assert.equal(copy.lastIndex(), log.lastIndex() + 1, 'appending to the copy leaves the original');
      assert.equal(bytesHeld(log), log.payloadBytes());
    }),
    { seed: 0x10b, numRuns: 500 },
  );
});
