// The classic MIT 6.5840 Lab 3 Raft tests, parts A–C (part D, snapshots, is in
// snapshots.test.ts), ported to the deterministic simulator. Each test follows the Go
// original's logic step by step; where our Raft legitimately behaves differently
// (PreVote, CheckQuorum, leader stickiness, a no-op appended by every new leader) the
// assertions are adapted and the comment says why. Every simulator step checks the
// Raft invariants, so any safety violation fails a test where it happens.
//
// Vocabulary mapped from the lab's config.go:
//   disconnect/connect  → h.disconnect/h.connect (network cut, process keeps running)
//   crash1(i)           → crash1(h, i): disconnect, then crash (unsynced writes lost)
//   start1(i)           → start1(h, i): crash if running, restart from its disk, still disconnected
//   time.Sleep(d)       → h.runFor(d) (simulated time)
//   goroutines          → generator "processes" driven by the simulated clock (see Procs)
//   rand                → Prng seeded per test, so every failure reproduces from its seed
//
// Indexes: our leaders append a no-op when elected (Raft §8), so command indexes are
// not the lab's 1, 2, 3...; tests compute the expected index from what is in the log.

import assert from 'node:assert/strict';
import type { Message, NodeId } from '../../src/raft/types.js';
import type { NetworkFaults } from '../../sim/network.js';
import { Prng } from '../../sim/prng.js';
import type { LabHarness } from './harness.js';
import { crash1, labTest, peer, running, start1 } from './lab.js';

/** The lab's RaftElectionTimeout, the unit its tests sleep in. */
const ET = 1000;

/** The lab's setunreliable(true): some loss, some duplicates, short random delays that reorder. */
const unreliable: NetworkFaults = { lossPerMille: 100, duplicatePerMille: 50, delayMinMs: 1, delayMaxMs: 30 };

/** The lab's setlongreordering(true): messages may arrive long after later ones (up to several heartbeats). */
const longReordering: NetworkFaults = { lossPerMille: 100, duplicatePerMille: 50, delayMinMs: 1, delayMaxMs: 400 };

// ---------------------------------------------------------------------------------
// Helpers

/** One lab test on a fresh harness: `rng` is the test's own random stream. */
function classicTest(name: string, nodes: number, seed: number, body: (h: LabHarness, rng: Prng) => void): void {
  labTest('classic', name, nodes, seed, {}, body);
}

const encoder = new TextEncoder();

/** Start(command) at one node, as the lab's rf.Start: {index, term, isLeader}. */
function start(h: LabHarness, id: NodeId, command: string): { index: number; term: number; ok: boolean } {
  const r = h.cluster.propose(id, [encoder.encode(command)]);
  if (r === null) return { index: -1, term: -1, ok: false };
  return r.ok ? { index: r.firstIndex, term: r.term, ok: true } : { index: -1, term: h.term(id), ok: false };
}

/** Unique random commands (the lab's rand.Int()), from the test's own stream. */
function randomCommands(rng: Prng, prefix: string): () => string {
  let k = 0;
  return () => `${prefix}${k++}:${rng.nextU32()}`;
}

/** Counts messages as they are handed to the network, by type (lost ones included). */
class Tap {
  readonly byType = new Map<Message['type'], number>();
  commandBytes = 0;
  rejections = 0;

  constructor(h: LabHarness) {
    const net = h.cluster.network;
    const send = net.send.bind(net);
    net.send = (m: Message): void => {
      this.byType.set(m.type, (this.byType.get(m.type) ?? 0) + 1);
      if (m.type === 'appendEntries') for (const e of m.entries) this.commandBytes += e.data.length;
      if (m.type === 'appendEntriesResponse' && !m.success) this.rejections++;
      send(m);
    };
  }

  count(...types: Message['type'][]): number {
    let n = 0;
    for (const t of types) n += this.byType.get(t) ?? 0;
    return n;
  }
}

/** A simulated goroutine: yields how many ms to sleep; runs on the simulated clock. */
type Proc<T = void> = Generator<number, T, void>;

/** Goroutines and a WaitGroup, in simulated time. */
class Procs {
  private live = 0;

  constructor(private readonly h: LabHarness) {}

  spawn(p: Proc<unknown>): void {
    this.live++;
    const tick = (): void => {
      const r = p.next();
      if (r.done === true) this.live--;
      else this.h.cluster.clock.setTimeout(tick, r.value);
    };
    this.h.cluster.clock.setTimeout(tick, 0);
  }

