import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeConfiguration, encodeConfiguration, membersMax } from '../../src/raft/configuration-codec.js';
import { pickTransferTarget } from '../../src/raft/leadership-transfer.js';
import {
  ConfigHistory,
  configuration,
  describeConfiguration,
  emptyConfiguration,
  isVoter,
  learnerCaughtUp,
  learnersOf,
  planChange,
  sameConfiguration,
  votersOf,
  type ChangeContext,
  type ConfigChange,
  type Configuration,
  type Member,
  type MemberRole,
} from '../../src/raft/membership.js';
import { committedIndex, majority, voteOutcome } from '../../src/raft/quorum.js';
import type { LogIndex, NodeId } from '../../src/raft/types.js';
import { logIndex, nodeId } from '../../src/raft/types.js';

/**
 * membership.ts, configuration-codec.ts and leadership-transfer.ts: the rules of
 * single-server changes checked against their reasons (every majority of the old
 * voters meets every majority of the new ones), the configuration history against
 * a dumb oracle that rescans a model log, and the codec for round trips and for
 * refusing every malformed input without throwing.
 */

const addrsOf = (id: string) => ({ raftAddr: `127.0.0.1:7${id}`, httpAddr: `127.0.0.1:8${id}`, grpcAddr: `127.0.0.1:9${id}` });
const member = (id: string, role: MemberRole = 'voter'): Member => ({ id: nodeId(id), role, addrs: addrsOf(id) });
const ids = (...names: string[]): NodeId[] => names.map(nodeId);

const memberArb: fc.Arbitrary<Member> = fc.record({
  id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g').map(nodeId),
  role: fc.constantFrom<MemberRole>('voter', 'learner'),
  addrs: fc.record({ raftAddr: fc.string({ maxLength: 20 }), httpAddr: fc.string({ maxLength: 20 }), grpcAddr: fc.string({ maxLength: 20 }) }),
});
/** A configuration with at least one voter, as every running cluster has. */
const configArb: fc.Arbitrary<Configuration> = fc
  .uniqueArray(memberArb, { selector: (m) => m.id, minLength: 1, maxLength: 7 })
  .map((ms) => (ms.some((m) => m.role === 'voter') ? ms : [{ ...ms[0]!, role: 'voter' as const }, ...ms.slice(1)]))
  .map(configuration);
const changeArb: fc.Arbitrary<ConfigChange> = fc.oneof(
  fc.record({ kind: fc.constant('addVoter' as const), id: fc.constantFrom('a', 'c', 'h', 'i').map(nodeId), addrs: fc.constant(addrsOf('x')) }),
  fc.record({ kind: fc.constant('addLearner' as const), id: fc.constantFrom('b', 'h', 'i').map(nodeId), addrs: fc.constant(addrsOf('y')) }),
  fc.record({ kind: fc.constant('promote' as const), id: fc.constantFrom('a', 'b', 'c', 'd', 'h').map(nodeId) }),
  fc.record({ kind: fc.constant('remove' as const), id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'h').map(nodeId) }),
);

function settled(current: Configuration, overrides: Partial<ChangeContext> = {}): ChangeContext {
  return { current, currentIndex: logIndex(3), committed: logIndex(10), lastIndex: logIndex(10), matchOf: () => logIndex(10), promotionDistanceMax: 5, ...overrides };
}

/** Every subset of `voters` that is a majority of them (voters are few). */
function majorities(voters: readonly NodeId[]): NodeId[][] {
  const out: NodeId[][] = [];
  for (let mask = 0; mask < 1 << voters.length; mask++) {
    const s = voters.filter((_, k) => (mask >> k) & 1);
    if (s.length >= majority(voters.length)) out.push(s);
  }
  return out;
}

test('an accepted change keeps every majority of the old voters overlapping every majority of the new (§4.1)', () => {
  fc.assert(
    fc.property(configArb, changeArb, (c, change) => {
      const plan = planChange(settled(c), change);
      if (!plan.ok) return;
      const before = votersOf(c);
      const after = votersOf(plan.next);
      assert.ok(after.length >= 1, 'a change left no voter');
      const moved = before.filter((v) => !after.includes(v)).length + after.filter((v) => !before.includes(v)).length;
      assert.ok(moved <= 1, `${describeConfiguration(c)} -> ${describeConfiguration(plan.next)} moves ${moved} voters`);
      for (const m1 of majorities(before)) for (const m2 of majorities(after)) assert.ok(m1.some((v) => m2.includes(v)), `${m1.join()} and ${m2.join()} do not meet`);
    }),
    { seed: 0x12a, numRuns: 1500 },
  );
});

