import { votersConfig } from '../raft/configs.js';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { CoreInspector } from '../../src/debug/inspector.js';
import { silentLogger } from '../../src/log.js';
import { kvNodeDefaults } from '../../src/node/config.js';
import { KvNode } from '../../src/node/kv-node.js';
import { realRuntime } from '../../src/node/real-runtime.js';
import { defaultRaftConfig } from '../../src/raft/config.js';
import { emptyPersistedState } from '../../src/raft/host/raft-node.js';
import { nodeId } from '../../src/raft/types.js';

/** Polls `check` every 10 ms until it holds or `ms` pass. */
async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('the Stately inspector sees the role machine change state, and events over the rate are dropped and counted, not queued', async () => {
  const received: { type: string; name?: string; sessionId?: string; definition?: string; snapshot?: { value?: unknown; context?: Record<string, unknown> }; event?: { type: string } }[] = [];
  // A one-node cluster on Node's own timers, with storage that is durable on the next turn and nobody to send to.
  const node = new KvNode({
    id: nodeId('n1'),
    bootstrap: votersConfig(['n1']),
    raft: { ...defaultRaftConfig, electionTimeoutMs: 50, heartbeatIntervalMs: 10, leaseClockDriftMs: 10 },
    config: kvNodeDefaults,
    runtime: realRuntime,
    storage: { write: (_w, durable) => void setImmediate(durable), compact: (_s, durable) => void setImmediate(durable) },
    recovered: emptyPersistedState,
    transport: { send: () => undefined },
    logger: silentLogger(),
  });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((r) => wss.once('listening', r));
  wss.on('connection', (ws) => ws.on('message', (m) => received.push(JSON.parse(String(m)))));
  const inspector = new CoreInspector('n1', `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, 20, silentLogger());
  try {
    inspector.start((observer) => node.inspectCore(observer));
    await until('the node to lead and the inspector to say so', 10_000, () => received.some((e) => e.type === '@xstate.snapshot' && typeof e.snapshot?.value === 'object'));
    const actor = received.find((e) => e.type === '@xstate.actor')!;
    assert.equal(actor.sessionId, 'n1');
    assert.equal(actor.name, 'raft');
    assert.match(actor.definition ?? '', /"preCandidate"/);
    const snap = received.find((e) => e.type === '@xstate.snapshot' && typeof e.snapshot?.value === 'object')!;
    assert.equal(snap.snapshot!.context!['leaderId'], 'n1');
    assert.deepEqual(Object.keys(snap.snapshot!.context!).sort(), ['commitIndex', 'id', 'lastIndex', 'leaderId', 'term', 'votedFor'], 'only the Raft state, never the log');
    // A flood of proposals: far more events than 20 a second.
    let done = 0;
    for (let turn = 0; turn < 200; turn++) {
      for (let k = 0; k < 5; k++) node.propose({ op: 'put', key: new Uint8Array([k]), value: new Uint8Array(8), condition: { kind: 'none' }, tag: null }, () => done++);
      await nextTurn();
    }
    await until('the proposals to be answered', 10_000, () => done === 1000);
    await sleep(300);
    assert.ok(inspector.dropped > 500, `dropped ${inspector.dropped}`);
    assert.ok(inspector.sent < 200, `sent ${inspector.sent}`);
  } finally {
    inspector.stop();
    node.stop();
    wss.close();
  }
});
