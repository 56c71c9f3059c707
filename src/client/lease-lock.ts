// Leases with automatic keep-alive, and a lock built on them (etcd's concurrency
// recipes, simplified): the client library's coordination helpers.
import { setTimeout as delay } from 'node:timers/promises';
import type { Failed, Key, MaybeApplied } from './common.js';
import type { KvClient } from './rest-client.js';

/** Why a lease is no longer held. */
export type LeaseLoss =
  | { readonly kind: 'expired'; readonly message: string }
  | { readonly kind: 'unreachable'; readonly message: string }
  | { readonly kind: 'revoked' };

/**
 * A lease kept alive in the background (every third of its TTL) until it is
 * revoked or lost. It is lost when the cluster says it is gone (it expired: a
 * keep-alive was late, or the leader decided so), or when no keep-alive got
 * through before the TTL ran out on this client's clock since the last one sent
 * that did: after that, the holder must assume the leader expired it.
 */
export class Lease {
  private lostWith: LeaseLoss | null = null;
  private readonly lostSignal = new AbortController();
  private stopped = false;
  /** When the last successful keep-alive was sent, on this client's clock. */
  private confirmedAtMs: number;
  readonly lost: Promise<LeaseLoss>;

  /** @internal KvClient.lease makes one. */
  constructor(
    private readonly client: KvClient,
    readonly id: number,
    readonly ttlSeconds: number,
    grantedAtMs: number,
  ) {
    this.confirmedAtMs = grantedAtMs;
    this.lost = new Promise((resolve) => this.lostSignal.signal.addEventListener('abort', () => resolve(this.lostWith!), { once: true }));
    void this.keepAliveLoop();
  }

  /** Aborted once the lease is lost or revoked: hand it to work that must stop then. */
  get signal(): AbortSignal {
    return this.lostSignal.signal;
  }

  /** null while held. */
  get loss(): LeaseLoss | null {
    return this.lostWith;
  }

  /** Ends the lease now; its keys are deleted. */
  async revoke(): Promise<void> {
    if (this.stopped) return;
    this.end({ kind: 'revoked' });
    await this.client.revokeLease(this.id);
  }

  private end(why: LeaseLoss): void {
    if (this.stopped) return;
    this.stopped = true;
    this.lostWith = why;
    this.lostSignal.abort();
  }

  private async keepAliveLoop(): Promise<void> {
    const periodMs = Math.max(100, (this.ttlSeconds * 1000) / 3);
    while (!this.stopped) {
      await delay(periodMs, undefined, { ref: false });
      if (this.stopped) return;
      const sentAtMs = Date.now();
      const r = await this.client.keepAliveLease(this.id);
      if (this.stopped) return;
      if (r.ok) {
        this.confirmedAtMs = sentAtMs;
        continue;
      }
      if (r.error === 'lease_not_found') return this.end({ kind: 'expired', message: r.message });
      if (Date.now() - this.confirmedAtMs >= this.ttlSeconds * 1000) return this.end({ kind: 'unreachable', message: `no keep-alive got through for ${this.ttlSeconds} s: ${r.message}` });
    }
  }
}

/**
 * A held lock: `token` is the revision of the create that took it, larger for
 * every later holder, to fence writes with (see `KvClient.lock`).
 */
export class Lock {
  /** @internal KvClient.lock makes one. */
  constructor(
    private readonly client: KvClient,
    readonly key: Key,
    readonly token: number,
    readonly lease: Lease,
  ) {}

  /** Settles when the lock is lost (its lease expired or was revoked). */
  get lost(): Promise<LeaseLoss> {
    return this.lease.lost;
  }

  /** Releases the lock: deletes its key (only if still ours) and revokes its lease. */
  async unlock(): Promise<void> {
    await this.client.delete(this.key, { ifRevision: this.token });
    await this.lease.revoke();
  }
}

export interface LockOptions {
  /** The lock's lease TTL in seconds: how long a holder that dies keeps others waiting (default 10). */
  readonly ttlSeconds?: number;
  /** Give up waiting after this many milliseconds (default: wait on). */
  readonly timeoutMs?: number;
}

export type LockResult = { readonly ok: true; readonly lock: Lock } | Failed | MaybeApplied;

/**
 * Takes the lock `key`: a create-only put of the key on a fresh lease; while
 * another holds it, waits (a blocking watch query) for its key to go, and tries
 * again. The lease ends it if this holder dies or loses the cluster.
 */
export async function acquireLock(client: KvClient, key: Key, opts: LockOptions = {}): Promise<LockResult> {
  const ttlSeconds = opts.ttlSeconds ?? 10;
  const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
  const granted = await client.lease(ttlSeconds);
  if (!granted.ok) return granted;
  const lease = granted.lease;
  for (;;) {
    if (lease.loss !== null) return { ok: false, kind: 'failed', status: 0, error: 'lease_lost', message: "the lock's lease ended while waiting" };
    let r = await client.put(key, String(lease.id), { ifAbsent: true, lease: lease.id });
    // A create-only put whose outcome is unknown is retried with its idempotency key: the answer says whether it took the lock.
    while (!r.ok && r.kind === 'maybe_applied' && Date.now() < deadline && lease.loss === null) r = await client.put(key, String(lease.id), { ifAbsent: true, lease: lease.id, idempotencyKey: r.idempotencyKey });
    if (r.ok) return { ok: true, lock: new Lock(client, key, r.revision, lease) };
    if (r.kind === 'maybe_applied' || r.error !== 'revision_mismatch' || r.currentRevision === undefined) {
      await lease.revoke();
      return r;
    }
    const waitMs = Math.min(30_000, deadline - Date.now());
    if (waitMs <= 0) {
      await lease.revoke();
      return { ok: false, kind: 'failed', status: 0, error: 'timeout', message: 'the lock was not free in time' };
    }
    await waitForRelease(client, key, r.currentRevision, waitMs);
  }
}

/** How long a waiter pauses when it cannot make a blocking query, before it tries the create again. */
const WAIT_FAILED_PAUSE_MS = 250;

/**
 * Waits (a blocking query) until the lock key changes after `revision` (the
 * holder's put), or the wait is over: either way the caller tries the create
 * again, so a missed change costs time, never safety.
 */
async function waitForRelease(client: KvClient, key: Key, revision: number, waitMs: number): Promise<void> {
  let w = await client.waitForChange(key, revision, waitMs);
  // A lock held while the change window moved past its put: wait from the window's start instead. The
  // create just failed, so the key was held then; only a release in the instant since (and the window moving
  // past it too) would go unseen, until the wait ends.
  if (!w.ok && w.error === 'compacted' && w.oldestRevision !== undefined) w = await client.waitForChange(key, w.oldestRevision - 1, waitMs);
  // No blocking query could be made (the node is stopping, say): pause rather than spin on creates.
  if (!w.ok) await delay(Math.min(waitMs, WAIT_FAILED_PAUSE_MS));
}
