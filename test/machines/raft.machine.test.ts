import { votersConfig } from '../raft/configs.js';
import { configuration, type ConfigChange } from '../../src/raft/membership.js';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { toDirectedGraph, type DirectedGraphNode } from '@xstate/graph';
import type { AnyTransitionDefinition } from 'xstate';
import { raftMachine, type RaftEvent } from '../../machines/raft.machine.js';
import { defaultRaftConfig } from '../../src/raft/config.js';
import type { Entry, LogIndex, Message, Role, Snapshot, Term } from '../../src/raft/types.js';
import { logIndex, nodeId, term as toTerm } from '../../src/raft/types.js';
import { MachineHarness, n1, n2, n3 } from './machine-harness.js';

// The role machine's transition table: for each role and each event it can meet,
// the role it ends in and every effect, rendered one canonical line each (messages
// sent at once or after the write, reads released, answers to the host, term,
// vote, leader, log end and commit). Then @xstate/graph lists every transition of
// the machine, and the table must have taken each one.

const T = 1000; // the default election timeout; jitter is 0 in the harness
const e = (index: number, t: number, data = ''): Entry => ({ index: logIndex(index), term: toTerm(t), kind: data === '' ? 'noop' : 'command', data: new TextEncoder().encode(data) });
const i = (n: number): LogIndex => logIndex(n);
const t = (n: number): Term => toTerm(n);

/** The log every row starts from: 1@1, 2@2, committed up to 1, at term 2. */
const base = { term: 2, entries: [e(1, 1), e(2, 2, 'x')], commit: 1 };

const taken = new Set<AnyTransitionDefinition>();
const started: MachineHarness[] = [];

function harness(setup = {}): MachineHarness {
  const h = new MachineHarness(taken, { ...base, ...setup });
  started.push(h);
  return h;
}

const snapshot = (index: number, term: number, chunks = 2): Snapshot => ({
  meta: { index: logIndex(index), term: toTerm(term), config: votersConfig([n1, n2, n3]) },
  chunks: Array.from({ length: chunks }, (_, k) => new Uint8Array([k])),
});

/** Each role, reached the way Raft reaches it; effects so far are drained. */
const roles: Record<Role | 'follower of n2', (setup?: object) => MachineHarness> = {
  /** A follower past its startup quiet period that knows no leader. */
  follower: (setup) => {
    const h = harness(setup);
    h.moveClockOnly(T);
    h.effects();
    return h;
  },
  /** A follower that just heard from its leader n2 at term 2 (half an election timeout after it started). */
  'follower of n2': (setup) => {
    const h = harness(setup);
    h.moveClockOnly(T / 2);
    h.send({ type: 'heartbeat', from: n2, to: n1, term: t(2), commit: i(1), seq: 1 });
    h.effects();
    return h;
  },
  preCandidate: (setup) => {
    const h = harness(setup);
    h.advance(T);
    assert.equal(h.role(), 'preCandidate');
    h.effects();
    return h;
  },
  candidate: (setup) => {
    const h = roles.preCandidate(setup);
    h.send({ type: 'requestVoteResponse', from: n2, to: n1, term: t(3), preVote: true, granted: true });
    assert.equal(h.role(), 'candidate');
    h.effects();
    return h;
  },
  /** Leader of term 3 with its no-op at 3@3; no follower has answered yet. */
  leader: (setup) => {
    const h = roles.candidate(setup);
    h.send({ type: 'requestVoteResponse', from: n2, to: n1, term: t(3), preVote: false, granted: true });
    h.send({ type: 'requestVoteResponse', from: n1, to: n1, term: t(3), preVote: false, granted: true });
    assert.equal(h.role(), 'leader');
    h.effects();
    return h;
  },
};

/** Leader of term 3 whose no-op is committed (n1's own write and n2's copy): reads need no first commit. */
function committedLeader(setup = {}): MachineHarness {
  const h = roles.leader(setup);
  h.send({ type: 'appendEntriesResponse', from: n1, to: n1, term: t(3), success: true, matchIndex: i(3) });
  h.send({ type: 'appendEntriesResponse', from: n2, to: n1, term: t(3), success: true, matchIndex: i(3) });
  assert.equal(h.log.committed(), 3);
  h.effects();
  return h;
}

/** A follower of n2 that forwarded read 5 to it and has no answer yet. */
function followerWithForwardedRead(): MachineHarness {
  const h = roles['follower of n2']();
  h.send({ type: 'readIndex', requestId: 5, lease: false });
  h.effects();
  return h;
}

const vote = (from: typeof n1, term: number, preVote: boolean, last = 2, lastTerm = 2): Message => ({
  type: 'requestVote',
  from,
  to: n1,
  term: t(term),
  preVote,
  transfer: false,
  lastLogIndex: i(last),
  lastLogTerm: t(lastTerm),
});
const append = (term: number, prev: number, prevTerm: number, entries: Entry[], commit: number): Message => ({
  type: 'appendEntries',
  from: n2,
  to: n1,
  term: t(term),
  prevLogIndex: i(prev),
  prevLogTerm: t(prevTerm),
  entries,
  leaderCommit: i(commit),
});
const chunk = (term: number, s: Snapshot, k: number): Message => ({ type: 'installSnapshot', from: n2, to: n1, term: t(term), meta: s.meta, chunk: k, chunkCount: s.chunks.length, data: s.chunks[k]! });
const propose = (n: number): RaftEvent => ({ type: 'propose', commands: Array.from({ length: n }, (_, k) => new TextEncoder().encode(`c${k}`)) });


/** n1 of {n1, n2, n3} in the roles given (voters unless said otherwise). */
const membersWith = (roles: Readonly<Record<string, 'voter' | 'learner'>>) =>
  configuration(Object.entries({ n1: 'voter', n2: 'voter', n3: 'voter', ...roles } as Record<string, 'voter' | 'learner'>).map(([id, role]) => ({ id: nodeId(id), role, addrs: { raftAddr: id, httpAddr: id, grpcAddr: id } })));
const change = (c: ConfigChange): RaftEvent => ({ type: 'changeMembers', change: c });
const addrs = { raftAddr: 'n4', httpAddr: 'n4', grpcAddr: 'n4' };
const n4 = nodeId('n4');

/** A committed leader handing leadership to n3, whose log it does not know yet. */
function transferringLeader(): MachineHarness {
  const h = committedLeader();
  h.send({ type: 'transferLeadership', to: n3 });
  h.effects();
  return h;
}

