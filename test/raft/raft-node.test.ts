import { votersConfig } from './configs.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultRaftConfig } from '../../src/raft/config.js';
import { describeMessage } from '../../src/raft/describe.js';
import { RaftNode, emptyPersistedState, type PersistedState, type Ready } from '../../src/raft/host/raft-node.js';
import type { Entry, Message, NodeId, RequestVoteResponse } from '../../src/raft/types.js';
import { logIndex, nodeId, term as toTerm } from '../../src/raft/types.js';
import { ManualClock } from './manual-clock.js';

// A single RaftNode driven by hand: a manual clock, no network, no disk. Each test
// reads the Readys the node produces, so it checks what the host is asked to do.

const cmd = (s: string): Uint8Array => new TextEncoder().encode(s);

const [n1, n2, n3] = [nodeId('n1'), nodeId('n2'), nodeId('n3')];

function handNode(clock: ManualClock, persisted: PersistedState = emptyPersistedState): RaftNode {
  return new RaftNode({
    id: n1,
    bootstrap: votersConfig([n1, n2, n3]),
    config: defaultRaftConfig,
    // Jitter 0: the election timeout is exactly electionTimeoutMs.
    env: { nowMs: () => clock.nowMs, randomInt: () => 0 },
    clock,
    persisted,
    onReady: () => {},
  });
}

/**
 * Moves the clock past a fresh node's startup quiet period without firing its timers:
 * a node ignores vote requests of newer terms for an election timeout after it starts
 * (it cannot know whether a leader's lease still holds), and these tests want its answer.
 */
function passStartupQuiet(clock: ManualClock): void {
  clock.nowMs += defaultRaftConfig.electionTimeoutMs;
}

function voteRequest(from: NodeId, t: number, lastLogIndex = 0, lastLogTerm = 0): Message {
  return { type: 'requestVote', from, to: n1, term: toTerm(t), preVote: false, transfer: false, lastLogIndex: logIndex(lastLogIndex), lastLogTerm: toTerm(lastLogTerm) };
}

/** The one vote response in a Ready (wherever it sits), and where it sat. */
function voteAnswer(rd: Ready, to: NodeId): { msg: RequestVoteResponse; afterPersist: boolean } {
  const isAnswer = (m: Message): m is RequestVoteResponse => m.type === 'requestVoteResponse' && m.to === to;
  const now = rd.messages.filter(isAnswer);
  const later = rd.messagesAfterPersist.filter(isAnswer);
  assert.equal(now.length + later.length, 1, `expected one answer to ${to}: ${[...rd.messages, ...rd.messagesAfterPersist].map(describeMessage).join('; ')}`);
  return now.length === 1 ? { msg: now[0]!, afterPersist: false } : { msg: later[0]!, afterPersist: true };
}

test('votes survive restarts: a node that voted in term T refuses another candidate in T after a restart', () => {
  const clock = new ManualClock();
  const a = handNode(clock);
  passStartupQuiet(clock);
  a.step(voteRequest(n2, 1));
  const rd = a.takeReady();
  assert.equal(voteAnswer(rd, n2).msg.granted, true);
  assert.deepEqual(rd.hardState, { term: 1, votedFor: n2, commit: 0 });
  // What a crash keeps: the hard state that was written before the vote went out.
  a.stop();
  const b = handNode(clock, { hardState: rd.hardState!, snapshot: null, entries: [] });
  assert.equal(b.status().votedFor, n2);

  b.step(voteRequest(n3, 1));
  const rd2 = b.takeReady();
  assert.equal(voteAnswer(rd2, n3).msg.granted, false, 'voted twice in term 1');
  assert.equal(rd2.hardState, null, 'a refusal changes no durable state');
  // Its vote stands: the same candidate asking again (a retry) is granted again.
  b.step(voteRequest(n2, 1));
  assert.equal(voteAnswer(b.takeReady(), n2).msg.granted, true);
  // A later term frees the vote (once the restarted node's startup quiet period is over).
  passStartupQuiet(clock);
  b.step(voteRequest(n3, 2));
  const rd3 = b.takeReady();
  assert.equal(voteAnswer(rd3, n3).msg.granted, true);
  assert.deepEqual(rd3.hardState, { term: 2, votedFor: n3, commit: 0 });
  b.stop();

  // The control: had the vote not been restored, the same request would have been granted.
  const amnesiac = handNode(new ManualClock(), { hardState: { term: toTerm(1), votedFor: null, commit: logIndex(0) }, snapshot: null, entries: [] });
  amnesiac.step(voteRequest(n3, 1));
  assert.equal(voteAnswer(amnesiac.takeReady(), n3).msg.granted, true);
  amnesiac.stop();
});

