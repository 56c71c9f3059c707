// Snapshots and log compaction: the MIT 6.5840 Lab 3D tests ported to the
// deterministic simulator, then scenario tests of InstallSnapshot, each named after
// what it checks. Every simulator step checks the Raft invariants, so any safety
// violation fails a test where it happens.
//
// Adapted from the lab: there the tester tells each server to snapshot every
// SnapShotInterval (10) applied commands; here every simulated node snapshots its own
// key-value state machine every `snapshotEveryEntries` applied entries and compacts
// its log once the snapshot is durable (KvNode's snapshot policy, as in production). Commands are real key-value puts, so that
// a state machine restored from a snapshot can be compared with one that applied
// every entry. The lab's applierSnap records the commands a snapshot covers as
// applied; our harness records only what a node applied itself, so `one` below counts
// a node whose state machine went past the index through a snapshot as having it
// (once some node applied our command there itself: the checker guarantees every
// node's committed prefix is the same).

import assert from 'node:assert/strict';
import { encodeCommand } from '../../src/kv/command.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import type { NetworkFaults } from '../../sim/network.js';
import { Prng } from '../../sim/prng.js';
import type { LabHarness } from './harness.js';
import { crash1, labTest, peer, running, start1 } from './lab.js';

/** The lab's RaftElectionTimeout, the unit its tests sleep in. */
const ET = 1000;

/** The lab's SnapShotInterval. */
const SNAPSHOT_INTERVAL = 10;

/**
 * The lab's MAXLOGSIZE, in entries: a log compacted every SNAPSHOT_INTERVAL applied
 * entries holds fewer than that many applied ones plus the up to 1.5 intervals of
 * proposals snapcommon makes per round; without compaction logs grow to hundreds.
 */
const LOG_ENTRIES_MAX = 3 * SNAPSHOT_INTERVAL;

/** The lab's setunreliable(true): some loss, some duplicates, short random delays that reorder. */
const unreliable: NetworkFaults = { lossPerMille: 100, duplicatePerMille: 50, delayMinMs: 1, delayMaxMs: 30 };
const reliable: NetworkFaults = { lossPerMille: 0, duplicatePerMille: 0, delayMinMs: 1, delayMaxMs: 5 };

/**
 * Reliable and in order: every message takes the same time. (The simulator's default
 * reliable network varies delays between 1 and 5 ms, which reorders a burst of
 * single-entry appends; followers reject the ones that arrive early, and a leader
 * that compacts right at its applied index may then need to send them a snapshot.)
 */
const fifo: NetworkFaults = { lossPerMille: 0, duplicatePerMille: 0, delayMinMs: 2, delayMaxMs: 2 };

// ---------------------------------------------------------------------------------
// Helpers (the lab's config.go vocabulary, as in classic.test.ts)

/**
 * One test on a fresh harness whose nodes snapshot every `every` applied entries and
 * compact right up to the snapshot (no catch-up tail: the lab's logs are bounded by
 * the snapshot interval, and every lagging follower takes the snapshot path).
 */
function snapTest(name: string, nodes: number, seed: number, every: number, body: (h: LabHarness, rng: Prng) => void): void {
  labTest('snapshots', name, nodes, seed, { snapshotEveryEntries: every, raft: { snapshotCatchUpEntries: 0 } }, body);
}

const encoder = new TextEncoder();

function put(key: string, value: string): Uint8Array {
  return encodeCommand({ op: 'put', key: encoder.encode(key), value: encoder.encode(value), condition: { kind: 'none' }, tag: null });
}

/** Key-value puts standing in for the lab's rand.Int() commands; remembers every key written. */
class Commands {
  readonly keys = new Set<string>();
  private k = 0;

  constructor(
    private readonly rng: Prng,
    private readonly keySpace: number,
    private readonly valueBytes: number,
  ) {}

  next(): Uint8Array {
    const key = `key-${this.rng.int(this.keySpace)}`;
    return this.put(key);
  }

  /** A put of a key never written before. */
  fresh(): Uint8Array {
    return this.put(`fresh-${this.k}`);
  }

