import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EVENTS_KEPT, NodeEvents, type Delivery } from '../../src/debug/node-events.js';
import type { RaftStatus } from '../../src/raft/host/raft-node.js';
import { logIndex, nodeId, term } from '../../src/raft/types.js';

function hub(): { events: NodeEvents; status: { commit: number } } {
  const status = { commit: 0 };
  const events = new NodeEvents({
    status: (): RaftStatus => ({ id: nodeId('n1'), role: 'follower', term: term(1), votedFor: null, leaderId: nodeId('n2'), commitIndex: logIndex(status.commit), appliedIndex: logIndex(status.commit), lastLogIndex: logIndex(status.commit), lastLogTerm: term(1) }),
    peerProgress: () => [],
    connectedPeers: () => [nodeId('n2')],
    nowMs: () => 0,
  });
  return { events, status };
}

const transition = { input: 1, from: 'follower', to: 'preCandidate', term: term(1), event: 'timer randomizedElectionTimeout' } as const;

test('a new subscriber gets a hello with the status and recent transitions; a returning one exactly what it missed', () => {
  const { events, status } = hub();
  events.transition(transition);
  const first: Delivery[] = [];
  const off = events.subscribe(null, (d) => first.push(d));
  assert.equal(first.length, 1);
  assert.ok('hello' in first[0]! && first[0].hello.transitions.length === 1 && !first[0].hello.reset);
  status.commit = 5;
  events.sample();
  events.sample(); // unchanged: not published again
  events.transition({ ...transition, input: 2, from: 'preCandidate', to: 'candidate' });
  assert.equal(first.length, 3);
  const seen = (first[1] as { id: number }).id;
  off();
  status.commit = 9;
  events.sample();
  const again: Delivery[] = [];
  events.subscribe(seen, (d) => again.push(d));
  assert.deepEqual(
    again.map((d) => ('event' in d ? d.event.kind : 'hello')),
    ['transition', 'status'],
  );
});

test('a subscriber that asks for events no longer kept is told to start over', () => {
  const { events, status } = hub();
  for (let k = 1; k <= EVENTS_KEPT + 10; k++) {
    status.commit = k;
    events.sample();
  }
  const got: Delivery[] = [];
  events.subscribe(3, (d) => got.push(d));
  assert.equal(got.length, 1);
  assert.ok('hello' in got[0]! && got[0].hello.reset);
});
