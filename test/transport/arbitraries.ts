// Arbitraries of valid peer messages of every type (the codec's round trips, the peer fuzzer).
import fc from 'fast-check';
import { encodeConfiguration } from '../../src/raft/configuration-codec.js';
import { configuration, type Configuration } from '../../src/raft/membership.js';
import { logIndex, nodeId, term, type Entry, type Message, type NodeId } from '../../src/raft/types.js';

export const MAX = Number.MAX_SAFE_INTEGER;

// ---- arbitraries: valid messages of every type ----

export const idArb = fc.constantFrom('n1', 'n2', 'node-3', 'nœud-ü', '节点', 'x'.repeat(64)).map(nodeId);
/** Mostly small numbers, sometimes the extremes. */
const u64Arb = fc.oneof({ weight: 4, arbitrary: fc.nat(1_000) }, { weight: 1, arbitrary: fc.constantFrom(0, MAX) }, { weight: 1, arbitrary: fc.maxSafeNat() });
const u32Arb = fc.oneof(fc.nat(100), fc.constant(0xffff_ffff));
const bytesArb = fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1000, maxLength: 5000 }) });
const baseArb = fc.record({ from: idArb, to: idArb, term: u64Arb.map(term) });
const configOf = (ids: readonly NodeId[], learners: number): Configuration =>
  configuration(ids.map((id, k) => ({ id, role: k > 0 && k <= learners ? 'learner' : 'voter', addrs: { raftAddr: `${id}:7081`, httpAddr: `${id}:8081`, grpcAddr: `[::1]:9081` } })));
const configArb = fc.tuple(fc.uniqueArray(idArb, { minLength: 1, maxLength: 5 }), fc.nat(2)).map(([ids, learners]) => configOf(ids, learners));

const requestVoteArb = fc
  .record({ base: baseArb, preVote: fc.boolean(), transfer: fc.boolean(), lastLogIndex: u64Arb, lastLogTerm: u64Arb })
  .map(({ base, ...r }): Message => ({ ...base, type: 'requestVote', preVote: r.preVote, transfer: r.transfer, lastLogIndex: logIndex(r.lastLogIndex), lastLogTerm: term(r.lastLogTerm) }));

const timeoutNowArb = baseArb.map((base): Message => ({ ...base, type: 'timeoutNow' }));

const requestVoteResponseArb = fc
  .record({ base: baseArb, preVote: fc.boolean(), granted: fc.boolean() })
  .map(({ base, ...r }): Message => ({ ...base, type: 'requestVoteResponse', ...r }));

/** Entries contiguous from prevLogIndex + 1, terms rising from prevLogTerm, the message's term the highest. */
export const appendEntriesArb = fc
  .record({
    from: idArb,
    to: idArb,
    prevLogIndex: fc.oneof(fc.nat(1_000), fc.constant(MAX - 20)),
    prevLogTerm: fc.nat(1_000),
    entries: fc.array(
      fc.oneof(
        fc.record({ termStep: fc.nat(3), kind: fc.constantFrom('noop' as const, 'command' as const), data: bytesArb }),
        fc.record({ termStep: fc.nat(3), kind: fc.constant('config' as const), data: configArb.map(encodeConfiguration) }),
      ),
      { maxLength: 10 },
    ),
    termAbove: fc.nat(3),
    leaderCommit: u64Arb,
  })
  .map((r): Message => {
    let t = r.prevLogTerm;
    const entries: Entry[] = r.entries.map((e, i) => {
      t += e.termStep;
      return { index: logIndex(r.prevLogIndex + 1 + i), term: term(t), kind: e.kind, data: e.data };
    });
    return {
      type: 'appendEntries',
      from: r.from,
      to: r.to,
      term: term(t + r.termAbove),
      prevLogIndex: logIndex(r.prevLogIndex),
      prevLogTerm: term(r.prevLogTerm),
      entries,
      leaderCommit: logIndex(r.leaderCommit),
    };
  });

