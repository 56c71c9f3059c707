// The peer transport (SPEC.md §5): Raft messages between nodes over WebSocket.
//
// Every node dials every peer and uses that connection only to send (PeerLink);
// it accepts the peers' connections only to receive. One-way connections keep
// each side simple: no request/response matching, no race over which of two
// crossing connections survives, and a peer's identity is settled once, by the
// challenge-response handshake (peer-auth.ts), before any message is accepted.
//
// An inbound connection is unauthenticated until that handshake passes, and costs
// a socket meanwhile, so it is held on a short leash: one deadline from accept to
// handshake after which its socket is destroyed at once (no waiting for a close
// handshake a stranger never answers), bounded places once it has upgraded
// (admission.ts), and at most connectionsMax sockets in all.

import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { ByteBlocks } from '../kv/byte-blocks.js';
import type { Logger } from '../log.js';
import { listenOn } from '../listen.js';
import { LogThrottle } from '../log-throttle.js';
import type { MessageTransport } from '../raft/host/ready-executor.js';
import type { Message, NodeId } from '../raft/types.js';
import { InboundAdmission, type PendingSlot } from './admission.js';
import { CloseCode } from './close-codes.js';
import { decodeFrame, encodeFrame, type Handshake } from './codec.js';
import { ADMISSION_HEADER, admittedPeer, dialerProof, listenerProof, newNonce, proofMatches } from './peer-auth.js';
import { PeerLink, type PeerAddress } from './peer-link.js';
import { certificateNames, describeCertificate, type PeerTls } from './peer-tls.js';

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
  /** The cluster secret that keys the handshake's HMACs; null for none (an empty key: no authentication). */
  readonly secret: Uint8Array | null;
  /** Mutual TLS (wss) between peers, or null for plain ws. */
  readonly tls?: PeerTls | null;
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
  /** From accept (or dial) to a completed handshake, at most this long; then the socket is destroyed. */
  readonly handshakeTimeoutMs?: number;
  /** Sockets the listener holds at once, peers' included; more are dropped at accept. */
  readonly connectionsMax?: number;
  /** Upgraded connections still in their handshake, in total (the reserved room for configured peers aside). */
  readonly pendingMax?: number;
  /** The same, per remote address. */
  readonly pendingPerAddressMax?: number;
}

export const QUEUE_MESSAGES_MAX_DEFAULT = 10_000;
export const QUEUE_BYTES_MAX_DEFAULT = 64 * 1024 * 1024;
export const FRAME_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;
export const SOCKET_BUFFERED_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;
export const RECONNECT_BASE_MS_DEFAULT = 100;
export const RECONNECT_MAX_MS_DEFAULT = 5_000;
export const HANDSHAKE_TIMEOUT_MS_DEFAULT = 2_000;
export const CONNECTIONS_MAX_DEFAULT = 256;
export const PENDING_MAX_DEFAULT = 64;
export const PENDING_PER_ADDRESS_MAX_DEFAULT = 8;
/** A peer redials only once its previous attempt is dead; two places cover the overlap. */
const RESERVED_PER_PEER_MAX = 2;
/** How long a refused or replaced connection may take to answer our close frame before its socket is destroyed. */
const CLOSE_TIMEOUT_MS = 500;

/** Metric labels of refused connections and handshakes: a fixed set, so a stranger cannot grow the metric. */
export type HandshakeRefusal =
  | 'wrong_cluster'
  | 'unknown_node'
  | 'bad_secret'
  | 'wrong_node'
  | 'bad_certificate'
  | 'tls_failed'
  | 'timeout'
  | 'too_many_pending'
  | 'too_many_connections'
  /** Counted by a dialer: the listener's proof was wrong (it holds another secret, or is not a member). */
  | 'listener_bad_secret';

const UNKNOWN_PEER = 'unknown';
/** The blocks received entries and forwarded commands are copied into (decodeFrame): about 180 PUTs of 288 bytes each. */
const KEPT_BLOCK_BYTES = 64 * 1024;

/** An accepted socket, from accept until it closes; `peer` is set once its handshake has passed. */
interface Inbound {
  readonly socket: Duplex;
  readonly remote: string;
  /** The handshake deadline, until the handshake passes. */
  deadline: NodeJS.Timeout | null;
  /** Its place among the pending connections, from upgrade to handshake. */
  slot: PendingSlot | null;
  ws: WebSocket | null;
  /** Our challenge, sent right after the upgrade. */
  nonce: Uint8Array | null;
  peer: NodeId | null;
  /** Refused, evicted or replaced: its frames are ignored while it closes. */
  dismissed: boolean;
}