/** A committed leader that appended its own removal at 4, acknowledged by n2 only. */
function leaderRemovingItself(): MachineHarness {
  const h = committedLeader();
  h.send(change({ kind: 'remove', id: n1 }));
  h.send({ type: 'appendEntriesResponse', from: n1, to: n1, term: t(3), success: true, matchIndex: i(4) });
  h.send({ type: 'appendEntriesResponse', from: n2, to: n1, term: t(3), success: true, matchIndex: i(4) });
  assert.equal(h.log.committed(), 3, 'the removal needs n3 too: the voters are n2 and n3 now');
  h.effects();
  return h;
}

/** A committed leader whose followers both hold its log (3@3), so that both are replicated to at once. */
function leaderWithFollowersCaughtUp(): MachineHarness {
  const h = committedLeader();
  h.send({ type: 'appendEntriesResponse', from: n3, to: n1, term: t(3), success: true, matchIndex: i(3) });
  h.effects();
  return h;
}

/** That leader, having appended n3's removal at 4 (and written it); n3 has not answered it. */
function leaderRemovingN3(): MachineHarness {
  const h = leaderWithFollowersCaughtUp();
  h.send(change({ kind: 'remove', id: n3 }));
  h.send({ type: 'appendEntriesResponse', from: n1, to: n1, term: t(3), success: true, matchIndex: i(4) });
  h.effects();
  return h;
}

/** That leader, once n3 acknowledged its removal. */
function leaderThatRemovedN3(): MachineHarness {
  const h = leaderRemovingN3();
  h.send({ type: 'appendEntriesResponse', from: n3, to: n1, term: t(3), success: true, matchIndex: i(4) });
  h.effects();
  return h;
}

interface Row {
  /** The rule, in words. */
  readonly rule: string;
  readonly given: () => MachineHarness;
  /** The event, or time passing. */
  readonly when: RaftEvent | { readonly advanceMs: number };
  readonly then: Role;
  readonly effects: readonly string[];
}

