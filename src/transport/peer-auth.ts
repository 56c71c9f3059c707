// Peer authentication without sending the secret (proto/raft/v1/peer.proto).
//
// The listener sends a fresh nonce; the dialer answers with its own nonce and
// HMAC-SHA256(secret, "dialer" ‖ transcript); the listener accepts with
// HMAC-SHA256(secret, "listener" ‖ transcript). The transcript holds the cluster
// id, both node ids and both nonces, so a proof is good for one connection, one
// direction and one pair of nodes only: it cannot be replayed (the other side's
// nonce is fresh), reflected (the labels differ) or moved to another peer. With no
// secret configured the key is empty: the exchange still runs (one code path), and
// proves nothing.
//
// Before any of that, the dialer's upgrade request may carry an admission token: an
// HMAC over the same names and the dialer's clock. It earns no trust, only a place
// in the room reserved for configured peers while strangers fill the general one
// (see InboundAdmission).

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../raft/types.js';

export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
/** The HTTP header of the upgrade request that carries the admission token. */
export const ADMISSION_HEADER = 'x-kvstore-peer';
/** How far a token's clock may be from ours: wide enough for unsynchronised clocks, narrow enough to age out captures. */
export const ADMISSION_WINDOW_MS = 5 * 60_000;

const DIALER_LABEL = 'kvstore peer v1 dialer';
const LISTENER_LABEL = 'kvstore peer v1 listener';
const ADMISSION_LABEL = 'kvstore peer v1 admission';
const ADMISSION_VERSION = 'v1';

/** Everything both proofs of one connection cover. */
export interface Transcript {
  readonly clusterId: string;
  readonly fromNode: NodeId;
  readonly toNode: NodeId;
  readonly listenerNonce: Uint8Array;
  readonly dialerNonce: Uint8Array;
}

export function newNonce(): Uint8Array {
  return randomBytes(NONCE_BYTES);
}

/** Each field length-prefixed, so no two transcripts encode alike. */
function mac(key: Uint8Array, label: string, fields: readonly (string | Uint8Array)[]): Buffer {
  const h = createHmac('sha256', key);
  for (const f of [label, ...fields]) {
    const bytes = typeof f === 'string' ? Buffer.from(f, 'utf8') : f;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    h.update(length).update(bytes);
  }
  return h.digest();
}

function transcriptFields(t: Transcript): (string | Uint8Array)[] {
  return [t.clusterId, t.fromNode, t.toNode, t.listenerNonce, t.dialerNonce];
}

export function dialerProof(key: Uint8Array, t: Transcript): Uint8Array {
  return mac(key, DIALER_LABEL, transcriptFields(t));
}

export function listenerProof(key: Uint8Array, t: Transcript): Uint8Array {
  return mac(key, LISTENER_LABEL, transcriptFields(t));
}

/** Constant-time comparison of a received proof with the expected one. */
export function proofMatches(expected: Uint8Array, got: Uint8Array): boolean {
  return got.length === expected.length && timingSafeEqual(expected, got);
}

/** The admission token the dialer `from` puts on its upgrade request to `to`. */
export function admissionToken(key: Uint8Array, clusterId: string, from: NodeId, to: NodeId, nowMs: number): string {
  const ts = String(Math.floor(nowMs));
  return [ADMISSION_VERSION, from, to, ts, mac(key, ADMISSION_LABEL, [clusterId, from, to, ts]).toString('base64url')].join(' ');
}

/**
 * The configured peer a token admits, or null when it is absent, malformed, stale,
 * addressed to another node or not made with our key.
 */
export function admittedPeer(
  key: Uint8Array,
  header: string | string[] | undefined,
  expect: { readonly clusterId: string; readonly self: NodeId; readonly isPeer: (id: string) => boolean; readonly nowMs: number },
): NodeId | null {
  if (typeof header !== 'string' || header.length > 256) return null;
  const parts = header.split(' ');
  if (parts.length !== 5) return null;
  const [version, from, to, ts, got] = parts as [string, string, string, string, string];
  if (version !== ADMISSION_VERSION || to !== expect.self || !expect.isPeer(from) || !/^[0-9]{1,15}$/.test(ts)) return null;
  if (Math.abs(Number(ts) - expect.nowMs) > ADMISSION_WINDOW_MS) return null;
  const expected = mac(key, ADMISSION_LABEL, [expect.clusterId, from, to, ts]);
  return proofMatches(expected, Buffer.from(got, 'base64url')) ? (from as NodeId) : null;
}
