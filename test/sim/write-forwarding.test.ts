import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Outcome } from '../../src/node/kv-node.js';
import type { KvResult } from '../../src/kv/command.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import type { SimCluster } from '../../sim/cluster.js';
import { parseSimArgs } from '../../sim/options.js';
import { runSimulation } from '../../sim/run.js';
import { dropWhere, stableCluster } from './stable-cluster.js';

// Write forwarding: a follower that knows its leader sends a client's writes
// there (a proposeRequest), learns where the leader appended them, and answers
// each once it has applied that entry itself. 503/307 only when the leader
// appended nothing; a lost answer is outcome-unknown (504).

const encoder = new TextEncoder();

function putAt(c: SimCluster, at: NodeId, key: string, value: string): { outcome: Outcome<KvResult> | null } {
  const out: { outcome: Outcome<KvResult> | null } = { outcome: null };
  c.kvNode(at)!.propose({ op: 'put', key: encoder.encode(key), value: encoder.encode(value), condition: { kind: 'none' }, tag: null }, (o) => (out.outcome = o));
  return out;
}

test('write forwarding: a write at a follower is appended by the leader and answered by the follower with its own apply result', () => {
  const { c, leader, followers } = stableCluster(41);
  const f = followers[0]!;
  const w = putAt(c, f, 'k', 'v');
  assert.equal(w.outcome, null, 'answered before it was applied');
  assert.ok(c.runUntil(() => w.outcome !== null, c.clock.now() + 2_000));
  const o = w.outcome!;
  assert.ok(o.ok, JSON.stringify(o));
  assert.equal(o.value.op, 'put');
  const revision = o.value.op === 'put' && o.value.ok ? o.value.revision : -1;
  assert.equal(c.node(leader)!.log.entry(revision as never)?.kind, 'command', 'the revision is the entry the leader appended');
  assert.ok(c.appliedIndex(f) >= revision);
  assert.equal(c.node(f)!.counters.proposalsForwarded, 1);
  // Forwarded is not refused: the follower's refusal counters stay at zero.
  assert.equal(c.node(f)!.counters.proposalsRefusedOverloaded, 0);
  assert.equal(c.node(f)!.counters.proposalsRefusedNotLeader, 0);
});

test('write forwarding: a batch the leader refuses as overloaded is answered overloaded: not applied, safe to retry', () => {
  const { c, leader, followers } = stableCluster(42, { raft: { uncommittedEntriesMax: 1 } });
  // Hold the leader's appends so that nothing commits and the uncommitted bound fills up.
  dropWhere(c, (m) => m.type === 'appendEntries' && m.from === leader);
  const first = putAt(c, leader, 'a', '1');
  const w = putAt(c, followers[0]!, 'b', '2');
  // Called from outside an event: the nodes take their next turn with the next timer (a heartbeat).
  c.runFor(500);
  assert.equal(first.outcome, null);
  assert.deepEqual(w.outcome, { ok: false, error: { kind: 'overloaded' } });
});

test("write forwarding: when the leader's answer is lost the write is outcome-unknown (it was appended), never a refusal", () => {
  const { c, followers } = stableCluster(43, { requestTimeoutMs: 3_000 });
  dropWhere(c, (m) => m.type === 'proposeResponse');
  const w = putAt(c, followers[0]!, 'k', 'v');
  assert.ok(c.runUntil(() => w.outcome !== null, c.clock.now() + 5_000));
  assert.deepEqual(w.outcome, { ok: false, error: { kind: 'outcome_unknown' } });
  assert.ok(c.ids.every((id) => c.stateMachine(id)!.get(encoder.encode('k')) !== undefined), 'the write was applied everywhere all the same');
});

