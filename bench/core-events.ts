// What the Raft core costs per event on a leader, with no network, disk or
// host around it: a RaftNode of three voters driven by hand. Run by hand, before
// and after a change to the role machine or the core's data structures:
//
//   npm run bench:core [-- --rounds R --proposals N]
//
// Two shapes, as an unbatched operation gives them (the open model at a low
// rate): a proposal's round of inputs (propose, the turn's Ready, the leader's
// own durable acknowledgement, both followers' acknowledgements, the Ready that
// commits it), and one follower's heartbeat answer. Each is run `rounds` times
// and the best is reported (the machine is shared; the best run is the least
// disturbed), in microseconds per round of wall-clock and of process CPU time.

import { parseArgs } from 'node:util';
import { defaultRaftConfig } from '../src/raft/config.js';
import { RaftNode, emptyPersistedState } from '../src/raft/host/raft-node.js';
import { configuration } from '../src/raft/membership.js';
import { logIndex, nodeId, term, type Message } from '../src/raft/types.js';
import { SimClock } from '../sim/clock.js';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, proposals: { type: 'string', default: '20000' } } });
const rounds = Number(args.rounds);
const proposals = Number(args.proposals);

const [n1, n2, n3] = [nodeId('n1'), nodeId('n2'), nodeId('n3')];

/** n1, elected leader of term 1 by n2's votes, its no-op committed. */
function leader(): RaftNode {
  // The simulator's clock: time moves only when a timer is run, so no tick fires while measuring.
  const clock = new SimClock();
  const voters = configuration([n1, n2, n3].map((id) => ({ id, role: 'voter', addrs: { raftAddr: id, httpAddr: id, grpcAddr: id } })));
  const node = new RaftNode({ id: n1, bootstrap: voters, config: defaultRaftConfig, env: { nowMs: () => clock.now(), randomInt: () => 0 }, clock, persisted: emptyPersistedState, onReady: () => {} });
  // Its election timer: it asks for pre-votes.
  if (!clock.runNext() || node.role() !== 'preCandidate') throw new Error('core-events: n1 did not campaign');
  node.takeReady();
  node.step({ type: 'requestVoteResponse', from: n2, to: n1, term: term(1), preVote: true, granted: true });
  const rd = node.takeReady();
  node.step({ type: 'requestVoteResponse', from: n2, to: n1, term: term(1), preVote: false, granted: true });
  for (const m of rd.messagesAfterPersist) node.step(m);
  if (node.role() !== 'leader') throw new Error('core-events: n1 did not become leader');
  proposalRound(node);
  return node;
}

const command = new Uint8Array(300);
const ack = (from: typeof n2, match: number): Message => ({ type: 'appendEntriesResponse', from, to: n1, term: term(1), success: true, matchIndex: logIndex(match) });

function proposalRound(node: RaftNode): void {
  node.propose([command]);
  for (const m of node.takeReady().messagesAfterPersist) node.step(m);
  const last = node.log.lastIndex();
  node.step(ack(n2, last));
  node.step(ack(n3, last));
  const rd = node.takeReady();
  if (rd.committed.length === 0) throw new Error('core-events: the proposal was not committed');
}

function heartbeatAnswer(node: RaftNode): void {
  node.step({ type: 'heartbeatResponse', from: n2, to: n1, term: term(1), seq: 0, logEnd: null });
}

function measure(name: string, run: (node: RaftNode) => void, n: number): void {
  let bestWallUs = Infinity;
  let bestCpuUs = Infinity;
  for (let r = 0; r < rounds; r++) {
    const node = leader();
    for (let i = 0; i < n / 4; i++) run(node);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) run(node);
    bestWallUs = Math.min(bestWallUs, Number(process.hrtime.bigint() - t0) / 1000 / n);
    const cpu = process.cpuUsage(cpu0);
    bestCpuUs = Math.min(bestCpuUs, (cpu.user + cpu.system) / n);
    node.stop();
  }
  console.log(`${name.padEnd(34)} ${bestWallUs.toFixed(2).padStart(8)} µs wall  ${bestCpuUs.toFixed(2).padStart(8)} µs CPU`);
}

console.log(`leader core, best of ${rounds} rounds:`);
measure('proposal round (5 inputs, 2 Readys)', proposalRound, proposals);
measure('heartbeat answer', heartbeatAnswer, proposals * 5);
