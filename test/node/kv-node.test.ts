import { votersConfig } from '../raft/configs.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../src/log.js';
import { kvNodeDefaults } from '../../src/node/config.js';
import { KvNode, proposeCommand, readThrough } from '../../src/node/kv-node.js';
import { realRuntime } from '../../src/node/real-runtime.js';
import { defaultRaftConfig } from '../../src/raft/config.js';
import type { LogStorage } from '../../src/raft/host/ready-executor.js';
import { emptyPersistedState, RaftNode } from '../../src/raft/host/raft-node.js';
import type { Snapshot } from '../../src/raft/types.js';
import { nodeId } from '../../src/raft/types.js';

const encoder = new TextEncoder();

/** Storage that is durable at once, on the next turn (the real one is tested in test/storage). */
const instantStorage: LogStorage & { compact(s: Snapshot, durable: () => void): void } = {
  write: (_w, durable) => setImmediate(durable),
  compact: (_s, durable) => setImmediate(durable),
};

/** A one-node cluster, once it has elected itself. */
async function singleLeader(): Promise<KvNode> {
  let becameLeader: () => void = () => undefined;
  const leading = new Promise<void>((resolve) => (becameLeader = resolve));
  const node = new KvNode({
    id: nodeId('n1'),
    bootstrap: votersConfig(['n1']),
    raft: { ...defaultRaftConfig, electionTimeoutMs: 20, heartbeatIntervalMs: 5, leaseClockDriftMs: 2 },
    storage: instantStorage,
    recovered: emptyPersistedState,
    transport: { send: () => undefined },
    logger: silentLogger(),
    runtime: realRuntime,
    config: { ...kvNodeDefaults, snapshotEveryEntries: 1_000_000, snapshotEveryBytes: 1 << 30, requestTimeoutMs: 5_000 },
    hooks: { onRoleChange: (st) => st.role === 'leader' && becameLeader() },
  });
  await leading;
  return node;
}

test('KvNode: concurrent proposals reach the Raft core as one batch, and each gets its own answer', async () => {
  const batches: number[] = [];
  const propose = RaftNode.prototype.propose;
  RaftNode.prototype.propose = function (this: RaftNode, commands) {
    batches.push(commands.length);
    return propose.call(this, commands);
  };
  const node = await singleLeader();
  try {
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, k) => proposeCommand(node, { op: 'put', key: encoder.encode(`k${k}`), value: encoder.encode(`v${k}`), condition: { kind: 'none' }, tag: null })),
    );
    assert.deepEqual(batches, [100], 'one propose event carrying all 100 commands');
    const revisions = results.map((r) => (r.ok && r.value.op === 'put' && r.value.ok ? r.value.revision : -1));
    assert.equal(new Set(revisions).size, 100, 'each proposal got its own revision');
    assert.ok(revisions.every((r) => r > 0));
  } finally {
    RaftNode.prototype.propose = propose;
    node.stop();
  }
});

test('KvNode: the reads of one turn reach the Raft core as one read index request per consistency, and each read gets its own answer', async () => {
  const asked: boolean[] = [];
  const readIndex = RaftNode.prototype.readIndex;
  RaftNode.prototype.readIndex = function (this: RaftNode, requestId, lease) {
    asked.push(lease);
    return readIndex.call(this, requestId, lease);
  };
  const node = await singleLeader();
  try {
    const written = await Promise.all(
      Array.from({ length: 10 }, (_, k) => proposeCommand(node, { op: 'put', key: encoder.encode(`k${k}`), value: encoder.encode(`v${k}`), condition: { kind: 'none' }, tag: null })),
    );
    assert.ok(written.every((w) => w.ok));
    const decoder = new TextDecoder();
    const reads = Array.from({ length: 30 }, (_, k) =>
      readThrough(node, k % 3 === 0 ? 'lease' : 'linearizable', (kv) => {
        const got = kv.get(encoder.encode(`k${k % 10}`));
        return got === undefined ? null : decoder.decode(got.value);
      }),
    );
    const answers = await Promise.all(reads);
    assert.deepEqual(asked, [false, true], 'one linearizable and one lease request for the 30 reads');
    assert.deepEqual(
      answers.map((a) => (a.ok ? a.value : a.error.kind)),
      Array.from({ length: 30 }, (_, k) => `v${k % 10}`),
    );
    // A read in a later turn is a request of its own.
    const later = await readThrough(node, 'linearizable', (kv) => kv.size());
    assert.deepEqual(later, { ok: true, value: 10 });
    assert.deepEqual(asked, [false, true, false]);
  } finally {
    RaftNode.prototype.readIndex = readIndex;
    node.stop();
  }
});

test('API idempotency keys: a retry after many other keyed writes is still answered with the first result, not applied again', async () => {
  const { KvStateMachine, kvStateMachineDefaults } = await import('../../src/kv/state-machine.js');
  const { encodeCommand, idempotencyTag } = await import('../../src/kv/command.js');
  const kv = new KvStateMachine(kvStateMachineDefaults);
  const put = (key: string, value: string, idem: string): Uint8Array =>
    encodeCommand({ op: 'put', key: encoder.encode(key), value: encoder.encode(value), condition: { kind: 'none' }, tag: idempotencyTag(idem) });
  let index = 1;
  const first = kv.apply(index++, put('k', 'first', 'retry-me'));
  // Far more keyed writes from other clients than one session keeps results for.
  for (let k = 0; k < 10 * kvStateMachineDefaults.sessionResultsPerClient; k++) kv.apply(index++, put('k', `other-${k}`, `other-${k}`));
  const retry = kv.apply(index++, put('k', 'first', 'retry-me'));
  assert.deepEqual(retry, first);
  assert.equal(new TextDecoder().decode(kv.get(encoder.encode('k'))!.value), `other-${10 * kvStateMachineDefaults.sessionResultsPerClient - 1}`);
});
