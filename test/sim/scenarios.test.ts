import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RaftConfig } from '../../src/raft/config.js';
import type { RaftView } from '../../src/node/kv-node.js';
import type { RaftStatus } from '../../src/raft/host/raft-node.js';
import type { Entry, LogIndex, NodeId, Term } from '../../src/raft/types.js';
import { logIndex } from '../../src/raft/types.js';
import { SimCluster } from '../../sim/cluster.js';
import { InvariantViolation } from '../../sim/invariants.js';

/**
 * The classic hard cases of Raft, one named scenario each (CONVENTIONS §6), on the
 * deterministic simulator with fixed seeds. Every simulator step also runs the
 * invariant checker (sim/invariants.ts), and every step run here additionally checks
 * the Figure 8 rule as an observable: a leader's commit index only ever advances
 * onto an entry of its own term.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();
const cmd = (s: string): Uint8Array => enc.encode(s);

/** A SimCluster with a record of what each node applied, and waits that check per step. */
class Scenario {
  readonly c: SimCluster;
  /** What each node applied at each index since it last started. */
  readonly applied = new Map<NodeId, Map<number, string>>();
  /** Every command applied anywhere, ever. */
  readonly appliedEver = new Set<string>();
  private readonly checks: (() => void)[] = [];
  private readonly before = new Map<NodeId, { role: string; term: Term; commit: LogIndex }>();

  constructor(
    readonly seed: number,
    nodes: number,
    raft: Partial<RaftConfig> = {},
  ) {
    this.c = new SimCluster({ seed, nodes, raft, traceLines: 80 });
    for (const id of this.c.ids) this.applied.set(id, new Map());
    this.c.onApply((id, e) => {
      const text = e.kind === 'command' ? dec.decode(e.data) : '';
      this.applied.get(id)!.set(e.index, text);
      if (text !== '') this.appliedEver.add(text);
    });
    this.snapshotRoles();
  }

  get ids(): readonly NodeId[] {
    return this.c.ids;
  }

  get electionMs(): number {
    return this.c.raftConfig.electionTimeoutMs;
  }

  now(): number {
    return this.c.clock.now();
  }

  node(id: NodeId): RaftView {
    const n = this.c.node(id);
    assert.ok(n !== null, `${id} is down`);
    return n;
  }

  status(id: NodeId): RaftStatus {
    return this.node(id).status();
  }

  running(ids: readonly NodeId[] = this.ids): NodeId[] {
    return ids.filter((id) => this.c.isUp(id));
  }

  /** Adds a check run after every step until `remove()` is called. */
  addCheck(check: () => void): { remove: () => void } {
    this.checks.push(check);
    return { remove: () => this.checks.splice(this.checks.indexOf(check), 1) };
  }

  private snapshotRoles(): void {
    for (const id of this.running()) {
      const st = this.status(id);
      this.before.set(id, { role: st.role, term: st.term, commit: st.commitIndex });
    }
  }

  /** Figure 8 as an observable: a leader that stays leader commits only onto entries of its term. */
  private checkLeaderCommits(): void {
    for (const id of this.running()) {
      const n = this.node(id);
      const st = n.status();
      const prev = this.before.get(id);
      if (prev !== undefined && prev.role === 'leader' && st.role === 'leader' && prev.term === st.term && st.commitIndex > prev.commit) {
        assert.equal(n.log.term(st.commitIndex), st.term, `leader ${id} of term ${st.term} moved its commit to ${st.commitIndex}, an entry of term ${n.log.term(st.commitIndex)}`);
      }
      this.before.set(id, { role: st.role, term: st.term, commit: st.commitIndex });
    }
  }

  private step(): void {
    this.c.step();
    this.checkLeaderCommits();
    for (const check of this.checks) check();
  }

  /** Steps until `done()` holds; fails the test if `withinMs` of simulated time pass first. */
  runUntil(done: () => boolean, withinMs: number, what: string): void {
    const deadline = this.now() + withinMs;
    while (!done()) {
      const next = this.c.clock.peekTime();
      assert.ok(next !== null && next <= deadline, `not within ${withinMs} ms: ${what} (seed ${this.seed})`);
      this.step();
    }
  }

  runFor(ms: number): void {
    const until = this.now() + ms;
    for (;;) {
      const next = this.c.clock.peekTime();
      if (next === null || next > until) break;
      this.step();
    }
    this.c.clock.advanceTo(until);
  }

