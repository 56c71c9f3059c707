import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createMachine } from 'xstate';
import { machineGraph, toMermaid } from '../../src/debug/machine-graph.js';
import { roleMachineGraph } from '../../src/ui/assets.js';

test('the role machine graph has the four roles and the elections between them, read from the definition', () => {
  const g = roleMachineGraph();
  assert.equal(g.initial, 'follower');
  assert.deepEqual(g.states.map((s) => s.id), ['follower', 'preCandidate', 'candidate', 'leader']);
  // One tick drives the leader's heartbeats, CheckQuorum and the transfer timeout: no parallel regions.
  assert.deepEqual(g.states.find((s) => s.id === 'leader'), { id: 'leader', type: 'compound', regions: ['ticking'] });
  const has = (from: string, to: string, event: string, guard: string | null): boolean => g.edges.some((e) => e.from === from && e.to === to && e.events.includes(event) && e.guard === guard);
  assert.ok(has('follower', 'preCandidate', 'after randomizedElectionTimeout', 'mayCampaign'));
  assert.ok(has('preCandidate', 'candidate', 'always', 'electionWon'));
  assert.ok(has('candidate', 'leader', 'always', 'electionWon'));
  assert.ok(has('leader', 'follower', 'after heartbeatInterval', 'quorumLost'), 'CheckQuorum steps down');
  assert.ok(has('follower', 'candidate', 'timeoutNow', 'isTransferToUs'), 'a transfer target campaigns at once');
  assert.ok(has('leader', 'follower', 'any message', 'termIsNewer'), 'a newer term makes every role a follower');
});

test('the graph follows the definition: a different machine gives a different diagram', () => {
  const m = createMachine({ id: 'door', initial: 'closed', states: { closed: { on: { open: 'opened' } }, opened: { after: { 1000: 'closed' } } } });
  assert.equal(toMermaid(machineGraph(m)), 'stateDiagram-v2\n  [*] --> closed\n  closed --> opened: open\n  opened --> closed: after 1000\n');
});

test("the README's role diagram is the one generated from the machine (npm run machines:export)", () => {
  const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
  const diagrams = [...readme.matchAll(/```mermaid\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((d) => d.startsWith('stateDiagram-v2'));
  assert.equal(diagrams.length, 1, 'the README has one state diagram');
  assert.equal(diagrams[0], toMermaid(roleMachineGraph()));
});