test('whole runs with clients spread over every node: writes forwarded and linearizable reads served by followers, every history linearizable under faults', () => {
  let forwarded = 0;
  let followerReads = 0;
  let roundless = 0;
  for (const seed of [51, 52, 53, 54]) {
    const s = runSimulation({
      seed,
      nodes: 3,
      steps: Number.MAX_SAFE_INTEGER,
      durationMs: 6_000,
      ops: Number.MAX_SAFE_INTEGER,
      clients: 6,
      keys: 3,
      routing: ['spread'],
      readModes: ['linearizable', 'lease'],
      network: { lossPerMille: 20, duplicatePerMille: 10, delayMinMs: 1, delayMaxMs: 15 },
      faults: [
        { atMs: 1_500, kind: 'isolate', target: 'leader', forMs: 1_200 },
        { atMs: 3_500, kind: 'crash', target: 'leader', forMs: 800 },
      ],
    });
    assert.ok(s.opsChecked > 50, `seed ${seed}: only ${s.opsChecked} operations checked`);
    forwarded += s.forwardedBatches;
    followerReads += s.followerReads;
    roundless += s.roundlessFollowerReads;
  }
  assert.ok(forwarded > 50, `only ${forwarded} batches were forwarded`);
  assert.ok(followerReads > 50, `only ${followerReads} reads were served by followers`);
  // In 3 nodes the leader and the asking follower are a majority: the leader answers without a heartbeat round.
  assert.ok(roundless > 50, `only ${roundless} follower reads were answered without a round`);
});

test('whole runs of 5 nodes with clients spread over every node: follower reads wait for heartbeat rounds, every history linearizable under faults', () => {
  const s = runSimulation({
    seed: 55,
    nodes: 5,
    steps: Number.MAX_SAFE_INTEGER,
    durationMs: 4_000,
    ops: Number.MAX_SAFE_INTEGER,
    clients: 6,
    keys: 3,
    routing: ['spread'],
    readModes: ['linearizable'],
    network: { lossPerMille: 20, duplicatePerMille: 10, delayMinMs: 1, delayMaxMs: 15 },
    faults: [
      { atMs: 1_000, kind: 'isolate', target: 'leader', forMs: 1_000 },
      { atMs: 2_500, kind: 'crash', target: 'leader', forMs: 600 },
    ],
  });
  assert.ok(s.opsChecked > 50, `only ${s.opsChecked} operations checked`);
  assert.ok(s.followerReads > 20, `only ${s.followerReads} reads were served by followers`);
  assert.equal(s.roundlessFollowerReads, 0);
});

test("the swarm's random runs (npm run sim's default) exercise follower reads and forwarded writes, every history checked", () => {
  let forwarded = 0;
  let followerReads = 0;
  for (const seed of [1, 3, 4]) {
    const parsed = parseSimArgs(['--seed', String(seed), '--duration-ms', '6000']);
    if (!('options' in parsed)) throw new Error('bad sim args');
    const s = runSimulation(parsed.options);
    forwarded += s.forwardedBatches;
    followerReads += s.followerReads;
  }
  assert.ok(forwarded > 20, `only ${forwarded} batches were forwarded`);
  assert.ok(followerReads > 10, `only ${followerReads} reads were served by followers`);
});

/**
 * The proposeRequests `from` sends (their command counts), and the leader's answers to it held back until released;
 * appends to it are dropped while an answer is held, so that it never learns a batch committed before it hears where
 * the batch went (as on one ordered link).
 */
function watchFlights(c: SimCluster, from: NodeId): { sent: number[]; sentTo: NodeId[]; held: Message[]; release: () => void } {
  const send = c.network.send.bind(c.network);
  const sent: number[] = [];
  const sentTo: NodeId[] = [];
  const held: Message[] = [];
  c.network.send = (m) => {
    if (m.type === 'proposeRequest' && m.from === from) {
      sent.push(m.commands.length);
      sentTo.push(m.to);
    }
    if (m.type === 'proposeResponse' && m.to === from) held.push(m);
    else if (!(held.length > 0 && m.type === 'appendEntries' && m.to === from)) send(m);
  };
  return { sent, sentTo, held, release: () => held.splice(0).forEach(send) };
}

const revisionOf = (o: Outcome<KvResult> | null): number => (o !== null && o.ok && o.value.op === 'put' && o.value.ok ? o.value.revision : -1);