  private put(key: string): Uint8Array {
    this.keys.add(key);
    let value = `${this.k++}:`;
    while (value.length < this.valueBytes) value += this.rng.nextU32().toString(36);
    return put(key, value.slice(0, this.valueBytes));
  }
}

/** The snapshot index a running node's log is compacted behind (0: none). */
function snapshotIndex(h: LabHarness, id: NodeId): number {
  return h.cluster.node(id)!.snapshot()?.meta.index ?? 0;
}

/**
 * How many nodes hold `command` at `index`: those that applied it themselves, plus
 * running ones whose state machine went past it through a snapshot. Zero until some
 * node applied exactly `command` there itself. Asserts that nodes agree.
 */
function nHolding(h: LabHarness, index: number, command: string): number {
  const { count, command: c } = h.nCommitted(index);
  if (count === 0 || c !== command) return 0;
  let n = 0;
  for (const id of h.ids) {
    if (h.applied.get(id)![index] !== undefined || (running(h, id) && h.cluster.appliedIndex(id) >= index)) n++;
  }
  return n;
}

/** The lab's cfg.one, counting nodes that hold the entry through a snapshot too. */
function one(h: LabHarness, command: Uint8Array, expected: number, retry: boolean): number {
  return h.one(command, expected, retry, (index, text) => nHolding(h, index, text));
}

/** The lab's LogSize check: compaction keeps every log, in memory and on disk, short. */
function checkLogSize(h: LabHarness): void {
  for (const id of h.ids) {
    const durable = h.cluster.disk(id).recover().entries.length;
    assert.ok(durable <= LOG_ENTRIES_MAX, `${id} has ${durable} entries on disk: the log is not being compacted`);
    const n = h.cluster.node(id);
    if (n === null) continue;
    const inMemory = n.log.lastIndex() - n.log.base().index;
    assert.ok(inMemory <= LOG_ENTRIES_MAX, `${id} holds ${inMemory} log entries in memory: the log is not being compacted`);
  }
}

/** Every running node compacted its log behind a snapshot at `atLeast` or later, on disk too. */
function checkCompacted(h: LabHarness, atLeast: number): void {
  for (const id of h.ids) {
    const n = h.cluster.node(id);
    if (n === null) continue;
    const s = snapshotIndex(h, id);
    assert.ok(s >= atLeast, `${id}'s snapshot is at ${s}, expected at least ${atLeast}`);
    assert.equal(n.log.firstIndex(), s + 1, `${id}'s log does not start right after its snapshot`);
    assert.ok(h.cluster.disk(id).durableSnapshotIndex() >= atLeast, `${id}'s disk holds no snapshot at ${atLeast} or later`);
  }
}

/**
 * Runs until every running, connected node applied everything its leader committed,
 * then checks that their state machines are the same: applied index, size, and the
 * value and revision of every key in `keys`.
 */
function checkSameState(h: LabHarness, keys: Iterable<string>, withinMs: number): void {
  const up = h.ids.filter((id) => running(h, id) && h.isConnected(id));
  const settled = (): boolean => {
    const target = Math.max(...up.map((id) => h.cluster.node(id)!.log.committed()));
    return up.every((id) => h.cluster.appliedIndex(id) === target);
  };
  assert.ok(h.cluster.runUntil(settled, h.now() + withinMs), `${up.join(',')} did not all apply the same entries within ${withinMs} ms`);
  const ref = h.cluster.stateMachine(up[0]!)!;
  for (const id of up.slice(1)) {
    const kv = h.cluster.stateMachine(id)!;
    assert.equal(kv.appliedIndex(), ref.appliedIndex(), `${id} and ${up[0]} applied different indexes`);
    assert.equal(kv.size(), ref.size(), `${id} and ${up[0]} hold different numbers of keys`);
    for (const key of keys) {
      const a = ref.get(encoder.encode(key));
      const b = kv.get(encoder.encode(key));
      assert.equal(b?.revision, a?.revision, `${id} and ${up[0]} disagree on the revision of ${key}`);
      assert.deepEqual(b?.value, a?.value, `${id} and ${up[0]} disagree on the value of ${key}`);
    }
  }
}