  /** The running leader with the highest term among `ids`, if any. */
  leaderAmong(ids: readonly NodeId[]): NodeId | null {
    let best: NodeId | null = null;
    let bestTerm = -1;
    for (const id of this.running(ids)) {
      const st = this.status(id);
      if (st.role === 'leader' && st.term > bestTerm) {
        best = id;
        bestTerm = st.term;
      }
    }
    return best;
  }

  /** Steps until one of `ids` leads (returns at the very step it wins). */
  waitLeader(ids: readonly NodeId[] = this.ids, withinMs = 10 * this.electionMs, minTerm = 0): NodeId {
    let found: NodeId | null = null;
    this.runUntil(
      () => {
        found = this.leaderAmong(ids);
        return found !== null && this.status(found).term >= minTerm;
      },
      withinMs,
      `a leader among ${ids.join(',')}`,
    );
    return found!;
  }

  /**
   * Proposes `value` at the leader among `ids` until it is committed there (retrying
   * across leader changes); returns the index it was committed at.
   */
  commit(value: string, ids: readonly NodeId[] = this.ids): number {
    for (let attempt = 0; attempt < 5; attempt++) {
      const leader = this.waitLeader(ids);
      const r = this.c.propose(leader, [cmd(value)]);
      assert.ok(r !== null && r.ok, `propose at leader ${leader}`);
      const { term, firstIndex } = r;
      this.runUntil(
        () => !this.c.isUp(leader) || this.status(leader).term !== term || this.status(leader).commitIndex >= firstIndex,
        10 * this.electionMs,
        `commit of ${value}`,
      );
      if (!this.c.isUp(leader) || this.status(leader).term !== term) continue;
      const e = this.node(leader).log.entry(firstIndex)!;
      assert.equal(e.term, term);
      assert.equal(dec.decode(e.data), value);
      return firstIndex;
    }
    assert.fail(`${value} was not committed after 5 attempts`);
  }

  /**
   * Every running node has applied everything the leader among `ids` committed,
   * once that leader knows its commit index (an entry of its term is committed:
   * a node recovers a commit index that may be behind, see Ready.mustSync).
   */
  waitAllApplied(ids: readonly NodeId[] = this.ids, withinMs = 5 * this.electionMs): void {
    this.runUntil(
      () => {
        const leader = this.leaderAmong(ids);
        if (leader === null) return false;
        const commit = this.status(leader).commitIndex;
        if (this.node(leader).log.term(commit) !== this.status(leader).term) return false;
        return this.running(ids).every((id) => this.status(id).appliedIndex === commit && this.c.appliedIndex(id) === commit);
      },
      withinMs,
      `every node applies the leader's commits`,
    );
  }

  restart(id: NodeId): void {
    this.applied.get(id)!.clear();
    this.c.restart(id);
  }

  durableTerm(id: NodeId, index: number): number | undefined {
    return this.c.disk(id).durableEntry(index)?.term;
  }
}

/** Runs a scenario; an invariant violation is reported with the seed and the trace before it. */
function scenario(name: string, seed: number, nodes: number, body: (s: Scenario) => void, raft: Partial<RaftConfig> = {}): void {
  test(name, () => {
    const s = new Scenario(seed, nodes, raft);
    try {
      body(s);
    } catch (e) {
      if (e instanceof InvariantViolation) {
        throw new Error(`${e.message}\nseed ${seed}; recent trace:\n${s.c.trace.recent().join('\n')}`, { cause: e });
      }
      throw e;
    }
  });
}

// ---------------------------------------------------------------------------------
// Figure 8 of the Raft paper, with S1..S5 named by the role they play:
//  (a) S1 leads at t1 and gets an entry (index 2) only onto S2;
//  (b) S1 crashes; S5 wins t2 with S3, S4 and writes its own index 2 locally, then crashes;
//  (c) S1 (or S2, same log) wins t3 and copies index 2@t1 onto S3 and S4: the old
//      entry now sits on a majority, but no majority holds an entry of t3.
// Here appendEntriesMax is 1, so index 2 travels alone and the leader learns that
// S3 and S4 hold it before they see any entry of t3 (which we then keep from them).
// ---------------------------------------------------------------------------------