test('a change is refused while a configuration entry is uncommitted', () => {
  fc.assert(
    fc.property(configArb, changeArb, fc.integer({ min: 1, max: 5 }), (c, change, ahead) => {
      const inFlight = planChange(settled(c, { currentIndex: logIndex(10 + ahead), lastIndex: logIndex(10 + ahead) }), change);
      assert.deepEqual(inFlight, { ok: false, refusal: { reason: 'change_in_flight', pendingIndex: 10 + ahead } });
    }),
    { seed: 0x12b, numRuns: 300 },
  );
});

test('each change does what it says, and each impossible one is refused with its reason', () => {
  const c = configuration([member('a'), member('b'), member('c'), member('l', 'learner')]);
  const plan = (change: ConfigChange, o: Partial<ChangeContext> = {}) => planChange(settled(c, o), change);
  const after = (change: ConfigChange): string => {
    const p = plan(change);
    assert.ok(p.ok, JSON.stringify(p));
    return describeConfiguration(p.next);
  };
  assert.equal(after({ kind: 'addVoter', id: nodeId('d'), addrs: addrsOf('d') }), '{a b c d l(learner)}');
  assert.equal(after({ kind: 'addLearner', id: nodeId('0'), addrs: addrsOf('0') }), '{0(learner) a b c l(learner)}');
  assert.equal(after({ kind: 'promote', id: nodeId('l') }), '{a b c l}');
  assert.equal(after({ kind: 'remove', id: nodeId('b') }), '{a c l(learner)}');
  assert.equal(after({ kind: 'remove', id: nodeId('l') }), '{a b c}');
  assert.deepEqual(plan({ kind: 'addLearner', id: nodeId('a'), addrs: addrsOf('a') }), { ok: false, refusal: { reason: 'member_exists', id: 'a' } });
  assert.deepEqual(plan({ kind: 'promote', id: nodeId('z') }), { ok: false, refusal: { reason: 'member_not_found', id: 'z' } });
  assert.deepEqual(plan({ kind: 'remove', id: nodeId('z') }), { ok: false, refusal: { reason: 'member_not_found', id: 'z' } });
  assert.deepEqual(plan({ kind: 'promote', id: nodeId('a') }), { ok: false, refusal: { reason: 'not_learner', id: 'a' } });
  const behind = plan({ kind: 'promote', id: nodeId('l') }, { lastIndex: logIndex(20), matchOf: (id) => logIndex(id === 'l' ? 14 : 20) });
  assert.deepEqual(behind, { ok: false, refusal: { reason: 'learner_behind', id: 'l', match: 14, lastIndex: 20, distanceMax: 5 } });
  assert.ok(plan({ kind: 'promote', id: nodeId('l') }, { lastIndex: logIndex(20), matchOf: (id) => logIndex(id === 'l' ? 15 : 20) }).ok, 'exactly at the distance is caught up');
  const one = configuration([member('a'), member('l', 'learner')]);
  assert.deepEqual(planChange(settled(one), { kind: 'remove', id: nodeId('a') }), { ok: false, refusal: { reason: 'last_voter', id: 'a' } });
  assert.ok(planChange(settled(one), { kind: 'remove', id: nodeId('l') }).ok, 'a learner is removable beside the last voter');
});

test('learnerCaughtUp is lastIndex - match <= distance', () => {
  fc.assert(
    fc.property(fc.nat(1000), fc.nat(1000), fc.nat(100), (match, extra, d) => {
      const last = logIndex(match + extra);
      assert.equal(learnerCaughtUp(logIndex(match), last, d), extra <= d);
    }),
    { seed: 0x12c },
  );
});

