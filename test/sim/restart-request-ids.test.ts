import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvResult } from '../../src/kv/command.js';
import type { KvEntry } from '../../src/kv/sharded-map.js';
import type { Outcome } from '../../src/node/kv-node.js';
import type { Message, NodeId } from '../../src/raft/types.js';
import type { SimCluster } from '../../sim/cluster.js';
import { checkLinearizable, describeHistoryOp, type HistoryOp, type KvOutput } from '../../sim/linearizability.js';
import { stableCluster } from './stable-cluster.js';

// A peer link keeps what it queued across a reconnect, so the leader's answer to
// a request of a follower's previous process can reach the restarted one. Its ids
// must not name a request of the new process: each incarnation numbers its
// forwarded batches and reads from a point of its own.

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const key = encoder.encode('k');

/** The leader's answers to `to` of `type`, held back from the network until `release` sends them, in order. */
function holdAnswers(c: SimCluster, to: NodeId, type: Message['type']): { held: Message[]; release: (m: Message) => void } {
  const send = c.network.send.bind(c.network);
  const held: Message[] = [];
  c.network.send = (m) => (m.to === to && m.type === type ? void held.push(m) : send(m));
  return { held, release: send };
}

/** A client history on key k, with a logical clock, as the simulator's clients record it. */
function recorder(c: SimCluster): {
  history: HistoryOp[];
  put: (at: NodeId, value: string) => { answer: Outcome<KvResult> | null };
  get: (at: NodeId) => { answer: Outcome<KvEntry | undefined> | null };
  finish: () => void;
} {
  const history: HistoryOp[] = [];
  let t = 0;
  const open: { op: Omit<HistoryOp, 'outcome'>; answer: () => Outcome<unknown> | null; output: (v: never) => KvOutput; returnAt: number | null }[] = [];
  const call = <T>(input: HistoryOp['input'], run: (done: (o: Outcome<T>) => void) => void, output: (v: T) => KvOutput): { answer: Outcome<T> | null } => {
    const box: { answer: Outcome<T> | null } = { answer: null };
    const entry = { op: { id: open.length, client: open.length, input, callAt: t++ }, answer: () => box.answer, output: output as (v: never) => KvOutput, returnAt: null as number | null };
    open.push(entry);
    run((o) => {
      box.answer = o;
      entry.returnAt = t++;
    });
    return box;
  };
  return {
    history,
    put: (at, value) =>
      call<KvResult>({ kind: 'put', key: 'k', value }, (done) => c.kvNode(at)!.propose({ op: 'put', key, value: encoder.encode(value), condition: { kind: 'none' }, tag: null }, done), (r) =>
        r.ok && r.op === 'put' ? { kind: 'put', revision: r.revision } : { kind: 'precondition_failed', currentRevision: null },
      ),
    get: (at) =>
      call<KvEntry | undefined>({ kind: 'get', key: 'k' }, (done) => c.kvNode(at)!.read('linearizable', (state) => state.get(key), done), (e) =>
        e === undefined ? { kind: 'get', found: false } : { kind: 'get', found: true, value: decoder.decode(e.value), revision: e.revision },
      ),
    finish: () => {
      for (const e of open) {
        const a = e.answer();
        const outcome: HistoryOp['outcome'] =
          a !== null && a.ok ? { status: 'ok', output: e.output(a.value as never), returnAt: e.returnAt! } : { status: e.op.input.kind === 'get' || (a !== null && a.error.kind !== 'outcome_unknown' && a.error.kind !== 'stopped') ? 'failed' : 'indeterminate' };
        history.push({ ...e.op, outcome });
      }
    },
  };
}

function assertLinearizable(history: readonly HistoryOp[]): void {
  const r = checkLinearizable(history);
  assert.ok(r.ok, `${r.ok ? '' : r.explanation}\n${history.map(describeHistoryOp).join('\n')}`);
}

