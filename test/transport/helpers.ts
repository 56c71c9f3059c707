// Shared pieces of the transport tests: message builders, recording metrics,
// polling, and raw WebSocket clients that speak (or break) the peer protocol.

import WebSocket, { WebSocketServer } from 'ws';
import { silentLogger } from '../../src/log.js';
import { logIndex, nodeId, term, type Message, type NodeId } from '../../src/raft/types.js';
import { decodeFrame, encodeFrame } from '../../src/transport/codec.js';
import { dialerProof, listenerProof, newNonce } from '../../src/transport/peer-auth.js';
import { WsTransport, type TransportMetrics, type TransportOptions } from '../../src/transport/ws-transport.js';

export const HOST = '127.0.0.1';

export function heartbeat(from: string, to: string, seq: number): Message {
  return { type: 'heartbeat', from: nodeId(from), to: nodeId(to), term: term(1), commit: logIndex(0), seq };
}

/** An append of one entry of `bytes` bytes at `index`. */
export function append(from: string, to: string, index: number, bytes: number): Message {
  return {
    type: 'appendEntries',
    from: nodeId(from),
    to: nodeId(to),
    term: term(1),
    prevLogIndex: logIndex(index - 1),
    prevLogTerm: term(1),
    entries: [{ index: logIndex(index), term: term(1), kind: 'command', data: new Uint8Array(bytes).fill(index & 0xff) }],
    leaderCommit: logIndex(0),
  };
}

/** Counts every metric call, keyed by its label. */
export class RecordingMetrics implements TransportMetrics {
  readonly malformed = new Map<string, number>();
  readonly rejected = new Map<string, number>();
  readonly connected = new Map<string, boolean>();
  readonly dropped = new Map<string, number>();
  readonly frames = new Map<string, number>();
  readonly bytesSent = new Map<string, number>();
  readonly messagesSent = new Map<string, number>();
  readonly framesReceived = new Map<string, number>();
  readonly bytesReceived = new Map<string, number>();
  readonly messagesReceived = new Map<string, number>();

  framesMalformed(peer: string): void {
    bump(this.malformed, peer, 1);
  }
  handshakeRejected(reason: string): void {
    bump(this.rejected, reason, 1);
  }
  peerConnected(peer: string, up: boolean): void {
    this.connected.set(peer, up);
  }
  messagesDropped(peer: string, n: number): void {
    bump(this.dropped, peer, n);
  }
  frameSent(peer: string, bytes: number, messages: readonly Message[]): void {
    bump(this.frames, peer, 1);
    bump(this.bytesSent, peer, bytes);
    bump(this.messagesSent, peer, messages.length);
  }
  frameReceived(peer: string, bytes: number, messages: readonly Message[]): void {
    bump(this.framesReceived, peer, 1);
    bump(this.bytesReceived, peer, bytes);
    bump(this.messagesReceived, peer, messages.length);
  }
}

function bump(m: Map<string, number>, key: string, n: number): void {
  m.set(key, (m.get(key) ?? 0) + n);
}

/** A transport under test, with what it received (one array per onMessages call) and its metrics. */
export interface TestNode {
  readonly id: NodeId;
  readonly transport: WsTransport;
  readonly metrics: RecordingMetrics;
  readonly received: (readonly Message[])[];
  port: number;
}

export type NodeOverrides = Partial<Omit<TransportOptions, 'selfId' | 'onMessages' | 'logger' | 'metrics'>>;

/** A transport for `id` whose peers are `peers` (at port 0, i.e. not yet known), started. */
export async function startNode(id: string, peers: readonly string[], overrides: NodeOverrides = {}): Promise<TestNode> {
  const metrics = new RecordingMetrics();
  const received: (readonly Message[])[] = [];
  const transport = new WsTransport({
    selfId: nodeId(id),
    clusterId: 'test-cluster',
    secret: null,
    listen: { host: HOST, port: 0 },
    peers: new Map(peers.map((p) => [nodeId(p), { host: HOST, port: 0 }])),
    onMessages: (messages) => received.push(messages),
    logger: silentLogger(),
    metrics,
    reconnectBaseMs: 10,
    reconnectMaxMs: 100,
    ...overrides,
  });
  const { port } = await transport.start();
  return { id: nodeId(id), transport, metrics, received, port };
}

/** Starts a fully connected cluster of `ids` and waits until every link is up. */
export async function startCluster(ids: readonly string[], overrides: NodeOverrides = {}): Promise<TestNode[]> {
  const nodes: TestNode[] = [];
  try {
    for (const id of ids) nodes.push(await startNode(id, ids.filter((p) => p !== id), overrides));
    for (const n of nodes) for (const p of nodes) if (p !== n) n.transport.setPeerAddress(p.id, { host: HOST, port: p.port });
    await waitFor(() => nodes.every((n) => n.transport.connectedPeers().length === ids.length - 1), 'every link up');
    return nodes;
  } catch (err) {
    await stopAll(nodes);
    throw err;
  }
}