const table: readonly Row[] = [
  // ---- shared rules (the root), met in any role
  {
    rule: 'a stale vote request is refused at our term',
    given: roles.follower,
    when: vote(n3, 1, false),
    then: 'follower',
    effects: ['after persist n1->n3 t2 VoteResp rejected'],
  },
  {
    rule: 'leader stickiness: a vote request of a newer term is ignored while the leader was heard within the election timeout',
    given: roles['follower of n2'],
    when: vote(n3, 3, false),
    then: 'follower',
    effects: [],
  },
  {
    rule: 'a vote request of a newer term (no leader heard) adopts the term, then grants the vote at it, durably',
    given: roles.follower,
    when: vote(n3, 3, false),
    then: 'follower',
    effects: ['after persist n1->n3 t3 VoteResp granted', 'term 3 voted n3'],
  },
  {
    rule: 'a pre-vote for a newer term changes no term and is granted at the term asked about',
    given: roles.follower,
    when: vote(n3, 3, true),
    then: 'follower',
    effects: ['after persist n1->n3 t3 PreVoteResp granted'],
  },
  {
    rule: 'a candidate voted for itself: another candidate of its term is refused',
    given: roles.candidate,
    when: vote(n3, 3, false),
    then: 'candidate',
    effects: ['after persist n1->n3 t3 VoteResp rejected'],
  },
  {
    rule: 'a vote request from a node with a shorter log is refused, even at a newer term (which is adopted)',
    given: roles.follower,
    when: vote(n3, 3, false, 1, 1),
    then: 'follower',
    effects: ['after persist n1->n3 t3 VoteResp rejected', 'term 3 voted -'],
  },
  {
    rule: 'a leader voted for itself: a vote request of its own term is refused',
    given: roles.leader,
    when: vote(n2, 3, false),
    then: 'leader',
    effects: ['after persist n1->n2 t3 VoteResp rejected'],
  },
  {
    rule: 'a pre-vote for a newer term is granted in any role, when not in a lease and our log is not newer',
    given: roles.candidate,
    when: vote(n2, 4, true),
    then: 'candidate',
    effects: ['after persist n1->n2 t4 PreVoteResp granted'],
  },
  {
    rule: 'a pre-candidate that has not voted in its term grants a vote of that term, and stays a pre-candidate',
    given: roles.preCandidate,
    when: vote(n3, 2, false),
    then: 'preCandidate',
    effects: ['after persist n1->n3 t2 VoteResp granted', 'term 2 voted n3'],
  },
  {
    rule: 'a stale vote answer is dropped',
    given: roles.candidate,
    when: { type: 'requestVoteResponse', from: n2, to: n1, term: t(2), preVote: false, granted: false },
    then: 'candidate',
    effects: [],
  },
  {
    rule: 'a refusal from a newer term makes a candidate a follower of that term',
    given: roles.candidate,
    when: { type: 'requestVoteResponse', from: n2, to: n1, term: t(5), preVote: false, granted: false },
    then: 'follower',
    effects: ['term 5 voted -', 'count electionsLost +1'],
  },
  {
    rule: 'a stale append is refused at our term, with where our log ends',
    given: roles.follower,
    when: append(1, 1, 1, [], 1),
    then: 'follower',
    effects: ['after persist n1->n2 t2 AppResp reject at=1 hint=3@-'],
  },
  {
    rule: 'an append of a newer term adopts the term and its sender as leader, and is then taken',
    given: roles.follower,
    when: append(4, 2, 2, [e(3, 4, 'y')], 3),
    then: 'follower',
    effects: ['after persist n1->n2 t4 AppResp ok match=3', 'term 4 voted -', 'leader n2', 'log ends at 3@4', 'commit 3'],
  },
  {
    rule: 'a stale append answer is dropped',
    given: roles.leader,
    when: { type: 'appendEntriesResponse', from: n2, to: n1, term: t(2), success: true, matchIndex: i(2) },
    then: 'leader',
    effects: [],
  },
  {
    rule: 'an append answer of a newer term makes a leader a follower',
    given: roles.leader,
    when: { type: 'appendEntriesResponse', from: n2, to: n1, term: t(4), success: false, rejectedIndex: i(2), hint: { index: i(3), term: null } },
    then: 'follower',
    effects: ['term 4 voted -', 'leader -'],
  },
  {
    rule: 'a stale heartbeat is answered at our term',
    given: roles.follower,
    when: { type: 'heartbeat', from: n3, to: n1, term: t(1), commit: i(1), seq: 7 },
    then: 'follower',
    effects: ['send n1->n3 t2 HeartbeatResp seq=7'],
  },
  {
    rule: 'a heartbeat of a newer term adopts the term and its leader, and is then taken',
    given: roles.preCandidate,
    when: { type: 'heartbeat', from: n3, to: n1, term: t(4), commit: i(2), seq: 1 },
    then: 'follower',
    effects: ['send n1->n3 t4 HeartbeatResp seq=1', 'term 4 voted -', 'leader n3', 'commit 2', 'count preVotesRefused +1'],
  },
  {
    rule: 'a stale heartbeat answer is dropped',
    given: roles.leader,
    when: { type: 'heartbeatResponse', from: n2, to: n1, term: t(2), seq: 1, logEnd: null },
    then: 'leader',
    effects: [],
  },
  {
    rule: 'a heartbeat answer of a newer term makes a leader a follower',
    given: roles.leader,
    when: { type: 'heartbeatResponse', from: n2, to: n1, term: t(9), seq: 1, logEnd: null },
    then: 'follower',
    effects: ['term 9 voted -', 'leader -'],
  },
  {
    rule: 'a stale snapshot chunk is refused at our term',
    given: roles.follower,
    when: chunk(1, snapshot(5, 1), 0),
    then: 'follower',
    effects: ['send n1->n2 t2 SnapResp 5 next=0'],
  },
  {
    rule: 'a snapshot chunk of a newer term adopts the term and leader, and is then taken',
    given: roles.follower,
    when: chunk(3, snapshot(5, 3), 0),
    then: 'follower',
    effects: ['send n1->n2 t3 SnapResp 5 next=1', 'term 3 voted -', 'leader n2'],
  },
  {
    rule: 'a stale snapshot answer is dropped',
    given: roles.leader,
    when: { type: 'installSnapshotResponse', from: n2, to: n1, term: t(1), snapshotIndex: i(1), done: true, nextChunk: 0 },
    then: 'leader',
    effects: [],
  },
  {
    rule: 'a snapshot answer of a newer term makes a leader a follower',
    given: roles.leader,
    when: { type: 'installSnapshotResponse', from: n3, to: n1, term: t(6), snapshotIndex: i(1), done: false, nextChunk: 0 },
    then: 'follower',
    effects: ['term 6 voted -', 'leader -'],
  },
  {
    rule: 'a stale read-index request is dropped (its follower fails the read when it learns our term)',
    given: committedLeader,
    when: { type: 'readIndexRequest', from: n2, to: n1, term: t(2), requestId: 5, lease: false },
    then: 'leader',
    effects: [],
  },
  {
    rule: 'a read-index request of a newer term makes a leader a follower',
    given: committedLeader,
    when: { type: 'readIndexRequest', from: n2, to: n1, term: t(4), requestId: 5, lease: false },
    then: 'follower',
    effects: ['term 4 voted -', 'leader -'],
  },
  {
    rule: 'a stale read-index answer is dropped',
    given: followerWithForwardedRead,
    when: { type: 'readIndexResponse', from: n3, to: n1, term: t(1), requestId: 5, index: i(2) },
    then: 'follower',
    effects: [],
  },
  {
    rule: 'a message of a newer term fails the reads a follower forwarded to its old leader',
    given: followerWithForwardedRead,
    when: { type: 'readIndexResponse', from: n3, to: n1, term: t(3), requestId: 5, index: i(2) },
    then: 'follower',
    effects: ['read 5 failed', 'term 3 voted -', 'leader -'],
  },
  {
    rule: 'write forwarding: a follower that knows its leader forwards a batch the host asked to forward',
    given: roles['follower of n2'],
    when: { type: 'propose', commands: [new Uint8Array([1]), new Uint8Array([2])], forwardBatchId: 4 },
    then: 'follower',
    effects: ['send n1->n2 t2 Prop #4 2 commands', 'answer proposal refused: forwarded, leader n2', 'count proposalsForwarded +2'],
  },
  {
    rule: 'write forwarding: a node that does not lead refuses a forwarded batch at its term: nothing appended',
    given: roles.candidate,
    when: { type: 'proposeRequest', from: n2, to: n1, term: t(1), batchId: 4, commands: [new Uint8Array([1])] },
    then: 'candidate',
    effects: ['send n1->n2 t3 PropResp #4 refused not_leader'],
  },
  {
    rule: 'write forwarding: a forwarded batch of a newer term makes a leader a follower, which refuses it',
    given: committedLeader,
    when: { type: 'proposeRequest', from: n2, to: n1, term: t(5), batchId: 4, commands: [new Uint8Array([1])] },
    then: 'follower',
    effects: ['send n1->n2 t5 PropResp #4 refused not_leader', 'term 5 voted -', 'leader -'],
  },
  {
    rule: "write forwarding: the leader's answer goes to the host, whatever the role and term",
    given: roles.candidate,
    when: { type: 'proposeResponse', from: n2, to: n1, term: t(2), batchId: 4, result: { accepted: true, firstIndex: i(3) } },
    then: 'candidate',
    effects: ['batch 4 answered by n2 t2: from 3'],
  },
  {
    rule: 'write forwarding: an answer of a newer term is taken after adopting the term',
    given: roles['follower of n2'],
    when: { type: 'proposeResponse', from: n3, to: n1, term: t(4), batchId: 4, result: { accepted: false, reason: 'overloaded' } },
    then: 'follower',
    effects: ['batch 4 answered by n3 t4: refused overloaded', 'term 4 voted -', 'leader -'],
  },
  {
    rule: 'a node that does not lead refuses proposals, naming the leader it knows',
    given: roles['follower of n2'],
    when: propose(1),
    then: 'follower',
    effects: ['answer proposal refused: not_leader, leader n2'],
  },
  {
    rule: 'a node that does not lead refuses reads, naming the leader it knows',
    given: roles.candidate,
    when: { type: 'readIndex', requestId: 1, lease: false },
    then: 'candidate',
    effects: ['answer read refused: not_leader, leader unknown'],
  },
  {
    rule: 'a snapshot taken by the host compacts the log behind it, keeping the catch-up tail',
    given: () => {
      const h = roles.follower({ config: { snapshotCatchUpEntries: 0 } });
      h.apply();
      return h;
    },
    when: { type: 'snapshotTaken', snapshot: snapshot(1, 1) },
    then: 'follower',
    effects: ['log starts after 1@1'],
  },

  // ---- follower
  {
    rule: 'follower: the election timer re-arms itself while the leader was heard within the election timeout',
    given: roles['follower of n2'],
    when: { advanceMs: T },
    then: 'follower',
    effects: [],
  },
  {
    rule: 'follower: an election timeout without the leader starts a pre-vote at term + 1',
    given: () => harness(),
    when: { advanceMs: T },
    then: 'preCandidate',
    effects: ['send n1->n2 t3 PreVote last=2@2', 'send n1->n3 t3 PreVote last=2@2', 'count preVotesStarted +1'],
  },
  {
    rule: 'follower: an append of the current term that matches is taken, acknowledged after the write, and commits what it proves',
    given: roles['follower of n2'],
    when: append(2, 2, 2, [e(3, 2, 'y')], 3),
    then: 'follower',
    effects: ['after persist n1->n2 t2 AppResp ok match=3', 'log ends at 3@2', 'commit 3'],
  },
  {
    rule: 'follower: the first append of the current term from a leader it did not know makes it that leader\'s follower, and is taken',
    given: roles.follower,
    when: append(2, 2, 2, [e(3, 2, 'y')], 3),
    then: 'follower',
    effects: ['after persist n1->n2 t2 AppResp ok match=3', 'leader n2', 'log ends at 3@2', 'commit 3'],
  },
  {
    rule: 'follower: an append whose previous entry does not match is refused with a conflict hint',
    given: roles['follower of n2'],
    when: append(2, 2, 1, [e(3, 2, 'y')], 3),
    then: 'follower',
    effects: ['after persist n1->n2 t2 AppResp reject at=2 hint=2@2'],
  },
  {
    rule: 'follower: a heartbeat commits up to the index it carries and is answered at once',
    given: roles['follower of n2'],
    when: { type: 'heartbeat', from: n2, to: n1, term: t(2), commit: i(2), seq: 5 },
    then: 'follower',
    effects: ['send n1->n2 t2 HeartbeatResp seq=5', 'commit 2'],
  },
  {
    rule: 'follower: a snapshot covering only what we hold committed is confirmed at once',
    given: roles['follower of n2'],
    when: chunk(2, snapshot(1, 1), 0),
    then: 'follower',
    effects: ['after persist n1->n2 t2 SnapResp 1 installed'],
  },
  {
    rule: 'follower: the last chunk of a snapshot installs it, durably, replacing the log',
    given: () => {
      const h = roles['follower of n2']();
      h.send(chunk(2, snapshot(5, 2), 0));
      h.effects();
      return h;
    },
    when: chunk(2, snapshot(5, 2), 1),
    then: 'follower',
    effects: ['after persist n1->n2 t2 SnapResp 5 installed', 'install snapshot 5@2', 'log ends at 5@2', 'commit 5', 'log starts after 5@2'],
  },
  {
    rule: 'follower: granting a vote of the current term restarts the election timer',
    given: () => roles.follower({ term: 3 }),
    when: vote(n3, 3, false),
    then: 'follower',
    effects: ['after persist n1->n3 t3 VoteResp granted', 'term 3 voted n3'],
  },

  // ---- pre-candidate
  {
    rule: 'pre-candidate: a majority of pre-votes starts a real election at term + 1, its own vote counted only once durable',
    given: roles.preCandidate,
    when: { type: 'requestVoteResponse', from: n3, to: n1, term: t(3), preVote: true, granted: true },
    then: 'candidate',
    effects: ['send n1->n2 t3 Vote last=2@2', 'send n1->n3 t3 Vote last=2@2', 'after persist n1->n1 t3 VoteResp granted', 'term 3 voted n1', 'count electionsStarted +1'],
  },
  {
    rule: 'pre-candidate: a majority of refusals at our term ends the pre-vote',
    given: () => {
      const h = roles.preCandidate();
      h.send({ type: 'requestVoteResponse', from: n2, to: n1, term: t(2), preVote: true, granted: false });
      return h;
    },
    when: { type: 'requestVoteResponse', from: n3, to: n1, term: t(2), preVote: true, granted: false },
    then: 'follower',
    effects: ['count preVotesRefused +1'],
  },
  {
    rule: 'pre-candidate: a pre-vote round that times out starts again',
    given: roles.preCandidate,
    when: { advanceMs: T },
    then: 'preCandidate',
    effects: ['send n1->n2 t3 PreVote last=2@2', 'send n1->n3 t3 PreVote last=2@2', 'count preVotesStarted +1', 'count preVotesRefused +1'],
  },
  {
    rule: 'pre-candidate: an append from a leader of the current term makes it a follower',
    given: roles.preCandidate,
    when: append(2, 2, 2, [], 2),
    then: 'follower',
    effects: ['after persist n1->n2 t2 AppResp ok match=2', 'leader n2', 'commit 2', 'count preVotesRefused +1'],
  },
  {
    rule: 'pre-candidate: a heartbeat from a leader of the current term makes it a follower',
    given: roles.preCandidate,
    when: { type: 'heartbeat', from: n2, to: n1, term: t(2), commit: i(2), seq: 3 },
    then: 'follower',
    effects: ['send n1->n2 t2 HeartbeatResp seq=3', 'leader n2', 'commit 2', 'count preVotesRefused +1'],
  },
  {
    rule: 'pre-candidate: a snapshot it already holds, from a leader of the current term, is confirmed and followed',
    given: roles.preCandidate,
    when: chunk(2, snapshot(1, 1), 0),
    then: 'follower',
    effects: ['after persist n1->n2 t2 SnapResp 1 installed', 'leader n2', 'count preVotesRefused +1'],
  },
  {
    rule: 'pre-candidate: a snapshot chunk from a leader of the current term makes it a follower',
    given: roles.preCandidate,
    when: chunk(2, snapshot(6, 2), 0),
    then: 'follower',
    effects: ['send n1->n2 t2 SnapResp 6 next=1', 'leader n2', 'count preVotesRefused +1'],
  },

  // ---- candidate
  {
    rule: 'candidate: a majority of votes makes it leader: a no-op of its term, appends to everyone',
    given: () => {
      const h = roles.candidate();
      h.send({ type: 'requestVoteResponse', from: n1, to: n1, term: t(3), preVote: false, granted: true });
      h.effects();
      return h;
    },
    when: { type: 'requestVoteResponse', from: n3, to: n1, term: t(3), preVote: false, granted: true },
    then: 'leader',
    effects: [
      'send n1->n2 t3 App prev=2@2 [3@3] commit=1',
      'send n1->n3 t3 App prev=2@2 [3@3] commit=1',
      'after persist n1->n1 t3 AppResp ok match=3',
      'leader n1',
      'log ends at 3@3',
      'count electionsWon +1',
    ],
  },
  {
    rule: 'candidate: a majority of refusals makes it a follower',
    given: () => {
      const h = roles.candidate();
      h.send({ type: 'requestVoteResponse', from: n2, to: n1, term: t(3), preVote: false, granted: false });
      return h;
    },
    when: { type: 'requestVoteResponse', from: n3, to: n1, term: t(3), preVote: false, granted: false },
    then: 'follower',
    effects: ['count electionsLost +1'],
  },
  {
    rule: 'candidate: an election that times out goes back to a pre-vote (no term inflation)',
    given: roles.candidate,
    when: { advanceMs: T },
    then: 'preCandidate',
    effects: ['send n1->n2 t4 PreVote last=2@2', 'send n1->n3 t4 PreVote last=2@2', 'count electionsLost +1', 'count preVotesStarted +1'],
  },
  {
    rule: 'candidate: an append from a leader of its term makes it a follower',
    given: roles.candidate,
    when: append(3, 2, 2, [], 1),
    then: 'follower',
    effects: ['after persist n1->n2 t3 AppResp ok match=2', 'leader n2', 'count electionsLost +1'],
  },
  {
    rule: 'candidate: a snapshot chunk from a leader of its term makes it a follower',
    given: roles.candidate,
    when: chunk(3, snapshot(5, 3), 0),
    then: 'follower',
    effects: ['send n1->n2 t3 SnapResp 5 next=1', 'leader n2', 'count electionsLost +1'],
  },
  {
    rule: 'candidate: a heartbeat from a leader of its term makes it a follower',
    given: roles.candidate,
    when: { type: 'heartbeat', from: n3, to: n1, term: t(3), commit: i(1), seq: 2 },
    then: 'follower',
    effects: ['send n1->n3 t3 HeartbeatResp seq=2', 'leader n3', 'count electionsLost +1'],
  },
  {
    rule: 'candidate: a snapshot it already holds, from a leader of its term, is confirmed and followed',
    given: roles.candidate,
    when: { ...chunk(3, snapshot(1, 1), 0), from: n3 },
    then: 'follower',
    effects: ['after persist n1->n3 t3 SnapResp 1 installed', 'leader n3', 'count electionsLost +1'],
  },

  // ---- leader
  {
    rule: 'leader: its own durable write and one follower\'s copy commit the no-op of its term',
    given: () => {
      const h = roles.leader();
      h.send({ type: 'appendEntriesResponse', from: n1, to: n1, term: t(3), success: true, matchIndex: i(3) });
      h.effects();
      return h;
    },
    when: { type: 'appendEntriesResponse', from: n2, to: n1, term: t(3), success: true, matchIndex: i(3) },
    then: 'leader',
    effects: ['commit 3'],
  },
  {
    rule: 'leader: a rejected append backs the follower off to the hint and probes again',
    given: roles.leader,
    when: { type: 'appendEntriesResponse', from: n2, to: n1, term: t(3), success: false, rejectedIndex: i(2), hint: { index: i(2), term: null } },
    then: 'leader',
    effects: ['send n1->n2 t3 App prev=1@1 [2@2..3@3] commit=1'],
  },
  {
    rule: 'leader: a heartbeat answer from a follower behind triggers an append',
    given: roles.leader,
    when: { type: 'heartbeatResponse', from: n3, to: n1, term: t(3), seq: 0, logEnd: null },
    then: 'leader',
    effects: ['send n1->n3 t3 App prev=2@2 [3@3] commit=1'],
  },
  {
    rule: 'leader: a follower that needs compacted entries gets the snapshot, and its answers move the transfer on',
    given: () => {
      const h = committedLeader({ config: { snapshotCatchUpEntries: 0, snapshotChunksInflightMax: 1 } });
      h.apply();
      h.send({ type: 'snapshotTaken', snapshot: snapshot(3, 3, 3) });
      h.send({ type: 'appendEntriesResponse', from: n3, to: n1, term: t(3), success: false, rejectedIndex: i(2), hint: { index: i(1), term: null } });
      h.effects();
      return h;
    },
    when: { type: 'installSnapshotResponse', from: n3, to: n1, term: t(3), snapshotIndex: i(3), done: false, nextChunk: 1 },
    then: 'leader',
    effects: ['send n1->n3 t3 Snap 3@3 chunk 2/3'],
  },
  {
    rule: 'leader: proposals are appended at the next index, acknowledged to itself after the write, and sent',
    given: committedLeader,
    when: propose(2),
    then: 'leader',
    effects: ['send n1->n2 t3 App prev=3@3 [4@3..5@3] commit=3', 'after persist n1->n1 t3 AppResp ok match=5', 'answer proposed at 4@3', 'log ends at 5@3'],
  },
  {
    rule: "write forwarding: the leader appends a follower's batch and answers where it went",
    given: committedLeader,
    when: { type: 'proposeRequest', from: n2, to: n1, term: t(3), batchId: 4, commands: [new Uint8Array([1]), new Uint8Array([2])] },
    then: 'leader',
    effects: [
      'send n1->n2 t3 PropResp #4 from 4',
      'send n1->n2 t3 App prev=3@3 [4@3..5@3] commit=3',
      'after persist n1->n1 t3 AppResp ok match=5',
      'log ends at 5@3',
      'count proposalsAccepted +2',
    ],
  },
  {
    rule: 'write forwarding: the follower that forwarded a batch is sent the commit index as soon as the batch commits, not with the next heartbeat',
    given: () => {
      const h = committedLeader();
      h.send({ type: 'proposeRequest', from: n2, to: n1, term: t(3), batchId: 4, commands: [new Uint8Array([1]), new Uint8Array([2])] });
      h.send({ type: 'appendEntriesResponse', from: n1, to: n1, term: t(3), success: true, matchIndex: i(5) });
      h.effects();
      return h;
    },
    when: { type: 'appendEntriesResponse', from: n2, to: n1, term: t(3), success: true, matchIndex: i(5) },
    then: 'leader',
    effects: ['send n1->n2 t3 App prev=5@3 [] commit=5', 'commit 5'],
  },
  {
    rule: "leader: the batches of one turn (a follower's forwarded one, then its own) go to each follower as one append when the turn ends",
    given: () => {
      const h = committedLeader();
      h.sendWithinTurn({ type: 'proposeRequest', from: n2, to: n1, term: t(3), batchId: 4, commands: [new Uint8Array([1]), new Uint8Array([2])] });
      h.effects();
      return h;
    },
    when: propose(2),
    then: 'leader',
    effects: ['send n1->n2 t3 App prev=3@3 [4@3..7@3] commit=3', 'after persist n1->n1 t3 AppResp ok match=7', 'answer proposed at 6@3', 'log ends at 7@3'],
  },
  {
    rule: 'write forwarding: the commit index a waiting follower needs goes with the next batch appended in the same turn, as one append',
    given: () => {
      const h = committedLeader();
      h.send({ type: 'proposeRequest', from: n2, to: n1, term: t(3), batchId: 4, commands: [new Uint8Array([1]), new Uint8Array([2])] });
      h.send({ type: 'appendEntriesResponse', from: n1, to: n1, term: t(3), success: true, matchIndex: i(5) });
      h.sendWithinTurn({ type: 'appendEntriesResponse', from: n2, to: n1, term: t(3), success: true, matchIndex: i(5) });
      h.sendWithinTurn({ type: 'proposeRequest', from: n2, to: n1, term: t(3), batchId: 5, commands: [new Uint8Array([3])] });
      h.effects();
      return h;
    },
    when: { type: 'flushAppends' },
    then: 'leader',
    effects: ['send n1->n2 t3 App prev=5@3 [6@3] commit=5'],
  },
  {
    rule: "write forwarding: a commit that reaches none of a waiting follower's batches sends it nothing: it learns that commit with the next append or heartbeat",
    given: () => {
      const h = committedLeader();
      h.send(propose(2));
      h.send({ type: 'proposeRequest', from: n2, to: n1, term: t(3), batchId: 4, commands: [new Uint8Array([1])] });
      h.send({ type: 'appendEntriesResponse', from: n1, to: n1, term: t(3), success: true, matchIndex: i(6) });
      h.effects();
      return h;
    },
    when: { type: 'appendEntriesResponse', from: n2, to: n1, term: t(3), success: true, matchIndex: i(5) },
    then: 'leader',
    effects: ['commit 5'],
  },
  {
    rule: 'a leader that stepped down during the turn sends nothing at its end: what it appended waits for the next leader to decide',
    given: () => {
      const h = committedLeader();
      h.sendWithinTurn(propose(2));
      h.sendWithinTurn({ type: 'heartbeat', from: n3, to: n1, term: t(4), commit: i(3), seq: 1 });
      h.effects();
      return h;
    },
    when: { type: 'flushAppends' },
    then: 'follower',
    effects: [],
  },
  {
    rule: 'leader: a commit of its own proposals sends no extra message: followers learn the commit index with the next append or heartbeat',
    given: () => {
      const h = committedLeader();
      h.send(propose(2));
      h.send({ type: 'appendEntriesResponse', from: n1, to: n1, term: t(3), success: true, matchIndex: i(5) });
      h.effects();
      return h;
    },
    when: { type: 'appendEntriesResponse', from: n2, to: n1, term: t(3), success: true, matchIndex: i(5) },
    then: 'leader',
    effects: ['commit 5'],
  },
  {
    rule: "write forwarding: the leader refuses a follower's batch past uncommittedEntriesMax, appending nothing",
    given: () => roles.leader({ config: { uncommittedEntriesMax: 2 } }),
    when: { type: 'proposeRequest', from: n2, to: n1, term: t(3), batchId: 4, commands: [new Uint8Array([1]), new Uint8Array([2])] },
    then: 'leader',
    effects: ['send n1->n2 t3 PropResp #4 refused overloaded'],
  },
  {
    rule: 'leader: proposals past uncommittedEntriesMax are refused as overloaded',
    given: () => roles.leader({ config: { uncommittedEntriesMax: 2 } }),
    when: propose(2),
    then: 'leader',
    effects: ['answer proposal refused: overloaded, leader n1'],
  },
  {
    rule: 'leader: a read before the first commit of its term waits without a commit index',
    given: roles.leader,
    when: { type: 'readIndex', requestId: 7, lease: false },
    then: 'leader',
    effects: ['answer read accepted'],
  },
  {
    rule: 'leader: a ReadIndex read starts a heartbeat round that will confirm it',
    given: committedLeader,
    when: { type: 'readIndex', requestId: 8, lease: false },
    then: 'leader',
    effects: ['send n1->n2 t3 Heartbeat commit=3 seq=1', 'send n1->n3 t3 Heartbeat commit=0 seq=1', 'answer read accepted'],
  },
  {
    rule: 'leader: a lease read while the lease holds is ready at once, at the commit index',
    given: () => {
      const h = committedLeader();
      h.send({ type: 'readIndex', requestId: 8, lease: false });
      h.send({ type: 'heartbeatResponse', from: n2, to: n1, term: t(3), seq: 1, logEnd: null });
      h.effects();
      return h;
    },
    when: { type: 'readIndex', requestId: 9, lease: true },
    then: 'leader',
    effects: ['read 9 ready at 3', 'answer read accepted', 'count leaseReads +1'],
  },
  {
    rule: "leader: a follower's read before the first commit of its term waits, then joins the first round",
    given: roles.leader,
    when: { type: 'readIndexRequest', from: n2, to: n1, term: t(3), requestId: 5, lease: false },
    then: 'leader',
    effects: [],
  },
  {
    rule: "leader: in 3 voters a follower's ReadIndex read is answered at once, at the commit index: the leader and the asking voter are a majority, the answer is the round",
    given: committedLeader,
    when: { type: 'readIndexRequest', from: n2, to: n1, term: t(3), requestId: 5, lease: false },
    then: 'leader',
    effects: ['send n1->n2 t3 ReadIndexResp #5 index=3', 'count readsConfirmedByRequester +1'],
  },
  {
    rule: "leader: a learner's ReadIndex read starts a heartbeat round, answered to the learner once a majority of voters acknowledged it",
    given: () => {
      const h = committedLeader({ members: membersWith({ n4: 'learner' }) });
      h.send({ type: 'readIndexRequest', from: n4, to: n1, term: t(3), requestId: 5, lease: false });
      assert.deepEqual(h.effects(), ['send n1->n2 t3 Heartbeat commit=3 seq=1', 'send n1->n3 t3 Heartbeat commit=0 seq=1', 'send n1->n4 t3 Heartbeat commit=0 seq=1']);
      // The learner's own acknowledgement does not count.
      h.send({ type: 'heartbeatResponse', from: n4, to: n1, term: t(3), seq: 1, logEnd: null });
      h.effects();
      return h;
    },
    when: { type: 'heartbeatResponse', from: n3, to: n1, term: t(3), seq: 1, logEnd: null },
    then: 'leader',
    effects: ['send n1->n4 t3 ReadIndexResp #5 index=3', 'send n1->n3 t3 App prev=2@2 [3@3] commit=3', 'count readIndexRounds +1', 'count readIndexReads +1'],
  },
  {
    rule: "leader: a follower's lease read while the lease holds is answered at once, at the commit index",
    given: () => {
      const h = committedLeader();
      h.send({ type: 'readIndex', requestId: 8, lease: false });
      h.send({ type: 'heartbeatResponse', from: n2, to: n1, term: t(3), seq: 1, logEnd: null });
      h.effects();
      return h;
    },
    when: { type: 'readIndexRequest', from: n3, to: n1, term: t(3), requestId: 9, lease: true },
    then: 'leader',
    effects: ['send n1->n3 t3 ReadIndexResp #9 index=3', 'count leaseReads +1'],
  },
  {
    rule: 'follower ReadIndex: a follower that knows its leader asks it for a read index',
    given: roles['follower of n2'],
    when: { type: 'readIndex', requestId: 5, lease: true },
    then: 'follower',
    effects: ['send n1->n2 t2 ReadIndex #5 lease', 'answer read accepted', 'count readsForwarded +1'],
  },
  {
    rule: 'follower ReadIndex: a follower that knows no leader refuses the read',
    given: roles.follower,
    when: { type: 'readIndex', requestId: 5, lease: false },
    then: 'follower',
    effects: ['answer read refused: not_leader, leader unknown'],
  },
  {
    rule: "follower ReadIndex: the leader's answer makes the read ready at its index, once",
    given: followerWithForwardedRead,
    when: { type: 'readIndexResponse', from: n2, to: n1, term: t(2), requestId: 5, index: i(2) },
    then: 'follower',
    effects: ['read 5 ready at 2'],
  },
  {
    rule: 'follower ReadIndex: an election timeout fails the reads forwarded to the silent leader',
    given: followerWithForwardedRead,
    when: { advanceMs: 2 * T },
    then: 'preCandidate',
    effects: ['send n1->n2 t3 PreVote last=2@2', 'send n1->n3 t3 PreVote last=2@2', 'read 5 failed', 'leader -', 'count preVotesStarted +1'],
  },
  {
    rule: 'leader: a heartbeat interval broadcasts heartbeats, each carrying min(match, commit)',
    given: committedLeader,
    when: { advanceMs: defaultRaftConfig.heartbeatIntervalMs },
    then: 'leader',
    effects: ['send n1->n2 t3 Heartbeat commit=3 seq=1', 'send n1->n3 t3 Heartbeat commit=0 seq=1'],
  },
  {
    rule: 'leader: CheckQuorum keeps a leader that heard from a majority within the election timeout',
    given: () => committedLeader({ config: { heartbeatIntervalMs: T / 2 } }),
    when: { advanceMs: T },
    then: 'leader',
    effects: [
      'send n1->n2 t3 Heartbeat commit=3 seq=1',
      'send n1->n3 t3 Heartbeat commit=0 seq=1',
      'send n1->n2 t3 Heartbeat commit=3 seq=2',
      'send n1->n3 t3 Heartbeat commit=0 seq=2',
    ],
  },
  {
    rule: 'leader: CheckQuorum steps down a leader that heard from no majority for an election timeout; waiting reads fail',
    given: () => {
      const h = roles.leader();
      h.send({ type: 'readIndex', requestId: 4, lease: false });
      h.effects();
      h.advance(T - 1);
      h.effects();
      return h;
    },
    when: { advanceMs: 1 },
    then: 'follower',
    effects: ['read 4 failed', 'leader -', 'count checkQuorumStepDowns +1'],
  },
  // ---- membership and leadership transfer
  {
    rule: 'a stale TimeoutNow is dropped',
    given: roles['follower of n2'],
    when: { type: 'timeoutNow', from: n2, to: n1, term: t(1) },
    then: 'follower',
    effects: [],
  },
  {
    rule: 'a TimeoutNow of a newer term adopts the term; from no leader we follow, it starts nothing',
    given: roles['follower of n2'],
    when: { type: 'timeoutNow', from: n3, to: n1, term: t(4) },
    then: 'follower',
    effects: ['term 4 voted -', 'leader -'],
  },
  {
    rule: 'leadership transfer: on its leader\'s TimeoutNow a voter campaigns at once, skipping PreVote, and says so in its vote requests',
    given: roles['follower of n2'],
    when: { type: 'timeoutNow', from: n2, to: n1, term: t(2) },
    then: 'candidate',
    effects: [
      'send n1->n2 t3 TransferVote last=2@2',
      'send n1->n3 t3 TransferVote last=2@2',
      'after persist n1->n1 t3 VoteResp granted',
      'term 3 voted n1',
      'leader -',
      'count electionsStarted +1',
      'count transferCampaigns +1',
    ],
  },
  {
    rule: 'leadership transfer: a transfer campaign is heard even by a voter that still hears from its leader',
    given: roles['follower of n2'],
    when: { ...vote(n3, 3, false), transfer: true } as Message,
    then: 'follower',
    effects: ['after persist n1->n3 t3 VoteResp granted', 'term 3 voted n3', 'leader -'],
  },
  {
    rule: 'a learner never campaigns: its election timer just re-arms',
    given: () => {
      const h = harness({ members: membersWith({ n1: 'learner' }) });
      h.moveClockOnly(T);
      h.effects();
      return h;
    },
    when: { advanceMs: T },
    then: 'follower',
    effects: [],
  },
  {
    rule: 'a node that does not lead refuses a membership change, naming the leader it knows',
    given: roles['follower of n2'],
    when: change({ kind: 'addLearner', id: nodeId('n4'), addrs }),
    then: 'follower',
    effects: ['answer change refused: not_leader, leader n2'],
  },
  {
    rule: 'a node that does not lead refuses a leadership transfer, naming the leader it knows',
    given: roles['follower of n2'],
    when: { type: 'transferLeadership', to: n3 },
    then: 'follower',
    effects: ['answer transfer refused: not_leader, leader n2'],
  },
  {
    rule: 'leader: a single-server change is appended as a configuration entry, in effect at once, and sent to the new member too',
    given: committedLeader,
    when: change({ kind: 'addLearner', id: nodeId('n4'), addrs }),
    then: 'leader',
    effects: [
      'send n1->n2 t3 App prev=3@3 [4@3] commit=3',
      'send n1->n4 t3 App prev=3@3 [4@3] commit=3',
      'after persist n1->n1 t3 AppResp ok match=4',
      'answer change appended at 4@3',
      'log ends at 4@3',
      'count membershipChanges +1',
    ],
  },
  {
    rule: 'leader: no change before an entry of its own term is committed (the single-server change bug)',
    given: roles.leader,
    when: change({ kind: 'addLearner', id: nodeId('n4'), addrs }),
    then: 'leader',
    effects: ['answer change refused: leader_not_settled'],
  },
  {
    rule: 'leader: a change the membership rules refuse is answered with the reason',
    given: committedLeader,
    when: change({ kind: 'remove', id: nodeId('n9') }),
    then: 'leader',
    effects: ['answer change refused: member_not_found'],
  },
  {
    rule: 'leader: answers from a node that is not a member are dropped',
    given: committedLeader,
    when: { type: 'appendEntriesResponse', from: nodeId('n9'), to: n1, term: t(3), success: true, matchIndex: i(3) },
    then: 'leader',
    effects: [],
  },
  {
    rule: 'leader: a removed follower is still replicated to (departing), so that it learns of its removal',
    given: leaderWithFollowersCaughtUp,
    when: change({ kind: 'remove', id: n3 }),
    then: 'leader',
    effects: ['send n1->n2 t3 App prev=3@3 [4@3] commit=3', 'send n1->n3 t3 App prev=3@3 [4@3] commit=3', 'after persist n1->n1 t3 AppResp ok match=4', 'answer change appended at 4@3', 'log ends at 4@3', 'count membershipChanges +1'],
  },
  {
    rule: 'leader: a departing member gets heartbeats too, while it has not acknowledged its removal',
    given: leaderRemovingN3,
    when: { advanceMs: defaultRaftConfig.heartbeatIntervalMs },
    then: 'leader',
    effects: ['send n1->n2 t3 Heartbeat commit=3 seq=1', 'send n1->n3 t3 Heartbeat commit=3 seq=1'],
  },
  {
    rule: 'leader: a departing member\'s acknowledgement counts toward no quorum; once it holds its removal it is replicated to no more',
    given: leaderRemovingN3,
    when: { type: 'appendEntriesResponse', from: n3, to: n1, term: t(3), success: true, matchIndex: i(4) },
    then: 'leader',
    effects: [],
  },
  {
    rule: 'leader: a departing member that acknowledged its removal gets no more heartbeats',
    given: leaderThatRemovedN3,
    when: { advanceMs: defaultRaftConfig.heartbeatIntervalMs },
    then: 'leader',
    effects: ['send n1->n2 t3 Heartbeat commit=3 seq=1'],
  },
  {
    rule: 'leader: a vote request from a node outside the configuration is not answered: it is told of its removal instead',
    given: committedLeader,
    when: vote(nodeId('n9'), 4, true, 1, 1),
    then: 'leader',
    effects: ['send n1->n9 t3 App prev=3@3 [] commit=3'],
  },
  {
    rule: 'leader: a leader whose removal commits steps down and tells the most up-to-date voter to campaign',
    given: leaderRemovingItself,
    when: { type: 'appendEntriesResponse', from: n3, to: n1, term: t(3), success: true, matchIndex: i(4) },
    then: 'follower',
    effects: ['send n1->n2 t3 TimeoutNow', 'leader -', 'commit 4', 'count removalStepDowns +1'],
  },
  {
    rule: 'leader: a transfer to a caught-up voter sends it TimeoutNow at once',
    given: committedLeader,
    when: { type: 'transferLeadership', to: n2 },
    then: 'leader',
    effects: ['send n1->n2 t3 TimeoutNow', 'answer transfer to n2', 'count transfersStarted +1'],
  },
  {
    rule: 'leader: a transfer to a node that is not a voter is refused',
    given: committedLeader,
    when: { type: 'transferLeadership', to: nodeId('n9') },
    then: 'leader',
    effects: ['answer transfer refused: member_not_found'],
  },
  {
    rule: 'leader: while transferring, proposals are refused (they would only delay the handover)',
    given: transferringLeader,
    when: propose(1),
    then: 'leader',
    effects: ['answer proposal refused: not_leader, leader n1'],
  },
  {
    rule: 'leader: while transferring, membership changes are refused',
    given: transferringLeader,
    when: change({ kind: 'addLearner', id: nodeId('n4'), addrs }),
    then: 'leader',
    effects: ['answer change refused: not_leader, leader unknown'],
  },
  {
    rule: 'leader: while transferring, forwarded proposals are refused: nothing appended',
    given: transferringLeader,
    when: { type: 'proposeRequest', from: n2, to: n1, term: t(3), batchId: 4, commands: [new Uint8Array([1])] },
    then: 'leader',
    effects: ['send n1->n2 t3 PropResp #4 refused not_leader'],
  },
  {
    rule: 'leader: one transfer at a time',
    given: transferringLeader,
    when: { type: 'transferLeadership', to: n2 },
    then: 'leader',
    effects: ['answer transfer refused: not_leader, leader unknown'],
  },
  {
    rule: 'leader: once the target has caught up, it is sent TimeoutNow',
    given: transferringLeader,
    when: { type: 'appendEntriesResponse', from: n3, to: n1, term: t(3), success: true, matchIndex: i(3) },
    then: 'leader',
    effects: ['send n1->n3 t3 TimeoutNow'],
  },
  {
    rule: 'leader: a transfer that does not complete within an election timeout is given up; the leader leads on',
    given: transferringLeader,
    when: { advanceMs: T },
    then: 'leader',
    effects: [
      'send n1->n2 t3 Heartbeat commit=3 seq=1',
      'send n1->n3 t3 Heartbeat commit=0 seq=1',
      'send n1->n2 t3 Heartbeat commit=3 seq=2',
      'send n1->n3 t3 Heartbeat commit=0 seq=2',
      'send n1->n2 t3 Heartbeat commit=3 seq=3',
      'send n1->n3 t3 Heartbeat commit=0 seq=3',
      'send n1->n2 t3 Heartbeat commit=3 seq=4',
      'send n1->n3 t3 Heartbeat commit=0 seq=4',
      'send n1->n2 t3 Heartbeat commit=3 seq=5',
      'send n1->n3 t3 Heartbeat commit=0 seq=5',
      'send n1->n2 t3 Heartbeat commit=3 seq=6',
      'send n1->n3 t3 Heartbeat commit=0 seq=6',
      'send n1->n2 t3 Heartbeat commit=3 seq=7',
      'send n1->n3 t3 Heartbeat commit=0 seq=7',
      'send n1->n2 t3 Heartbeat commit=3 seq=8',
      'send n1->n3 t3 Heartbeat commit=0 seq=8',
      'send n1->n2 t3 Heartbeat commit=3 seq=9',
      'send n1->n3 t3 Heartbeat commit=0 seq=9',
      'send n1->n2 t3 Heartbeat commit=3 seq=10',
      'send n1->n3 t3 Heartbeat commit=0 seq=10',
      'count transfersAborted +1',
    ],
  },
];

