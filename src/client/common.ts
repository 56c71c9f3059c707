// What the REST and gRPC clients share: the call options, the result union (ok,
// failed = definitely not applied, maybe_applied), the retry budget and backoff,
// and the checks of a key and an idempotency key against the server's own limits.

import type { TxnOpResult } from '../kv/command.js';
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
  /** Attach the key to this lease: it is deleted when the lease ends. */
  readonly lease?: number;
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
  /** From `X-Kvstore-Oldest-Revision` of a `410` (compacted, watch_too_slow): the oldest revision a watch can start from. */
  readonly oldestRevision?: number;
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

export interface ListOptions {
  readonly consistency?: Consistency;
  /** Keys per page (1 to 10,000; the server's default 1,000). */
  readonly limit?: number;
  /** `nextPageToken` of the previous page. */
  readonly pageToken?: string;
  readonly keysOnly?: boolean;
}

export interface ListEntry {
  readonly key: Uint8Array;
  /** null with keysOnly. */
  readonly value: Uint8Array | null;
  readonly revision: number;
  /** 0: none. */
  readonly lease: number;
}

/** One page: one consistent read at `revision` (pages read at different revisions). */
export interface ListPage {
  readonly ok: true;
  readonly revision: number;
  readonly entries: readonly ListEntry[];
  /** null on the last page. */
  readonly nextPageToken: string | null;
}

export type ListResult = ListPage | Failed;

export type TxnCompareInput =
  | { readonly key: Key; readonly target: 'revision'; readonly operator?: 'equal' | 'not_equal' | 'less' | 'greater'; readonly revision: number }
  | { readonly key: Key; readonly target: 'value'; readonly operator?: 'equal' | 'not_equal' | 'less' | 'greater'; readonly value: Value };

export type TxnOpInput =
  | { readonly op: 'put'; readonly key: Key; readonly value: Value; readonly lease?: number }
  | { readonly op: 'delete'; readonly key: Key }
  | { readonly op: 'get'; readonly key: Key };

export interface TxnInput {
  readonly compare?: readonly TxnCompareInput[];
  readonly success?: readonly TxnOpInput[];
  readonly failure?: readonly TxnOpInput[];
}

/** What each operation of the branch that ran answered. */
export type TxnOpOutput = TxnOpResult;

export type TxnResult =
  | { readonly ok: true; readonly succeeded: boolean; readonly revision: number; readonly results: readonly TxnOpOutput[]; readonly idempotencyKey: string }
  | Failed
  | MaybeApplied;

export type LeaseGrantResult = { readonly ok: true; readonly id: number; readonly ttl: number; readonly idempotencyKey: string } | Failed | MaybeApplied;
export type LeaseRevokeResult = { readonly ok: true; readonly revision: number; readonly idempotencyKey: string } | Failed | MaybeApplied;
export type LeasesResult = { readonly ok: true; readonly revision: number; readonly leases: readonly { readonly id: number; readonly ttl: number }[] } | Failed;

/** A blocking query's answer: the revision to wait from next (whether or not the key changed meanwhile). */
export type WaitResult = { readonly ok: true; readonly index: number } | Failed;

/** A backup download: the body is streamed, the checksum is checked by whoever writes it down. */
export type SnapshotResult = { readonly ok: true; readonly index: number; readonly body: AsyncIterable<Uint8Array> } | Failed;
