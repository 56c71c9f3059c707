import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeCommand } from '../../src/kv/command.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import { SimCluster } from '../../sim/cluster.js';
import { dropWhere, stableCluster } from './stable-cluster.js';

// Follower ReadIndex (etcd's): a follower asked for a linearizable read asks its
// leader for a read index, waits until it has applied that index, and serves the
// read from its own state machine.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function readAt(c: SimCluster, at: NodeId, key: string): { value: string | null | undefined; failed: boolean } {
  const out: { value: string | null | undefined; failed: boolean } = { value: undefined, failed: false };
  c.kvNode(at)!.read('linearizable', (state) => state.get(encoder.encode(key)), (o) => {
    if (!o.ok) out.failed = true;
    else out.value = o.value === undefined ? null : decoder.decode(o.value.value);
  });
  return out;
}

test("follower ReadIndex: a follower that has not applied a committed write yet waits for it: the read sees the write", () => {
  const { c, leader, followers } = stableCluster(21);
  const [lagging] = followers as [NodeId, NodeId];
  // The lagging follower gets no appends, so the write commits with the leader and the other follower only.
  const heal = dropWhere(c, (m) => m.type === 'appendEntries' && m.to === lagging);
  const cmd = encodeCommand({ op: 'put', key: encoder.encode('k'), value: encoder.encode('new'), condition: { kind: 'none' }, tag: null });
  const r = c.propose(leader, [cmd]);
  assert.ok(r !== null && r.ok);
  assert.ok(c.runUntil(() => c.node(leader)!.log.committed() >= r.firstIndex, c.clock.now() + 1_000), 'the write did not commit');
  assert.ok(c.appliedIndex(lagging) < r.firstIndex, 'the follower must not have the write yet');
  const got = readAt(c, lagging, 'k');
  c.runFor(300);
  assert.equal(got.value, undefined, 'served before the follower applied the write it must reflect');
  assert.equal(got.failed, false);
  heal();
  assert.ok(c.runUntil(() => got.value !== undefined, c.clock.now() + 2_000), 'the read was never served');
  assert.equal(got.value, 'new');
  assert.ok(c.node(lagging)!.counters.readsForwarded >= 1);
});

test('follower ReadIndex: the reads of one turn go to the leader as one read index request; in 3 nodes its answer needs no heartbeat round', () => {
  const { c, leader, followers } = stableCluster(22);
  const types = new Map<string, number>();
  // No heartbeat gets through: the leader and the asking follower are a majority of 3, so the answer alone confirms the read.
  const heal = dropWhere(c, (m) => {
    types.set(m.type, (types.get(m.type) ?? 0) + 1);
    return m.type === 'heartbeat' || m.type === 'heartbeatResponse';
  });
  const reads = Array.from({ length: 20 }, () => readAt(c, followers[0]!, 'absent'));
  assert.ok(c.runUntil(() => reads.every((r) => r.value !== undefined), c.clock.now() + c.raftConfig.electionTimeoutMs / 2), 'the reads were not served');
  heal();
  assert.ok(reads.every((r) => r.value === null && !r.failed));
  assert.equal(types.get('readIndexRequest'), 1);
  assert.equal(types.get('readIndexResponse'), 1);
  assert.equal(c.node(leader)!.counters.readsConfirmedByRequester, 1);
});

test('follower ReadIndex: in 5 nodes the leader and the asking follower are no majority: the answer waits for a heartbeat round acknowledged by another voter', () => {
  const c = new SimCluster({ seed: 25, nodes: 5 });
  assert.ok(c.runUntil(() => c.leader() !== null, 10_000), 'no leader');
  c.runFor(500);
  const leader = c.leader()!;
  const asker = c.ids.find((id) => id !== leader)!;
  // Only the asker acknowledges heartbeats: with the leader that is 2 of 5.
  const heal = dropWhere(c, (m) => m.type === 'heartbeatResponse' && m.from !== asker);
  const got = readAt(c, asker, 'absent');
  c.runFor(c.raftConfig.electionTimeoutMs / 2);
  assert.equal(got.value, undefined, 'served with the acknowledgements of 2 voters of 5');
  assert.equal(got.failed, false);
  heal();
  assert.ok(c.runUntil(() => got.value !== undefined, c.clock.now() + 1_000), 'the read was never served');
  assert.equal(got.value, null);
  assert.equal(c.node(leader)!.counters.readsConfirmedByRequester, 0);
});