  /** wg.Wait(): runs the simulation until every process has returned. */
  waitAll(withinMs: number): void {
    assert.ok(
      this.h.cluster.runUntil(() => this.live === 0, this.h.now() + withinMs),
      `${this.live} client processes still running after ${withinMs} ms`,
    );
  }
}

/** LabHarness.one as a process, so several can run concurrently (the lab's `go cfg.one(...)`). */
function* oneProc(h: LabHarness, command: string, expected: number, retry: boolean): Proc<number> {
  const deadline = h.now() + 10_000;
  const bytes = encoder.encode(command);
  while (h.now() < deadline) {
    let index = -1;
    for (const id of h.ids) {
      if (!running(h, id) || !h.isConnected(id)) continue;
      const r = h.cluster.propose(id, [bytes]);
      if (r !== null && r.ok) {
        index = r.firstIndex;
        break;
      }
    }
    if (index !== -1) {
      const until = h.now() + 2_000;
      while (h.now() < until) {
        const { count, command: c } = h.nCommitted(index);
        if (count >= expected && c === command) return index;
        yield 20;
      }
      if (!retry) assert.fail(`one(${command}) failed to reach agreement`);
    } else {
      yield 50;
    }
  }
  assert.fail(`one(${command}) failed to reach agreement`);
}

/**
 * Liveness while faults come and go: whenever a majority of the nodes is up and
 * connected, some connected node must lead again within `limitMs`. (The lab checks
 * only at the end; a cluster that is stuck for minutes in between would pass there
 * if it recovered once everything is healed.)
 */
class LeaderWatch {
  private leaderlessSince: number | null = null;
  maxLeaderlessMs = 0;

  constructor(
    private readonly h: LabHarness,
    private readonly limitMs: number,
  ) {}

  check(): void {
    const h = this.h;
    const up = h.ids.filter((id) => running(h, id) && h.isConnected(id));
    const hasLeader = up.some((id) => h.cluster.node(id)!.status().role === 'leader');
    if (hasLeader || up.length * 2 <= h.ids.length) {
      this.leaderlessSince = null;
      return;
    }
    this.leaderlessSince ??= h.now();
    const gap = h.now() - this.leaderlessSince;
    this.maxLeaderlessMs = Math.max(this.maxLeaderlessMs, gap);
    assert.ok(gap <= this.limitMs, `${up.join(',')} (a majority, up and connected) have had no leader for ${gap} ms`);
  }
}

/** Runs until every running node has applied through `index`. */
function runUntilAppliedEverywhere(h: LabHarness, index: number, withinMs: number): void {
  const ok = h.cluster.runUntil(() => h.ids.every((id) => h.cluster.appliedIndex(id) >= index), h.now() + withinMs);
  assert.ok(ok, `index ${index} not applied by every node within ${withinMs} ms`);
}

// ---------------------------------------------------------------------------------
// 3A: leader election

classicTest('3A initial election', 3, 101, (h) => {
  // Is a leader elected?
  h.checkOneLeader();

  // Sleep a bit to avoid racing with followers learning of the election, then check all peers agree on the term.
  h.runFor(50);
  const term1 = h.checkTerms();
  assert.ok(term1 >= 1, `term is ${term1}, but should be at least 1`);

  // Does the leader+term stay the same if there is no network failure? The lab only
  // warns; on a reliable simulated network a stable leader is required. Sleep past two
  // of the longest randomised election timeouts.
  h.runFor(2 * 2 * ET);
  const term2 = h.checkTerms();
  assert.equal(term2, term1, 'term changed even though there were no failures');

  // There should still be a leader.
  h.checkOneLeader();
});

classicTest('3A re-election after leader and follower disconnects', 3, 102, (h) => {
  const leader1 = h.checkOneLeader();

  // If the leader disconnects, a new one should be elected.
  h.disconnect(leader1);
  const other = h.checkOneLeader();
  assert.notEqual(other, leader1);
  const newTerm = h.term(other);

  // If the old leader rejoins, that shouldn't disturb the new leader. With PreVote the
  // isolated old leader never bumped its term; it stepped down via CheckQuorum (or on
  // hearing the newer term), and now follows at the new leader's term.
  h.connect(leader1);
  const leader2 = h.checkOneLeader();
  assert.equal(leader2, other, 'a rejoining old leader disturbed the new leader');
  assert.notEqual(h.cluster.node(leader1)!.status().role, 'leader');
  assert.equal(h.checkTerms(), newTerm, 'rejoining the old leader changed the term');

  // If there's no quorum, no new leader should be elected.
  h.disconnect(leader2);
  h.disconnect(peer(h, leader2, 1));
  const lone = peer(h, leader2, 2);
  const loneTerm = h.term(lone);
  h.runFor(2 * ET);
  // Check that the one connected server does not think it is the leader.
  h.checkNoLeader();
  // PreVote: a node that cannot win never increments its term.
  assert.equal(h.term(lone), loneTerm, 'an isolated node increased its term (PreVote should prevent that)');

  // If a quorum arises, it should elect a leader.
  h.connect(peer(h, leader2, 1));
  h.checkOneLeader();

  // Re-join of last node shouldn't prevent leader from existing.
  h.connect(leader2);
  h.checkOneLeader();
  h.checkTerms();
});

