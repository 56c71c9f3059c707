import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Progress } from '../../src/raft/progress.js';
import { logIndex } from '../../src/raft/types.js';

const i = logIndex;

test('Progress starts probing: one append at a time, paused until an answer', () => {
  const pr = new Progress(i(5), 4);
  assert.equal(pr.state, 'probe');
  assert.equal(pr.match, 0);
  assert.equal(pr.next, 5);
  assert.ok(!pr.isPaused());
  pr.sentAppend(i(6), 2);
  assert.ok(pr.isPaused(), 'a probe waits for its answer');
  // In probe mode sending does not move next: the probe may be rejected.
  assert.equal(pr.next, 5);
});

test('Progress: a success moves match and next, clears probeSent, and says whether it was news', () => {
  const pr = new Progress(i(5), 4);
  pr.sentAppend(i(4), 0);
  assert.ok(pr.maybeUpdate(i(4)));
  assert.equal(pr.match, 4);
  assert.equal(pr.next, 5);
  assert.ok(!pr.probeSent);
  assert.ok(!pr.maybeUpdate(i(4)), 'a duplicate ack is not news');
  assert.ok(!pr.maybeUpdate(i(2)), 'an older ack is not news');
  assert.equal(pr.match, 4, 'match never goes back');
  assert.ok(pr.maybeUpdate(i(9)));
  assert.equal(pr.next, 10, 'next follows an ack beyond it');
});

test('Progress: probe -> replicate streams up to the window, acks free it', () => {
  const pr = new Progress(i(1), 2);
  pr.maybeUpdate(i(3));
  pr.becomeReplicate();
  assert.equal(pr.state, 'replicate');
  assert.equal(pr.next, 4);
  pr.sentAppend(i(6), 3);
  assert.equal(pr.next, 7, 'replicate mode advances next optimistically');
  assert.ok(!pr.isPaused());
  pr.sentAppend(i(8), 2);
  assert.ok(pr.isPaused(), 'the window of 2 is full');
  // An empty append (heartbeat-like) neither moves next nor takes a slot.
  pr.sentAppend(i(8), 0);
  assert.equal(pr.next, 9);
  assert.equal(pr.inflights.size(), 2);
  assert.ok(pr.maybeUpdate(i(6)));
  assert.equal(pr.inflights.size(), 1);
  assert.ok(!pr.isPaused());
  assert.equal(pr.next, 9, 'an ack below next leaves next alone');
});

test('Progress.maybeDecrTo in replicate mode: a rejection at or below match is stale and ignored', () => {
  const pr = new Progress(i(1), 8);
  pr.maybeUpdate(i(10));
  pr.becomeReplicate();
  pr.sentAppend(i(20), 10);
  pr.sentAppend(i(30), 10);
  for (const stale of [10, 5, 0]) {
    assert.ok(!pr.maybeDecrTo(i(stale), i(1)), `rejection at ${stale} <= match 10 must be ignored`);
    assert.equal(pr.state, 'replicate');
    assert.equal(pr.next, 31);
    assert.equal(pr.inflights.size(), 2);
  }
  // A real rejection beyond match: fall back to probing right after match.
  assert.ok(pr.maybeDecrTo(i(20), i(15)));
  assert.equal(pr.state, 'probe');
  assert.equal(pr.next, 11);
  assert.equal(pr.inflights.size(), 0);
  assert.ok(!pr.probeSent);
});