/**
 * Runs until `id` installs a snapshot from a leader (restoring its state machine from
 * it), and checks right then, before it applies anything after it, that the node
 * reports that snapshot as the one its log is compacted behind. Returns its index.
 */
function runUntilInstalled(h: LabHarness, id: NodeId, withinMs: number): number {
  const before = h.cluster.snapshotsInstalled;
  const baseBefore = h.cluster.node(id)!.log.base().index;
  const deadline = h.now() + withinMs;
  while (h.cluster.snapshotsInstalled === before && h.now() < deadline) h.cluster.step();
  assert.ok(h.cluster.snapshotsInstalled > before, `${id} installed no snapshot within ${withinMs} ms`);
  assert.equal(h.cluster.snapshotsInstalled, before + 1, 'more than one snapshot installed in one step');
  const base = h.cluster.node(id)!.log.base().index;
  assert.ok(base > baseBefore, `a snapshot was installed, but not by ${id}`);
  assert.equal(h.cluster.appliedIndex(id), base, `${id} restored a state machine at ${h.cluster.appliedIndex(id)}, but its log starts after ${base}`);
  assert.equal(
    snapshotIndex(h, id),
    base,
    `${id} installed the snapshot at ${base} (its log is compacted behind it), but snapshot() says ${snapshotIndex(h, id)}`,
  );
  return base;
}

/** Every index that two nodes both applied themselves holds the same command (nCommitted asserts it). */
function checkSameCommands(h: LabHarness): void {
  const last = Math.max(...h.ids.map((id) => h.applied.get(id)!.length - 1));
  for (let index = 1; index <= last; index++) h.nCommitted(index);
}

/** Watches what leaves each node: snapshot chunks and appends sent, chunks acknowledged. */
class Tap {
  /** InstallSnapshot messages handed to the network, per destination (lost ones included). */
  readonly chunksSentTo = new Map<NodeId, number>();
  /** Per node, the most chunks of a transfer in progress it reported holding (its highest `nextChunk`). */
  readonly chunksHeldBy = new Map<NodeId, number>();
  readonly log: Message[] = [];

  constructor(h: LabHarness) {
    const net = h.cluster.network;
    const send = net.send.bind(net);
    net.send = (m: Message): void => {
      if (m.type === 'installSnapshot') this.chunksSentTo.set(m.to, (this.chunksSentTo.get(m.to) ?? 0) + 1);
      if (m.type === 'installSnapshotResponse' && !m.done) this.chunksHeldBy.set(m.from, Math.max(this.chunksHeldBy.get(m.from) ?? 0, m.nextChunk));
      this.log.push(m);
      send(m);
    };
  }

  sentTo(id: NodeId): number {
    return this.chunksSentTo.get(id) ?? 0;
  }
}

// ---------------------------------------------------------------------------------
// 3D: log compaction (the lab's test_test.go, Test*3D)