test('learners count toward neither commitment nor elections', () => {
  const c = configuration([member('a'), member('b'), member('c'), member('l1', 'learner'), member('l2', 'learner')]);
  assert.deepEqual(votersOf(c), ids('a', 'b', 'c'));
  assert.deepEqual(learnersOf(c), ids('l1', 'l2'));
  assert.ok(isVoter(c, nodeId('a')) && !isVoter(c, nodeId('l1')) && !isVoter(c, nodeId('zz')));
  const match: Record<string, number> = { a: 9, b: 2, c: 1, l1: 9, l2: 9 };
  assert.equal(committedIndex(votersOf(c), (id) => logIndex(match[id]!)), 2, 'learners at 9 must not lift the commit index');
  const votes = new Map<NodeId, boolean>([[nodeId('a'), true], [nodeId('l1'), true], [nodeId('l2'), true]]);
  assert.equal(voteOutcome(votersOf(c), votes), 'pending', 'learner votes must not elect');
});

test('configuration() sorts members and refuses a duplicate id; sameConfiguration compares every field', () => {
  const c = configuration([member('b'), member('a', 'learner')]);
  assert.deepEqual(c.members.map((m) => m.id), ids('a', 'b'));
  assert.throws(() => configuration([member('a'), member('a', 'learner')]), /listed twice/);
  assert.ok(sameConfiguration(c, configuration([member('a', 'learner'), member('b')])));
  assert.ok(!sameConfiguration(c, configuration([member('a'), member('b')])));
  assert.ok(!sameConfiguration(c, configuration([member('a', 'learner'), { ...member('b'), addrs: { ...addrsOf('b'), grpcAddr: 'x:1' } }])));
  assert.equal(describeConfiguration(emptyConfiguration), '{}');
});

// ConfigHistory against an oracle: a model log of (index, configuration | null)
// rescanned for its latest configuration at or before an index.

type HistoryOp = { readonly op: 'append'; readonly config: boolean } | { readonly op: 'truncate'; readonly back: number } | { readonly op: 'compact'; readonly back: number } | { readonly op: 'restore'; readonly ahead: number };

test('ConfigHistory follows appends, truncations, compactions and snapshot installs like a rescan of the log', () => {
  const opArb: fc.Arbitrary<HistoryOp> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ op: fc.constant('append' as const), config: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), back: fc.integer({ min: 1, max: 4 }) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('compact' as const), back: fc.nat(4) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('restore' as const), ahead: fc.integer({ min: 1, max: 5 }) }) },
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
      let serial = 0;
      const fresh = (): Configuration => configuration([member(`m${serial++}`)]);
      const bootstrap = fresh();
      // The oracle: the base (index, configuration), the log after it, and the committed index.
      let base = { index: 0, config: bootstrap };
      let log: { index: number; config: Configuration | null }[] = [];
      let committed = 0;
      const h = new ConfigHistory({ index: logIndex(0), config: bootstrap });
      const last = (): number => log[log.length - 1]?.index ?? base.index;
      const oracleAt = (i: number): Configuration => {
        let c = base.config;
        for (const e of log) if (e.index <= i && e.config !== null) c = e.config;
        return c;
      };
      for (const o of ops) {
        if (o.op === 'append') {
          const config = o.config ? fresh() : null;
          log.push({ index: last() + 1, config });
          if (config !== null) h.appended(logIndex(last()), config);
          committed = Math.max(committed, last() - 3);
        } else if (o.op === 'truncate') {
          // Only an uncommitted tail is ever replaced.
          const from = Math.max(committed + 1, last() - o.back + 1);
          if (from > last()) continue;
          log = log.filter((e) => e.index < from);
          h.truncatedFrom(logIndex(from));
        } else if (o.op === 'compact') {
          const to = Math.max(base.index, committed - o.back);
          base = { index: base.index, config: oracleAt(to) };
          log = log.filter((e) => e.index > to);
          h.compactedTo(logIndex(to));
          base = { index: to, config: base.config };
        } else {
          const at = last() + o.ahead;
          const config = fresh();
          base = { index: at, config };
          log = [];
          committed = at;
          h.restored({ index: logIndex(at), config });
        }
        assert.ok(sameConfiguration(h.current().config, oracleAt(last())), `current after ${JSON.stringify(o)}`);
        for (let i = base.index; i <= last(); i++) assert.ok(sameConfiguration(h.at(logIndex(i)).config, oracleAt(i)), `at(${i}) after ${JSON.stringify(o)}`);
        const latest = [...log].reverse().find((e) => e.config !== null);
        assert.equal(h.pendingAfter(logIndex(committed)), latest !== undefined && latest.index > committed);
      }
    }),
    { seed: 0x12d, numRuns: 400 },
  );
});

