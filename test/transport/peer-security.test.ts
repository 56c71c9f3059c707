// Peer authentication and the limits on unauthenticated connections, on real sockets.

import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, test } from 'node:test';
import WebSocket from 'ws';
import { nodeId } from '../../src/raft/types.js';
import { ADMISSION_HEADER, admissionToken } from '../../src/transport/peer-auth.js';
import { append, closeClient, fakePeer, heartbeat, HOST, messagesReceived, rawClient, startNode, stopAll, waitFor, type FakePeer, type RawClient, type TestNode } from './helpers.js';

const running: TestNode[] = [];
const clients: RawClient[] = [];
const sockets: Socket[] = [];
const servers: Server[] = [];
const fakes: FakePeer[] = [];
after(async () => {
  // Stop the proxies accepting first: a node still dialling through one would otherwise
  // open a new proxied connection after the sockets below are destroyed, and close() waits for it.
  const serversClosed = Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  for (const s of sockets) s.destroy();
  await Promise.all(clients.map(closeClient));
  await Promise.all(fakes.map((f) => f.close()));
  await serversClosed;
  await stopAll(running);
});

async function node(id: string, peers: readonly string[], overrides: Parameters<typeof startNode>[2] = {}): Promise<TestNode> {
  const n = await startNode(id, peers, overrides);
  running.push(n);
  return n;
}

async function connectPair(a: TestNode, b: TestNode, viaPort = b.port): Promise<void> {
  a.transport.setPeerAddress(b.id, { host: HOST, port: viaPort });
  await waitFor(() => a.transport.connectedPeers().includes(b.id), `${a.id} connected to ${b.id}`);
}

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const SECRET = 'correct horse battery staple';

