import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, test } from 'node:test';
import { nodeId, type Message } from '../../src/raft/types.js';
import { encodeFrame } from '../../src/transport/codec.js';
import {
  append,
  closeClient,
  fakePeer,
  handshaken,
  heartbeat,
  HOST,
  messagesReceived,
  rawClient,
  sendHandshake,
  sleep,
  startCluster,
  startNode,
  stopAll,
  waitFor,
  type FakePeer,
  type RawClient,
  type TestNode,
} from './helpers.js';

/** Everything a test starts, stopped in `after` even when an assertion fails midway. */
const running: TestNode[] = [];
const clients: RawClient[] = [];
const fakes: FakePeer[] = [];
after(async () => {
  await Promise.all(clients.map(closeClient));
  await Promise.all(fakes.map((f) => f.close()));
  await stopAll(running);
});

async function cluster(ids: readonly string[], overrides: Parameters<typeof startCluster>[1] = {}): Promise<TestNode[]> {
  const nodes = await startCluster(ids, overrides);
  running.push(...nodes);
  return nodes;
}

async function node(id: string, peers: readonly string[], overrides: Parameters<typeof startNode>[2] = {}): Promise<TestNode> {
  const n = await startNode(id, peers, overrides);
  running.push(n);
  return n;
}

async function client(port: number, handshakeAs?: { from: string; to: string; secret?: string }): Promise<RawClient> {
  const c = handshakeAs === undefined ? await rawClient(port) : await handshaken(port, handshakeAs.from, handshakeAs.to, handshakeAs.secret);
  clients.push(c);
  return c;
}