interface Figure8 {
  readonly s3: NodeId;
  readonly s4: NodeId;
  readonly s5: NodeId;
  /** The leader in (c) (S1 or S2) and the other one of the two. */
  readonly leader: NodeId;
  readonly other: NodeId;
  readonly t1: number;
  readonly t2: number;
  readonly t3: number;
}

function figure8UpToC(s: Scenario): Figure8 {
  // (a)
  const s1 = s.waitLeader();
  s.runUntil(() => s.ids.every((id) => s.status(id).commitIndex >= 1), 1000, 'the first no-op committed everywhere');
  const t1 = s.status(s1).term;
  const [s2, ...group] = s.ids.filter((id) => id !== s1) as [NodeId, NodeId, NodeId, NodeId];
  s.c.connectOnly(new Set([s1, s2]));
  const r = s.c.propose(s1, [cmd('figure8-old')]);
  assert.ok(r !== null && r.ok && r.firstIndex === 2 && r.term === t1);
  s.runUntil(() => s.durableTerm(s1, 2) === t1 && s.durableTerm(s2, 2) === t1, 100, 'index 2 durable on S1 and S2');
  assert.equal(s.status(s1).commitIndex, 1, 'two of five replicas do not commit');

  // (b)
  s.c.crash(s1);
  s.c.connectOnly(new Set(group));
  const s5 = s.waitLeader(group, 20 * s.electionMs);
  s.c.isolate(s5); // its no-op never leaves it
  const t2 = s.status(s5).term;
  assert.ok(t2 > t1);
  assert.equal(s.node(s5).log.term(logIndex(2)), t2);
  s.runUntil(() => s.durableTerm(s5, 2) === t2, 100, 'S5 writes its index 2');
  s.c.crash(s5);
  const [s3, s4] = group.filter((id) => id !== s5) as [NodeId, NodeId];
  assert.equal(s.status(s3).lastLogIndex, 1);
  assert.equal(s.status(s4).lastLogIndex, 1);

  // (c)
  s.restart(s1);
  s.c.connectOnly(new Set([s1, s2, s3, s4]));
  const leader = s.waitLeader([s1, s2, s3, s4], 30 * s.electionMs);
  assert.ok(leader === s1 || leader === s2, `only S1 or S2 hold a log up-to-date enough to win, but ${leader} won`);
  const other = leader === s1 ? s2 : s1;
  const t3 = s.status(leader).term;
  assert.ok(t3 > t2);
  // Let index 2 (alone in its append) reach S3 and S4, then cut the leader's links to
  // them before their acknowledgements come back, so the next append (index 3@t3) is lost.
  const cut = new Set<NodeId>();
  s.runUntil(
    () => {
      for (const f of [s3, s4]) {
        if (!cut.has(f) && s.node(f).log.term(logIndex(2)) === t1) {
          assert.equal(s.status(f).lastLogIndex, 2, 'index 2 must arrive alone');
          s.c.cutLink(leader, f);
          cut.add(f);
        }
      }
      return cut.size === 2;
    },
    1000,
    'index 2 reaches S3 and S4',
  );
  // Ample time for their acknowledgements to reach the leader, well within an election timeout.
  s.runFor(200);

  const holdersOld = s.running().filter((id) => s.durableTerm(id, 2) === t1);
  const holdersNew = s.running().filter((id) => s.node(id).log.lastTerm() === t3);
  assert.equal(s.status(leader).role, 'leader');
  assert.equal(s.status(leader).term, t3);
  assert.deepEqual(new Set(holdersOld), new Set([leader, other, s3, s4]), 'index 2 of term t1 is durable on a majority');
  assert.deepEqual(new Set(holdersNew), new Set([leader, other]), 'no majority holds an entry of term t3');
  assert.equal(s.status(leader).commitIndex, 1, 'the leader must not commit index 2 (term t1) by counting replicas');
  return { s3, s4, s5, leader, other, t1, t2, t3 };
}

