import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SimCluster } from '../../sim/cluster.js';
import { Workload, type ClientRouting } from '../../sim/clients.js';
import { InvariantViolation } from '../../sim/invariants.js';
import { checkLinearizable } from '../../sim/linearizability.js';
import { raftMachine } from '../../machines/raft.machine.js';
import type { KvNode } from '../../src/node/kv-node.js';
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
  // The last appends may still be on their way to a member the commits did not wait for.
  const members = c.ids.filter((id) => id !== target);
  const caughtUp = (): boolean => {
    const leader = c.leader();
    return leader !== null && members.every((id) => c.node(id) !== undefined && c.node(id)!.log.lastIndex() >= c.node(leader)!.log.committed());
  };
  assert.ok(c.runUntil(caughtUp, c.clock.now() + 5 * electionMs), 'the members did not catch up with the commit index');
  await Promise.resolve();
  c.checker.checkAcknowledgedKept(new Set(members));
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

type ChangeOutcome = Awaited<ReturnType<KvNode['changeMembers']>>;

/** Lets the promises of admin answers given in the last steps settle. */
async function settlePromises(): Promise<void> {
  for (let k = 0; k < 3; k++) await Promise.resolve();
}

/**
 * The single-server change bug (Ongaro, raft-dev, 2015), built step by step:
 * C0 = {n1..n4}. Leader n1 adds n5 as a voter (C1 = {n1..n5}) but only n5 gets
 * the entry. n2..n4 elect a leader L of a later term from C0; at once L is cut off
 * from one of them (s4) while reaching s3 and n6, and is asked to add n6
 * (C2 = {n1..n4, n6}). Then n1, s4 and n5 meet: a majority of C1.
 *
 * Were L to append C2 before committing an entry of its term, C2 would commit on
 * {L, s3, n6} (a majority of C2) while s4 never saw L's term, and n1 would win
 * (or n5, which holds C1 too) the next term on {n1, s4, n5} (a majority of C1,
 * their logs longer than s4's) without C2: a committed entry lost. With the rule, L's no-op needs three of C0's
 * four voters, which it cannot reach, so L refuses the change and nothing of its
 * term commits. Returns L's answer, L, and the leader {n1, s4, n5} elected.
 */
async function singleServerChangeSchedule(seed: number): Promise<{ readonly answer: ChangeOutcome | null; readonly newLeader: NodeId; readonly rival: NodeId }> {
  const c = new SimCluster({ seed, nodes: 6, voters: 4 });
  const electionMs = c.raftConfig.electionTimeoutMs;
  const [n1, n2, n3, n4, n5, n6] = c.ids as [NodeId, NodeId, NodeId, NodeId, NodeId, NodeId];
  assert.ok(c.runUntil(() => c.leader() !== null, 10 * electionMs), 'no first leader');
  c.runFor(electionMs);
  if (c.leader() !== n1) {
    void c.kvNode(c.leader()!)!.transferLeadership(n1);
    assert.ok(c.runUntil(() => c.leader() === n1, c.clock.now() + 5 * electionMs), 'n1 did not take over');
    c.runFor(electionMs);
  }
  // 1. n1 appends C1 (add n5 as a voter); only n5 gets it.
  c.connectOnly(new Set([n1, n5]));
  void c.kvNode(n1)!.changeMembers({ kind: 'addVoter', id: n5, addrs: addrsOf(n5) });
  const c1 = c.node(n1)!.log.lastIndex();
  assert.equal(c.node(n1)!.log.entry(c1)?.kind, 'config');
  assert.ok(c.runUntil(() => (c.node(n5)?.log.lastIndex() ?? 0) >= c1, c.clock.now() + electionMs), 'n5 did not get C1');
  // 2. n2..n4, which never saw C1, elect a leader of a later term.
  c.connectOnly(new Set([n2, n3, n4]));
  const inC0 = [n2, n3, n4];
  assert.ok(
    c.runUntil(() => inC0.includes(c.leader() ?? n1), c.clock.now() + 10 * electionMs),
    'n2..n4 elected no leader',
  );
  const leader = c.leader()!;
  const [s3, s4] = inC0.filter((id) => id !== leader) as [NodeId, NodeId];
  // 3. At once, its no-op still in flight, the new leader reaches only s3 and n6; it is asked to add n6.
  c.connectOnly(new Set([leader, s3, n6]));
  let answer: ChangeOutcome | null = null;
  void c.kvNode(leader)!.changeMembers({ kind: 'addVoter', id: n6, addrs: addrsOf(n6) }).then((r) => (answer = r));
  await settlePromises();
  c.runFor(electionMs);
  await settlePromises();
  // 4. n1 wakes up beside s4 and n5: a majority of C1.
  const leaderTerm = c.node(leader)!.term();
  c.connectOnly(new Set([n1, s4, n5]));
  const rivals = [n1, s4, n5];
  const rival = (): NodeId | undefined => rivals.find((id) => c.node(id)!.role() === 'leader' && c.node(id)!.term() > leaderTerm);
  assert.ok(c.runUntil(() => rival() !== undefined, c.clock.now() + 20 * electionMs), `n1, s4 and n5 elected no leader: ${rivals.map((id) => `${id} ${JSON.stringify(c.node(id)!.status())}`).join('; ')}`);
  const rivalLeader = rival()!;
  // 5. Everyone meets again: the cluster converges, every step checked.
  c.heal();
  c.runFor(5 * electionMs);
  assert.ok(c.leader() !== null, 'no leader after the heal');
  return { answer, newLeader: leader, rival: rivalLeader };
}

test('single-server change bug (Ongaro 2015 mailing list): a new leader commits an entry of its term before a change', async (t) => {
  for (const seed of [51, 52, 53]) {
    const r = await singleServerChangeSchedule(seed);
    const answer = r.answer as ChangeOutcome | null;
    assert.ok(answer !== null, `seed ${seed}: the change was not answered`);
    assert.ok(!answer.ok && answer.error.kind === 'change_refused' && answer.error.refusal.reason === 'leader_not_settled', `seed ${seed}: ${JSON.stringify(answer)}`);
    t.diagnostic(`seed ${seed}: ${r.newLeader} refused the change (leader_not_settled); ${r.rival} then led a later term with C1, safely`);
  }
});

test('single-server change bug: without the rule, the simulator\'s invariant checker catches the lost commit', async () => {
  // The rule is one named guard of the role machine; this run swaps it, for change
  // requests only, in the machine's own implementation table (no switch in
  // production code for it), and puts it back.
  const guards = raftMachine.implementations.guards as Record<string, (args: { event: { type: string } }) => boolean>;
  const rule = guards['awaitsFirstCommit']!;
  guards['awaitsFirstCommit'] = (args) => (args.event.type === 'changeMembers' ? false : rule(args));
  try {
    for (const seed of [51, 52, 53]) {
      await assert.rejects(singleServerChangeSchedule(seed), (e: unknown) => {
        assert.ok(e instanceof InvariantViolation, `seed ${seed}: ${String(e)}`);
        assert.equal(e.property, 'leader-completeness', `seed ${seed}: ${e.message}`);
        return true;
      });
    }
  } finally {
    guards['awaitsFirstCommit'] = rule;
  }
});