test('Progress.maybeDecrTo in probe mode: only a rejection of next-1 counts, and it uses the hint', () => {
  const pr = new Progress(i(21), 8);
  pr.maybeUpdate(i(3));
  pr.sentAppend(i(20), 0);
  assert.ok(pr.isPaused());
  // Rejections of other appends (duplicates, or older probes) are stale.
  assert.ok(!pr.maybeDecrTo(i(19), i(5)));
  assert.ok(!pr.maybeDecrTo(i(25), i(5)));
  assert.equal(pr.next, 21);
  assert.ok(pr.isPaused(), 'a stale rejection does not unpause the probe');
  // The rejection of our probe at prevLogIndex 20: jump to the hint.
  assert.ok(pr.maybeDecrTo(i(20), i(8)));
  assert.equal(pr.next, 8);
  assert.ok(!pr.probeSent);
  // A duplicate of the same rejection is now stale (next-1 is 7).
  assert.ok(!pr.maybeDecrTo(i(20), i(8)));
  assert.equal(pr.next, 8);
  // A hint beyond the rejected index cannot move next up: next becomes the rejected index.
  assert.ok(pr.maybeDecrTo(i(7), i(50)));
  assert.equal(pr.next, 7);
  // A hint at or below match cannot take next to match or below.
  assert.ok(pr.maybeDecrTo(i(6), i(1)));
  assert.equal(pr.next, 4);
  assert.equal(pr.match, 3);
});

type Op =
  | { readonly kind: 'send'; readonly entries: number }
  | { readonly kind: 'ack'; readonly at: number }
  | { readonly kind: 'reject'; readonly at: number; readonly hint: number }
  | { readonly kind: 'rejectNext' ; readonly hint: number }
  | { readonly kind: 'probe' }
  | { readonly kind: 'replicate' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('send' as const), entries: fc.integer({ min: 0, max: 5 }) }), weight: 4 },
  { arbitrary: fc.record({ kind: fc.constant('ack' as const), at: fc.integer({ min: 0, max: 60 }) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('reject' as const), at: fc.integer({ min: 0, max: 60 }), hint: fc.integer({ min: 1, max: 60 }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('rejectNext' as const), hint: fc.integer({ min: 1, max: 60 }) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'probe' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'replicate' as const }), weight: 1 },
);

test('Progress keeps match < next, match monotonic and the window bounded under any operation sequence', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 30 }), fc.array(opArb, { maxLength: 150 }), (window, start, ops) => {
      const pr = new Progress(i(start), window);
      for (const op of ops) {
        const before = { match: pr.match, next: pr.next, state: pr.state };
        switch (op.kind) {
          case 'send':
            // As appendsFor does: only when not paused, entries from next on.
            if (!pr.isPaused()) pr.sentAppend(i(pr.next - 1 + op.entries), op.entries);
            break;
          case 'ack':
            assert.equal(pr.maybeUpdate(i(op.at)), op.at > before.match);
            break;
          case 'reject': {
            const counted = pr.maybeDecrTo(i(op.at), i(op.hint));
            const expected = before.state === 'replicate' ? op.at > before.match : op.at === before.next - 1;
            assert.equal(counted, expected, `reject at ${op.at} in ${before.state} (match ${before.match}, next ${before.next})`);
            if (!counted) assert.deepEqual({ match: pr.match, next: pr.next, state: pr.state }, before, 'a stale rejection changed the progress');
            break;
          }
          case 'rejectNext': {
            const at = pr.next - 1;
            const counted = pr.maybeDecrTo(i(at), i(op.hint));
            // The rejection of the append at next-1 counts whenever it is above match.
            assert.equal(counted, before.state === 'probe' || at > before.match);
            if (counted) assert.ok(pr.next <= Math.max(before.next - 1, before.match + 1), 'a counted rejection must move next back');
            break;
          }
          case 'probe':
            pr.becomeProbe();
            break;
          case 'replicate':
            pr.becomeReplicate();
            break;
        }
        assert.ok(pr.match < pr.next, `match ${pr.match} >= next ${pr.next} after ${JSON.stringify(op)}`);
        assert.ok(pr.match >= before.match, 'match went back');
        assert.ok(pr.inflights.size() <= window);
        if (pr.state === 'probe') assert.equal(pr.inflights.size(), 0, 'a probing progress has nothing in the window');
      }
    }),
    { seed: 0x9a, numRuns: 1000 },
  );
});