classicTest('3A many elections: 7 nodes, three disconnected at a time', 7, 103, (h, rng) => {
  h.checkOneLeader();

  const iters = 10;
  for (let ii = 1; ii < iters; ii++) {
    // Disconnect three nodes (possibly the same one twice, as in the lab).
    const i1 = rng.pick(h.ids);
    const i2 = rng.pick(h.ids);
    const i3 = rng.pick(h.ids);
    h.disconnect(i1);
    h.disconnect(i2);
    h.disconnect(i3);

    // Either the current leader should still be alive, or the remaining four should elect a new one.
    h.checkOneLeader();

    h.connect(i1);
    h.connect(i2);
    h.connect(i3);
  }
  h.checkOneLeader();
  h.checkTerms();
});

// ---------------------------------------------------------------------------------
// 3B: log replication

classicTest('3B basic agreement', 3, 201, (h) => {
  // The lab expects the first command at index 1; our leader's no-op takes index 1.
  const leader = h.checkOneLeader();
  const base: number = h.cluster.node(leader)!.status().lastLogIndex;
  assert.equal(base, 1, 'one election on a reliable network: only the leader no-op before the first command');
  assert.equal(h.nCommitted(1).command, '', 'index 1 holds the leader no-op');

  const iters = 3;
  for (let k = 1; k <= iters; k++) {
    const index: number = base + k;
    assert.equal(h.nCommitted(index).count, 0, 'some have committed before Start()');
    const xindex = h.one(String(k * 100), 3, false);
    assert.equal(xindex, index, `got index ${xindex} but expected ${index}`);
  }
});

classicTest('3B RPC bytes: each command is sent to each follower about once', 3, 202, (h, rng) => {
  const tap = new Tap(h);
  h.one('99', 3, false);
  const bytes0 = tap.commandBytes;

  const iters = 10;
  let sent = 0;
  let prev = -1;
  for (let k = 0; k < iters; k++) {
    let cmd = '';
    while (cmd.length < 5000) cmd += rng.nextU32().toString(36);
    cmd = cmd.slice(0, 5000);
    const xindex = h.one(cmd, 3, false);
    if (prev !== -1) assert.equal(xindex, prev + 1);
    prev = xindex;
    sent += cmd.length;
  }
  const got = tap.commandBytes - bytes0;
  // Each command must reach each of the two followers once: 2 * sent bytes of command
  // data at least. The lab allows servers * sent (plus headers, which we do not count
  // here); resending every command once more to each follower (4 * sent) would fail.
  const followers = 2;
  assert.ok(got >= followers * sent, `only ${got} command bytes sent for ${sent} bytes of commands`);
  assert.ok(got <= 3 * sent, `too many command bytes sent: ${got}, expected at most ${3 * sent}`);
});

classicTest('3B follower failure: agreement despite one, then no agreement without a majority', 3, 203, (h) => {
  h.one('101', 3, false);

  // Disconnect one follower from the network.
  const leader1 = h.checkOneLeader();
  h.disconnect(peer(h, leader1, 1));

  // The leader and remaining follower should be able to agree despite the disconnected follower.
  h.one('102', 2, false);
  h.runFor(ET);
  const i103 = h.one('103', 2, false);

  // Disconnect the remaining follower.
  const leader2 = h.checkOneLeader();
  h.disconnect(peer(h, leader2, 1));
  h.disconnect(peer(h, leader2, 2));

  // Submit a command.
  const r = start(h, leader2, '104');
  assert.ok(r.ok, 'leader rejected Start()');
  assert.equal(r.index, i103 + 1, `expected index ${i103 + 1}, got ${r.index}`);

  h.runFor(2 * ET);

  // Check that the command did not commit.
  const { count } = h.nCommitted(r.index);
  assert.equal(count, 0, `${count} committed but no majority`);
});