scenario(
  'Figure 8: an entry from an earlier term is not committed by counting replicas (and S5 may then rightly overwrite it)',
  8,
  5,
  (s) => {
    const f = figure8UpToC(s);
    // (d) The leader crashes; S5 returns and wins with S3 and S4, whose logs end at
    // 2@t1 < 2@t2. It overwrites index 2 on them: had 2@t1 been committed in (c), the
    // invariant checker would fail here on state-machine safety / leader completeness.
    s.c.crash(f.leader);
    s.restart(f.s5);
    s.c.connectOnly(new Set([f.s3, f.s4, f.s5]));
    const d = s.waitLeader([f.s3, f.s4, f.s5], 30 * s.electionMs);
    assert.equal(d, f.s5, 'only S5 can win: S3 and S4 cannot get its vote');
    s.runUntil(() => s.status(f.s5).commitIndex >= 2, 2000, 'S5 commits');
    for (const id of [f.s3, f.s4, f.s5]) {
      assert.equal(s.node(id).log.term(logIndex(2)), f.t2, `${id} holds S5's index 2 now`);
    }
    assert.ok(!s.appliedEver.has('figure8-old'), 'the old-term entry was never applied');
  },
  { appendEntriesMax: 1 },
);

scenario(
  'Figure 8 (e): the earlier-term entry is committed only together with an entry of the leader\'s term, and then survives',
  8,
  5,
  (s) => {
    const f = figure8UpToC(s);
    const commits = new Set<number>();
    s.addCheck(() => {
      if (s.c.isUp(f.leader)) commits.add(s.status(f.leader).commitIndex);
    });
    s.c.connectOnly(new Set([f.leader, f.other, f.s3, f.s4])); // mends the leader's links to S3, S4
    s.runUntil(() => s.status(f.leader).commitIndex >= 3, 3 * s.electionMs, 'the leader commits index 3@t3');
    assert.ok(!commits.has(2), `the commit index went through 2 alone: ${[...commits].join(',')}`);
    assert.ok(s.running().filter((id) => s.node(id).log.term(logIndex(3)) === f.t3).length >= 3);
    // Now S5 cannot win any more: a majority holds a log more up-to-date than S5's.
    s.c.crash(f.leader);
    s.restart(f.s5);
    s.c.connectOnly(new Set([f.s3, f.s4, f.s5]));
    const e = s.waitLeader([f.s3, f.s4, f.s5], 30 * s.electionMs);
    assert.notEqual(e, f.s5);
    s.runUntil(() => s.ids.filter((id) => s.c.isUp(id) && s.status(id).appliedIndex >= 3).length >= 3, 2000, 'index 3 applied on S3, S4, S5');
    for (const id of [f.s3, f.s4, f.s5]) {
      assert.equal(s.node(id).log.term(logIndex(2)), f.t1, `${id} keeps the committed 2@t1`);
      assert.equal(s.applied.get(id)!.get(2), 'figure8-old');
    }
  },
  { appendEntriesMax: 1 },
);

scenario('a partitioned old leader keeps accepting proposals but never commits them', 11, 5, (s) => {
  const old = s.waitLeader();
  for (let k = 1; k <= 3; k++) s.commit(`before-${k}`);
  s.waitAllApplied();
  const oldTerm = s.status(old).term;
  const commitBefore = s.status(old).commitIndex;

  s.c.isolate(old);
  const watch = s.addCheck(() => assert.equal(s.status(old).commitIndex, commitBefore, 'the isolated leader advanced its commit index'));
  const staleIndexes: number[] = [];
  for (let k = 1; k <= 5; k++) {
    const r = s.c.propose(old, [cmd(`stale-${k}`)]);
    assert.ok(r !== null && r.ok, 'a leader that does not know it is cut off accepts proposals');
    assert.equal(r.term, oldTerm);
    staleIndexes.push(r.firstIndex);
    s.runFor(20);
  }

  const rest = s.ids.filter((id) => id !== old);
  const next = s.waitLeader(rest, 20 * s.electionMs);
  assert.ok(s.status(next).term > oldTerm);
  const fresh = [1, 2, 3].map((k) => ({ value: `fresh-${k}`, index: s.commit(`fresh-${k}`, rest) }));
  assert.equal(s.status(old).commitIndex, commitBefore);
  assert.equal(s.status(old).lastLogIndex, staleIndexes[4], 'the old leader still holds its stale entries');
  watch.remove();

  s.c.heal();
  s.runUntil(
    () => {
      const l = s.status(next);
      const o = s.status(old);
      return o.lastLogIndex === l.lastLogIndex && o.commitIndex === l.commitIndex && o.appliedIndex === l.commitIndex;
    },
    5 * s.electionMs,
    'the old leader catches up with the new one',
  );
  for (const index of staleIndexes) {
    // Replaced by an entry of a later term, or cut off (the new leader's log may be shorter).
    const e = s.node(old).log.entry(logIndex(index));
    assert.ok(e === undefined || e.term > oldTerm, `index ${index} still holds the stale entry of term ${e?.term}`);
  }
  for (const id of s.ids) {
    for (const { value, index } of fresh) assert.equal(s.applied.get(id)!.get(index), value, `${id} at ${index}`);
  }
  for (let k = 1; k <= 5; k++) assert.ok(!s.appliedEver.has(`stale-${k}`), `stale-${k} was applied`);
});

