import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimCluster } from '../../sim/cluster.js';
import { Workload, type ClientRouting } from '../../sim/clients.js';
import { checkLinearizable } from '../../sim/linearizability.js';
import { DEPARTURE_ROUNDS_MAX } from '../../src/raft/departures.js';
import type { ConfigChange, Configuration } from '../../src/raft/membership.js';
import { isVoter, learnersOf, votersOf } from '../../src/raft/membership.js';
import type { NodeId } from '../../src/raft/types.js';

/**
 * Membership changes in the simulator, on the real KvNode: random single-server
 * changes (add a learner, promote it, remove a voter or a learner) and leadership
 * transfers, mixed with crashes and partitions, under client load. Every step
 * checks the safety invariants (election safety is "no two leaders in one term"
 * over every node that ever ran, whatever configuration each was in); at the end
 * the members must converge and the client history must be linearizable.
 */

const addrsOf = (id: NodeId) => ({ raftAddr: id, httpAddr: id, grpcAddr: id });

function leaderConfig(c: SimCluster): { readonly leader: NodeId; readonly config: Configuration } | null {
  const leader = c.leader();
  if (leader === null) return null;
  const kv = c.kvNode(leader);
  if (kv === null) return null;
  return { leader, config: { members: kv.members().members } };
}

/** Three clients on three keys, reads both linearizable and lease, each attempt a quarter of an election timeout. */
function clientLoad(c: SimCluster, routing: readonly ClientRouting[]): Workload {
  const electionMs = c.raftConfig.electionTimeoutMs;
  return new Workload(c, c.rng.fork('clients'), {
    clients: 3,
    keys: 3,
    attemptTimeoutMs: electionMs / 4,
    opTimeoutMs: 5 * electionMs,
    thinkMaxMs: 20,
    opsMax: 1_000_000,
    readModes: ['linearizable', 'lease'],
    routing,
  });
}

interface Counts {
  changesAsked: number;
  changesCommitted: number;
  transfersAsked: number;
  transfersDone: number;
  crashes: number;
  partitions: number;
}