classicTest('3B leader failure: a new leader takes over, and nothing commits without a majority', 3, 204, (h) => {
  h.one('101', 3, false);

  // Disconnect the first leader.
  const leader1 = h.checkOneLeader();
  h.disconnect(leader1);

  // The remaining followers should elect a new leader.
  h.one('102', 2, false);
  h.runFor(ET);
  const i103 = h.one('103', 2, false);

  // Disconnect the new leader too.
  const leader2 = h.checkOneLeader();
  h.disconnect(leader2);
  h.disconnect(peer(h, leader2, 1));

  // Submit a command to each server.
  for (const id of h.ids) start(h, id, '104');

  h.runFor(2 * ET);

  // Check that command 104 did not commit.
  const { count } = h.nCommitted(i103 + 1);
  assert.equal(count, 0, `${count} committed but no majority`);
});

classicTest('3B agreement after a follower reconnects', 3, 205, (h) => {
  h.one('101', 3, false);

  // Disconnect one follower from the network.
  const leader = h.checkOneLeader();
  const termBefore = h.term(leader);
  const follower = peer(h, leader, 1);
  h.disconnect(follower);

  // The leader and remaining follower should be able to agree despite the disconnected follower.
  h.one('102', 2, false);
  h.one('103', 2, false);
  h.runFor(ET);
  h.one('104', 2, false);
  h.one('105', 2, false);

  // Re-connect.
  h.connect(follower);

  // The full set of servers should preserve previous agreements, and be able to agree on new commands.
  h.one('106', 3, true);
  h.runFor(ET);
  h.one('107', 3, true);

  // PreVote: the reconnected follower did not bump its term while away, so the leader kept leading.
  assert.equal(h.checkOneLeader(), leader, 'a reconnected follower disrupted the leader');
  assert.equal(h.checkTerms(), termBefore);
});

classicTest('3B no agreement if too many followers disconnect', 5, 206, (h) => {
  const i10 = h.one('10', 5, false);

  // 3 of 5 followers disconnect.
  const leader = h.checkOneLeader();
  h.disconnect(peer(h, leader, 1));
  h.disconnect(peer(h, leader, 2));
  h.disconnect(peer(h, leader, 3));

  const r = start(h, leader, '20');
  assert.ok(r.ok, 'leader rejected Start()');
  assert.equal(r.index, i10 + 1, `expected index ${i10 + 1}, got ${r.index}`);

  h.runFor(2 * ET);

  const { count } = h.nCommitted(r.index);
  assert.equal(count, 0, `${count} committed but no majority`);

  // Repair.
  h.connect(peer(h, leader, 1));
  h.connect(peer(h, leader, 2));
  h.connect(peer(h, leader, 3));

  // The disconnected majority may have chosen a leader from among their own ranks,
  // forgetting index r.index. Where the lab allows index 2 or 3, we allow r.index (20
  // was dropped, 30 takes its place) up to two more: a new leader's own no-op, plus 20
  // itself if the old leader won again and kept it.
  const leader2 = h.checkOneLeader();
  const r2 = start(h, leader2, '30');
  assert.ok(r2.ok, 'leader2 rejected Start()');
  assert.ok(r2.index >= r.index && r2.index <= r.index + 2, `unexpected index ${r2.index} (20 was at ${r.index})`);

  h.one('1000', 5, true);
});

classicTest('3B concurrent Start()s at the leader all commit', 3, 207, (h) => {
  let success = false;
  loop: for (let attempt = 0; attempt < 5; attempt++) {
    // Give the situation some time to settle.
    if (attempt > 0) h.runFor(3_000);

    const leader = h.checkOneLeader();
    const first = start(h, leader, '1');
    if (!first.ok) continue; // leader moved on really quickly

    // Five "goroutines" calling Start at the same simulated instant.
    const iters = 5;
    const is: number[] = [];
    for (let ii = 0; ii < iters; ii++) {
      const r = start(h, leader, String(100 + ii));
      if (r.term !== first.term || !r.ok) continue;
      is.push(r.index);
    }

    for (const id of h.ids) {
      // Term changed: can't expect low RPC counts.
      if (h.term(id) !== first.term) continue loop;
    }

    const cmds: string[] = [];
    for (const index of is) {
      const cmd = h.wait(index, 3, first.term);
      // Peers have moved on to later terms, so we can't expect all Start()s to have succeeded.
      if (cmd === undefined || cmd === '') continue loop;
      cmds.push(cmd);
    }

    for (let ii = 0; ii < iters; ii++) {
      const x = String(100 + ii);
      assert.ok(cmds.includes(x), `cmd ${x} missing in ${cmds.join(',')}`);
    }
    // Same-instant proposals take consecutive indexes after the first one.
    assert.deepEqual(is, Array.from({ length: iters }, (_, k) => first.index + 1 + k));
    success = true;
    break;
  }
  assert.ok(success, 'term changed too often');
});