test('ConfigHistory refuses out-of-order use loudly', () => {
  const h = new ConfigHistory({ index: logIndex(5), config: configuration([member('a')]) });
  assert.throws(() => h.appended(logIndex(5), configuration([member('b')])), /not after/);
  assert.throws(() => h.truncatedFrom(logIndex(5)), /at or before the base/);
  assert.throws(() => h.at(logIndex(4)), /before the base/);
});

test('configurations round-trip through their encoding, one encoding each', () => {
  fc.assert(
    fc.property(fc.uniqueArray(memberArb, { selector: (m) => m.id, maxLength: 7 }), (ms) => {
      const c = configuration(ms);
      const bytes = encodeConfiguration(c);
      const d = decodeConfiguration(bytes);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.ok(sameConfiguration(d.config, c));
      assert.deepEqual(encodeConfiguration(d.config), bytes);
    }),
    { seed: 0x12e, numRuns: 500 },
  );
});

test('decodeConfiguration refuses malformed bytes with a reason and never throws', () => {
  const good = encodeConfiguration(configuration([member('a'), member('b', 'learner')]));
  const refused = (bytes: Uint8Array, why: RegExp): void => {
    const d = decodeConfiguration(bytes);
    assert.ok(!d.ok, 'accepted');
    assert.match(d.reason, why);
  };
  refused(new Uint8Array(0), /truncated/);
  refused(Uint8Array.of(2, 0), /version 2/);
  refused(Uint8Array.of(1, 0x80, 0x02), new RegExp(`more than ${membersMax}`));
  refused(Uint8Array.of(...good, 0), /trailing/);
  refused(good.subarray(0, good.length - 1), /grpc address/);
  // Members out of order: the encoding of b then a.
  const b = encodeConfiguration(configuration([member('b')]));
  const a = encodeConfiguration(configuration([member('a')]));
  refused(Uint8Array.of(1, 2, ...b.subarray(2), ...a.subarray(2)), /increasing id order/);
  refused(Uint8Array.of(1, 1, 7, ...a.subarray(3)), /unknown member role 7/);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      const d = decodeConfiguration(Uint8Array.of(1, ...bytes));
      if (d.ok) assert.deepEqual(encodeConfiguration(d.config), Uint8Array.of(1, ...bytes), 'a second encoding was accepted');
    }),
    { seed: 0x12f, numRuns: 2000 },
  );
});

test('pickTransferTarget takes a named voter, or the most up-to-date other voter', () => {
  const c = configuration([member('a'), member('b'), member('c'), member('l', 'learner')]);
  const match: Record<string, number> = { a: 10, b: 7, c: 9, l: 10 };
  const m = (id: NodeId): LogIndex => logIndex(match[id]!);
  assert.deepEqual(pickTransferTarget(c, nodeId('a'), m, null), { ok: true, to: 'c' });
  assert.deepEqual(pickTransferTarget(c, nodeId('a'), m, nodeId('b')), { ok: true, to: 'b' });
  assert.deepEqual(pickTransferTarget(c, nodeId('a'), m, nodeId('l')), { ok: false, refusal: { reason: 'not_voter', id: 'l' } });
  assert.deepEqual(pickTransferTarget(c, nodeId('a'), m, nodeId('z')), { ok: false, refusal: { reason: 'member_not_found', id: 'z' } });
  assert.deepEqual(pickTransferTarget(c, nodeId('a'), m, nodeId('a')), { ok: false, refusal: { reason: 'already_leader', id: 'a' } });
  assert.deepEqual(pickTransferTarget(configuration([member('a'), member('l', 'learner')]), nodeId('a'), m, null), { ok: false, refusal: { reason: 'no_other_voter' } });
  fc.assert(
    fc.property(configArb, fc.array(fc.nat(5), { minLength: 7, maxLength: 7 }), (cfg, matches) => {
      const matchOf = (id: NodeId): LogIndex => logIndex(matches['abcdefg'.indexOf(id)]!);
      const leader = votersOf(cfg)[0]!;
      const t = pickTransferTarget(cfg, leader, matchOf, null);
      const others = votersOf(cfg).filter((v) => v !== leader);
      if (others.length === 0) return assert.ok(!t.ok);
      assert.ok(t.ok);
      const best = Math.max(...others.map(matchOf));
      assert.equal(t.to, others.filter((v) => matchOf(v) === best).sort()[0]);
    }),
    { seed: 0x130, numRuns: 500 },
  );
});