/** The lab's snapcommon: rounds of a victim dropping out while the others commit enough to snapshot. */
function snapcommon(h: LabHarness, rng: Prng, disconnect: boolean, reliableNet: boolean, crash: boolean): void {
  const iters = 30;
  const servers = 3;
  if (!reliableNet) h.cluster.network.faults = unreliable;
  const cmds = new Commands(rng, 64, 100);

  one(h, cmds.next(), servers, true);
  let leader1 = h.checkOneLeader();

  for (let i = 0; i < iters; i++) {
    let victim = peer(h, leader1, 1);
    let sender = leader1;
    if (i % 3 === 1) {
      sender = peer(h, leader1, 1);
      victim = leader1;
    }

    if (disconnect) {
      h.disconnect(victim);
      one(h, cmds.next(), servers - 1, true);
    }
    if (crash) {
      crash1(h, victim);
      one(h, cmds.next(), servers - 1, true);
    }

    // Perhaps send enough to get a snapshot (the sender may not lead, or be down: then they are refused).
    const nn = SNAPSHOT_INTERVAL / 2 + rng.int(SNAPSHOT_INTERVAL);
    for (let k = 0; k < nn; k++) h.cluster.propose(sender, [cmds.next()]);

    // Let appliers catch up with the proposals.
    if (!disconnect && !crash) {
      // Make sure all followers have caught up, so that no InstallSnapshot is needed for the basic test.
      one(h, cmds.next(), servers, true);
    } else {
      one(h, cmds.next(), servers - 1, true);
    }

    checkLogSize(h);

    if (disconnect) {
      // Reconnect a follower, who may be behind and need a snapshot to catch up.
      h.connect(victim);
      one(h, cmds.next(), servers, true);
      leader1 = h.checkOneLeader();
    }
    if (crash) {
      start1(h, victim);
      h.connect(victim);
      one(h, cmds.next(), servers, true);
      leader1 = h.checkOneLeader();
    }
  }

  // Beyond the lab: every log really was compacted, everyone applied the same
  // commands, and state machines restored from snapshots equal those that applied
  // every entry.
  if (!reliableNet) h.cluster.network.faults = reliable;
  checkCompacted(h, 10 * SNAPSHOT_INTERVAL);
  checkSameCommands(h);
  checkSameState(h, cmds.keys, 5_000);
}

snapTest('3D snapshot basic', 3, 401, SNAPSHOT_INTERVAL, (h, rng) => {
  h.cluster.network.faults = fifo;
  snapcommon(h, rng, false, true, false);
  // Followers always kept up (the lab makes sure of it so that no InstallSnapshot is
  // needed): nobody needed a snapshot from the leader.
  assert.equal(h.cluster.snapshotsInstalled, 0, 'a snapshot was installed although every follower kept up');
});

/**
 * The lagging victims must have caught up through InstallSnapshot in a good share of
 * the 30 rounds (in the 20 where a follower is the victim, the leader commits half an
 * interval or more behind its back; we see 22 to 24 installs per test).
 */
const INSTALLS_MIN = 10;

snapTest('3D install snapshots (disconnect)', 3, 402, SNAPSHOT_INTERVAL, (h, rng) => {
  snapcommon(h, rng, true, true, false);
  assert.ok(h.cluster.snapshotsInstalled >= INSTALLS_MIN, `only ${h.cluster.snapshotsInstalled} snapshots installed`);
});

snapTest('3D install snapshots (disconnect+unreliable)', 3, 403, SNAPSHOT_INTERVAL, (h, rng) => {
  snapcommon(h, rng, true, false, false);
  assert.ok(h.cluster.snapshotsInstalled >= INSTALLS_MIN, `only ${h.cluster.snapshotsInstalled} snapshots installed`);
});

snapTest('3D install snapshots (crash)', 3, 404, SNAPSHOT_INTERVAL, (h, rng) => {
  snapcommon(h, rng, false, true, true);
  assert.ok(h.cluster.snapshotsInstalled >= INSTALLS_MIN, `only ${h.cluster.snapshotsInstalled} snapshots installed`);
});

snapTest('3D install snapshots (unreliable+crash)', 3, 405, SNAPSHOT_INTERVAL, (h, rng) => {
  snapcommon(h, rng, false, false, true);
  assert.ok(h.cluster.snapshotsInstalled >= INSTALLS_MIN, `only ${h.cluster.snapshotsInstalled} snapshots installed`);
});

/** Crashes every server and revives it from its disk, checking it restarts from its own snapshot. */
function crashAndReviveAll(h: LabHarness): void {
  for (const id of h.ids) crash1(h, id);
  for (const id of h.ids) {
    start1(h, id);
    // Before applying anything, the state machine is the one restored from the node's snapshot.
    const s = snapshotIndex(h, id);
    assert.equal(h.cluster.disk(id).durableSnapshotIndex(), s, `${id} did not restart from its durable snapshot`);
    assert.equal(h.cluster.appliedIndex(id), s, `${id}'s state machine was not restored from its snapshot at ${s}`);
    h.connect(id);
  }
}