test('follower ReadIndex: a read forwarded to a leader that is cut off fails once the follower stops following it, not at the request timeout', () => {
  const { c, leader, followers } = stableCluster(23, { requestTimeoutMs: 60_000 });
  c.isolate(leader);
  const got = readAt(c, followers[0]!, 'k');
  const askedAtMs = c.clock.now();
  assert.ok(c.runUntil(() => got.failed, askedAtMs + 4 * c.raftConfig.electionTimeoutMs), 'the read did not fail within 4 election timeouts (the request timeout is 60 s)');
  assert.equal(got.value, undefined);
});

// Whole runs with clients spread over every node: test/sim/write-forwarding.test.ts.

test("follower ReadIndex: a lease's time left is the leader's to tell: a follower refers a linearizable lease lookup to it, and answers a stale one with no time left", () => {
  const { c, leader, followers } = stableCluster(24);
  let granted: number | null = null;
  c.kvNode(leader)!.propose({ op: 'lease_grant', ttlSeconds: 60, tag: null }, (o) => {
    if (o.ok && o.value.op === 'lease_grant' && o.value.ok) granted = o.value.lease;
  });
  assert.ok(c.runUntil(() => granted !== null && followers.every((f) => c.appliedIndex(f) >= granted!), c.clock.now() + 2_000), 'the lease was not granted and applied everywhere');
  const id = granted! as never;
  const answers: Record<string, unknown> = {};
  c.kvNode(followers[0]!)!.leaseInfo(id, 'linearizable', (o) => (answers.linearizable = o.ok ? o.value?.remainingMs : o.error));
  c.kvNode(followers[0]!)!.leaseInfo(id, 'stale', (o) => (answers.stale = o.ok ? o.value?.remainingMs : o.error));
  c.kvNode(leader)!.leaseInfo(id, 'linearizable', (o) => (answers.leader = o.ok ? o.value?.remainingMs : o.error));
  assert.ok(c.runUntil(() => Object.keys(answers).length === 3, c.clock.now() + 2_000), JSON.stringify(answers));
  assert.deepEqual(answers.linearizable, { kind: 'not_leader', leaderId: leader });
  assert.equal(answers.stale, null);
  assert.equal(typeof answers.leader, 'number');
  assert.ok((answers.leader as number) > 50_000, `the leader's clock gives ${String(answers.leader)} ms left of 60 s`);
});

test('follower ReadIndex: reads that arrive while the follower waits for its read index wait for it, then go to the leader as one request', () => {
  const { c, followers } = stableCluster(26);
  const asker = followers[0]!;
  let requests = 0;
  let holding = true;
  const held: Message[] = [];
  const send = c.network.send.bind(c.network);
  c.network.send = (m) => {
    if (m.type === 'readIndexRequest' && m.from === asker) requests++;
    if (holding && m.type === 'readIndexResponse' && m.to === asker) held.push(m);
    else send(m);
  };
  const first = readAt(c, asker, 'absent');
  assert.ok(c.runUntil(() => held.length === 1, c.clock.now() + 1_000), 'the leader did not answer');
  // Five more reads, each in a turn of its own, while the first answer is held.
  const later = Array.from({ length: 5 }, () => {
    const r = readAt(c, asker, 'absent');
    c.runFor(5);
    return r;
  });
  assert.equal(requests, 1, 'a read asked the leader while an earlier request was unanswered');
  assert.ok([first, ...later].every((r) => r.value === undefined && !r.failed));
  holding = false;
  for (const m of held) send(m);
  assert.ok(c.runUntil(() => later.every((r) => r.value !== undefined), c.clock.now() + 1_000), 'the waiting reads were never served');
  assert.equal(first.value, null);
  assert.ok(later.every((r) => r.value === null && !r.failed));
  assert.equal(requests, 2, 'the five waiting reads went as one request');
});

test("follower ReadIndex: a read that waited behind an unanswered request still fails at its own request timeout, counted from its arrival", () => {
  const timeoutMs = 2_000;
  const { c, followers } = stableCluster(27, { requestTimeoutMs: timeoutMs });
  const asker = followers[0]!;
  dropWhere(c, (m) => m.type === 'readIndexResponse' && m.to === asker);
  const t0 = c.clock.now();
  const first = readAt(c, asker, 'absent');
  c.runFor(timeoutMs / 2);
  const t1 = c.clock.now();
  const second = readAt(c, asker, 'absent');
  assert.ok(c.runUntil(() => first.failed, t0 + timeoutMs + 100), 'the first read did not time out');
  assert.equal(second.failed, false, 'the second read failed with the first');
  assert.ok(c.runUntil(() => second.failed, t1 + timeoutMs + 100), 'the second read did not time out');
  assert.ok(c.clock.now() - t1 >= timeoutMs, 'the second read failed before its own timeout');
});
