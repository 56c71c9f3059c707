import type { PeerCertificate } from 'node:tls';
import WebSocket from 'ws';
import type { Logger } from '../log.js';
import type { LogThrottle } from '../log-throttle.js';
import type { Message, NodeId } from '../raft/types.js';
import { CloseCode, isHandshakeRefusal } from './close-codes.js';
import { decodeFrame, encodeFrame, FRAME_OVERHEAD_BYTES_MAX, messageBytesBound } from './codec.js';
import { ADMISSION_HEADER, admissionToken, dialerProof, listenerProof, newNonce, proofMatches, type Transcript } from './peer-auth.js';
import { certificateNames, describeCertificate, type PeerTls } from './peer-tls.js';
import { SendQueue } from './send-queue.js';
import type { TransportMetrics } from './ws-transport.js';

/** The dialer only ever receives a Challenge and a HandshakeAck, a few bytes each: refuse anything bigger. */
const DIALER_FRAME_BYTES_MAX = 1024;
/** Caps the backoff exponent, so that 2^attempt stays a small exact number. */
const BACKOFF_EXPONENT_MAX = 20;

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

export interface PeerLinkOptions {
  readonly selfId: NodeId;
  readonly peerId: NodeId;
  readonly clusterId: string;
  /** The cluster secret (the HMAC key), empty when none is configured. */
  readonly key: Uint8Array;
  /** The current TLS material (it may be reloaded), or null for plain ws. */
  readonly tls: () => PeerTls | null;
  readonly logger: Logger;
  /** Where refusals are logged, rate-limited. */
  readonly refusals: LogThrottle;
  readonly metrics: TransportMetrics;
  readonly queueMessagesMax: number;
  readonly queueBytesMax: number;
  readonly frameBytesMax: number;
  readonly socketBufferedBytesMax: number;
  readonly reconnectBaseMs: number;
  readonly reconnectMaxMs: number;
  readonly handshakeTimeoutMs: number;
}

/**
 * The sending half of the connection to one peer: a WebSocket client that
 * handshakes, then carries batches of messages from a bounded queue, and
 * redials with capped, jittered exponential backoff whenever it drops.
 *
 * States: idle (no socket; a redial may be scheduled) -> dialing (socket, waiting
 * for the listener's challenge) -> proving (our handshake sent, waiting for the
 * listener's proof) -> ready (proof checked; frames flow) -> idle. The whole
 * handshake has one deadline, handshakeTimeoutMs. Messages queue in every state and
 * are flushed only when ready and the socket has drained below
 * socketBufferedBytesMax, so a slow peer holds its own queue and nothing else.
 */
export class PeerLink {
  private address: PeerAddress;
  private readonly queue: SendQueue;
  private readonly log: Logger;
  private ws: WebSocket | null = null;
  /** Set while our handshake awaits the listener's proof. */
  private proving: Transcript | null = null;
  private ready = false;
  private attempt = 0;
  private redialTimer: NodeJS.Timeout | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private flushImmediate: NodeJS.Immediate | null = null;
  private started = false;
  private stopped = false;

  constructor(
    private readonly o: PeerLinkOptions,
    address: PeerAddress,
  ) {
    this.address = address;
    this.queue = new SendQueue(o.queueMessagesMax, o.queueBytesMax);
    this.log = o.logger.child({ peer: o.peerId });
  }

