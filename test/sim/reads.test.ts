import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand, type KvResult } from '../../src/kv/command.js';
import type { KvStateMachine } from '../../src/kv/state-machine.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import { SimCluster } from '../../sim/cluster.js';
import { runSimulation, SimFailure } from '../../sim/run.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function stableCluster(seed: number): { c: SimCluster; leader: NodeId } {
  const c = new SimCluster({ seed, nodes: 3 });
  assert.ok(c.runUntil(() => c.leader() !== null, 10_000), 'no leader');
  c.runFor(500);
  return { c, leader: c.leader()! };
}

/** Counts the messages of each type the network is asked to send from now on. */
function countSends(c: SimCluster): Map<Message['type'], number> {
  const counts = new Map<Message['type'], number>();
  const send = c.network.send.bind(c.network);
  c.network.send = (m) => {
    counts.set(m.type, (counts.get(m.type) ?? 0) + 1);
    send(m);
  };
  return counts;
}

function put(c: SimCluster, at: NodeId, key: string, value: string, tag: { clientId: string; requestId: string } | null): number {
  const cmd = encodeCommand({ op: 'put', key: encoder.encode(key), value: encoder.encode(value), condition: { kind: 'none' }, tag });
  const r = c.propose(at, [cmd]);
  assert.ok(r !== null && r.ok, 'proposal refused');
  return r.firstIndex;
}

test('ReadIndex: a new leader serves no read until an entry of its own term is committed', () => {
  const c = new SimCluster({ seed: 11, nodes: 3 });
  // Step until someone becomes leader, and ask it for a read at once.
  assert.ok(c.runUntil(() => c.leader() !== null, 10_000));
  const leader = c.leader()!;
  const node = c.node(leader)!;
  const termAtStart = node.term();
  assert.notEqual(node.log.term(node.log.committed()), termAtStart, 'the no-op should not be committed yet in the step that elected the leader');
  let servedWithCommitTerm: number | null = null;
  const r = c.read(leader, false, {
    serve: () => {
      servedWithCommitTerm = node.log.term(node.log.committed());
    },
    fail: () => assert.fail('the read failed'),
  });
  assert.ok(r?.ok);
  assert.ok(c.runUntil(() => servedWithCommitTerm !== null, c.clock.now() + 5_000), 'read never served');
  assert.equal(servedWithCommitTerm, termAtStart);
});

test('ReadIndex: one heartbeat round serves every read that arrived meanwhile', () => {
  const { c, leader } = stableCluster(12);
  const sent = countSends(c);
  let served = 0;
  for (let k = 0; k < 50; k++) {
    const r = c.read(leader, false, { serve: () => served++, fail: () => assert.fail('read failed') });
    assert.ok(r?.ok);
  }
  // Each read triggers at most one broadcast while none is in flight: the first read
  // starts a round, the other 49 share the next one at most.
  assert.ok(c.runUntil(() => served === 50, c.clock.now() + 1_000));
  const heartbeats = sent.get('heartbeat') ?? 0;
  assert.ok(heartbeats <= 2 * 2, `50 reads took ${heartbeats} heartbeats to 2 followers`);
});

test('ReadIndex: a leader cut off from the majority never confirms a read, and fails it when it steps down', () => {
  const { c, leader } = stableCluster(13);
  c.isolate(leader);
  let served = 0;
  let failed = 0;
  for (let k = 0; k < 5; k++) c.read(leader, false, { serve: () => served++, fail: () => failed++ });
  c.runFor(3 * c.raftConfig.electionTimeoutMs);
  assert.equal(served, 0);
  assert.equal(failed, 5, 'CheckQuorum should have ended its leadership and failed the reads');
  assert.notEqual(c.node(leader)!.role(), 'leader');
});

test('lease reads: served without a heartbeat round while the lease holds, not after it expires', () => {
  const { c, leader } = stableCluster(14);
  const sent = countSends(c);
  let served = 0;
  c.read(leader, true, { serve: () => served++, fail: () => assert.fail('lease read failed') });
  // Served in the same step: no round trip was needed.
  assert.equal(served, 1);
  assert.equal(sent.get('heartbeat') ?? 0, 0);

  // Cut the leader off; once its lease has run out it must not serve from it.
  c.isolate(leader);
  c.runFor(c.raftConfig.electionTimeoutMs - c.raftConfig.leaseClockDriftMs);
  let late = 0;
  const r = c.read(leader, true, { serve: () => late++, fail: () => undefined });
  if (r?.ok) {
    c.runFor(10);
    assert.equal(late, 0, 'served a lease read after the lease expired');
  }
});

test('stale reads are not linearizable: checking them fails a run with a partition, and the same run passes without them', () => {
  // A follower isolated for long keeps answering stale reads from old state.
  const opts = {
    seed: 7,
    nodes: 3,
    steps: Number.MAX_SAFE_INTEGER,
    durationMs: 8_000,
    ops: Number.MAX_SAFE_INTEGER,
    clients: 4,
    keys: 2,
    readModes: ['linearizable', 'stale'] as const,
    faults: [{ atMs: 1_000, kind: 'isolate' as const, target: 1, forMs: 5_000 }],
  };
  assert.doesNotThrow(() => runSimulation(opts));
  assert.throws(
    () => runSimulation({ ...opts, checkStaleReads: true }),
    (e: unknown) => e instanceof SimFailure && e.violation.property === 'linearizability',
  );
});

test('exactly-once: a write retried with the same idempotency tag is applied once, and answered with the first result', () => {
  const { c, leader } = stableCluster(15);
  const results = new Map<number, KvResult>();
  c.onApply((node, e, r) => {
    if (node === leader && r !== null && 'op' in r) results.set(e.index, r);
  });
  const tag = { clientId: 'c1', requestId: '7' };
  const first = put(c, leader, 'k', 'v1', tag);
  const between = put(c, leader, 'k', 'v2', null);
  const retry = put(c, leader, 'k', 'v1', tag);
  c.runFor(500);
  const firstResult = results.get(first);
  assert.deepEqual(firstResult, { op: 'put', ok: true, revision: first });
  assert.deepEqual(results.get(retry), firstResult, 'the retry must be answered with the first result');
  for (const id of c.ids) {
    const kv: KvStateMachine = c.stateMachine(id)!;
    const got = kv.get(encoder.encode('k'))!;
    assert.equal(decoder.decode(got.value), 'v2', `${id}: the retry overwrote a later write`);
    assert.equal(got.revision, between);
  }
});
