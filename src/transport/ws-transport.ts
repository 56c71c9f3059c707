// The peer transport (SPEC.md §5): Raft messages between nodes over WebSocket.
//
// Every node dials every peer and uses that connection only to send (PeerLink);
// it accepts the peers' connections only to receive. One-way connections keep
// each side simple: no request/response matching, no race over which of two
// crossing connections survives, and a peer's identity is settled once, by the
// dialer's handshake, before any message is accepted from it.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import type { Logger } from '../log.js';
import type { MessageTransport } from '../raft/host/ready-executor.js';
import type { Message, NodeId } from '../raft/types.js';
import { CloseCode } from './close-codes.js';
import { decodeFrame, encodeFrame, type Handshake } from './codec.js';
import { PeerLink, type PeerAddress } from './peer-link.js';

export interface TransportMetrics {
  /** `peer` is the handshaken peer, or "unknown" before a handshake (never a string a stranger chose). */
  framesMalformed(peer: string): void;
  /** `reason` is one of HandshakeRefusal. */
  handshakeRejected(reason: string): void;
  peerConnected(peer: string, up: boolean): void;
  messagesDropped(peer: string, n: number): void;
  /** A frame of `bytes` carrying `messages` went to the peer's socket. */
  frameSent(peer: string, bytes: number, messages: readonly Message[]): void;
  /** A well-formed, correctly addressed frame from a handshaken peer. */
  frameReceived(peer: string, bytes: number, messages: readonly Message[]): void;
}

export interface TransportOptions {
  readonly selfId: NodeId;
  readonly clusterId: string;
  readonly sharedSecret: string | null;
  /** Port 0 picks any free port (tests); start() returns the one chosen. */
  readonly listen: PeerAddress;
  /** Raft addresses of the other voters. */
  readonly peers: ReadonlyMap<NodeId, PeerAddress>;
  readonly onMessages: (messages: readonly Message[]) => void;
  readonly logger: Logger;
  readonly metrics: TransportMetrics;
  /** Messages queued per peer while it is unreachable or slow; the oldest are dropped beyond. */
  readonly queueMessagesMax?: number;
  /** Bytes (encoded-size bounds) queued per peer; the oldest messages are dropped beyond. */
  readonly queueBytesMax?: number;
  /** The largest frame sent, and received (peers must agree on it). */
  readonly frameBytesMax?: number;
  /** A peer's socket holds at most about this much unsent data before its queue waits. */
  readonly socketBufferedBytesMax?: number;
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
  /** How long either side waits for the other's half of the handshake. */
  readonly handshakeTimeoutMs?: number;
}

export const QUEUE_MESSAGES_MAX_DEFAULT = 10_000;
export const QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
export const FRAME_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;
export const SOCKET_BUFFERED_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;
export const RECONNECT_BASE_MS_DEFAULT = 100;
export const RECONNECT_MAX_MS_DEFAULT = 5_000;
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 5_000;
/** Inbound connections still waiting for their handshake; more are refused (they cost a socket each). */
export const INBOUND_PENDING_MAX = 64;

/** Metric labels of refused handshakes: a fixed set, so a stranger cannot grow the metric. */
export type HandshakeRefusal = 'wrong_cluster' | 'unknown_node' | 'bad_secret' | 'wrong_node' | 'timeout' | 'too_many_pending';

const UNKNOWN_PEER = 'unknown';

/** An accepted connection; `peer` is set once its handshake has passed. */
interface Inbound {
  readonly ws: WebSocket;
  readonly remote: string;
  peer: NodeId | null;
  handshakeTimer: NodeJS.Timeout | null;
}

export class WsTransport implements MessageTransport {
  private readonly log: Logger;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly secret: Uint8Array;
  /** SHA-256 of the configured secret, or null when none is configured. */
  private readonly secretDigest: Buffer | null;
  private readonly frameBytesMax: number;
  private readonly handshakeTimeoutMs: number;
  private readonly wss: WebSocketServer;
  private server: Server | null = null;
  private readonly inbound = new Set<Inbound>();
  /** The live, handshaken inbound connection of each peer. */
  private readonly inboundByPeer = new Map<NodeId, Inbound>();
  private inboundPending = 0;
  private started = false;
  private stopped = false;