test('write forwarding: while a batch is in flight the follower holds new writes, and sends all of them as the next batch once the leader answered', () => {
  const { c, followers } = stableCluster(44);
  const f = followers[0]!;
  const flights = watchFlights(c, f);
  const first = putAt(c, f, 'k0', 'v');
  assert.ok(c.runUntil(() => flights.held.length === 1, c.clock.now() + 1_000), 'the leader did not answer the first batch');
  // Each in a turn of its own, as requests arrive.
  const later = [1, 2, 3, 4, 5].map((k) => {
    const w = putAt(c, f, `k${k}`, 'v');
    c.step();
    return w;
  });
  assert.deepEqual(flights.sent, [1], 'a batch went while the first was unanswered');
  flights.release();
  assert.ok(c.runUntil(() => flights.held.length === 1, c.clock.now() + 1_000), 'the held writes were not forwarded');
  assert.deepEqual(flights.sent, [1, 5]);
  flights.release();
  assert.ok(c.runUntil(() => [first, ...later].every((w) => w.outcome !== null), c.clock.now() + 1_000));
  const revisions = [first, ...later].map((w) => revisionOf(w.outcome));
  const r0 = revisions[0]!;
  assert.ok(r0 > 0, JSON.stringify(first.outcome));
  assert.deepEqual(revisions.slice(1), [1, 2, 3, 4, 5].map((k) => revisions[1]! + k - 1), 'the held writes are not one append, in order');
  assert.ok(revisions[1]! > r0);
});

test('write forwarding: a lost answer holds the next writes back for a heartbeat interval at most; the lost batch is outcome-unknown', () => {
  const { c, followers } = stableCluster(45, { requestTimeoutMs: 3_000 });
  const f = followers[0]!;
  const flights = watchFlights(c, f);
  const lost = putAt(c, f, 'a', '1');
  assert.ok(c.runUntil(() => flights.held.length === 1, c.clock.now() + 1_000));
  flights.held.length = 0;
  const heldAt = c.clock.now();
  const next = putAt(c, f, 'b', '2');
  c.step();
  assert.ok(c.runUntil(() => flights.sent.length === 2, heldAt + c.raftConfig.heartbeatIntervalMs + 10), 'the next write waited past a heartbeat interval');
  assert.ok(c.runUntil(() => flights.held.length === 1, c.clock.now() + 1_000));
  flights.release();
  assert.ok(c.runUntil(() => next.outcome !== null, c.clock.now() + 1_000));
  assert.ok(revisionOf(next.outcome) > 0, JSON.stringify(next.outcome));
  assert.ok(c.runUntil(() => lost.outcome !== null, c.clock.now() + 5_000));
  assert.deepEqual(lost.outcome, { ok: false, error: { kind: 'outcome_unknown' } });
});

test('write forwarding: a flight to a leader that is no more holds no write back: the next goes to the new leader at once', () => {
  const { c, leader, followers } = stableCluster(46);
  const [f, g] = followers as [NodeId, NodeId];
  const flights = watchFlights(c, f);
  const first = putAt(c, f, 'a', '1');
  assert.ok(c.runUntil(() => flights.held.length === 1, c.clock.now() + 1_000));
  // The old leader's answer never comes; it hands leadership to g meanwhile, well within a heartbeat interval.
  flights.held.length = 0;
  void c.kvNode(leader)!.transferLeadership(g);
  assert.ok(c.runUntil(() => c.kvNode(f)!.leaderId() === g, c.clock.now() + c.raftConfig.heartbeatIntervalMs / 2), 'g did not lead soon enough');
  const next = putAt(c, f, 'b', '2');
  c.step();
  assert.deepEqual(flights.sentTo, [leader, g], 'the write waited for the flight to the old leader');
  assert.ok(c.runUntil(() => flights.held.length === 1, c.clock.now() + 1_000));
  flights.release();
  assert.ok(c.runUntil(() => next.outcome !== null && first.outcome !== null, c.clock.now() + 10_000), 'a write was never answered');
  assert.ok(revisionOf(next.outcome) > 0, JSON.stringify(next.outcome));
  // The first was taken by the old leader or refused by it as it handed over; either way its answer was lost: outcome-unknown.
  assert.deepEqual(first.outcome, { ok: false, error: { kind: 'outcome_unknown' } });
});