classicTest('3B rejoin of a partitioned leader with uncommitted entries', 3, 208, (h) => {
  h.one('101', 3, true);

  // Leader network failure.
  const leader1 = h.checkOneLeader();
  h.disconnect(leader1);

  // Make the old leader try to agree on some entries.
  start(h, leader1, '102');
  start(h, leader1, '103');
  start(h, leader1, '104');

  // New leader commits, also for the index the old leader used.
  h.one('103', 2, true);

  // New leader network failure.
  const leader2 = h.checkOneLeader();
  h.disconnect(leader2);

  // Old leader connected again.
  h.connect(leader1);

  h.one('104', 2, true);

  // All together now.
  h.connect(leader2);

  h.one('105', 3, true);
});

classicTest('3B backup: fast repair over long conflicting suffixes', 5, 209, (h, rng) => {
  const rand = randomCommands(rng, 'b');
  const tap = new Tap(h);
  h.one(rand(), 5, true);

  // Put the leader and one follower in a partition.
  const leader1 = h.checkOneLeader();
  h.disconnect(peer(h, leader1, 2));
  h.disconnect(peer(h, leader1, 3));
  h.disconnect(peer(h, leader1, 4));

  // Submit lots of commands that won't commit.
  for (let i = 0; i < 50; i++) start(h, leader1, rand());

  h.runFor(ET / 2);

  h.disconnect(peer(h, leader1, 0));
  h.disconnect(peer(h, leader1, 1));

  // Allow the other partition to recover.
  h.connect(peer(h, leader1, 2));
  h.connect(peer(h, leader1, 3));
  h.connect(peer(h, leader1, 4));

  // Lots of successful commands to the new group.
  for (let i = 0; i < 50; i++) h.one(rand(), 3, true);

  // Now another partitioned leader and one follower.
  const leader2 = h.checkOneLeader();
  let other = peer(h, leader1, 2);
  if (leader2 === other) other = peer(h, leader2, 1);
  h.disconnect(other);

  // Lots more commands that won't commit.
  for (let i = 0; i < 50; i++) start(h, leader2, rand());

  h.runFor(ET / 2);

  // Bring the original leader back to life.
  for (const id of h.ids) h.disconnect(id);
  h.connect(peer(h, leader1, 0));
  h.connect(peer(h, leader1, 1));
  h.connect(other);

  // Lots of successful commands to the new group. The first one needs `other` to win
  // an election and overwrite the 50 conflicting entries leader1 and its follower hold.
  const rejectionsBefore = tap.rejections;
  h.one(rand(), 3, true);
  const repair1 = tap.rejections - rejectionsBefore;
  for (let i = 1; i < 50; i++) h.one(rand(), 3, true);

  // Now everyone: leader2 and its follower hold 50 conflicting entries of their own.
  for (const id of h.ids) h.connect(id);
  const rejectionsBefore2 = tap.rejections;
  h.one(rand(), 5, true);
  const repair2 = tap.rejections - rejectionsBefore2;

  // Fast backup: a rejection carries a conflict hint that lets the leader skip a whole
  // term per round trip, so a lagging follower needs about one rejection per
  // conflicting term, not one per conflicting entry (50). Two lagging followers per
  // repair, at most 5 rejections each. (We measure 4 and 0: the second repair needs
  // none because the leader's first append already starts where the logs diverge.)
  assert.ok(repair1 <= 10, `repairing two followers with 50 conflicting entries took ${repair1} rejections`);
  assert.ok(repair2 <= 10, `repairing two followers with 50 conflicting entries took ${repair2} rejections`);
});