scenario('PreVote: a node returning from a partition does not disrupt a healthy cluster', 21, 5, (s) => {
  const leader = s.waitLeader();
  s.commit('x');
  s.waitAllApplied();
  const t = s.status(leader).term;
  const f = s.ids.find((id) => id !== leader)!;

  const countedBefore = { ...s.node(f).counters };
  s.c.isolate(f);
  const others = s.ids.filter((id) => id !== f);
  const healthy = s.addCheck(() => {
    assert.equal(s.status(leader).role, 'leader');
    for (const id of others) assert.equal(s.status(id).term, t, `${id} changed term`);
  });
  s.runFor(10 * 2 * s.electionMs); // ten maximal election timeouts
  assert.equal(s.status(f).term, t, 'an isolated node must not raise its term: its pre-votes fail');
  assert.ok(s.status(f).role === 'preCandidate' || s.status(f).role === 'follower', `isolated node is ${s.status(f).role}`);
  // Its metrics say so: pre-vote campaigns (at least one per two election timeouts), all refused, no election.
  const counted = s.node(f).counters;
  const campaigns = counted.preVotesStarted - countedBefore.preVotesStarted;
  assert.ok(campaigns >= 5, `pre-vote campaigns while isolated: ${campaigns}`);
  assert.equal(counted.preVotesRefused - countedBefore.preVotesRefused, campaigns - (s.status(f).role === 'preCandidate' ? 1 : 0));
  assert.equal(counted.electionsStarted, countedBefore.electionsStarted);
  healthy.remove();

  s.c.heal();
  s.addCheck(() => {
    assert.equal(s.leaderAmong(s.ids), leader, 'the leader changed after the heal');
    for (const id of s.ids) assert.equal(s.status(id).term, t, `${id} changed term after the heal`);
  });
  s.runFor(5 * 2 * s.electionMs);
  assert.equal(s.status(f).role, 'follower');
  assert.equal(s.status(f).leaderId, leader);
  s.commit('y');
  s.waitAllApplied();
});

scenario('CheckQuorum: a leader isolated from the majority steps down within about an election timeout', 31, 5, (s) => {
  const leader = s.waitLeader();
  s.commit('a');
  s.waitAllApplied();
  const t = s.status(leader).term;
  const commitBefore = s.status(leader).commitIndex;

  s.c.isolate(leader);
  const isolatedAt = s.now();
  const r = s.c.propose(leader, [cmd('lonely')]);
  assert.ok(r !== null && r.ok);
  s.addCheck(() => {
    if (!s.c.isUp(leader)) return;
    assert.equal(s.status(leader).commitIndex, commitBefore, 'a node that hears no one committed something');
  });
  s.runUntil(() => s.status(leader).role !== 'leader', 2 * s.electionMs, 'the isolated leader steps down');
  const downAfterMs = s.now() - isolatedAt;
  assert.ok(downAfterMs <= 2 * s.electionMs, `stepped down only after ${downAfterMs} ms`);
  assert.equal(s.node(leader).counters.checkQuorumStepDowns, 1, 'the step-down is counted');

  s.runFor(10 * s.electionMs);
  assert.notEqual(s.status(leader).role, 'leader');
  assert.equal(s.status(leader).term, t, 'pre-votes keep the isolated node at its term');
  const next = s.leaderAmong(s.ids.filter((id) => id !== leader));
  assert.ok(next !== null && s.status(next).term > t, 'the majority elected a new leader');
  assert.ok(!s.appliedEver.has('lonely'));
});