/** A TCP proxy to `port` that keeps every byte the client sent. */
async function recordingProxy(port: number): Promise<{ port: number; sent: Buffer[] }> {
  const sent: Buffer[] = [];
  const server = createServer((client) => {
    const upstream = connect(port, HOST);
    sockets.push(client, upstream);
    client.on('data', (d) => sent.push(d));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return { port: address.port, sent };
}

test('the secret never travels: the dialer proves it over both nonces and the listener accepts', async () => {
  const b = await node('b', ['a'], { secret: bytes(SECRET) });
  const a = await node('a', ['b'], { secret: bytes(SECRET) });
  const proxy = await recordingProxy(b.port);
  await connectPair(a, b, proxy.port);
  a.transport.send([heartbeat('a', 'b', 5)]);
  await waitFor(() => messagesReceived(b).length === 1, 'the heartbeat');
  const wire = Buffer.concat(proxy.sent);
  assert.ok(wire.length > 0);
  assert.equal(wire.indexOf(Buffer.from(SECRET)), -1, 'the secret is not on the wire');
  assert.equal(wire.indexOf(Buffer.from(SECRET.slice(0, 8))), -1, 'nor a piece of it');
  assert.equal(b.metrics.rejected.size, 0);
});

interface WireFrame {
  readonly opcode: number;
  readonly masked: boolean;
  readonly mask: Buffer;
  readonly payloadLength: number;
}

/** The WebSocket frames after the HTTP upgrade request (RFC 6455 §5.2); a partial last frame is left out. */
function framesOf(stream: Buffer): WireFrame[] {
  const headerEnd = stream.indexOf('\r\n\r\n');
  assert.ok(headerEnd > 0, 'an upgrade request');
  const frames: WireFrame[] = [];
  let at = headerEnd + 4;
  while (at + 2 <= stream.length) {
    const b1 = stream[at + 1]!;
    let length = b1 & 0x7f;
    let p = at + 2;
    if (length === 126) {
      length = stream.readUInt16BE(p);
      p += 2;
    } else if (length === 127) {
      length = Number(stream.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const mask = masked ? stream.subarray(p, p + 4) : Buffer.alloc(0);
    p += masked ? 4 : 0;
    if (p + length > stream.length) break;
    frames.push({ opcode: stream[at]! & 0x0f, masked, mask, payloadLength: length });
    at = p + length;
  }
  return frames;
}

test("a dialer's frames are masked with an all-zero key, and the listener reads them", async () => {
  const b = await node('b', ['a']);
  const a = await node('a', ['b']);
  const relay = await recordingProxy(b.port);
  await connectPair(a, b, relay.port);
  a.transport.send([heartbeat('a', 'b', 1), append('a', 'b', 5, 3000)]);
  await waitFor(() => messagesReceived(b).length === 2, 'both messages at b');
  const delivered = messagesReceived(b);
  assert.equal(delivered[0]?.type, 'heartbeat');
  assert.ok(delivered[1]?.type === 'appendEntries' && delivered[1].entries[0]?.data.every((x) => x === 5) === true, 'the entry bytes arrive unchanged');

  const frames = framesOf(Buffer.concat(relay.sent)).filter((f) => f.opcode === 0x2);
  // The handshake, then the batch (3000 bytes of entry data and more).
  assert.ok(frames.length >= 2, `${frames.length} binary frames`);
  assert.ok(frames.some((f) => f.payloadLength > 3000), 'the batch frame is among them');
  for (const f of frames) {
    assert.equal(f.masked, true, 'a client frame has the mask bit (RFC 6455 §5.3)');
    assert.deepEqual([...f.mask], [0, 0, 0, 0]);
  }
});

test('a dialer with another secret is refused by the listener; a listener with another secret is refused by the dialer', async () => {
  const b = await node('b', ['a'], { secret: bytes(SECRET) });
  const a = await node('a', ['b'], { secret: bytes('a different secret of some length') });
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: b.port });
  await waitFor(() => (b.metrics.rejected.get('bad_secret') ?? 0) >= 2, 'two refused attempts');
  assert.deepEqual(a.transport.connectedPeers(), []);

  const impostor = await fakePeer('badAck');
  fakes.push(impostor);
  const c = await node('c', ['x']);
  c.transport.setPeerAddress(nodeId('x'), { host: HOST, port: impostor.port });
  await waitFor(() => (c.metrics.rejected.get('listener_bad_secret') ?? 0) >= 2, 'the impostor refused twice');
  assert.deepEqual(c.transport.connectedPeers(), []);
});

test('a node without a secret and a node with one do not connect, either way', async () => {
  const b = await node('b', ['a']);
  const a = await node('a', ['b'], { secret: bytes(SECRET) });
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: b.port });
  await waitFor(() => (b.metrics.rejected.get('bad_secret') ?? 0) >= 1, 'refused by the listener');
  const c = await node('c', ['d']);
  const d = await node('d', ['c'], { secret: bytes(SECRET) });
  c.transport.setPeerAddress(nodeId('d'), { host: HOST, port: d.port });
  await waitFor(() => (d.metrics.rejected.get('bad_secret') ?? 0) >= 1, 'refused by the listener with the secret');
  assert.deepEqual([...a.transport.connectedPeers(), ...c.transport.connectedPeers()], []);
});

test('pending connections are bounded per remote address and in total; a configured peer still gets in', async () => {
  const b = await node('b', ['a'], { secret: bytes(SECRET), pendingMax: 3, pendingPerAddressMax: 2 });
  const open = async (localAddress: string): Promise<RawClient> => {
    const c = await rawClient(b.port, { localAddress });
    clients.push(c);
    return c;
  };
  await open('127.0.0.1');
  await open('127.0.0.1');
  await assert.rejects(rawClient(b.port, { localAddress: '127.0.0.1' }), /503/, 'a third from one address');
  await open('127.0.0.2');
  await assert.rejects(rawClient(b.port, { localAddress: '127.0.0.3' }), /503/, 'a fourth in all');
  assert.equal(b.metrics.rejected.get('too_many_pending'), 2);
  assert.equal(b.transport.pendingConnections(), 3);

  // A forged or stale admission token earns nothing; a genuine one, a reserved place.
  const forged = admissionToken(bytes('not the secret'), 'test-cluster', nodeId('a'), nodeId('b'), Date.now());
  await assert.rejects(rawClient(b.port, { headers: { [ADMISSION_HEADER]: forged } }), /503/);
  const stale = admissionToken(bytes(SECRET), 'test-cluster', nodeId('a'), nodeId('b'), Date.now() - 3_600_000);
  await assert.rejects(rawClient(b.port, { headers: { [ADMISSION_HEADER]: stale } }), /503/);
  const a = await node('a', ['b'], { secret: bytes(SECRET) });
  await connectPair(a, b);
  a.transport.send([heartbeat('a', 'b', 1)]);
  await waitFor(() => messagesReceived(b).length === 1, 'delivered over the reserved place');

  // Closing one frees its place.
  await closeClient(clients[0]!);
  await waitFor(() => b.transport.pendingConnections() === 2, 'the place freed');
  await open('127.0.0.3');
});