classicTest('3B message counts: election, agreement and idleness stay within budget', 3, 210, (h, rng) => {
  const tap = new Tap(h);
  const rand = randomCommands(rng, 'c');
  const followers = 2;
  const heartbeatMs = h.cluster.raftConfig.heartbeatIntervalMs;

  // Election. From first principles (messages counted one per direction): a pre-vote
  // round (2 requests + 2 answers), a vote round (4), the new leader's no-op append
  // round (4) and the heartbeat round that tells followers it committed (4): 16, which
  // is what we measure. 30 (the lab's number) leaves room for one failed round, not
  // for a storm of them.
  const elected = h.cluster.runUntil(() => {
    const l = h.cluster.leader();
    return l !== null && h.ids.every((id) => h.cluster.appliedIndex(id) >= 1);
  }, h.now() + 20 * ET);
  assert.ok(elected, 'no leader elected');
  const total1 = h.messagesSent();
  assert.ok(total1 >= 1 && total1 <= 30, `too many or few messages (${total1}) to elect the initial leader`);

  let success = false;
  let total2 = 0;
  loop: for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) h.runFor(3_000);
    const leader = h.checkOneLeader();
    const before = h.messagesSent();
    const beforeHb = tap.count('heartbeat', 'heartbeatResponse');
    const t0 = h.now();

    // Commands proposed one at a time, each waited for until every node applied it.
    const iters = 10;
    const s0 = start(h, leader, rand());
    if (!s0.ok) continue;
    runUntilAppliedEverywhere(h, s0.index, 2 * ET);
    for (let i = 1; i <= iters; i++) {
      const x = rand();
      const r = start(h, leader, x);
      if (!r.ok || r.term !== s0.term) continue loop;
      assert.equal(r.index, s0.index + i, 'Start() failed');
      runUntilAppliedEverywhere(h, r.index, 2 * ET);
      assert.equal(h.nCommitted(r.index).command, x, 'wrong value committed');
    }
    if (h.ids.some((id) => h.term(id) !== s0.term)) continue loop;

    const elapsed = h.now() - t0;
    const msgs = h.messagesSent() - before;
    const hb = tap.count('heartbeat', 'heartbeatResponse') - beforeHb;
    // Per command and follower: one append and its acknowledgement (2), plus, because
    // each proposal here follows right after a heartbeat, one empty append (and its
    // acknowledgement) that the leader sends when that heartbeat's answer arrives
    // while the entry is still unacknowledged: 4. Measured: about 4.2; allow 5.
    // Heartbeats: one round trip per follower per interval elapsed, plus one.
    const appendBudget = (iters + 1) * followers * 5;
    const heartbeatBudget = followers * 2 * (Math.ceil(elapsed / heartbeatMs) + 1);
    assert.ok(hb <= heartbeatBudget, `too many heartbeat messages (${hb}) in ${elapsed} ms`);
    assert.ok(msgs - hb <= appendBudget, `too many append messages (${msgs - hb}) for ${iters + 1} entries`);
    total2 = h.messagesSent();
    success = true;
    break;
  }
  assert.ok(success, 'term changed too often');

  // An idle leader sends only heartbeats: per interval one to each follower and one
  // answer back, so 2 followers * 10 intervals * 2 directions = 40 in a second (one
  // interval more for alignment; we measure 40). Anything else (appends, votes) is a
  // failure.
  const idleBefore = new Map(tap.byType);
  h.runFor(ET);
  const total3 = h.messagesSent() - total2;
  const idleBudget = followers * 2 * (ET / heartbeatMs + 1);
  assert.ok(total3 <= idleBudget, `too many messages (${total3}) for 1 second of idleness`);
  for (const [type, n] of tap.byType) {
    if (type === 'heartbeat' || type === 'heartbeatResponse') continue;
    assert.equal(n, idleBefore.get(type) ?? 0, `an idle leader sent ${type} messages`);
  }
});

// ---------------------------------------------------------------------------------
// 3C: persistence

classicTest('3C persist 1: state survives restarts of all nodes, of the leader, and of followers', 3, 301, (h) => {
  h.one('11', 3, true);

  // Crash and re-start all.
  for (const id of h.ids) start1(h, id);
  for (const id of h.ids) {
    h.disconnect(id);
    h.connect(id);
  }

  h.one('12', 3, true);

  const leader1 = h.checkOneLeader();
  h.disconnect(leader1);
  start1(h, leader1);
  h.connect(leader1);

  h.one('13', 3, true);

  const leader2 = h.checkOneLeader();
  h.disconnect(leader2);
  const i14 = h.one('14', 2, true);
  start1(h, leader2);
  h.connect(leader2);

  h.wait(i14, 3, null); // wait for leader2 to join before killing i3

  const i3 = peer(h, h.checkOneLeader(), 1);
  h.disconnect(i3);
  h.one('15', 2, true);
  start1(h, i3);
  h.connect(i3);

  h.one('16', 3, true);
});