/** A port on which nothing listens: bound, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(typeof address === 'object' && address !== null);
  return address.port;
}

const seqs = (messages: readonly Message[]): number[] => messages.map((m) => (m.type === 'heartbeat' ? m.seq : -1));

test('messages sent in one turn of the event loop arrive as one frame', async () => {
  const [a, b] = await cluster(['a', 'b']);
  assert.ok(a !== undefined && b !== undefined);
  a.transport.send([heartbeat('a', 'b', 1), heartbeat('a', 'b', 2), heartbeat('a', 'b', 3)]);
  a.transport.send([heartbeat('a', 'b', 4), heartbeat('a', 'b', 5)]);
  await waitFor(() => messagesReceived(b).length === 5, 'five messages at b');
  assert.equal(b.received.length, 1, 'one onMessages call');
  assert.deepEqual(seqs(messagesReceived(b)), [1, 2, 3, 4, 5]);
  assert.equal(a.metrics.frames.get('b'), 1);
  assert.equal(a.metrics.connected.get('b'), true);
  // Bytes and messages are counted on both ends, by the handshaken peer's id.
  assert.equal(a.metrics.messagesSent.get('b'), 5);
  assert.equal(b.metrics.messagesReceived.get('a'), 5);
  assert.equal(b.metrics.framesReceived.get('a'), 1);
  const sent = a.metrics.bytesSent.get('b') ?? 0;
  assert.ok(sent > 5, `bytes sent: ${sent}`);
  assert.equal(b.metrics.bytesReceived.get('a'), sent);
});

test('three transports deliver to each other, in order', async () => {
  const nodes = await cluster(['a', 'b', 'c']);
  for (const n of nodes) {
    for (const p of nodes) if (p !== n) n.transport.send([heartbeat(n.id, p.id, 1), heartbeat(n.id, p.id, 2)]);
  }
  for (const n of nodes) {
    await waitFor(() => messagesReceived(n).length === 4, `four messages at ${n.id}`);
    for (const p of nodes) {
      if (p === n) continue;
      assert.deepEqual(seqs(messagesReceived(n).filter((m) => m.from === p.id)), [1, 2]);
    }
    assert.ok(messagesReceived(n).every((m) => m.to === n.id));
  }
});

test('a queue larger than frameBytesMax goes out as several frames, in order', async () => {
  const frameBytesMax = 64 * 1024;
  const [a, b] = await cluster(['a', 'b'], { frameBytesMax });
  assert.ok(a !== undefined && b !== undefined);
  const messages = Array.from({ length: 20 }, (_, i) => append('a', 'b', i + 1, 20_000));
  a.transport.send(messages);
  await waitFor(() => messagesReceived(b).length === 20, 'twenty appends at b');
  const frames = a.metrics.frames.get('b') ?? 0;
  // Three 20 KB appends fit in a 64 KiB frame, four do not.
  assert.ok(frames >= 7, `frames sent: ${frames}`);
  assert.equal(b.received.length, frames);
  assert.deepEqual(
    messagesReceived(b).map((m) => (m.type === 'appendEntries' ? m.prevLogIndex + 1 : -1)),
    messages.map((_, i) => i + 1),
  );
  assert.equal(b.metrics.malformed.size, 0);
});

test('a message too large for any frame is dropped and counted, and the link keeps working', async () => {
  const [a, b] = await cluster(['a', 'b'], { frameBytesMax: 16 * 1024 });
  assert.ok(a !== undefined && b !== undefined);
  a.transport.send([append('a', 'b', 1, 32 * 1024), heartbeat('a', 'b', 7)]);
  await waitFor(() => messagesReceived(b).length === 1, 'the heartbeat at b');
  assert.deepEqual(seqs(messagesReceived(b)), [7]);
  assert.equal(a.metrics.dropped.get('b'), 1);
});

const secretOf = (s: string): Uint8Array => new TextEncoder().encode(s);

test('handshakes naming the wrong cluster, an unknown node, the wrong target or a bad secret are refused and counted', async (t) => {
  const b = await node('b', ['a'], { secret: secretOf('s3cret') });
  const cases: { name: string; h: Parameters<typeof sendHandshake>[1]; code: number; reason: string; label: string }[] = [
    { name: 'wrong cluster', h: { clusterId: 'other', from: 'a', to: 'b', secret: 's3cret' }, code: 4001, reason: 'wrong cluster', label: 'wrong_cluster' },
    { name: 'unknown node', h: { from: 'z', to: 'b', secret: 's3cret' }, code: 4002, reason: 'unknown node', label: 'unknown_node' },
    { name: 'wrong target', h: { from: 'a', to: 'c', secret: 's3cret' }, code: 4004, reason: 'wrong node', label: 'wrong_node' },
    { name: 'bad secret', h: { from: 'a', to: 'b', secret: 's3creT' }, code: 4003, reason: 'bad secret', label: 'bad_secret' },
    { name: 'missing secret', h: { from: 'a', to: 'b' }, code: 4003, reason: 'bad secret', label: 'bad_secret' },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const raw = await client(b.port);
      await sendHandshake(raw, c.h);
      assert.deepEqual(await raw.closed, { code: c.code, reason: c.reason });
      assert.equal(raw.frames.length, 1, 'the challenge, and no handshake ack');
    });
  }
  assert.deepEqual(Object.fromEntries(b.metrics.rejected), { wrong_cluster: 1, unknown_node: 1, wrong_node: 1, bad_secret: 2 });
  const ok = await client(b.port, { from: 'a', to: 'b', secret: 's3cret' });
  assert.equal(ok.frames.length, 2, 'the right secret is acknowledged');
});

test('a transport of another cluster never connects, and the listener counts it', async () => {
  const b = await node('b', ['a']);
  const a = await node('a', ['b'], { clusterId: 'elsewhere' });
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: b.port });
  a.transport.send([heartbeat('a', 'b', 1)]);
  await waitFor(() => (b.metrics.rejected.get('wrong_cluster') ?? 0) >= 2, 'two refused attempts');
  assert.deepEqual(a.transport.connectedPeers(), []);
  assert.equal(messagesReceived(b).length, 0);
  await a.transport.stop();
});

test('a connection that never handshakes is closed after handshakeTimeoutMs', async () => {
  const b = await node('b', ['a'], { handshakeTimeoutMs: 50 });
  const raw = await client(b.port);
  // The close frame goes out if the socket takes it, but the socket is destroyed without waiting for an answer.
  assert.ok([4008, 1006].includes((await raw.closed).code));
  assert.equal(b.metrics.rejected.get('timeout'), 1);
  assert.equal(b.transport.pendingConnections(), 0);
});

test('malformed or misaddressed frames close only their connection, are counted, and others keep working', async (t) => {
  const [a, b] = await cluster(['a', 'b']);
  assert.ok(a !== undefined && b !== undefined);
  // c is a peer b knows but no transport runs for: raw clients play it.
  b.transport.setPeerAddress(nodeId('c'), { host: HOST, port: await deadPort() });
  const before = messagesReceived(b).length;

  await t.test('garbage after the handshake: 1007', async () => {
    const raw = await client(b.port, { from: 'c', to: 'b' });
    raw.ws.send(Uint8Array.from([0xff, 0xff, 0xff, 0xff]));
    assert.equal((await raw.closed).code, 1007);
  });
  await t.test('a batch before the handshake: 1008', async () => {
    const raw = await client(b.port);
    raw.ws.send(encodeFrame({ kind: 'batch', messages: [heartbeat('c', 'b', 1)] }));
    assert.equal((await raw.closed).code, 1008);
  });
  await t.test('a message whose from is not the handshaken peer: 1008', async () => {
    const raw = await client(b.port, { from: 'c', to: 'b' });
    raw.ws.send(encodeFrame({ kind: 'batch', messages: [heartbeat('c', 'b', 1), heartbeat('a', 'b', 666)] }));
    assert.equal((await raw.closed).code, 1008);
  });
  await t.test('a message whose to is not this node: 1008', async () => {
    const raw = await client(b.port, { from: 'c', to: 'b' });
    raw.ws.send(encodeFrame({ kind: 'batch', messages: [heartbeat('c', 'a', 1)] }));
    assert.equal((await raw.closed).code, 1008);
  });
  await t.test('a text frame: 1003', async () => {
    const raw = await client(b.port, { from: 'c', to: 'b' });
    raw.ws.send('hello');
    assert.equal((await raw.closed).code, 1003);
  });
  await t.test('a frame above frameBytesMax: 1009', async () => {
    const raw = await client(b.port, { from: 'c', to: 'b' });
    raw.ws.send(new Uint8Array(8 * 1024 * 1024 + 1));
    assert.equal((await raw.closed).code, 1009);
  });

  assert.deepEqual(Object.fromEntries(b.metrics.malformed), { c: 5, unknown: 1 });
  assert.equal(messagesReceived(b).length, before, 'nothing from a refused frame was delivered');
  a.transport.send([heartbeat('a', 'b', 42)]);
  await waitFor(() => messagesReceived(b).length === before + 1, 'a heartbeat from a');
  assert.deepEqual(seqs(messagesReceived(b).slice(before)), [42]);
  assert.deepEqual(a.transport.connectedPeers(), [nodeId('b')]);
});

test('a peer restarted on the same port is redialled, and what was queued meanwhile is delivered', async () => {
  const [a, b] = await cluster(['a', 'b']);
  assert.ok(a !== undefined && b !== undefined);
  a.transport.send([heartbeat('a', 'b', 1)]);
  await waitFor(() => messagesReceived(b).length === 1, 'first heartbeat');
  await b.transport.stop();
  await waitFor(() => a.transport.connectedPeers().length === 0, 'a notices b is gone');
  assert.equal(a.metrics.connected.get('b'), false);
  a.transport.send([heartbeat('a', 'b', 2), heartbeat('a', 'b', 3)]);
  await sleep(50);

  const b2 = await node('b', ['a'], { listen: { host: HOST, port: b.port } });
  b2.transport.setPeerAddress(nodeId('a'), { host: HOST, port: a.port });
  await waitFor(() => messagesReceived(b2).length === 2, 'queued heartbeats at the restarted b');
  assert.deepEqual(seqs(messagesReceived(b2)), [2, 3]);
  assert.deepEqual(a.transport.connectedPeers(), [nodeId('b')]);
  assert.equal(a.metrics.connected.get('b'), true);
});

test("a dead peer's queue is bounded, its drops counted, and a live peer is not delayed", async () => {
  const a = await node('a', ['b', 'c'], { queueMessagesMax: 10 });
  const b = await node('b', ['a']);
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: b.port });
  a.transport.setPeerAddress(nodeId('c'), { host: HOST, port: await deadPort() });
  await waitFor(() => a.transport.connectedPeers().length === 1, 'a connected to b');

  const toDead = Array.from({ length: 100 }, (_, i) => heartbeat('a', 'c', i));
  const started = Date.now();
  a.transport.send([...toDead, heartbeat('a', 'b', 1)]);
  await waitFor(() => messagesReceived(b).length === 1, 'the heartbeat at b', 1_000);
  assert.ok(Date.now() - started < 500, `b waited ${Date.now() - started} ms`);
  assert.equal(a.metrics.dropped.get('c'), 90);
  a.transport.send(toDead);
  assert.equal(a.metrics.dropped.get('c'), 190);
  assert.equal(a.metrics.dropped.get('b'), undefined);
  assert.deepEqual(a.transport.connectedPeers(), [nodeId('b')]);
});

test('messages for a node that is not a peer are dropped and counted', async () => {
  const a = await node('a', ['b']);
  a.transport.send([heartbeat('a', 'x', 1)]);
  assert.equal(a.metrics.dropped.get('x'), 1);
});

test('stop() on a transport whose peers are unreachable returns promptly and is idempotent', async () => {
  const a = await node('a', ['b'], { reconnectBaseMs: 5, reconnectMaxMs: 10 });
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: await deadPort() });
  await sleep(50);
  const started = Date.now();
  await a.transport.stop();
  await a.transport.stop();
  assert.ok(Date.now() - started < 1_000);
});

test('a peer that stops reading holds only its own queue: drops are counted and other peers are still served', async () => {
  const stalled = await fakePeer('stallAfterAck');
  fakes.push(stalled);
  const a = await node('a', ['b', 's'], { queueMessagesMax: 20, socketBufferedBytesMax: 256 * 1024 });
  const b = await node('b', ['a']);
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: b.port });
  a.transport.setPeerAddress(nodeId('s'), { host: HOST, port: stalled.port });
  await waitFor(() => a.transport.connectedPeers().length === 2, 'a connected to b and s');

  // Rounds of 20 x 256 KiB to s fill the kernel's buffers, then the socket's; each round a heartbeat to b.
  const data = new Uint8Array(256 * 1024);
  const toStalled = (round: number): Message[] =>
    Array.from({ length: 20 }, (_, i) => {
      const m = append('a', 's', round * 20 + i + 1, 0);
      return m.type === 'appendEntries' ? { ...m, entries: m.entries.map((e) => ({ ...e, data })) } : m;
    });
  let round = 0;
  for (; round < 100 && (a.metrics.dropped.get('s') ?? 0) === 0; round++) {
    const started = Date.now();
    a.transport.send([...toStalled(round), heartbeat('a', 'b', round)]);
    await waitFor(() => messagesReceived(b).length === round + 1, `heartbeat ${round} at b`, 1_000);
    assert.ok(Date.now() - started < 500, `round ${round}: b waited ${Date.now() - started} ms`);
    await sleep(20);
  }
  assert.ok((a.metrics.dropped.get('s') ?? 0) > 0, `no drops after ${round} rounds`);

  // Held: no more frames go to s however much is queued for it, and b is still served.
  const framesHeld = a.metrics.frames.get('s') ?? 0;
  for (let i = 0; i < 5; i++, round++) {
    a.transport.send([...toStalled(round), heartbeat('a', 'b', round)]);
    await waitFor(() => messagesReceived(b).length === round + 1, `heartbeat ${round} at b`, 1_000);
  }
  await sleep(50);
  assert.equal(a.metrics.frames.get('s'), framesHeld);
  assert.ok((a.metrics.dropped.get('s') ?? 0) >= 5 * 20);
});

test('a dialer whose handshake is never acknowledged gives up after handshakeTimeoutMs and redials', async () => {
  const silent = await fakePeer('neverAck');
  fakes.push(silent);
  const a = await node('a', ['s'], { handshakeTimeoutMs: 50 });
  a.transport.setPeerAddress(nodeId('s'), { host: HOST, port: silent.port });
  await waitFor(() => silent.connections >= 3, 'three dials');
  assert.deepEqual(a.transport.connectedPeers(), []);
});