/** Resolves when the server closes the socket; `sendFirst` is written right after connecting. */
function silentSocket(port: number, sendFirst: string | null): Promise<{ closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const s = connect(port, HOST, () => {
      if (sendFirst !== null) s.write(sendFirst);
    });
    sockets.push(s);
    // A raw socket never answers a WebSocket close frame; what the server sends is read and dropped.
    s.resume();
    s.on('error', () => {});
    s.once('close', () => resolve({ closedAfterMs: Date.now() - started }));
    setTimeout(() => reject(new Error('the server kept a silent socket open for 10 s')), 10_000).unref();
  });
}

test('the handshake deadline destroys a silent socket at once, before and after its upgrade', async () => {
  const b = await node('b', ['a'], { handshakeTimeoutMs: 300 });
  const upgrade = `GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const [silent, upgraded, halfHeaders] = await Promise.all([silentSocket(b.port, null), silentSocket(b.port, upgrade), silentSocket(b.port, 'GET / HTTP/1.1\r\nHost: x\r\n')]);
  for (const r of [silent, upgraded, halfHeaders]) assert.ok(r.closedAfterMs >= 250, `closed after ${r.closedAfterMs} ms, before the deadline`);
  assert.equal(b.metrics.rejected.get('timeout'), 3);
  assert.equal(b.transport.pendingConnections(), 0);
});

test('sockets beyond connectionsMax are dropped at accept and counted', async () => {
  const b = await node('b', ['a'], { connectionsMax: 3 });
  for (let i = 0; i < 3; i++) clients.push(await rawClient(b.port));
  await assert.rejects(rawClient(b.port));
  await waitFor(() => b.metrics.rejected.get('too_many_connections') === 1, 'the drop counted');
});

test('a flood of 100 silent upgrades, reopened as soon as they close, does not keep a restarted peer out for a second', async () => {
  const leader = await node('l', ['f'], { secret: bytes(SECRET) });
  let follower = await node('f', ['l'], { secret: bytes(SECRET) });
  await connectPair(follower, leader);
  await connectPair(leader, follower);

  let flooding = true;
  let opened = 0;
  const flood = (): void => {
    if (!flooding) return;
    const ws = new WebSocket(`ws://${HOST}:${leader.port}/`);
    opened++;
    ws.on('error', () => {});
    // Silent: never answers the challenge; reopened 20 ms after the listener closes it.
    ws.on('close', () => setTimeout(flood, 20));
    floodSockets.push(ws);
  };
  const floodSockets: WebSocket[] = [];
  try {
    for (let i = 0; i < 100; i++) flood();
    await waitFor(() => (leader.metrics.rejected.get('too_many_pending') ?? 0) >= 200, 'the flood refused');

    await follower.transport.stop();
    running.splice(running.indexOf(follower), 1);
    const refusedBefore = leader.metrics.rejected.get('too_many_pending') ?? 0;
    const restartedAt = Date.now();
    follower = await node('f', ['l'], { secret: bytes(SECRET) });
    follower.transport.setPeerAddress(nodeId('l'), { host: HOST, port: leader.port });
    await waitFor(() => follower.transport.connectedPeers().includes(nodeId('l')), 'the restarted follower connected to the leader', 10_000);
    const tookMs = Date.now() - restartedAt;
    assert.ok((leader.metrics.rejected.get('too_many_pending') ?? 0) > refusedBefore, 'the flood went on meanwhile');
    assert.ok(tookMs < 1_000, `the follower reconnected after ${tookMs} ms`);
    assert.ok(leader.transport.pendingConnections() <= 64 + 2, 'pending stays bounded');
    follower.transport.send([heartbeat('f', 'l', 9)]);
    await waitFor(() => messagesReceived(leader).some((m) => m.type === 'heartbeat' && m.seq === 9), 'a message through');
  } finally {
    flooding = false;
    for (const ws of floodSockets) ws.terminate();
  }
  assert.ok(opened > 100);
});