scenario('leadership transfer: one to a cut-off target is given up on the first tick an election timeout after it started; the leader leads on', 37, 5, (s) => {
  const leader = s.waitLeader();
  s.commit('a');
  s.waitAllApplied();
  const t = s.status(leader).term;
  const target = s.ids.find((id) => id !== leader)!;
  const others = s.ids.filter((id) => id !== target);
  s.c.isolate(target);
  const startedAt = s.now();
  void s.c.kvNode(leader)!.transferLeadership(target);
  assert.equal(s.c.propose(leader, [cmd('during')])?.ok, false, 'a transferring leader takes no proposals');
  s.runUntil(() => s.node(leader).counters.transfersAborted === 1, 3 * s.electionMs, 'the transfer is given up');
  const tookMs = s.now() - startedAt;
  const tickMs = s.c.raftConfig.heartbeatIntervalMs;
  // By the leader's own (drifting) clock it is an election timeout and at most one tick more.
  assert.ok(tookMs >= 0.9 * s.electionMs && tookMs <= 1.1 * (s.electionMs + tickMs), `given up after ${tookMs} ms`);
  assert.equal(s.status(leader).role, 'leader');
  assert.equal(s.status(leader).term, t, 'no election: the leader led on');
  s.commit('b', others);
  s.c.heal();
  s.waitAllApplied();
  assert.ok(s.appliedEver.has('b') && !s.appliedEver.has('during'));
});

scenario('the core counts elections, pre-votes and proposals consistently through partitions', 71, 5, (s) => {
  // Every term with a leader is one election won (election safety: one leader per term).
  const leaderTerms = new Set<number>();
  s.addCheck(() => {
    for (const id of s.running()) if (s.status(id).role === 'leader') leaderTerms.add(s.status(id).term);
  });
  let accepted = 0;
  let refused = 0;
  for (let round = 0; round < 6; round++) {
    const leader = s.waitLeader(s.ids, 20 * s.electionMs);
    const r = s.c.propose(leader, [cmd(`v${round}`), cmd(`w${round}`)]);
    assert.ok(r !== null && r.ok);
    accepted += 2;
    s.runUntil(() => s.status(leader).commitIndex > r.firstIndex, 10 * s.electionMs, `commit of round ${round}`);
    const follower = s.ids.find((id) => id !== leader)!;
    assert.equal(s.c.propose(follower, [cmd('refused')])?.ok, false);
    refused++;
    // Cut off the leader with one follower: the other three elect a new leader.
    const minority = [leader, follower];
    s.c.partition(minority);
    s.runFor(4 * s.electionMs);
    s.c.heal();
    s.runFor(2 * s.electionMs);
  }
  const sum = (f: (c: RaftView['counters']) => number): number => s.ids.reduce((n, id) => n + f(s.node(id).counters), 0);
  assert.equal(sum((c) => c.electionsWon), leaderTerms.size, `elections won vs terms with a leader (${[...leaderTerms].join(',')})`);
  assert.ok(leaderTerms.size >= 6, `leaders in ${leaderTerms.size} terms`);
  for (const id of s.ids) {
    const c = s.node(id).counters;
    const inProgress = s.status(id).role === 'candidate' ? 1 : 0;
    assert.equal(c.electionsWon + c.electionsLost + inProgress, c.electionsStarted, `${id}: won + lost + running = started`);
    assert.ok(c.preVotesRefused <= c.preVotesStarted && c.electionsStarted <= c.preVotesStarted, `${id}: an election follows a won pre-vote`);
  }
  assert.ok(sum((c) => c.checkQuorumStepDowns) >= 1, 'cut-off leaders stepped down by CheckQuorum');
  // The leaders' no-ops are not proposals: only the commands the clients proposed count.
  assert.equal(sum((c) => c.proposalsAccepted), accepted);
  assert.equal(sum((c) => c.proposalsRefusedNotLeader), refused);
});