// Do the servers persist their snapshots, and restart from the snapshot and the tail of the log?
snapTest('3D crash and restart all servers', 3, 406, SNAPSHOT_INTERVAL, (h, rng) => {
  const servers = 3;
  const iters = 5;
  const cmds = new Commands(rng, 64, 100);

  one(h, cmds.next(), servers, true);

  for (let i = 0; i < iters; i++) {
    // Perhaps enough to get a snapshot.
    const nn = SNAPSHOT_INTERVAL / 2 + rng.int(SNAPSHOT_INTERVAL);
    for (let k = 0; k < nn; k++) one(h, cmds.next(), servers, true);

    const index1 = one(h, cmds.next(), servers, true);
    const before = h.cluster.stateMachine(h.ids[0]!)!;
    const expected = new Map([...cmds.keys].map((k) => [k, before.get(encoder.encode(k))?.revision]));

    crashAndReviveAll(h);

    const index2 = one(h, cmds.next(), servers, true);
    assert.ok(index2 >= index1 + 1, `index decreased from ${index1} to ${index2}`);

    // Nothing committed before the crash was lost: every key has its revision from then or a later one.
    checkSameState(h, cmds.keys, 5_000);
    const after = h.cluster.stateMachine(h.ids[0]!)!;
    for (const [k, rev] of expected) {
      const got = after.get(encoder.encode(k))?.revision;
      assert.ok(rev === undefined || (got !== undefined && got >= rev), `${k} was at revision ${rev} before the crash, ${got} after`);
    }
  }
  checkCompacted(h, 3 * SNAPSHOT_INTERVAL);
  checkSameCommands(h);
});

// Do servers correctly initialize their in-memory copy of the snapshot, so that later
// writes to persistent state don't lose state?
snapTest('3D snapshot initialization', 3, 407, SNAPSHOT_INTERVAL, (h, rng) => {
  const servers = 3;
  const cmds = new Commands(rng, 64, 100);
  one(h, cmds.next(), servers, true);

  // Enough ops to make a snapshot.
  const nn = SNAPSHOT_INTERVAL + 1;
  for (let k = 0; k < nn; k++) one(h, cmds.next(), servers, true);
  checkCompacted(h, SNAPSHOT_INTERVAL);
  const snapshots = new Map(h.ids.map((id) => [id, snapshotIndex(h, id)]));

  crashAndReviveAll(h);

  // A single op, to get something written back to persistent storage.
  one(h, cmds.next(), servers, true);
  // That write must not have dropped the snapshot the node started from.
  for (const id of h.ids) {
    assert.ok(h.cluster.disk(id).durableSnapshotIndex() >= snapshots.get(id)!, `${id}'s durable snapshot went back after a write`);
  }

  crashAndReviveAll(h);

  // Another op, to trigger a potential bug.
  one(h, cmds.next(), servers, true);
  checkCompacted(h, SNAPSHOT_INTERVAL);
  checkSameCommands(h);
  checkSameState(h, cmds.keys, 5_000);
});

// ---------------------------------------------------------------------------------
// Scenarios

/** Proposes `count` puts of fresh keys at `leader` in batches and runs until the leader applied them all. */
function commitFresh(h: LabHarness, leader: NodeId, cmds: Commands, count: number): void {
  for (let done = 0; done < count; ) {
    const batch: Uint8Array[] = [];
    for (; batch.length < 20 && done < count; done++) batch.push(cmds.fresh());
    const r = h.cluster.propose(leader, batch);
    assert.ok(r !== null && r.ok, `${leader} refused a proposal`);
    const last = r.firstIndex + batch.length - 1;
    assert.ok(
      h.cluster.runUntil(() => h.cluster.appliedIndex(leader) >= last, h.now() + 2_000),
      `${leader} did not apply ${last}`,
    );
  }
}