/** One run: `rounds` rounds of a change or a fault each, then healing and the checks. */
async function membershipRun(seed: number, rounds: number): Promise<Counts & { readonly members: string; readonly opsChecked: number }> {
  const c = new SimCluster({ seed, nodes: 6, voters: 3, snapshotEveryEntries: 50 });
  const electionMs = c.raftConfig.electionTimeoutMs;
  const workload = clientLoad(c, ['follow-leader']);
  const rng = c.rng.fork('membership');
  const counts: Counts = { changesAsked: 0, changesCommitted: 0, transfersAsked: 0, transfersDone: 0, crashes: 0, partitions: 0 };
  workload.start();
  c.runFor(3 * electionMs);
  for (let round = 0; round < rounds; round++) {
    c.runFor(electionMs / 2 + rng.int(2 * electionMs));
    // Outcomes arrive through promises: let them settle between rounds.
    await Promise.resolve();
    const roll = rng.int(10);
    if (roll < 6) {
      const lc = leaderConfig(c);
      if (lc === null) continue;
      const kv = c.kvNode(lc.leader)!;
      const members = lc.config.members.map((m) => m.id);
      const outside = c.ids.filter((id) => !members.includes(id));
      const learners = learnersOf(lc.config);
      const voters = votersOf(lc.config);
      const options: ConfigChange[] = [
        ...outside.map((id): ConfigChange => ({ kind: 'addLearner', id, addrs: addrsOf(id) })),
        ...learners.map((id): ConfigChange => ({ kind: 'promote', id })),
        ...learners.map((id): ConfigChange => ({ kind: 'remove', id })),
        // Keep at least two voters, so a removal rarely leaves a cluster that one crash stops.
        ...(voters.length > 2 ? voters.map((id): ConfigChange => ({ kind: 'remove', id })) : []),
      ];
      if (options.length === 0) continue;
      const change = options[rng.int(options.length)]!;
      counts.changesAsked++;
      void kv.changeMembers(change).then((r) => {
        if (r.ok) counts.changesCommitted++;
      });
      c.trace.note(c.clock.now(), `CHANGE ${change.kind} ${change.id}`);
    } else if (roll < 7) {
      const lc = leaderConfig(c);
      if (lc === null) continue;
      counts.transfersAsked++;
      const voters = votersOf(lc.config).filter((v) => v !== lc.leader);
      const to = voters.length === 0 || rng.int(2) === 0 ? null : voters[rng.int(voters.length)]!;
      void c
        .kvNode(lc.leader)!
        .transferLeadership(to)
        .then((r) => {
          if (r.ok) counts.transfersDone++;
        });
      c.trace.note(c.clock.now(), `TRANSFER to ${to ?? 'any'}`);
    } else if (roll < 9) {
      const up = c.ids.filter((id) => c.isUp(id));
      const id = up[rng.int(up.length)]!;
      counts.crashes++;
      c.crash(id);
      c.trace.note(c.clock.now(), `CRASH ${id}`);
      c.runFor(rng.int(electionMs));
      c.restart(id);
    } else {
      const group = c.ids.filter(() => rng.int(2) === 0);
      counts.partitions++;
      c.partition(group);
      c.trace.note(c.clock.now(), `PARTITION ${group.join(',')}`);
      c.runFor(electionMs + rng.int(2 * electionMs));
      c.heal();
    }
  }

  // Liveness: everything healed and up; the members of the leader's configuration converge.
  c.heal();
  for (const id of c.ids) if (!c.isUp(id)) c.restart(id);
  workload.stop();
  const settled = (): boolean => {
    const lc = leaderConfig(c);
    if (lc === null || !workload.quiescent()) return false;
    const last = c.node(lc.leader)!.status().lastLogIndex;
    if (c.node(lc.leader)!.status().commitIndex !== last) return false;
    return lc.config.members.every((m) => {
      const s = c.node(m.id)?.status();
      return s !== undefined && s.commitIndex === last && c.appliedIndex(m.id) === last;
    });
  };
  await Promise.resolve();
  assert.ok(c.runUntil(settled, c.clock.now() + 40 * electionMs), `seed ${seed}: the members did not converge`);
  await Promise.resolve();
  c.checker.checkAcknowledgedKept(new Set(leaderConfig(c)!.config.members.map((m) => m.id)));
  const history = workload.linearizableHistory();
  const lin = checkLinearizable(history);
  assert.ok(lin.ok, `seed ${seed}: ${lin.ok ? '' : lin.explanation}`);
  const lc = leaderConfig(c)!;
  // A node the final configuration leaves out takes no part in elections: it does not lead.
  for (const id of c.ids) if (!isVoter(lc.config, id) && c.isUp(id)) assert.notEqual(c.node(id)!.role(), 'leader', `${id} leads outside the configuration`);
  return { ...counts, members: lc.config.members.map((m) => `${m.id}${m.role === 'learner' ? '(l)' : ''}`).join(' '), opsChecked: history.length };
}

test('random membership changes and transfers with crashes and partitions: safety at every step, convergence and linearizability at the end', async (t) => {
  let committed = 0;
  let transfers = 0;
  for (const seed of [1, 2, 3]) {
    const r = await membershipRun(seed, 30);
    t.diagnostic(`seed ${seed}: ${JSON.stringify(r)}`);
    committed += r.changesCommitted;
    transfers += r.transfersDone;
    assert.ok(r.opsChecked > 0, `seed ${seed}: no client operation was checked`);
  }
  // The runs must actually change the cluster, or they prove nothing.
  assert.ok(committed >= 8, `only ${committed} membership changes committed over the runs`);
  assert.ok(transfers >= 1, `no leadership transfer completed over the runs`);
});

/** A cluster of five voters under client load, with a leader. */
function loadedCluster(seed: number): { readonly c: SimCluster; readonly workload: Workload; readonly electionMs: number } {
  const c = new SimCluster({ seed, nodes: 5 });
  const electionMs = c.raftConfig.electionTimeoutMs;
  const workload = clientLoad(c, ['follow-leader', 'spread']);
  workload.start();
  assert.ok(c.runUntil(() => c.leader() !== null, 5 * electionMs), `seed ${seed}: no leader`);
  // A new leader takes no change before an entry of its term is committed.
  c.runFor(electionMs);
  return { c, workload, electionMs };
}

/** The leader removes `target` and commits it (target cut off meanwhile, so it is not told). */
function removeWhileCutOff(c: SimCluster, target: NodeId, electionMs: number): NodeId {
  const leader = c.leader()!;
  c.isolate(target);
  void c.kvNode(leader)!.changeMembers({ kind: 'remove', id: target });
  const committed = (): boolean => {
    const m = c.kvNode(leader)!.members();
    return m.committed && !m.members.some((x) => x.id === target);
  };
  assert.ok(c.runUntil(committed, c.clock.now() + 5 * electionMs), `${target}'s removal did not commit`);
  assert.equal(c.kvNode(target)!.membership(), 'voter', `${target} was cut off: it cannot know of its removal yet`);
  return leader;
}