const appendEntriesResponseArb = fc.oneof(
  fc.record({ base: baseArb, matchIndex: u64Arb }).map(({ base, matchIndex }): Message => ({ ...base, type: 'appendEntriesResponse', success: true, matchIndex: logIndex(matchIndex) })),
  fc
    .record({ base: baseArb, rejectedIndex: u64Arb, hintIndex: u64Arb, hintTerm: fc.option(u64Arb, { nil: null }) })
    .map(({ base, ...r }): Message => ({
      ...base,
      type: 'appendEntriesResponse',
      success: false,
      rejectedIndex: logIndex(r.rejectedIndex),
      hint: { index: logIndex(r.hintIndex), term: r.hintTerm === null ? null : term(r.hintTerm) },
    })),
);

const heartbeatArb = fc
  .record({ base: baseArb, commit: u64Arb, seq: u64Arb })
  .map(({ base, commit, seq }): Message => ({ ...base, type: 'heartbeat', commit: logIndex(commit), seq }));

const heartbeatResponseArb = fc
  .record({ base: baseArb, seq: u64Arb, logEnd: fc.option(u64Arb, { nil: null }) })
  .map(({ base, seq, logEnd }): Message => ({ ...base, type: 'heartbeatResponse', seq, logEnd: logEnd === null ? null : logIndex(logEnd) }));

const installSnapshotArb = fc
  .record({
    base: baseArb,
    index: u64Arb,
    metaTerm: u64Arb,
    config: configArb,
    chunkCount: fc.integer({ min: 1, max: 0xffff_ffff }),
    chunkFraction: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
    data: bytesArb,
  })
  .map(({ base, ...r }): Message => ({
    ...base,
    type: 'installSnapshot',
    meta: { index: logIndex(r.index), term: term(r.metaTerm), config: r.config },
    chunk: Math.floor(r.chunkFraction * r.chunkCount),
    chunkCount: r.chunkCount,
    data: r.data,
  }));

const installSnapshotResponseArb = fc
  .record({ base: baseArb, snapshotIndex: u64Arb, done: fc.boolean(), nextChunk: u32Arb })
  .map(({ base, ...r }): Message => ({ ...base, type: 'installSnapshotResponse', snapshotIndex: logIndex(r.snapshotIndex), done: r.done, nextChunk: r.nextChunk }));

const readIndexRequestArb = fc.record({ base: baseArb, requestId: u64Arb, lease: fc.boolean() }).map(({ base, ...r }): Message => ({ ...base, type: 'readIndexRequest', ...r }));

const readIndexResponseArb = fc
  .record({ base: baseArb, requestId: u64Arb, index: u64Arb })
  .map(({ base, ...r }): Message => ({ ...base, type: 'readIndexResponse', requestId: r.requestId, index: logIndex(r.index) }));

const proposeRequestArb = fc
  .record({ base: baseArb, batchId: u64Arb, commands: fc.array(bytesArb, { maxLength: 4 }) })
  .map(({ base, ...r }): Message => ({ ...base, type: 'proposeRequest', ...r }));

const proposeResponseArb = fc
  .record({ base: baseArb, batchId: u64Arb, firstIndex: fc.option(u64Arb, { nil: null }), overloaded: fc.boolean() })
  .map(({ base, batchId, firstIndex, overloaded }): Message => ({
    ...base,
    type: 'proposeResponse',
    batchId,
    result: firstIndex === null ? { accepted: false, reason: overloaded ? 'overloaded' : 'not_leader' } : { accepted: true, firstIndex: logIndex(firstIndex) },
  }));

export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  timeoutNowArb,
  requestVoteArb,
  requestVoteResponseArb,
  appendEntriesArb,
  appendEntriesResponseArb,
  heartbeatArb,
  heartbeatResponseArb,
  installSnapshotArb,
  installSnapshotResponseArb,
  readIndexRequestArb,
  readIndexResponseArb,
  proposeRequestArb,
  proposeResponseArb,
);