  constructor(private readonly opts: TransportOptions) {
    this.log = opts.logger.child({ component: 'transport' });
    this.secret = opts.sharedSecret === null ? new Uint8Array(0) : Buffer.from(opts.sharedSecret, 'utf8');
    this.secretDigest = opts.sharedSecret === null ? null : sha256(this.secret);
    this.frameBytesMax = opts.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.frameBytesMax, perMessageDeflate: false, clientTracking: false });
    for (const [id, address] of opts.peers) this.addLink(id, address);
  }

  /** Listens on opts.listen and starts dialling the peers. */
  async start(): Promise<{ port: number }> {
    if (this.started) throw new Error('WsTransport: start() called twice');
    this.started = true;
    const server = createServer((_req, res) => {
      res.writeHead(426, { connection: 'close', upgrade: 'websocket' }).end();
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.guard(() => this.onUpgrade(req, socket, head)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.listen.port, this.opts.listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error({ err }, 'peer listener error'));
    this.server = server;
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : this.opts.listen.port;
    this.log.info({ host: this.opts.listen.host, port }, 'listening for peers');
    for (const link of this.links.values()) link.start();
    return { port };
  }

  send(messages: readonly Message[]): void {
    if (this.stopped) return;
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (link !== undefined) {
        link.enqueue(m);
        continue;
      }
      this.opts.metrics.messagesDropped(m.to, 1);
      this.log.warn({ to: m.to, type: m.type }, 'message for a node that is not a peer: dropped');
    }
  }

  setPeerAddress(id: NodeId, address: PeerAddress): void {
    const link = this.links.get(id);
    if (link === undefined) {
      this.addLink(id, address);
      if (this.started && !this.stopped) this.links.get(id)?.start();
    } else {
      link.setAddress(address);
    }
  }

  connectedPeers(): NodeId[] {
    return [...this.links].filter(([, link]) => link.connected).map(([id]) => id);
  }

  /** Closes every connection and the listener, and cancels every timer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closing: Promise<void>[] = [...this.links.values()].map((link) => link.stop());
    for (const conn of this.inbound) {
      if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
      conn.handshakeTimer = null;
      if (conn.ws.readyState !== WebSocket.CLOSED) {
        closing.push(new Promise((resolve) => conn.ws.once('close', () => resolve())));
        conn.ws.terminate();
      }
    }
    const server = this.server;
    if (server !== null) {
      closing.push(new Promise((resolve) => server.close(() => resolve())));
      server.closeAllConnections();
    }
    this.wss.close();
    await Promise.all(closing);
    this.log.info('peer transport stopped');
  }

  private addLink(id: NodeId, address: PeerAddress): void {
    this.links.set(
      id,
      new PeerLink(
        {
          selfId: this.opts.selfId,
          peerId: id,
          clusterId: this.opts.clusterId,
          secret: this.secret,
          logger: this.log,
          metrics: this.opts.metrics,
          queueMessagesMax: this.opts.queueMessagesMax ?? QUEUE_MESSAGES_MAX_DEFAULT,
          queueBytesMax: this.opts.queueBytesMax ?? QUEUE_BYTES_MAX_DEFAULT,
          frameBytesMax: this.frameBytesMax,
          socketBufferedBytesMax: this.opts.socketBufferedBytesMax ?? SOCKET_BUFFERED_BYTES_MAX_DEFAULT,
          reconnectBaseMs: this.opts.reconnectBaseMs ?? RECONNECT_BASE_MS_DEFAULT,
          reconnectMaxMs: this.opts.reconnectMaxMs ?? RECONNECT_MAX_MS_DEFAULT,
          handshakeTimeoutMs: this.handshakeTimeoutMs,
        },
        address,
      ),
    );
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // ws listens for socket errors only while upgrading; this keeps a reset during refusal from throwing.
    socket.on('error', (err) => this.log.debug({ err }, 'peer socket error'));
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.inboundPending >= INBOUND_PENDING_MAX) {
      this.refused('too_many_pending', req.socket.remoteAddress ?? UNKNOWN_PEER, 'too many connections awaiting their handshake');
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n');
      return;
    }
    this.inboundPending++;
    let upgraded = false;
    socket.once('close', () => {
      if (!upgraded) this.inboundPending--;
    });
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      upgraded = true;
      this.guard(() => this.onConnection(ws, req.socket.remoteAddress ?? UNKNOWN_PEER));
    });
  }

  private onConnection(ws: WebSocket, remote: string): void {
    // An upgrade that completed after stop() began: stop() no longer sees it.
    if (this.stopped) {
      ws.terminate();
      return;
    }
    const conn: Inbound = { ws, remote, peer: null, handshakeTimer: null };
    this.inbound.add(conn);
    conn.handshakeTimer = setTimeout(() => {
      conn.handshakeTimer = null;
      this.refuse(conn, 'timeout', CloseCode.handshakeTimeout, 'handshake timeout');
    }, this.handshakeTimeoutMs);
    ws.on('message', (data, isBinary) => this.guard(() => this.onFrame(conn, data, isBinary)));
    // ws raises these for protocol violations (an oversized frame, a bad opcode) and closes the connection itself.
    ws.on('error', (err) => {
      this.opts.metrics.framesMalformed(conn.peer ?? UNKNOWN_PEER);
      this.log.warn({ err, peer: conn.peer, remote }, 'peer connection violated the WebSocket protocol');
    });
    ws.on('close', () => this.guard(() => this.onClose(conn)));
  }

  private onClose(conn: Inbound): void {
    this.inbound.delete(conn);
    if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    if (conn.peer === null) this.inboundPending--;
    else if (this.inboundByPeer.get(conn.peer) === conn) this.inboundByPeer.delete(conn.peer);
  }

  private onFrame(conn: Inbound, data: WebSocket.RawData, isBinary: boolean): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    if (!isBinary) {
      this.malformed(conn, CloseCode.unsupportedData, 'binary frames only', 'text frame');
      return;
    }
    const bytes = toBytes(data);
    const decoded = decodeFrame(bytes);
    if (!decoded.ok) {
      this.malformed(conn, CloseCode.invalidPayload, 'malformed frame', decoded.error);
      return;
    }
    const frame = decoded.frame;
    switch (frame.kind) {
      case 'handshake':
        if (conn.peer !== null) this.malformed(conn, CloseCode.policyViolation, 'second handshake', 'second handshake');
        else this.onHandshake(conn, frame.handshake);
        return;
      case 'handshakeAck':
        this.malformed(conn, CloseCode.policyViolation, 'unexpected handshake ack', 'handshake ack sent to a listener');
        return;
      case 'batch': {
        const peer = conn.peer;
        if (peer === null) {
          this.malformed(conn, CloseCode.policyViolation, 'batch before handshake', 'batch before handshake');
          return;
        }
        // All or nothing: a batch with one misaddressed message is not delivered at all.
        for (const m of frame.messages) {
          if (m.from !== peer || m.to !== this.opts.selfId) {
            this.malformed(conn, CloseCode.policyViolation, 'misaddressed message', `message from ${m.from} to ${m.to}`);
            return;
          }
        }
        this.opts.metrics.frameReceived(peer, bytes.length, frame.messages);
        if (frame.messages.length > 0) this.deliver(frame.messages);
        return;
      }
    }
  }

  /**
   * With a secret configured it is checked first, so that a stranger without it
   * learns nothing (cluster id, node ids) from the refusal codes.
   */
  private onHandshake(conn: Inbound, h: Handshake): void {
    if (this.secretDigest !== null && !timingSafeEqual(sha256(h.secret), this.secretDigest)) {
      this.refuse(conn, 'bad_secret', CloseCode.badSecret, 'bad secret');
    } else if (h.clusterId !== this.opts.clusterId) {
      this.refuse(conn, 'wrong_cluster', CloseCode.wrongCluster, 'wrong cluster');
    } else if (!this.links.has(h.fromNode)) {
      this.refuse(conn, 'unknown_node', CloseCode.unknownNode, 'unknown node');
    } else if (h.toNode !== this.opts.selfId) {
      this.refuse(conn, 'wrong_node', CloseCode.wrongNode, 'wrong node');
    } else {
      this.accept(conn, h.fromNode);
    }
  }

  private accept(conn: Inbound, peer: NodeId): void {
    if (conn.handshakeTimer !== null) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    this.inboundPending--;
    conn.peer = peer;
    // A peer that redials before we noticed its old connection die: the newer one wins.
    const previous = this.inboundByPeer.get(peer);
    this.inboundByPeer.set(peer, conn);
    if (previous !== undefined) previous.ws.close(CloseCode.normal, 'replaced');
    conn.ws.send(encodeFrame({ kind: 'handshakeAck' }));
    this.log.info({ peer, remote: conn.remote }, 'accepted peer connection');
  }

  private refuse(conn: Inbound, reason: HandshakeRefusal, code: number, text: string): void {
    this.refused(reason, conn.remote, text);
    conn.ws.close(code, text);
  }

  private refused(reason: HandshakeRefusal, remote: string, text: string): void {
    this.opts.metrics.handshakeRejected(reason);
    this.log.warn({ remote, reason }, `refused a peer handshake: ${text}`);
  }

  private malformed(conn: Inbound, code: number, closeReason: string, detail: string): void {
    this.opts.metrics.framesMalformed(conn.peer ?? UNKNOWN_PEER);
    this.log.warn({ peer: conn.peer, remote: conn.remote, detail }, `closing a peer connection: ${closeReason}`);
    conn.ws.close(code, closeReason);
  }

  private deliver(messages: readonly Message[]): void {
    try {
      this.opts.onMessages(messages);
    } catch (err) {
      this.log.error({ err }, 'onMessages threw');
    }
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'peer transport handler failed');
    }
  }
}

function sha256(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest();
}

/** ws's RawData covers every binaryType; with ours, the default "nodebuffer", it is one Buffer. */
function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