snapTest('InstallSnapshot: a follower behind a compacted log catches up through chunks under 20% message loss', 3, 501, 50, (h) => {
  const cmds = new Commands(new Prng(501, 'values'), 1, 60);
  const leader = h.checkOneLeader();
  const follower = peer(h, leader, 1);
  h.disconnect(follower);

  // Many distinct keys: the snapshot spans many 2 KiB chunks.
  commitFresh(h, leader, cmds, 400);
  const snap = h.cluster.node(leader)!.snapshot();
  assert.ok(snap !== null, 'the leader took no snapshot');
  const s = snap.meta.index;
  const chunks = snap.chunks.length;
  assert.ok(chunks > 5, `the snapshot has only ${chunks} chunks`);
  assert.ok(h.cluster.node(follower)!.log.lastIndex() < h.cluster.node(leader)!.log.firstIndex(), 'the follower does not need the snapshot');

  const tap = new Tap(h);
  const installedBefore = h.cluster.snapshotsInstalled;
  h.cluster.network.faults = { lossPerMille: 200, duplicatePerMille: 50, delayMinMs: 1, delayMaxMs: 20 };
  h.connect(follower);

  const installed = runUntilInstalled(h, follower, 20 * ET);
  assert.ok(installed >= s, `the follower installed a snapshot at ${installed}, older than the leader's at ${s}`);
  const caughtUp = (): boolean => h.cluster.appliedIndex(follower) >= h.cluster.appliedIndex(leader);
  assert.ok(h.cluster.runUntil(caughtUp, h.now() + 5 * ET), 'the follower did not catch up after installing the snapshot');
  assert.equal(h.cluster.snapshotsInstalled - installedBefore, 1, 'expected exactly one snapshot install');
  assert.ok(h.applied.get(follower)![s] === undefined, 'the follower applied the snapshot index itself instead of installing the snapshot');

  // Its state machine is the leader's.
  assert.equal(h.cluster.stateMachine(leader)!.size(), cmds.keys.size, 'the leader lost keys');
  checkSameState(h, cmds.keys, 5_000);

  // Chunks were lost and sent again, but the transfer did not resend wildly.
  const sent = tap.sentTo(follower);
  assert.ok(sent > chunks, `only ${sent} chunk messages for ${chunks} chunks under 20% loss: nothing was resent?`);
  assert.ok(sent <= 4 * chunks, `${sent} chunk messages sent for a snapshot of ${chunks} chunks`);
});

snapTest('a crash during snapshot install leaves the old state intact, and the transfer starts over', 3, 502, 50, (h) => {
  const cmds = new Commands(new Prng(502, 'values'), 1, 60);
  const leader = h.checkOneLeader();
  const follower = peer(h, leader, 1);
  commitFresh(h, leader, cmds, 60);
  h.runFor(ET);
  h.disconnect(follower);
  h.runFor(50);

  // The follower's durable state before the transfer.
  const old = h.cluster.disk(follower).recover();
  const oldSnapshot = old.snapshot?.meta.index ?? 0;
  const oldLast = oldSnapshot + old.entries.length;
  assert.ok(oldSnapshot > 0, 'the follower had taken no snapshot of its own');

  commitFresh(h, leader, cmds, 400);
  const snap = h.cluster.node(leader)!.snapshot()!;
  const s = snap.meta.index;
  const chunks = snap.chunks.length;
  assert.ok(chunks > 5, `the snapshot has only ${chunks} chunks`);
  assert.ok(s > oldLast, 'the follower does not need the snapshot');

  // Reconnect and step event by event until the follower holds some chunks but not all.
  const tap = new Tap(h);
  h.connect(follower);
  const held = (): number => tap.chunksHeldBy.get(follower) ?? 0;
  const deadline = h.now() + 5 * ET;
  while (held() < 2 && h.now() < deadline) h.cluster.step();
  assert.ok(held() >= 2 && held() < chunks, `the follower holds ${held()} of ${chunks} chunks; wanted some but not all`);
  assert.equal(snapshotIndex(h, follower), oldSnapshot, 'the follower installed before all chunks arrived');

  h.crash(follower);

  // Its durable state is the old one: nothing of the half-received snapshot reached the disk.
  const recovered = h.cluster.disk(follower).recover();
  assert.equal(recovered.snapshot?.meta.index ?? 0, oldSnapshot, 'a partial snapshot reached the disk');
  assert.equal((recovered.snapshot?.meta.index ?? 0) + recovered.entries.length, oldLast, 'the durable log changed');
  assert.deepEqual(recovered.entries, old.entries, 'the durable log entries changed');

  // It stays down a while: the chunks in flight to it are lost (a restarted process
  // does not receive what was sent to its predecessor).
  h.runFor(ET / 5);
  assert.equal(snapshotIndex(h, leader), s, 'the leader compacted again meanwhile');

  // Restarted, it starts from its old state and the transfer starts over from chunk 0.
  const sentBefore = tap.log.length;
  h.restart(follower);
  assert.equal(h.cluster.appliedIndex(follower), oldSnapshot, 'the restarted follower did not restore its old snapshot');
  const installed = runUntilInstalled(h, follower, 10 * ET);
  assert.ok(installed >= s, `the restarted follower installed a snapshot at ${installed}, older than the leader's at ${s}`);
  const caughtUp = (): boolean => h.cluster.appliedIndex(follower) >= h.cluster.appliedIndex(leader);
  assert.ok(h.cluster.runUntil(caughtUp, h.now() + 5 * ET), 'the restarted follower did not catch up after installing the snapshot');
  const resent = tap.log.slice(sentBefore).filter((m) => m.type === 'installSnapshot' && m.to === follower);
  assert.ok(
    resent.some((m) => m.type === 'installSnapshot' && m.chunk === 0),
    'the transfer did not start over from chunk 0',
  );
  assert.ok(h.cluster.disk(follower).durableSnapshotIndex() >= s, 'the install is not durable');
  checkSameState(h, cmds.keys, 5_000);
  assert.equal(h.cluster.stateMachine(follower)!.size(), cmds.keys.size, 'the follower lacks keys');
});

