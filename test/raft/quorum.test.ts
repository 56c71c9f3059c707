import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { committedIndex, majority, voteOutcome, type VoteOutcome } from '../../src/raft/quorum.js';
import type { LogIndex, NodeId } from '../../src/raft/types.js';
import { logIndex, nodeId } from '../../src/raft/types.js';

/**
 * quorum.ts against deliberately dumb oracles (etcd's quorum/quick_test.go): the
 * oracles count instead of sorting, so a shared mistake is unlikely.
 */

const voterIds = (n: number): NodeId[] => Array.from({ length: n }, (_, k) => nodeId(`v${k}`));

/** The largest i such that at least majority(n) voters have match >= i. */
function committedIndexOracle(matches: readonly number[]): number {
  const need = Math.floor(matches.length / 2) + 1;
  for (let i = Math.max(...matches); i > 0; i--) {
    if (matches.filter((m) => m >= i).length >= need) return i;
  }
  return 0;
}

/** Won once more than half granted; lost once more than half cannot grant; else pending. */
function voteOutcomeOracle(n: number, granted: number, rejected: number): VoteOutcome {
  if (2 * granted > n) return 'won';
  if (2 * (n - rejected) <= n) return 'lost';
  return 'pending';
}

test('majority(n) is the smallest count that is more than half of n', () => {
  for (let n = 1; n <= 9; n++) {
    const m = majority(n);
    assert.ok(2 * m > n, `majority(${n}) = ${m} is not more than half`);
    assert.ok(2 * (m - 1) <= n, `majority(${n}) = ${m} is not the smallest`);
  }
});

test('committedIndex equals the counting oracle for 1..9 voters and any match indexes', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }).chain((n) => fc.array(fc.integer({ min: 0, max: 20 }), { minLength: n, maxLength: n })),
      (matches) => {
        const ids = voterIds(matches.length);
        const byId = new Map(ids.map((id, k) => [id, logIndex(matches[k]!)]));
        const got = committedIndex(ids, (id) => byId.get(id)!);
        assert.equal(got, committedIndexOracle(matches), `matches ${JSON.stringify(matches)}`);
      },
    ),
    { seed: 0x51, numRuns: 2000 },
  );
});

test('committedIndex does not depend on the order of the voters', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }).chain((n) => fc.tuple(fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: n, maxLength: n }), fc.array(fc.nat(), { minLength: n, maxLength: n }))),
      ([matches, keys]) => {
        const ids = voterIds(matches.length);
        const byId = new Map<NodeId, LogIndex>(ids.map((id, k) => [id, logIndex(matches[k]!)]));
        const shuffled = ids.map((id, k) => ({ id, key: keys[k]! })).sort((a, b) => a.key - b.key).map((x) => x.id);
        assert.equal(committedIndex(shuffled, (id) => byId.get(id)!), committedIndex(ids, (id) => byId.get(id)!));
      },
    ),
    { seed: 0x52, numRuns: 500 },
  );
});

test('committedIndex with no voters is a programmer error', () => {
  assert.throws(() => committedIndex([], () => logIndex(0)));
});

test('voteOutcome equals counting for 1..9 voters, ignoring non-voters', () => {
  const vote = fc.constantFrom<boolean | undefined>(true, false, undefined);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 9 }).chain((n) => fc.tuple(fc.array(vote, { minLength: n, maxLength: n }), fc.array(fc.boolean(), { maxLength: 4 }))),
      ([votes, strangers]) => {
        const ids = voterIds(votes.length);
        const map = new Map<NodeId, boolean>();
        votes.forEach((v, k) => {
          if (v !== undefined) map.set(ids[k]!, v);
        });
        // Answers from nodes that are not voters must not count.
        strangers.forEach((v, k) => map.set(nodeId(`stranger${k}`), v));
        const granted = votes.filter((v) => v === true).length;
        const rejected = votes.filter((v) => v === false).length;
        assert.equal(voteOutcome(ids, map), voteOutcomeOracle(ids.length, granted, rejected), `votes ${JSON.stringify(votes)}`);
      },
    ),
    { seed: 0x53, numRuns: 2000 },
  );
});

test('voteOutcome: named cases', () => {
  const [a, b, c] = voterIds(3);
  const ids = [a!, b!, c!];
  assert.equal(voteOutcome(ids, new Map()), 'pending');
  assert.equal(voteOutcome(ids, new Map([[a!, true]])), 'pending');
  assert.equal(voteOutcome(ids, new Map([[a!, true], [b!, true]])), 'won');
  assert.equal(voteOutcome(ids, new Map([[a!, true], [b!, false]])), 'pending');
  assert.equal(voteOutcome(ids, new Map([[b!, false], [c!, false]])), 'lost');
  // A single voter decides alone.
  assert.equal(voteOutcome([a!], new Map([[a!, true]])), 'won');
  assert.equal(voteOutcome([a!], new Map([[a!, false]])), 'lost');
  // 4 voters: 2 of 4 is not a majority, and 2 rejections leave the outcome open.
  const four = voterIds(4);
  assert.equal(voteOutcome(four, new Map([[four[0]!, true], [four[1]!, true], [four[2]!, false]])), 'pending');
  assert.equal(voteOutcome(four, new Map([[four[0]!, true], [four[1]!, false], [four[2]!, false]])), 'lost');
});