export class WsTransport implements MessageTransport {
  private readonly log: Logger;
  private readonly refusals: LogThrottle;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly key: Uint8Array;
  private tls: PeerTls | null;
  private readonly frameBytesMax: number;
  private readonly handshakeTimeoutMs: number;
  private readonly admission: InboundAdmission;
  private readonly wss: WebSocketServer;
  private server: Server | null = null;
  private readonly inbound = new Map<Duplex, Inbound>();
  /** The live, handshaken inbound connection of each peer. */
  private readonly inboundByPeer = new Map<NodeId, Inbound>();
  /** Where received entries and forwarded commands are kept, out of their frames' buffers. */
  private readonly kept = new ByteBlocks(KEPT_BLOCK_BYTES, KEPT_BLOCK_BYTES);
  private started = false;
  private stopped = false;

  constructor(private readonly opts: TransportOptions) {
    this.log = opts.logger.child({ component: 'transport' });
    this.refusals = new LogThrottle(this.log);
    this.key = opts.secret ?? new Uint8Array(0);
    this.tls = opts.tls ?? null;
    this.frameBytesMax = opts.frameBytesMax ?? FRAME_BYTES_MAX_DEFAULT;
    this.handshakeTimeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS_DEFAULT;
    this.admission = new InboundAdmission({
      pendingMax: opts.pendingMax ?? PENDING_MAX_DEFAULT,
      pendingPerAddressMax: opts.pendingPerAddressMax ?? PENDING_PER_ADDRESS_MAX_DEFAULT,
      reservedPerPeerMax: RESERVED_PER_PEER_MAX,
    });
    // ws reads closeTimeout from these options (lib/websocket-server.js); @types/ws does not list it.
    const wsOptions: ServerOptions & { readonly closeTimeout: number } = {
      noServer: true,
      maxPayload: this.frameBytesMax,
      perMessageDeflate: false,
      clientTracking: false,
      closeTimeout: CLOSE_TIMEOUT_MS,
    };
    this.wss = new WebSocketServer(wsOptions);
    for (const [id, address] of opts.peers) this.addLink(id, address);
  }