export async function stopAll(nodes: readonly TestNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.transport.stop()));
}

export function messagesReceived(n: TestNode): Message[] {
  return n.received.flat();
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A raw WebSocket client connected to a transport's listener, recording how it was closed. */
export interface RawClient {
  readonly ws: WebSocket;
  /** Resolves with the close code and reason the server sent. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Binary frames received so far. */
  readonly frames: Buffer[];
}

export async function rawClient(port: number, options: { readonly headers?: Record<string, string>; readonly localAddress?: string } = {}): Promise<RawClient> {
  const ws = new WebSocket(`ws://${HOST}:${port}/`, options);
  const frames: Buffer[] = [];
  ws.on('message', (data) => {
    if (Buffer.isBuffer(data)) frames.push(data);
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, closed, frames };
}

/** The listener's challenge nonce: the first frame it sends. */
export async function challengeOf(c: RawClient): Promise<Uint8Array> {
  await waitFor(() => c.frames.length > 0, 'the challenge');
  const decoded = decodeFrame(c.frames[0]!);
  if (!decoded.ok || decoded.frame.kind !== 'challenge') throw new Error(`expected a challenge, got ${decoded.ok ? decoded.frame.kind : decoded.error}`);
  return decoded.frame.nonce;
}

/** Answers the challenge as the dialer `from` would with `secret` (none: the empty key). */
export async function sendHandshake(c: RawClient, h: { clusterId?: string; from: string; to: string; secret?: string }): Promise<void> {
  const transcript = {
    clusterId: h.clusterId ?? 'test-cluster',
    fromNode: nodeId(h.from),
    toNode: nodeId(h.to),
    listenerNonce: await challengeOf(c),
    dialerNonce: newNonce(),
  };
  const mac = dialerProof(new TextEncoder().encode(h.secret ?? ''), transcript);
  c.ws.send(encodeFrame({ kind: 'handshake', handshake: { clusterId: transcript.clusterId, fromNode: transcript.fromNode, toNode: transcript.toNode, nonce: transcript.dialerNonce, mac } }));
}

/** A raw client that passed the handshake as `from` (it received the challenge and the ack). */
export async function handshaken(port: number, from: string, to: string, secret?: string): Promise<RawClient> {
  const c = await rawClient(port);
  await sendHandshake(c, { from, to, ...(secret === undefined ? {} : { secret }) });
  await waitFor(() => c.frames.length > 1, 'handshake ack');
  return c;
}

export async function closeClient(c: RawClient): Promise<void> {
  if (c.ws.readyState === WebSocket.CLOSED) return;
  c.ws.terminate();
  await c.closed;
}

/**
 * A listener that speaks just enough of the protocol to misbehave: it counts
 * connections, and either never acknowledges the handshake, or acknowledges it
 * with a proof made with another secret, or acknowledges it and then stops
 * reading from the socket (a peer stuck in a long GC pause or on a saturated link).
 */
export interface FakePeer {
  readonly port: number;
  connections: number;
  close(): Promise<void>;
}

export async function fakePeer(behaviour: 'neverAck' | 'stallAfterAck' | 'badAck'): Promise<FakePeer> {
  const wss = new WebSocketServer({ host: HOST, port: 0, maxPayload: 1 << 30 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const address = wss.address();
  if (typeof address !== 'object' || address === null) throw new Error('fakePeer: no port');
  const peer: FakePeer = {
    port: address.port,
    connections: 0,
    close: async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws, req) => {
    peer.connections++;
    ws.on('error', () => {});
    const listenerNonce = newNonce();
    ws.send(encodeFrame({ kind: 'challenge', nonce: listenerNonce }));
    if (behaviour === 'neverAck') return;
    // stallAfterAck: a genuine ack (no secret: the empty key), then silence; badAck: an ack keyed by another secret.
    const key = behaviour === 'badAck' ? new TextEncoder().encode('another secret') : new Uint8Array(0);
    ws.once('message', (data) => {
      const decoded = Buffer.isBuffer(data) ? decodeFrame(data) : null;
      if (decoded === null || !decoded.ok || decoded.frame.kind !== 'handshake') return;
      const h = decoded.frame.handshake;
      const mac = listenerProof(key, { clusterId: h.clusterId, fromNode: h.fromNode, toNode: h.toNode, listenerNonce, dialerNonce: h.nonce });
      ws.send(encodeFrame({ kind: 'handshakeAck', mac }), () => {
        if (behaviour === 'stallAfterAck') req.socket.pause();
      });
    });
  });
  return peer;
}