  get connected(): boolean {
    return this.ready;
  }

  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.dial();
  }

  enqueue(m: Message): void {
    if (this.stopped) return;
    const dropped = this.queue.push(m, messageBytesBound(m));
    if (dropped > 0) this.o.metrics.messagesDropped(this.o.peerId, dropped);
    this.scheduleFlush();
  }

  /** Points the link at a new address, redialling now if it changed. */
  setAddress(address: PeerAddress): void {
    if (address.host === this.address.host && address.port === this.address.port) return;
    this.address = address;
    this.attempt = 0;
    if (!this.started || this.stopped) return;
    this.cancelRedial();
    if (this.ws === null) this.dial();
    // Otherwise closing the socket to the old address redials through onClose.
    else this.ws.terminate();
  }

  /** Closes the socket and cancels every timer; resolves once the socket is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    this.cancelRedial();
    this.clearAckTimer();
    if (this.flushImmediate !== null) clearImmediate(this.flushImmediate);
    this.flushImmediate = null;
    const ws = this.ws;
    if (ws === null || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.terminate();
    return closed;
  }

  private dial(): void {
    this.redialTimer = null;
    if (this.stopped || this.address.port === 0) return;
    const host = this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host;
    const tls = this.o.tls();
    const headers = { [ADMISSION_HEADER]: admissionToken(this.o.key, this.o.clusterId, this.o.selfId, this.o.peerId, Date.now()) };
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${tls === null ? 'ws' : 'wss'}://${host}:${this.address.port}/`, {
        maxPayload: DIALER_FRAME_BYTES_MAX,
        perMessageDeflate: false,
        handshakeTimeout: this.o.handshakeTimeoutMs,
        followRedirects: false,
        headers,
        generateMask: zeroMask,
        ...(tls === null
          ? {}
          : {
              cert: tls.cert,
              key: tls.key,
              ca: tls.ca,
              minVersion: 'TLSv1.2' as const,
              // The peer's certificate must name the node we mean to reach; its address is not what identifies it.
              checkServerIdentity: (_host: string, cert: PeerCertificate) =>
                certificateNames(cert, this.o.peerId) ? undefined : new CertificateMismatch(`the certificate of ${this.o.peerId} names ${describeCertificate(cert)}`),
            }),
      });
    } catch (err) {
      this.log.warn({ err, address: this.address }, 'cannot dial peer');
      this.scheduleRedial();
      return;
    }
    this.ws = ws;
    ws.on('open', () => this.guard(() => this.onOpen(ws)));
    ws.on('message', (data, isBinary) => this.guard(() => this.onFrame(ws, data, isBinary)));
    // 'close' always follows 'error'; the redial happens there.
    ws.on('error', (err) => {
      if (err instanceof CertificateMismatch) {
        this.o.metrics.handshakeRejected('bad_certificate');
        this.o.refusals.warn(`bad_certificate:${this.o.peerId}`, { peer: this.o.peerId, address: this.address, detail: err.message }, 'refused the peer: its certificate does not name it');
      } else {
        this.log.debug({ err }, 'peer connection error');
      }
    });
    ws.on('close', (code, reason) => this.guard(() => this.onClose(ws, code, reason.toString('utf8'))));
  }

  private onOpen(ws: WebSocket): void {
    if (ws !== this.ws) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      this.o.refusals.warn(`ack_timeout:${this.o.peerId}`, { peer: this.o.peerId, timeoutMs: this.o.handshakeTimeoutMs }, 'peer did not complete the handshake in time');
      ws.terminate();
    }, this.o.handshakeTimeoutMs);
  }

  private onFrame(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
    // The listener sends exactly two frames, a Challenge and then a HandshakeAck: anything else is a protocol error.
    const decoded = isBinary && !this.ready && Buffer.isBuffer(data) ? decodeFrame(data) : null;
    const frame = decoded?.ok === true ? decoded.frame : null;
    if (frame?.kind === 'challenge' && this.proving === null) {
      this.prove(ws, frame.nonce);
      return;
    }
    if (frame?.kind !== 'handshakeAck' || this.proving === null) {
      this.o.metrics.framesMalformed(this.o.peerId);
      this.log.warn({ error: decoded?.ok === false ? decoded.error : `unexpected ${frame?.kind ?? 'frame'}` }, 'peer sent an unexpected frame');
      ws.close(CloseCode.policyViolation, 'unexpected frame');
      return;
    }
    const transcript = this.proving;
    this.proving = null;
    if (!proofMatches(listenerProof(this.o.key, transcript), frame.mac)) {
      this.o.metrics.handshakeRejected('listener_bad_secret');
      this.o.refusals.warn(`listener_bad_secret:${this.o.peerId}`, { peer: this.o.peerId, address: this.address }, "refused the peer: its handshake proof is wrong (another raft.secret?)");
      ws.close(CloseCode.listenerBadSecret, 'bad secret');
      return;
    }
    this.clearAckTimer();
    this.ready = true;
    this.attempt = 0;
    this.o.metrics.peerConnected(this.o.peerId, true);
    this.log.info({ address: this.address }, 'connected to peer');
    this.scheduleFlush();
  }

  /** Answers the listener's challenge with our nonce and our proof over both. */
  private prove(ws: WebSocket, listenerNonce: Uint8Array): void {
    const transcript: Transcript = { clusterId: this.o.clusterId, fromNode: this.o.selfId, toNode: this.o.peerId, listenerNonce, dialerNonce: newNonce() };
    this.proving = transcript;
    const handshake = { clusterId: transcript.clusterId, fromNode: transcript.fromNode, toNode: transcript.toNode, nonce: transcript.dialerNonce, mac: dialerProof(this.o.key, transcript) };
    ws.send(encodeFrame({ kind: 'handshake', handshake }));
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = null;
    this.proving = null;
    this.clearAckTimer();
    if (this.ready) {
      this.ready = false;
      this.o.metrics.peerConnected(this.o.peerId, false);
      this.log.info({ code, reason }, 'disconnected from peer');
    } else if (isHandshakeRefusal(code)) {
      this.o.refusals.warn(`refused:${this.o.peerId}:${code}`, { code, reason, address: this.address }, 'peer refused our handshake');
    }
    this.scheduleRedial();
  }

  private scheduleRedial(): void {
    if (this.stopped || this.redialTimer !== null) return;
    const ceilingMs = Math.min(this.o.reconnectMaxMs, this.o.reconnectBaseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, BACKOFF_EXPONENT_MAX);
    // "Equal jitter": at least half the ceiling, so peers restarting together spread out without dialling in a burst.
    const delayMs = ceilingMs / 2 + Math.random() * (ceilingMs / 2);
    this.redialTimer = setTimeout(() => this.guard(() => this.dial()), delayMs);
  }

  private cancelRedial(): void {
    if (this.redialTimer !== null) clearTimeout(this.redialTimer);
    this.redialTimer = null;
  }

  private clearAckTimer(): void {
    if (this.ackTimer !== null) clearTimeout(this.ackTimer);
    this.ackTimer = null;
  }

  /** Messages sent in one turn of the event loop go out together, as few frames as fit. */
  private scheduleFlush(): void {
    if (this.flushImmediate !== null || !this.ready || this.queue.length === 0) return;
    this.flushImmediate = setImmediate(() => {
      this.flushImmediate = null;
      this.guard(() => this.flush());
    });
  }

  private flush(): void {
    const ws = this.ws;
    while (ws !== null && this.ready && this.queue.length > 0 && ws.bufferedAmount <= this.o.socketBufferedBytesMax) {
      const batch: Message[] = [];
      let frameBytesBound = FRAME_OVERHEAD_BYTES_MAX;
      for (let size = this.queue.peekSize(); size !== undefined; size = this.queue.peekSize()) {
        if (batch.length > 0 && frameBytesBound + size > this.o.frameBytesMax) break;
        const m = this.queue.shift();
        if (m === undefined) break;
        batch.push(m);
        frameBytesBound += size;
      }
      const frame = encodeFrame({ kind: 'batch', messages: batch });
      if (frame.length > this.o.frameBytesMax) {
        // Only a lone message can get here (a batch of several stays within its bound).
        this.o.metrics.messagesDropped(this.o.peerId, batch.length);
        this.log.error({ frameBytes: frame.length, frameBytesMax: this.o.frameBytesMax, type: batch[0]?.type }, 'message too large for one frame: dropped');
        continue;
      }
      // The callback runs once the frame is handed to the kernel: the socket has drained a little, so look again.
      ws.send(frame, { binary: true }, (err) => {
        if (err === undefined || err === null) this.scheduleFlush();
      });
      this.o.metrics.frameSent(this.o.peerId, frame.length, batch);
    }
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'peer link handler failed');
    }
  }
}

/**
 * The mask of every frame we send: all zeros, which ws recognises on both sides
 * and skips the payload's XOR (and, here, its copy): about 8 us of CPU per 8.5 KB
 * frame for each of the sender and the receiver, measured with ws's JavaScript
 * masking (bufferutil is not installed). The mask bit stays set, so the frames
 * are valid RFC 6455 client frames for any receiver. RFC 6455 wants a random key
 * so that bytes an attacker chose (a browser script's payload; here, a client's
 * value) cannot appear verbatim on the wire to a transparent HTTP proxy that
 * misreads WebSocket traffic (§10.3). A peer link is one TCP connection from one
 * node of ours to another, authenticated, and not meant to cross such a proxy;
 * with peer TLS nothing on the path sees the frames at all.
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}

/** A peer certificate that does not name the node we dialled. */
class CertificateMismatch extends Error {}
