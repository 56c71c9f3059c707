import { votersConfig } from './configs.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultRaftConfig } from '../../src/raft/config.js';
import { describeEntries, describeMessage } from '../../src/raft/describe.js';
import { RaftNode, emptyPersistedState } from '../../src/raft/host/raft-node.js';
import { ReadyExecutor } from '../../src/raft/host/ready-executor.js';
import { logIndex, nodeId, term } from '../../src/raft/types.js';
import { ManualClock } from './manual-clock.js';

const [n1, n2, n3] = [nodeId('n1'), nodeId('n2'), nodeId('n3')];
const T = defaultRaftConfig.electionTimeoutMs;

/** n1 of three with an executor whose storage, transport and applier write down what they are asked, in order. */
function recorded(): { node: RaftNode; executor: ReadyExecutor; calls: string[]; clock: ManualClock; completeWrites: () => void } {
  const clock = new ManualClock();
  const calls: string[] = [];
  const durables: (() => void)[] = [];
  const node = new RaftNode({
    id: n1,
    bootstrap: votersConfig([n1, n2, n3]),
    config: defaultRaftConfig,
    env: { nowMs: () => clock.nowMs, randomInt: () => 0 },
    clock,
    persisted: emptyPersistedState,
    onReady: () => undefined,
  });
  const executor = new ReadyExecutor(
    node,
    {
      write: (w, durable) => {
        const hs = w.hardState === null ? '' : ` hs t${w.hardState.term} vote ${w.hardState.votedFor ?? '-'} commit ${w.hardState.commit}`;
        calls.push(`write${hs}${w.entries.length > 0 ? ` ${describeEntries(w.entries)}` : ''}`);
        durables.push(durable);
      },
    },
    { send: (ms) => calls.push(...ms.map((m) => `send ${describeMessage(m)}`)) },
    { restore: (s) => calls.push(`restore ${s.meta.index}`), apply: (es) => calls.push(`apply ${describeEntries(es)}`) },
    {
      readsConfirmed: (rs) => calls.push(...rs.map((r) => `read ${r.requestId} at ${r.index}`)),
      readsFailed: (ids) => calls.push(...ids.map((id) => `read ${id} failed`)),
      proposalsForwarded: (as) => calls.push(...as.map((a) => `batch ${a.batchId} answered`)),
    },
  );
  const completeWrites = (): void => {
    calls.push('-- durable');
    for (const d of durables.splice(0)) d();
  };
  return { node, executor, calls, clock, completeWrites };
}

test('ReadyExecutor: messages that promise durable state go out only once the write is durable', () => {
  const { node, executor, calls, clock, completeWrites } = recorded();
  clock.nowMs += T; // past the startup quiet period, without firing timers
  node.step({ type: 'requestVote', from: n2, to: n1, term: term(1), preVote: false, transfer: false, lastLogIndex: logIndex(0), lastLogTerm: term(0) });
  executor.run();
  assert.deepEqual(calls, ['write hs t1 vote n2 commit 0'], 'the vote is written, not yet sent');
  completeWrites();
  assert.deepEqual(calls, ['write hs t1 vote n2 commit 0', '-- durable', 'send n1->n2 t1 VoteResp granted']);
  node.stop();
});

test('ReadyExecutor: one Ready is carried out in Raft order: start persisting, send, then apply', () => {
  const { node, executor, calls, clock, completeWrites } = recorded();
  // n1 becomes leader of term 1: pre-vote, vote (its own counts once durable), no-op.
  clock.advance(T);
  executor.run();
  node.step({ type: 'requestVoteResponse', from: n2, to: n1, term: term(1), preVote: true, granted: true });
  executor.run();
  node.step({ type: 'requestVoteResponse', from: n2, to: n1, term: term(1), preVote: false, granted: true });
  completeWrites();
  assert.equal(node.role(), 'leader', 'its own vote, once durable, made it leader');
  completeWrites();
  calls.length = 0;

  // n2 holds the no-op: it commits. A proposal arrives in the same turn.
  node.step({ type: 'appendEntriesResponse', from: n2, to: n1, term: term(1), success: true, matchIndex: logIndex(1) });
  assert.equal(node.propose([new Uint8Array([7])]).ok, true);
  executor.run();
  assert.deepEqual(calls, [
    'write hs t1 vote n1 commit 1 [2@1]',
    // (n3 has not answered the leader's first probe: it gets nothing new yet.)
    'send n1->n2 t1 App prev=1@1 [2@1] commit=1',
    'apply [1@1]',
  ]);
  calls.length = 0;
  // The leader's own acknowledgement of index 2 was held back: it reaches the core only after the write.
  node.step({ type: 'appendEntriesResponse', from: n3, to: n1, term: term(1), success: true, matchIndex: logIndex(2) });
  executor.run();
  assert.deepEqual(calls, [], 'one follower and a write not yet durable: nothing committed');
  completeWrites();
  assert.deepEqual(calls, ['-- durable', 'write hs t1 vote n1 commit 2', 'apply [2@1]']);
  node.stop();
});

test("ReadyExecutor: a forwarded batch's answer reaches the host before the entries it names are applied, even in the same Ready", () => {
  const { node, executor, calls, completeWrites } = recorded();
  // n2 leads term 1; n1 follows it and forwards a batch of one command.
  node.step({ type: 'heartbeat', from: n2, to: n1, term: term(1), commit: logIndex(0), seq: 1 });
  executor.run();
  completeWrites();
  assert.equal(node.propose([new Uint8Array([7])], 5).ok, false);
  executor.run();
  calls.length = 0;
  // One frame from the leader: the answer, the entry it names, and the commit of that entry.
  node.step({ type: 'proposeResponse', from: n2, to: n1, term: term(1), batchId: 5, result: { accepted: true, firstIndex: logIndex(1) } });
  node.step({ type: 'appendEntries', from: n2, to: n1, term: term(1), prevLogIndex: logIndex(0), prevLogTerm: term(0), entries: [{ index: logIndex(1), term: term(1), kind: 'command', data: new Uint8Array([7]) }], leaderCommit: logIndex(1) });
  executor.run();
  completeWrites();
  const answered = calls.indexOf('batch 5 answered');
  const applied = calls.indexOf('apply [1@1]');
  assert.ok(answered >= 0 && applied >= 0, calls.join(' | '));
  assert.ok(answered < applied, `the host must know where its batch went before it is applied, else it can only answer outcome-unknown: ${calls.join(' | ')}`);
  node.stop();
});