snapTest('a leader that compacted keeps serving a slow follower from its snapshot, then from the log', 3, 503, 20, (h, rng) => {
  const every = 20;
  const cmds = new Commands(rng, 1_000_000, 40);
  const leader = h.checkOneLeader();
  const follower = peer(h, leader, 1);
  for (let k = 0; k < 27; k++) one(h, cmds.next(), 3, false);
  assert.ok(snapshotIndex(h, leader) > 0, 'the leader took no snapshot');

  h.disconnect(follower);
  const fLast = h.cluster.node(follower)!.log.lastIndex();
  const fApplied = h.cluster.appliedIndex(follower);

  // Commit until the leader's snapshot passes the follower's log, then a few entries more.
  while (snapshotIndex(h, leader) <= fLast) one(h, cmds.next(), 2, false);
  const s = snapshotIndex(h, leader);
  assert.ok(s - fLast <= every, `the follower is ${s - fLast} entries behind the snapshot: not slightly`);
  for (let k = 0; k < 5; k++) one(h, cmds.next(), 2, false);
  const leaderLast = h.cluster.node(leader)!.log.lastIndex();
  assert.equal(snapshotIndex(h, leader), s, 'the leader took another snapshot');
  assert.ok(leaderLast > s, 'the leader has no entries after its snapshot');

  const tap = new Tap(h);
  const installedBefore = h.cluster.snapshotsInstalled;
  h.connect(follower);
  assert.equal(runUntilInstalled(h, follower, 2 * ET), s, 'the follower did not install the leader\'s snapshot');
  const last = one(h, cmds.next(), 3, false);
  assert.ok(h.cluster.runUntil(() => h.cluster.appliedIndex(follower) >= last, h.now() + 2 * ET), 'the follower did not catch up');

  // It got the leader's snapshot at s (and only that one)...
  assert.equal(h.cluster.snapshotsInstalled - installedBefore, 1, 'expected exactly one snapshot install');
  assert.equal(snapshotIndex(h, leader), s, 'the leader compacted again meanwhile');
  assert.ok(snapshotIndex(h, follower) >= s, `the follower's snapshot is at ${snapshotIndex(h, follower)}, not ${s}`);
  const chunks = tap.log.filter((m) => m.type === 'installSnapshot' && m.to === follower);
  assert.ok(chunks.length > 0 && chunks.every((m) => m.type === 'installSnapshot' && m.meta.index === s), `chunks sent were not all of the snapshot at ${s}`);
  // ...skipped what it covers without applying it entry by entry...
  const applied = h.applied.get(follower)!;
  for (let i = fApplied + 1; i <= s; i++) assert.equal(applied[i], undefined, `the follower applied ${i}, which the snapshot covers`);
  // ...and applied the entries after it from the leader's log, which sent them in appends.
  for (let i = s + 1; i <= last; i++) assert.notEqual(applied[i], undefined, `the follower did not apply ${i} itself`);
  const appends = tap.log.filter((m) => m.type === 'appendEntries' && m.to === follower && m.entries.length > 0);
  assert.ok(
    appends.some((m) => m.type === 'appendEntries' && m.prevLogIndex === s && m.entries[0]!.index === s + 1),
    `no append of the entries right after the snapshot at ${s}`,
  );
  for (let i = s + 1; i <= last; i++) {
    assert.ok(
      appends.some((m) => m.type === 'appendEntries' && m.entries.some((e) => e.index === i)),
      `entry ${i} did not reach the follower in an append`,
    );
  }
  checkSameCommands(h);
  checkSameState(h, cmds.keys, 5_000);
});

