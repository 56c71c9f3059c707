// What the REST and gRPC clients share: the call options, the result union (ok,
// failed = definitely not applied, maybe_applied), the retry budget and backoff,
// and the checks of a key and an idempotency key against the server's own limits.

import { idempotencyKeyBytesMax, keyBytesMax } from '../kv/limits.js';

/** Attempts per call (each redirect or retry is one), and the backoff between retries. */
export const DEFAULT_MAX_ATTEMPTS = 10;
export const DEFAULT_BACKOFF_BASE_MS = 50;
export const DEFAULT_BACKOFF_MAX_MS = 1000;
/** One exchange (connect, send, answer) must finish within this. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
/** A whole call (all attempts and backoff included) gives up after this. */
export const DEFAULT_CALL_TIMEOUT_MS = 15_000;

export type Key = Uint8Array | string;
export type Value = Uint8Array | string;
export type Consistency = 'linearizable' | 'lease' | 'stale';

/** The options both clients take besides their endpoints. */
export interface RetryOptions {
  /** A bearer token (README "Security"), sent with every request when the cluster has authentication on. */
  readonly token?: string;
  readonly maxAttempts?: number;
  readonly backoffBaseMs?: number;
  readonly backoffMaxMs?: number;
  /** One attempt's deadline. */
  readonly requestTimeoutMs?: number;
  /** A whole call (all attempts and backoff included) gives up after this. */
  readonly callTimeoutMs?: number;
}

export interface PutOptions {
  /** Apply only if the key's current revision is this (`If-Match`). */
  readonly ifRevision?: number;
  /** Apply only if the key is absent (`If-None-Match: *`). */
  readonly ifAbsent?: boolean;
  /** Makes retries apply once; generated per call when absent. */
  readonly idempotencyKey?: string;
}

export interface DeleteOptions {
  readonly ifRevision?: number;
  readonly idempotencyKey?: string;
}

export interface GetOptions {
  readonly consistency?: Consistency;
}

/** Definitely not applied: a 4xx, a bad argument, or still unavailable (503 / unreachable) after every retry. */
export interface Failed {
  readonly ok: false;
  readonly kind: 'failed';
  /** HTTP status; 0 when no node answered (or the client refused the request). */
  readonly status: number;
  /** The server's error code (`key_not_found`, `revision_mismatch`, …), or `unavailable` / `bad_key` from the client. */
  readonly error: string;
  readonly message: string;
  /** From the `ETag` of a `412`: the key's current revision. */
  readonly currentRevision?: number;
}

/** A write that may or may not have been applied (504, or a timeout / reset after sending). */
export interface MaybeApplied {
  readonly ok: false;
  readonly kind: 'maybe_applied';
  /** HTTP status (504), or 0 when the connection failed after the request was sent. */
  readonly status: number;
  readonly error: string;
  readonly message: string;
  /** The key that was sent: a retry with it is applied at most once. */
  readonly idempotencyKey: string;
}

export type PutResult = { readonly ok: true; readonly revision: number; readonly idempotencyKey: string } | Failed | MaybeApplied;
export type DeleteResult =
  | { readonly ok: true; readonly deleted: boolean; readonly revision: number; readonly idempotencyKey: string }
  | Failed
  | MaybeApplied;
export type GetResult = { readonly ok: true; readonly value: Uint8Array; readonly revision: number } | Failed;

/** The retry budget of a client, with the defaults filled in. */
export class Backoff {
  readonly maxAttempts: number;
  readonly requestTimeoutMs: number;
  readonly callTimeoutMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(o: RetryOptions) {
    this.maxAttempts = o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    this.baseMs = o.backoffBaseMs ?? DEFAULT_BACKOFF_BASE_MS;
    this.maxMs = o.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
    this.requestTimeoutMs = o.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.callTimeoutMs = o.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  /** Capped exponential backoff with full jitter: a wait in [0, min(max, base · 2^retry)). */
  delayMs(retry: number): number {
    return Math.random() * Math.min(this.maxMs, this.baseMs * 2 ** retry);
  }
}

/** A result for a request the client refused to send. */
export function usage(error: string, message: string): Failed {
  return { ok: false, kind: 'failed', status: 0, error, message };
}

export function bytesOf(v: Key | Value): Buffer {
  return typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** A key the server would refuse as `bad_key`, refused here without a round trip; else null. */
export function checkKey(key: Key): Failed | null {
  const n = bytesOf(key).length;
  if (n === 0) return usage('bad_key', 'the key is empty');
  if (n > keyBytesMax) return usage('bad_key', `keys are 1 to ${keyBytesMax} bytes, got ${n}`);
  return null;
}

/** An idempotency key longer than the servers take (or empty), refused here; else null. */
export function checkIdempotencyKey(idempotencyKey: string): Failed | null {
  const n = Buffer.byteLength(idempotencyKey, 'utf8');
  if (n < 1 || n > idempotencyKeyBytesMax) return usage('bad_request', `idempotency keys are 1 to ${idempotencyKeyBytesMax} bytes, got ${n}`);
  return null;
}