  /** Listens on opts.listen and starts dialling the peers. */
  async start(): Promise<{ port: number }> {
    if (this.started) throw new Error('WsTransport: start() called twice');
    this.started = true;
    const refuseHttp = (_req: IncomingMessage, res: import('node:http').ServerResponse): void => {
      res.writeHead(426, { connection: 'close', upgrade: 'websocket' }).end();
    };
    const tls = this.tls;
    const server: Server =
      tls === null
        ? createServer(refuseHttp)
        : createTlsServer(
            { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', handshakeTimeout: this.handshakeTimeoutMs },
            refuseHttp,
          );
    server.maxConnections = this.opts.connectionsMax ?? CONNECTIONS_MAX_DEFAULT;
    server.on('drop', (data?: { remoteAddress?: string }) => this.refused('too_many_connections', normalizeAddress(data?.remoteAddress), 'too many connections'));
    // Plain sockets are tracked from accept; TLS ones once their TLS handshake is done
    // (the TLS handshake has its own deadline, handshakeTimeoutMs, in the server options).
    server.on(tls === null ? 'connection' : 'secureConnection', (socket: Socket) => this.guard(() => this.track(socket)));
    server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
      const reason = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'timeout' : 'tls_failed';
      this.refused(reason, normalizeAddress(socket.remoteAddress), `TLS handshake failed: ${err.message}`);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.guard(() => this.onUpgrade(req, socket, head)));
    const port = await listenOn(server, this.opts.listen.host, this.opts.listen.port, this.log, 'peer');
    this.server = server;
    this.log.info({ host: this.opts.listen.host, port, tls: tls !== null }, 'listening for peers');
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

  /**
   * New key material (a renewed certificate, SIGHUP): for connections from now on;
   * established ones keep theirs. Switching TLS on or off needs a restart.
   */
  setTls(tls: PeerTls): void {
    if (this.tls === null) throw new Error('WsTransport: TLS is off; turning it on needs a restart');
    this.tls = tls;
    if (this.server !== null && 'setSecureContext' in this.server && typeof this.server.setSecureContext === 'function') {
      this.server.setSecureContext({ cert: tls.cert, key: tls.key, ca: tls.ca });
    }
  }

  connectedPeers(): NodeId[] {
    return [...this.links].filter(([, link]) => link.connected).map(([id]) => id);
  }

  /** Unauthenticated inbound connections holding a place now (tests, metrics). */
  pendingConnections(): number {
    return this.admission.pending;
  }

  /** Closes every connection and the listener, and cancels every timer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closing: Promise<void>[] = [...this.links.values()].map((link) => link.stop());
    for (const conn of this.inbound.values()) {
      this.clearDeadline(conn);
      if (!conn.socket.destroyed) {
        closing.push(new Promise((resolve) => conn.socket.once('close', () => resolve())));
        conn.socket.destroy();
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
          key: this.key,
          tls: () => this.tls,
          logger: this.log,
          refusals: this.refusals,
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

  private track(socket: Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const conn: Inbound = { socket, remote: normalizeAddress(socket.remoteAddress), deadline: null, slot: null, ws: null, nonce: null, peer: null, dismissed: false };
    this.inbound.set(socket, conn);
    conn.deadline = setTimeout(() => this.guard(() => this.expire(conn)), this.handshakeTimeoutMs);
    // The HTTP server handles errors before the upgrade, ws after; this keeps a reset in between from throwing.
    socket.on('error', (err) => this.log.debug({ err, remote: conn.remote }, 'peer socket error'));
    socket.once('close', () => this.guard(() => this.untrack(conn)));
  }

  private untrack(conn: Inbound): void {
    this.inbound.delete(conn.socket);
    this.clearDeadline(conn);
    conn.slot?.release();
    conn.slot = null;
    if (conn.peer !== null && this.inboundByPeer.get(conn.peer) === conn) this.inboundByPeer.delete(conn.peer);
  }

  /** The deadline passed before the handshake did: destroy at once, whatever stage it reached. */
  private expire(conn: Inbound): void {
    conn.deadline = null;
    if (conn.peer !== null) return;
    this.refused('timeout', conn.remote, 'no handshake within the deadline');
    conn.slot?.release();
    conn.slot = null;
    conn.dismissed = true;
    // The close code goes out first if the socket can take it; the socket does not wait for an answer.
    conn.ws?.close(CloseCode.handshakeTimeout, 'handshake timeout');
    conn.socket.destroy();
  }

  private clearDeadline(conn: Inbound): void {
    if (conn.deadline !== null) clearTimeout(conn.deadline);
    conn.deadline = null;
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const conn = this.inbound.get(socket);
    if (conn === undefined || this.stopped || conn.ws !== null || conn.dismissed) {
      socket.destroy();
      return;
    }
    const peer = admittedPeer(this.key, req.headers[ADMISSION_HEADER], {
      clusterId: this.opts.clusterId,
      self: this.opts.selfId,
      isPeer: (id) => this.links.has(id as NodeId),
      nowMs: Date.now(),
    });
    const slot = this.admission.admit(conn.remote, peer, () => this.evict(conn));
    if (slot === null) {
      this.refused('too_many_pending', conn.remote, 'too many connections awaiting their handshake');
      conn.dismissed = true;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', () => socket.destroy());
      return;
    }
    conn.slot = slot;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.guard(() => this.onConnection(conn, ws)));
  }

  /** A newer attempt of the same peer took this one's reserved place. */
  private evict(conn: Inbound): void {
    conn.slot = null;
    conn.dismissed = true;
    this.log.debug({ remote: conn.remote }, 'a newer connection of the same peer replaced a pending one');
    conn.socket.destroy();
  }

  private onConnection(conn: Inbound, ws: WebSocket): void {
    if (this.stopped || conn.dismissed) {
      ws.terminate();
      return;
    }
    conn.ws = ws;
    conn.nonce = newNonce();
    ws.on('message', (data, isBinary) => this.guard(() => this.onFrame(conn, data, isBinary)));
    // ws raises these for protocol violations (an oversized frame, a bad opcode) and closes the connection itself.
    ws.on('error', (err) => {
      this.opts.metrics.framesMalformed(conn.peer ?? UNKNOWN_PEER);
      this.refusals.warn('protocol', { err, peer: conn.peer, remote: conn.remote }, 'peer connection violated the WebSocket protocol');
      conn.slot?.release();
      conn.slot = null;
      conn.dismissed = true;
    });
    ws.on('close', () => this.guard(() => this.onClose(conn)));
    ws.send(encodeFrame({ kind: 'challenge', nonce: conn.nonce }));
  }

  private onClose(conn: Inbound): void {
    if (conn.peer !== null && this.inboundByPeer.get(conn.peer) === conn) this.inboundByPeer.delete(conn.peer);
  }