classicTest('3C persist 2: repeated partitions and restarts of a 5-node cluster', 5, 302, (h) => {
  let index = 1;
  for (let iters = 0; iters < 5; iters++) {
    h.one(String(10 + index), 5, true);
    index++;

    const leader1 = h.checkOneLeader();

    h.disconnect(peer(h, leader1, 1));
    h.disconnect(peer(h, leader1, 2));

    h.one(String(10 + index), 3, true);
    index++;

    h.disconnect(peer(h, leader1, 0));
    h.disconnect(peer(h, leader1, 3));
    h.disconnect(peer(h, leader1, 4));

    start1(h, peer(h, leader1, 1));
    start1(h, peer(h, leader1, 2));
    h.connect(peer(h, leader1, 1));
    h.connect(peer(h, leader1, 2));

    h.runFor(ET);

    start1(h, peer(h, leader1, 3));
    h.connect(peer(h, leader1, 3));

    h.one(String(10 + index), 3, true);
    index++;

    h.connect(peer(h, leader1, 4));
    h.connect(peer(h, leader1, 0));
  }

  h.one('1000', 5, true);
});

classicTest('3C persist 3: partitioned leader and one peer crash, then the third restarts', 3, 303, (h) => {
  h.one('101', 3, true);

  const leader = h.checkOneLeader();
  h.disconnect(peer(h, leader, 2));

  h.one('102', 2, true);

  crash1(h, peer(h, leader, 0));
  crash1(h, peer(h, leader, 1));
  h.connect(peer(h, leader, 2));
  start1(h, peer(h, leader, 0));
  h.connect(peer(h, leader, 0));

  h.one('103', 2, true);

  start1(h, peer(h, leader, 1));
  h.connect(peer(h, leader, 1));

  h.one('104', 3, true);
});

/** Figure 8 of the Raft paper: leaders crash right after appending, entries of old terms must not be committed by counting replicas. */
classicTest('3C figure 8: leaders crash right after appending', 5, 304, (h, rng) => {
  const rand = randomCommands(rng, 'f');
  h.one(rand(), 1, true);

  // The lab runs 1000 iterations against Raft implementations with ~150-300 ms
  // election timeouts; ours are 1000-2000 ms (plus leader stickiness), so the lab's
  // short sleeps (< 13 ms) are scaled by 5 and we run 3000 iterations, to see about
  // as many leader changes (about 100 here). That is under three minutes of simulated
  // time, a fraction of a second of wall time.
  const iters = 3000;
  let nup = 5;
  let crashes = 0;
  const watch = new LeaderWatch(h, 20_000);
  for (let it = 0; it < iters; it++) {
    watch.check();
    let leader: NodeId | null = null;
    for (const id of h.ids) {
      if (running(h, id) && start(h, id, rand()).ok) leader = id;
    }

    if (rng.int(1000) < 100) h.runFor(rng.int(ET / 2));
    else h.runFor(rng.int(13 * 5));

    if (leader !== null) {
      crash1(h, leader);
      nup--;
      crashes++;
    }

    if (nup < 3) {
      const s = rng.pick(h.ids);
      if (!running(h, s)) {
        start1(h, s);
        h.connect(s);
        nup++;
      }
    }
  }
  assert.ok(crashes >= 20, `only ${crashes} leaders crashed: the test did not exercise Figure 8`);

  for (const id of h.ids) {
    if (!running(h, id)) {
      start1(h, id);
      h.connect(id);
    }
  }

  h.one(rand(), 5, true);
});

classicTest('3C unreliable agreement: concurrent clients on a lossy, reordering network', 5, 305, (h) => {
  h.cluster.network.faults = unreliable;
  const procs = new Procs(h);

  for (let iters = 1; iters < 50; iters++) {
    for (let j = 0; j < 4; j++) procs.spawn(oneProc(h, String(100 * iters + j), 1, true));
    h.one(String(iters), 1, true);
  }

  h.cluster.network.faults = { lossPerMille: 0, duplicatePerMille: 0, delayMinMs: 1, delayMaxMs: 5 };
  procs.waitAll(30_000);

  h.one('100', 5, true);
});