/** Once told, `target` says it is removed and never campaigns again; at the end the history is linearizable. */
async function assertToldAndQuiet(c: SimCluster, workload: Workload, target: NodeId, electionMs: number, within: number): Promise<number> {
  const toldBy = c.clock.now() + within;
  assert.ok(
    c.runUntil(() => c.kvNode(target)!.membership() === 'removed', toldBy),
    `${target} still says ${c.kvNode(target)!.membership()} at ${c.clock.now()} ms`,
  );
  const toldAfterMs = Math.round(c.clock.now() - (toldBy - within));
  const counters = c.node(target)!.counters;
  const campaigns = counters.preVotesStarted + counters.electionsStarted;
  c.runFor(5 * electionMs);
  assert.equal(counters.preVotesStarted + counters.electionsStarted, campaigns, `${target} campaigned after it learnt of its removal`);
  assert.equal(c.kvNode(target)!.membership(), 'removed');
  const leader = c.leader()!;
  assert.ok(!c.node(leader)!.peerProgress().some((p) => p.peer === target), `the leader still replicates to ${target}, which holds its removal`);
  workload.stop();
  assert.ok(c.runUntil(() => workload.quiescent(), c.clock.now() + 10 * electionMs), 'the clients did not finish');
  await Promise.resolve();
  c.checker.checkAcknowledgedKept(new Set(c.ids.filter((id) => id !== target)));
  const history = workload.linearizableHistory();
  assert.ok(history.length > 0, 'no client operation was checked');
  const lin = checkLinearizable(history);
  assert.ok(lin.ok, lin.ok ? '' : lin.explanation);
  return toldAfterMs;
}

test('a follower cut off when it is removed learns it once the partition heals: the leader replicates to it until it holds its removal', async (t) => {
  for (const seed of [21, 22, 23]) {
    const { c, workload, electionMs } = loadedCluster(seed);
    const target = c.ids.find((id) => id !== c.leader())!;
    const leader = removeWhileCutOff(c, target, electionMs);
    c.runFor(2 * electionMs);
    assert.ok(c.node(leader)!.peerProgress().some((p) => p.peer === target), `the leader gave up on ${target} after two election timeouts`);
    c.reconnect(target);
    const ms = await assertToldAndQuiet(c, workload, target, electionMs, electionMs);
    t.diagnostic(`seed ${seed}: ${target} told ${ms} ms after the heal`);
  }
});

test('a removed follower that the removing leader never reached is told by the next leader it asks for a vote', async (t) => {
  for (const seed of [31, 32]) {
    const { c, workload, electionMs } = loadedCluster(seed);
    const target = c.ids.find((id) => id !== c.leader())!;
    const oldLeader = removeWhileCutOff(c, target, electionMs);
    c.crash(oldLeader);
    assert.ok(c.runUntil(() => c.leader() !== null && c.leader() !== oldLeader, c.clock.now() + 10 * electionMs), 'no new leader');
    c.reconnect(target);
    c.restart(oldLeader);
    const ms = await assertToldAndQuiet(c, workload, target, electionMs, 5 * electionMs);
    t.diagnostic(`seed ${seed}: ${target} told ${ms} ms after the heal, by ${c.leader()}`);
  }
});

test('a removed follower cut off for longer than the leader pursues it is given up, then told when it asks for a vote, and disrupts nothing', async (t) => {
  const { c, workload, electionMs } = loadedCluster(41);
  const target = c.ids.find((id) => id !== c.leader())!;
  const leader = removeWhileCutOff(c, target, electionMs);
  const term = c.node(leader)!.term();
  c.runFor((DEPARTURE_ROUNDS_MAX + 2) * electionMs);
  assert.ok(!c.node(leader)!.peerProgress().some((p) => p.peer === target), `the leader still pursues ${target} after ${DEPARTURE_ROUNDS_MAX + 2} election timeouts`);
  assert.equal(c.kvNode(target)!.membership(), 'voter');
  c.reconnect(target);
  const ms = await assertToldAndQuiet(c, workload, target, electionMs, 5 * electionMs);
  assert.equal(c.leader(), leader, 'the leader changed');
  assert.equal(c.node(leader)!.term(), term, 'the removed node disrupted the term');
  t.diagnostic(`${target} told ${ms} ms after the heal`);
});