  private onFrame(conn: Inbound, data: WebSocket.RawData, isBinary: boolean): void {
    if (conn.dismissed || conn.ws === null || conn.ws.readyState !== WebSocket.OPEN) return;
    if (!isBinary) {
      this.malformed(conn, CloseCode.unsupportedData, 'binary frames only', 'text frame');
      return;
    }
    const bytes = toBytes(data);
    const decoded = decodeFrame(bytes, this.kept);
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
      case 'challenge':
      case 'handshakeAck':
        this.malformed(conn, CloseCode.policyViolation, 'unexpected frame', `${frame.kind} sent to a listener`);
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
   * The proof is checked first, so that a stranger without the secret learns
   * nothing (cluster id, node ids) from the refusal codes.
   */
  private onHandshake(conn: Inbound, h: Handshake): void {
    const listenerNonce = conn.nonce;
    if (listenerNonce === null) throw new Error('unreachable: a handshake before our challenge');
    const transcript = { clusterId: h.clusterId, fromNode: h.fromNode, toNode: h.toNode, listenerNonce, dialerNonce: h.nonce };
    if (!proofMatches(dialerProof(this.key, transcript), h.mac)) {
      this.refuse(conn, 'bad_secret', CloseCode.badSecret, 'bad secret');
    } else if (h.clusterId !== this.opts.clusterId) {
      this.refuse(conn, 'wrong_cluster', CloseCode.wrongCluster, 'wrong cluster');
    } else if (!this.links.has(h.fromNode)) {
      this.refuse(conn, 'unknown_node', CloseCode.unknownNode, 'unknown node');
    } else if (h.toNode !== this.opts.selfId) {
      this.refuse(conn, 'wrong_node', CloseCode.wrongNode, 'wrong node');
    } else if (this.tls !== null && !certificateNames((conn.socket as TLSSocket).getPeerCertificate(), h.fromNode)) {
      const cert = describeCertificate((conn.socket as TLSSocket).getPeerCertificate());
      this.refuse(conn, 'bad_certificate', CloseCode.badCertificate, 'certificate does not name the node', { claimed: h.fromNode, cert });
    } else {
      this.accept(conn, h.fromNode, listenerProof(this.key, transcript));
    }
  }

  private accept(conn: Inbound, peer: NodeId, proof: Uint8Array): void {
    this.clearDeadline(conn);
    conn.slot?.release();
    conn.slot = null;
    conn.peer = peer;
    // A peer that redials before we noticed its old connection die: the newer one wins.
    const previous = this.inboundByPeer.get(peer);
    this.inboundByPeer.set(peer, conn);
    if (previous !== undefined) this.dismiss(previous, CloseCode.normal, 'replaced');
    conn.ws?.send(encodeFrame({ kind: 'handshakeAck', mac: proof }));
    this.log.info({ peer, remote: conn.remote }, 'accepted peer connection');
  }

  private refuse(conn: Inbound, reason: HandshakeRefusal, code: number, text: string, fields: Record<string, unknown> = {}): void {
    this.refused(reason, conn.remote, text, fields);
    this.dismiss(conn, code, text);
  }

  /** Frees the connection's place now and closes it; ws destroys the socket if the close is not answered within CLOSE_TIMEOUT_MS. */
  private dismiss(conn: Inbound, code: number, text: string): void {
    conn.dismissed = true;
    conn.slot?.release();
    conn.slot = null;
    this.clearDeadline(conn);
    if (conn.ws !== null) conn.ws.close(code, text);
    else conn.socket.destroy();
  }

  /** Counted always; logged at most once per reason per interval (a flood must not flood the log). */
  private refused(reason: HandshakeRefusal, remote: string, text: string, fields: Record<string, unknown> = {}): void {
    this.opts.metrics.handshakeRejected(reason);
    this.refusals.warn(reason, { remote, reason, ...fields }, `refused a peer connection: ${text}`);
  }

  private malformed(conn: Inbound, code: number, closeReason: string, detail: string): void {
    this.opts.metrics.framesMalformed(conn.peer ?? UNKNOWN_PEER);
    this.refusals.warn('malformed', { peer: conn.peer, remote: conn.remote, detail }, `closing a peer connection: ${closeReason}`);
    this.dismiss(conn, code, closeReason);
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

/** One spelling per address: an IPv4 peer reached over a dual-stack socket is still that IPv4 address. */
function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return UNKNOWN_PEER;
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

/** ws's RawData covers every binaryType; with ours, the default "nodebuffer", it is one Buffer. */
function toBytes(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
