import { votersConfig } from './configs.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultRaftConfig, type RaftConfig } from '../../src/raft/config.js';
import { RaftCounters } from '../../src/raft/counters.js';
import { DEPARTURE_ROUNDS_MAX, Departures } from '../../src/raft/departures.js';
import { describeMessage } from '../../src/raft/describe.js';
import { RaftLog } from '../../src/raft/log.js';
import { Outbox } from '../../src/raft/outbox.js';
import { Progress } from '../../src/raft/progress.js';
import { ReadIndexTracker } from '../../src/raft/read-index.js';
import { appendsFor, heartbeatFor, maybeCommit, requesterCompletesQuorum, sendAppends, type Leader } from '../../src/raft/replication.js';
import { LatestSnapshot } from '../../src/raft/snapshot-store.js';
import type { Entry, NodeId } from '../../src/raft/types.js';
import { logIndex, nodeId, term } from '../../src/raft/types.js';

const [n1, n2, n3] = [nodeId('n1'), nodeId('n2'), nodeId('n3')];
const entry = (index: number, t: number, bytes = 1): Entry => ({ index: logIndex(index), term: term(t), kind: 'command', data: new Uint8Array(bytes) });

/** Leader n1 of {n1, n2, n3} at `t`, holding `entries`, every follower probing from `next`. */
function leader(t: number, entries: Entry[], config: Partial<RaftConfig> = {}, next = 1): Leader {
  const c = { ...defaultRaftConfig, ...config };
  const progress = new Map<NodeId, Progress>([n1, n2, n3].map((id) => [id, new Progress(logIndex(next), c.inflightAppendsMax)]));
  return {
    id: n1,
    term: term(t),
    voters: [n1, n2, n3],
    peers: [n2, n3],
    config: c,
    env: { nowMs: () => 0, randomInt: () => 0 },
    log: new RaftLog(entries, logIndex(0)),
    outbox: new Outbox(),
    counters: new RaftCounters(),
    progress,
    departing: new Departures(DEPARTURE_ROUNDS_MAX),
    reads: new ReadIndexTracker(),
    snapshot: new LatestSnapshot(null),
  };
}

test('appendsFor: a probing follower gets one append at a time', () => {
  const l = leader(1, [entry(1, 1), entry(2, 1), entry(3, 1)]);
  const pr = l.progress.get(n2)!;
  assert.deepEqual(appendsFor(l, n2, pr, false).map(describeMessage), ['n1->n2 t1 App prev=0@0 [1@1..3@1] commit=0']);
  assert.deepEqual(appendsFor(l, n2, pr, true), [], 'paused until it answers');
});

test('appendsFor: a replicating follower gets appends until its window is full, each within the count and byte bounds', () => {
  const entries = Array.from({ length: 10 }, (_, k) => entry(k + 1, 1, 100));
  const l = leader(1, entries, { appendEntriesMax: 3, appendBytesMax: 250, inflightAppendsMax: 3 });
  const pr = l.progress.get(n2)!;
  pr.becomeReplicate();
  const sent = appendsFor(l, n2, pr, false).map(describeMessage);
  // 250 bytes hold two 100-byte entries: the byte bound cuts before the count bound.
  assert.deepEqual(sent, ['n1->n2 t1 App prev=0@0 [1@1..2@1] commit=0', 'n1->n2 t1 App prev=2@1 [3@1..4@1] commit=0', 'n1->n2 t1 App prev=4@1 [5@1..6@1] commit=0']);
  assert.ok(pr.inflights.full());
  pr.maybeUpdate(logIndex(2));
  assert.deepEqual(appendsFor(l, n2, pr, false).map(describeMessage), ['n1->n2 t1 App prev=6@1 [7@1..8@1] commit=0'], 'an acknowledgement frees one slot');
});

test('appendsFor: with sendIfEmpty a follower that has everything still gets an (empty) append carrying the commit index', () => {
  const l = leader(1, [entry(1, 1)], {}, 2);
  const pr = l.progress.get(n2)!;
  assert.deepEqual(appendsFor(l, n2, pr, false), []);
  assert.deepEqual(appendsFor(l, n2, pr, true).map(describeMessage), ['n1->n2 t1 App prev=1@1 [] commit=0']);
});

test('heartbeatFor: carries min(match, commit), never more than the follower holds', () => {
  const l = leader(2, [entry(1, 1), entry(2, 2), entry(3, 2)]);
  l.log.commitTo(logIndex(3));
  const pr = l.progress.get(n2)!;
  pr.maybeUpdate(logIndex(1));
  assert.equal(heartbeatFor(l, n2, pr, 4).commit, 1);
  pr.maybeUpdate(logIndex(3));
  assert.equal(heartbeatFor(l, n2, pr, 5).commit, 3);
});

test('maybeCommit: only an entry of the current term is committed by counting replicas (Figure 8)', () => {
  const l = leader(3, [entry(1, 1), entry(2, 2), entry(3, 3)]);
  l.progress.get(n1)!.maybeUpdate(logIndex(3));
  l.progress.get(n2)!.maybeUpdate(logIndex(2));
  assert.equal(maybeCommit(l), false, 'index 2 is on a majority but of an older term');
  assert.equal(l.log.committed(), 0);
  l.progress.get(n2)!.maybeUpdate(logIndex(3));
  assert.equal(maybeCommit(l), true);
  assert.equal(l.log.committed(), 3, 'committing 3@3 commits everything before it');
});

test('sendAppends: a follower whose next entries were compacted away gets the snapshot, a bounded window of chunks at a time', () => {
  const l = leader(1, [entry(1, 1), entry(2, 1), entry(3, 1)], { snapshotChunksInflightMax: 2 });
  l.log.commitTo(logIndex(3));
  l.log.takeCommitted();
  l.log.compact(logIndex(2));
  l.snapshot.offer({ meta: { index: logIndex(2), term: term(1), config: votersConfig([n1, n2, n3]) }, chunks: [new Uint8Array(1), new Uint8Array(1), new Uint8Array(1)] });
  sendAppends(l, n2, true);
  assert.deepEqual(l.outbox.messages.map(describeMessage), ['n1->n2 t1 Snap 2@1 chunk 1/3', 'n1->n2 t1 Snap 2@1 chunk 2/3']);
  assert.equal(l.progress.get(n2)!.state, 'snapshot');
  // A follower whose next entry is still in the log gets appends, as before.
  l.progress.get(n3)!.maybeUpdate(logIndex(2));
  l.outbox.messages = [];
  sendAppends(l, n3, true);
  assert.deepEqual(l.outbox.messages.map(describeMessage), ['n1->n3 t1 App prev=2@1 [3@1] commit=3']);
});

test('requesterCompletesQuorum: only when the leader and the asking voter are a majority (1 to 3 voters), never for a learner or a leader outside the voters', () => {
  const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(nodeId) as [NodeId, NodeId, NodeId, NodeId, NodeId];
  assert.equal(requesterCompletesQuorum({ id: a, voters: [a, b, c] }, b), true);
  assert.equal(requesterCompletesQuorum({ id: a, voters: [a, b] }, b), true);
  assert.equal(requesterCompletesQuorum({ id: a, voters: [a, b, c, d] }, b), false);
  assert.equal(requesterCompletesQuorum({ id: a, voters: [a, b, c, d, e] }, b), false);
  // A learner asking (not a voter), and a leader whose own removal is pending (not a voter).
  assert.equal(requesterCompletesQuorum({ id: a, voters: [a, b, c] }, d), false);
  assert.equal(requesterCompletesQuorum({ id: a, voters: [b, c, d] }, b), false);
});