/** Crashes `f` and restarts it; returns once the restarted `f` has heard from its leader (it can forward from then on). */
function restartUntilLeaderKnown(c: SimCluster, f: NodeId): void {
  c.crash(f);
  c.runFor(50);
  c.restart(f);
  assert.ok(c.runUntil(() => c.kvNode(f)!.leaderId() !== null, c.clock.now() + 5_000), 'the restarted follower heard of no leader');
}

test("a restarted follower ignores the leader's answer to a batch its previous process forwarded", () => {
  const { c, leader, followers } = stableCluster(61);
  const f = followers[0]!;
  const r = recorder(c);
  const answers = holdAnswers(c, f, 'proposeResponse');
  // The follower never gets the entry before it crashes, so the restarted one has not applied it when the old answer comes.
  const appends = c.network.send;
  c.network.send = (m) => (m.to === f && m.type === 'appendEntries' ? undefined : appends(m));
  r.put(f, 'v1');
  assert.ok(c.runUntil(() => answers.held.length === 1 && c.appliedIndex(leader) > 0 && c.stateMachine(leader)!.get(key) !== undefined, c.clock.now() + 2_000), 'v1 was not applied by the leader');
  const old = answers.held.shift()!;
  restartUntilLeaderKnown(c, f);
  c.network.send = appends;
  const second = r.put(f, 'v2');
  assert.ok(c.runUntil(() => answers.held.length === 1, c.clock.now() + 2_000), 'the leader did not answer the second batch');
  // The stale answer first, then the real one; the follower hears that v2 committed only after it, as on one ordered link.
  c.network.send = (m) => (m.to === f && m.type === 'appendEntries' ? undefined : appends(m));
  answers.release(old);
  c.runFor(20);
  answers.release(answers.held.shift()!);
  c.network.send = appends;
  assert.ok(c.runUntil(() => second.answer !== null, c.clock.now() + 2_000), 'the second write was not answered');
  r.get(leader);
  c.runFor(200);
  r.finish();
  assertLinearizable(r.history);
  assert.ok(second.answer!.ok, JSON.stringify(second.answer));
  const stored = c.stateMachine(leader)!.get(key)!;
  assert.equal(decoder.decode(stored.value), 'v2');
  assert.deepEqual(second.answer!.value, { op: 'put', ok: true, revision: stored.revision }, 'v2 was answered with the revision of another entry');
});

test("a restarted follower ignores the leader's answer to a read its previous process asked", () => {
  const { c, leader, followers } = stableCluster(62);
  const f = followers[0]!;
  const r = recorder(c);
  r.put(leader, 'v1');
  c.runFor(100);
  const answers = holdAnswers(c, f, 'readIndexResponse');
  r.get(f);
  assert.ok(c.runUntil(() => answers.held.length === 1, c.clock.now() + 2_000), 'the leader did not answer the read');
  const old = answers.held.shift()!;
  // A write the restarted follower does not have when its new read comes: the read must see it.
  const appends = c.network.send;
  c.network.send = (m) => (m.to === f && m.type === 'appendEntries' && m.entries.length > 0 ? undefined : appends(m));
  c.crash(f);
  const written = r.put(leader, 'v2');
  assert.ok(c.runUntil(() => written.answer !== null, c.clock.now() + 2_000), 'v2 was not committed');
  assert.ok(written.answer!.ok);
  c.restart(f);
  assert.ok(c.runUntil(() => c.kvNode(f)!.leaderId() !== null, c.clock.now() + 5_000), 'the restarted follower heard of no leader');
  const read = r.get(f);
  assert.ok(c.runUntil(() => answers.held.length === 1, c.clock.now() + 2_000), 'the leader did not answer the second read');
  answers.release(old);
  c.runFor(20);
  c.network.send = appends;
  answers.release(answers.held.shift()!);
  assert.ok(c.runUntil(() => read.answer !== null, c.clock.now() + 2_000), 'the second read was not answered');
  r.finish();
  assertLinearizable(r.history);
  assert.ok(read.answer!.ok, JSON.stringify(read.answer));
  assert.equal(decoder.decode(read.answer!.value!.value), 'v2', 'the read missed a write committed before it began');
});