describe('the role machine, transition by transition', () => {
  after(() => {
    for (const h of started) h.stop();
  });

  for (const row of table) {
    test(row.rule, () => {
      const h = row.given();
      if ('advanceMs' in row.when) h.advance(row.when.advanceMs);
      else h.send(row.when);
      assert.equal(h.role(), row.then);
      assert.deepEqual(h.effects(), row.effects);
    });
  }

  test('every transition of the machine (from @xstate/graph) is taken by a row of the table', () => {
    const all: { id: string; transition: AnyTransitionDefinition }[] = [];
    const visit = (g: DirectedGraphNode): void => {
      for (const edge of g.edges) all.push({ id: `${g.id} on ${edge.transition.eventType} #${edge.id}`, transition: edge.transition });
      // Eventless (`always`) transitions are not edges of the directed graph.
      for (const [k, always] of (g.stateNode.always ?? []).entries()) all.push({ id: `${g.id} always #${k}`, transition: always });
      g.children.forEach(visit);
    };
    visit(toDirectedGraph(raftMachine));
    assert.ok(all.length > 40, `only ${all.length} transitions found`);
    const missed = all.filter((x) => !taken.has(x.transition)).map((x) => x.id);
    assert.deepEqual(missed, [], 'transitions no row of the table takes');
  });
});