scenario('a follower thousands of entries behind catches up in few messages', 41, 3, (s) => {
  const leader = s.waitLeader();
  s.commit('warm-up');
  s.waitAllApplied();
  const f = s.ids.find((id) => id !== leader)!;
  const fLastBefore = s.status(f).lastLogIndex;

  s.c.isolate(f);
  const batches = 12;
  const perBatch = 250;
  for (let b = 0; b < batches; b++) {
    const commands = Array.from({ length: perBatch }, (_, k) => cmd(`e-${b}-${k}`));
    const r = s.c.propose(leader, commands);
    assert.ok(r !== null && r.ok);
    const last = r.firstIndex + perBatch - 1;
    s.runUntil(() => s.status(leader).commitIndex >= last, 2000, `batch ${b} committed without ${f}`);
  }
  s.runFor(3 * s.electionMs); // long enough for the follower to give up on the leader
  const target = s.status(leader);
  const behind = target.lastLogIndex - s.status(f).lastLogIndex;
  assert.ok(behind >= batches * perBatch, `only ${behind} behind`);
  assert.equal(s.status(f).lastLogIndex, fLastBefore);

  const sentBefore = s.c.network.counters.sent;
  const healedAt = s.now();
  s.c.heal();
  s.runUntil(
    () => {
      const st = s.status(f);
      const l = s.status(leader);
      return st.lastLogIndex === l.lastLogIndex && st.commitIndex === l.commitIndex && s.c.appliedIndex(f) === l.commitIndex;
    },
    2 * s.electionMs,
    'the follower catches up',
  );
  const catchUpMs = s.now() - healedAt;
  const messages = s.c.network.counters.sent - sentBefore;
  // 256 entries per append: about behind/256 appends and as many acknowledgements,
  // plus a probe round trip and whatever heartbeats fall in that time.
  assert.ok(messages < behind / 10, `${messages} messages to replicate ${behind} entries`);
  assert.equal(s.status(leader).role, 'leader');
  assert.equal(s.status(leader).term, target.term, 'catching up must not cost an election');

  const fl = s.node(f).log;
  const ll = s.node(leader).log;
  for (let k = 1; k <= ll.lastIndex(); k++) {
    const a = fl.entry(logIndex(k))!;
    const b = ll.entry(logIndex(k))!;
    assert.ok(a.term === b.term && dec.decode(a.data) === dec.decode(b.data), `entry ${k} differs`);
  }
  assert.equal(s.applied.get(f)!.get(target.commitIndex), `e-${batches - 1}-${perBatch - 1}`);
  console.log(`# catch-up: ${behind} entries, ${messages} messages, ${catchUpMs} ms simulated`);
});

scenario('crash and restart of every node in turn loses nothing committed', 51, 5, (s) => {
  const committed = new Map<number, string>();
  const commitOne = (value: string): void => {
    committed.set(s.commit(value, s.running()), value);
  };
  for (let k = 0; k < 5; k++) commitOne(`initial-${k}`);
  for (const id of s.ids) {
    s.c.crash(id);
    commitOne(`without-${id}-a`);
    commitOne(`without-${id}-b`);
    s.restart(id);
    s.waitAllApplied(s.ids, 10 * s.electionMs);
    commitOne(`after-${id}`);
  }
  s.waitAllApplied();
  assert.equal(committed.size, 5 + 3 * s.ids.length);
  for (const id of s.ids) {
    const applied = s.applied.get(id)!;
    for (const [index, value] of committed) assert.equal(applied.get(index), value, `${id} at index ${index}`);
  }
  assert.ok(s.c.crashes >= s.ids.length);
});

scenario('total cluster restart: a leader emerges and every committed entry is still there and applied again', 61, 5, (s) => {
  const committed = new Map<number, string>();
  for (let k = 0; k < 20; k++) committed.set(s.commit(`v-${k}`), `v-${k}`);
  s.waitAllApplied();
  const leader = s.leaderAmong(s.ids)!;
  const commitBefore = s.status(leader).commitIndex;
  const logBefore: Entry[] = [];
  for (let k = 1; k <= commitBefore; k++) logBefore.push(s.node(leader).log.entry(logIndex(k))!);

  for (const id of s.ids) s.c.crash(id);
  s.runFor(500);
  for (const id of s.ids) s.restart(id);
  const next = s.waitLeader(s.ids, 20 * s.electionMs);
  for (const e of logBefore) {
    const got = s.node(next).log.entry(e.index);
    assert.ok(got !== undefined && got.term === e.term && got.kind === e.kind && dec.decode(got.data) === dec.decode(e.data), `new leader lacks ${e.index}@${e.term}`);
  }
  s.waitAllApplied();
  for (const id of s.ids) {
    const applied = s.applied.get(id)!;
    assert.ok(s.status(id).appliedIndex >= commitBefore);
    for (const [index, value] of committed) assert.equal(applied.get(index), value, `${id} did not apply ${value} at ${index} again`);
  }
  const after = s.commit('after-restart');
  assert.ok(after > commitBefore);
});