snapTest('a node elected right after installing a snapshot serves that snapshot to a lagging follower', 5, 504, 20, (h) => {
  const cmds = new Commands(new Prng(504, 'values'), 1, 40);
  const a = h.checkOneLeader();
  const [b, c, f, g] = [1, 2, 3, 4].map((k) => peer(h, a, k)) as [NodeId, NodeId, NodeId, NodeId];
  h.disconnect(f);
  h.disconnect(g);
  // Batches of 20 with a snapshot every 20 entries: the leader's snapshot covers its whole log.
  commitFresh(h, a, cmds, 100);
  // A node compacts its log once the snapshot it took is durable: give the last one that write.
  h.cluster.runUntil(() => snapshotIndex(h, a) === h.cluster.node(a)!.log.lastIndex(), h.now() + 100);
  const s = snapshotIndex(h, a);
  assert.equal(s, h.cluster.node(a)!.log.lastIndex(), 'the leader has entries after its snapshot');

  // f installs the leader's snapshot, with nothing after it...
  h.disconnect(b);
  h.disconnect(c);
  h.connect(f);
  assert.equal(runUntilInstalled(h, f, 2 * ET), s, 'f did not install the leader\'s snapshot');
  // ...then receives one more entry, which cannot commit (a and f are 2 of 5): f's log is now the most up to date.
  const r = h.cluster.propose(a, [cmds.fresh()]);
  assert.ok(r !== null && r.ok, 'the leader refused a proposal');
  assert.ok(h.cluster.runUntil(() => h.cluster.node(f)!.log.lastIndex() >= r.firstIndex, h.now() + ET / 2), 'f did not receive the entry');
  assert.equal(h.cluster.appliedIndex(f), s, 'f applied something after the snapshot');

  // The leader and c go away. Of f, b and g only f can win (b's log is behind f's, g's far
  // behind both), and nothing commits until g has caught up: f must send it the snapshot it installed.
  h.disconnect(a);
  h.connect(b);
  h.connect(g);
  const fLeads = (): boolean => h.cluster.node(f)!.role() === 'leader';
  assert.ok(h.cluster.runUntil(fLeads, h.now() + 10 * ET), 'f was not elected');
  const fLast = h.cluster.node(f)!.log.lastIndex();
  const gCaughtUp = (): boolean => h.cluster.node(f)!.log.committed() >= fLast && h.cluster.appliedIndex(g) >= fLast;
  assert.ok(h.cluster.runUntil(gCaughtUp, h.now() + 5 * ET), `g did not catch up with f (g applied ${h.cluster.appliedIndex(g)}, f's log ends at ${fLast})`);
  assert.ok(h.cluster.disk(g).durableSnapshotIndex() >= s, 'g did not install a snapshot');
  checkSameState(h, cmds.keys, 5_000);
  assert.equal(h.cluster.stateMachine(g)!.size(), cmds.keys.size, 'g lacks keys');
});