classicTest('3C figure 8 (unreliable): leaders partitioned right after appending, long reordering', 5, 306, (h, rng) => {
  h.cluster.network.faults = unreliable;
  const rand = (): string => String(rng.int(10_000));
  h.one(rand(), 1, true);

  // The lab runs 1000 iterations, switching to long reordering after 200; see the
  // reliable Figure 8 test for why we run 3000 (switching after 600).
  const iters = 3000;
  let nup = 5;
  let partitions = 0;
  const watch = new LeaderWatch(h, 30_000);
  for (let it = 0; it < iters; it++) {
    if (it === iters / 5) h.cluster.network.faults = longReordering;
    watch.check();

    let leader: NodeId | null = null;
    for (const id of h.ids) {
      if (start(h, id, rand()).ok && h.isConnected(id)) leader = id;
    }

    if (rng.int(1000) < 100) h.runFor(rng.int(ET / 2));
    else h.runFor(rng.int(13 * 5));

    if (leader !== null && rng.int(1000) < ET / 2) {
      h.disconnect(leader);
      nup--;
      partitions++;
    }

    if (nup < 3) {
      const s = rng.pick(h.ids);
      if (!h.isConnected(s)) {
        h.connect(s);
        nup++;
      }
    }
  }
  assert.ok(partitions >= 20, `only ${partitions} leaders partitioned: the test did not exercise Figure 8`);

  for (const id of h.ids) if (!h.isConnected(id)) h.connect(id);

  // Still on the unreliable, long-reordering network, as in the lab.
  h.one(rand(), 5, true);
});

/** The lab's internalChurn: clients propose everywhere while nodes disconnect, crash and restart. */
function churn(h: LabHarness, rng: Prng, unreliableNet: boolean): void {
  if (unreliableNet) h.cluster.network.faults = unreliable;
  const rand = randomCommands(rng, 'x');
  const procs = new Procs(h);
  let stop = false;
  /** Values a client saw committed at the index it was given. */
  const values: { index: number; value: string }[] = [];

  function* client(me: number): Proc {
    while (!stop) {
      const x = rand();
      let index = -1;
      for (const id of h.ids) {
        // Try them all, maybe one of them is a leader.
        if (running(h, id)) {
          const r = start(h, id, x);
          if (r.ok) index = r.index;
        }
      }
      if (index !== -1) {
        // Maybe the leader will commit our value, maybe not; but don't wait forever.
        for (const to of [10, 20, 50, 100, 200]) {
          const { count, command } = h.nCommitted(index);
          if (count > 0) {
            if (command === x) values.push({ index, value: x });
            break;
          }
          yield to;
        }
      } else {
        yield 79 + me * 17;
      }
    }
  }

  const ncli = 3;
  for (let i = 0; i < ncli; i++) procs.spawn(client(i));

  // The lab runs 20 rounds; with our longer election timeouts a leader change takes
  // longer, so we run 100 rounds (70 s of simulated time) to see several of them.
  const ids = h.ids;
  for (let iters = 0; iters < 100; iters++) {
    if (rng.int(1000) < 200) h.disconnect(rng.pick(ids));

    if (rng.int(1000) < 500) {
      const i = rng.pick(ids);
      if (!running(h, i)) start1(h, i);
      h.connect(i);
    }

    if (rng.int(1000) < 200) {
      const i = rng.pick(ids);
      if (running(h, i)) crash1(h, i);
    }

    // Make crash/restart infrequent enough that the peers can often keep up, but not
    // so infrequent that everything has settled down from one change to the next.
    h.runFor((ET * 7) / 10);
  }

  h.runFor(ET);
  h.cluster.network.faults = { lossPerMille: 0, duplicatePerMille: 0, delayMinMs: 1, delayMaxMs: 5 };
  for (const id of ids) {
    if (!running(h, id)) start1(h, id);
    h.connect(id);
  }

  stop = true;
  procs.waitAll(5_000);

  h.runFor(ET);

  const lastIndex = h.one(rand(), 5, true);

  for (let index = 1; index <= lastIndex; index++) h.wait(index, 5, null);

  assert.ok(values.length > 0, 'no client saw anything committed during the churn');
  for (const { index, value } of values) {
    assert.ok(index <= lastIndex, `value ${value} seen committed at ${index}, past the final index ${lastIndex}`);
    for (const id of ids) assert.equal(h.applied.get(id)![index], value, `${id} did not apply ${value} at ${index}`);
  }
}

classicTest('3C churn (reliable network)', 5, 307, (h, rng) => churn(h, rng, false));

classicTest('3C churn (unreliable network)', 5, 308, (h, rng) => churn(h, rng, true));