test('messages that promise durable state wait for the write: vote and append acknowledgements', () => {
  const clock = new ManualClock();
  const a = handNode(clock);
  passStartupQuiet(clock);

  a.step(voteRequest(n2, 1));
  let rd = a.takeReady();
  const vote = voteAnswer(rd, n2);
  assert.ok(vote.msg.granted);
  assert.ok(vote.afterPersist, 'a granted vote must wait for the vote to be durable');
  assert.deepEqual(rd.hardState, { term: 1, votedFor: n2, commit: 0 }, 'and the vote is in the same Ready');

  const e1: Entry = { index: logIndex(1), term: toTerm(1), kind: 'noop', data: new Uint8Array(0) };
  const e2: Entry = { index: logIndex(2), term: toTerm(1), kind: 'command', data: cmd('x') };
  a.step({ type: 'appendEntries', from: n2, to: n1, term: toTerm(1), prevLogIndex: logIndex(0), prevLogTerm: toTerm(0), entries: [e1, e2], leaderCommit: logIndex(0) });
  rd = a.takeReady();
  assert.deepEqual(rd.entries, [e1, e2], 'the entries to persist');
  assert.equal(rd.messages.filter((m) => m.type === 'appendEntriesResponse').length, 0, 'an append acknowledgement went out before the write');
  const acks = rd.messagesAfterPersist.filter((m) => m.type === 'appendEntriesResponse');
  assert.equal(acks.length, 1);
  assert.ok(acks[0]!.type === 'appendEntriesResponse' && acks[0]!.success && acks[0]!.matchIndex === 2);

  // The next append commits both: the new commit index is hard state, the ack waits again.
  a.step({ type: 'appendEntries', from: n2, to: n1, term: toTerm(1), prevLogIndex: logIndex(2), prevLogTerm: toTerm(1), entries: [], leaderCommit: logIndex(2) });
  rd = a.takeReady();
  assert.deepEqual(rd.hardState, { term: 1, votedFor: n2, commit: 2 });
  assert.deepEqual(rd.committed.map((e) => e.index), [1, 2]);
  assert.equal(rd.messages.filter((m) => m.type === 'appendEntriesResponse').length, 0);
  assert.equal(rd.messagesAfterPersist.filter((m) => m.type === 'appendEntriesResponse').length, 1);

  // A heartbeat answer promises nothing durable and goes at once.
  a.step({ type: 'heartbeat', from: n2, to: n1, term: toTerm(1), commit: logIndex(2), seq: 1 });
  rd = a.takeReady();
  assert.deepEqual(rd.messages.map((m) => m.type), ['heartbeatResponse']);
  assert.equal(rd.messagesAfterPersist.length, 0);
  a.stop();
});

test('messages that promise durable state wait for the write: a candidate\'s own vote and a leader\'s own append count only once durable', () => {
  const clock = new ManualClock();
  const a = handNode(clock);
  clock.advance(defaultRaftConfig.electionTimeoutMs);
  let rd = a.takeReady();
  assert.equal(a.role(), 'preCandidate');
  assert.equal(rd.hardState, null, 'a pre-vote changes no term');
  assert.deepEqual(rd.messages.map((m) => m.type), ['requestVote', 'requestVote']);

  a.step({ type: 'requestVoteResponse', from: n2, to: n1, term: toTerm(1), preVote: true, granted: true });
  assert.equal(a.role(), 'candidate');
  rd = a.takeReady();
  assert.deepEqual(rd.hardState, { term: 1, votedFor: n1, commit: 0 });
  assert.ok(rd.messages.every((m) => m.type === 'requestVote' && !m.preVote));
  assert.equal(rd.messagesAfterPersist.length, 1);
  const selfVote = rd.messagesAfterPersist[0]!;
  assert.ok(selfVote.type === 'requestVoteResponse' && selfVote.to === n1 && selfVote.granted);

  // n2's vote alone is one of three: the candidate's own vote is not counted before it is durable.
  a.step({ type: 'requestVoteResponse', from: n2, to: n1, term: toTerm(1), preVote: false, granted: true });
  assert.equal(a.role(), 'candidate', 'won with a vote for itself that is not yet durable');
  a.step(selfVote);
  assert.equal(a.role(), 'leader');

  rd = a.takeReady();
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term, e.kind]), [[1, 1, 'noop']]);
  assert.ok(rd.messages.some((m) => m.type === 'appendEntries'), 'appends to followers may go before the leader\'s own write');
  const selfAck = rd.messagesAfterPersist.find((m) => m.type === 'appendEntriesResponse' && m.to === n1);
  assert.ok(selfAck !== undefined, 'the leader acknowledges its own entries only after the write');
  // A follower's acknowledgement is one replica of three: no commit without the leader's own durable copy.
  a.step({ type: 'appendEntriesResponse', from: n2, to: n1, term: toTerm(1), success: true, matchIndex: logIndex(1) });
  assert.equal(a.status().commitIndex, 0, 'committed counting a copy that is not durable');
  a.step(selfAck);
  assert.equal(a.status().commitIndex, 1);
  a.stop();
});

test('PreVote: a pre-candidate rejected by a node of a newer term adopts that term (or it could never win again)', () => {
  // n1 holds the longest log but missed a term: peers at term 2 reject its pre-votes
  // for term 2, and it must learn term 2 from them to ask for term 3 next (etcd: a
  // rejected MsgPreVoteResp of a higher term makes the pre-candidate a follower of it).
  const clock = new ManualClock();
  const e1: Entry = { index: logIndex(1), term: toTerm(1), kind: 'noop', data: new Uint8Array(0) };
  const e2: Entry = { index: logIndex(2), term: toTerm(1), kind: 'command', data: cmd('x') };
  const a = handNode(clock, { hardState: { term: toTerm(1), votedFor: null, commit: logIndex(1) }, snapshot: null, entries: [e1, e2] });
  clock.advance(defaultRaftConfig.electionTimeoutMs);
  let rd = a.takeReady();
  assert.equal(a.role(), 'preCandidate');
  assert.ok(rd.messages.every((m) => m.type === 'requestVote' && m.preVote && m.term === 2));
  a.step({ type: 'requestVoteResponse', from: n2, to: n1, term: toTerm(2), preVote: true, granted: false });
  assert.equal(a.term(), 2, 'a pre-vote rejection from a node at term 2 must move the pre-candidate to term 2');
  assert.equal(a.role(), 'follower');
  a.takeReady();
  clock.advance(2 * defaultRaftConfig.electionTimeoutMs);
  rd = a.takeReady();
  const preVotes = rd.messages.filter((m) => m.type === 'requestVote');
  assert.ok(preVotes.length > 0 && preVotes.every((m) => m.type === 'requestVote' && m.preVote && m.term === 3), 'the next pre-vote asks for term 3');
  a.stop();
});
