import type { LeaseId } from '../kv/command.js';
import type { LeaseRecord } from '../kv/leases.js';
import { leaseExpireBatchMax, leaseTtlSecondsMax } from '../kv/limits.js';

/**
 * The shortest lease a grant gets, in seconds: a lease must outlive a leader
 * election, or a failover would expire it before its holder could reach the new
 * leader (etcd: 1.5 election timeouts). Shorter requests are raised to it.
 */
export function leaseTtlSecondsMin(electionTimeoutMs: number): number {
  return Math.min(leaseTtlSecondsMax, Math.max(1, Math.ceil((1.5 * electionTimeoutMs) / 1000)));
}

/**
 * A failed expiry proposal is made again this much later, not at once: a leader
 * refuses proposals while it hands over leadership (up to an election timeout) or
 * is overloaded, and an immediate retry would spin on the refusal all that time.
 */
export const leaseExpiryRetryMs = 100;

/** A heap entry: a lease's deadline when it was pushed; stale once the lease's deadline moved. */
interface Due {
  readonly deadlineMs: number;
  readonly id: LeaseId;
}

/**
 * The leader's clock for leases. The replicated state knows which leases exist
 * and their TTLs; only the leader knows when each runs out, on its own clock,
 * and it turns that knowledge into `lease_expire` proposals. Nothing here is
 * replicated: a new leader starts every lease afresh with its full TTL
 * (`promote`), so a failover can only lengthen a lease, never shorten it (etcd's
 * rule). Time is whatever the host's clock says (`nowMs`, milliseconds).
 *
 * A lease whose expiry has been proposed is `expiring`: keep-alives for it fail,
 * so a holder is never told its lease lives while its end is already in the log.
 *
 * Invariants:
 *   leading or deadlines is empty
 *   every lease in deadlines and not expiring has a heap entry with its deadline
 *   expiring ⊆ keys of deadlines
 */
export class Lessor {
  private leading = false;
  private readonly deadlines = new Map<LeaseId, number>();
  private readonly expiring = new Set<LeaseId>();
  /** A binary min-heap by deadline, with stale entries skipped when they surface. */
  private heap: Due[] = [];

  isLeading(): boolean {
    return this.leading;
  }

  /** Leases this node keeps the clock of (0 unless it leads). */
  size(): number {
    return this.deadlines.size;
  }

  /** This node became leader: every lease lives its full TTL from now. */
  promote(nowMs: number, leases: readonly LeaseRecord[]): void {
    this.demote();
    this.leading = true;
    for (const l of leases) this.setDeadline(l.id, nowMs + l.ttlSeconds * 1000);
  }

  /** This node no longer leads: its clock decides nothing. */
  demote(): void {
    this.leading = false;
    this.deadlines.clear();
    this.expiring.clear();
    this.heap = [];
  }

  /** A grant was applied while leading: the lease lives its TTL from now. */
  granted(nowMs: number, lease: LeaseRecord): void {
    if (this.leading) this.setDeadline(lease.id, nowMs + lease.ttlSeconds * 1000);
  }

  /**
   * A keep-alive for a lease the state holds (the caller checked, after a
   * linearizable read): it lives its TTL from now. False if this node does not
   * lead, or the lease's expiry is already proposed.
   */
  keepAlive(nowMs: number, lease: LeaseRecord): boolean {
    if (!this.leading || this.expiring.has(lease.id)) return false;
    this.setDeadline(lease.id, nowMs + lease.ttlSeconds * 1000);
    return true;
  }

  /** Whole milliseconds the lease has left on this leader's clock, rounded up (0 once due), or null if it keeps no clock for it. */
  remainingMs(nowMs: number, id: LeaseId): number | null {
    const deadline = this.deadlines.get(id);
    return deadline === undefined ? null : Math.max(0, Math.ceil(deadline - nowMs));
  }

  /** When the next lease comes due, or null if none is kept. */
  nextDeadlineMs(): number | null {
    this.dropStale();
    return this.heap[0]?.deadlineMs ?? null;
  }

  /**
   * The leases due by `nowMs` that still exist (`exists` asks the state), in id
   * order, at most `leaseExpireBatchMax`; they become expiring. Leases that no
   * longer exist (revoked, expired) are forgotten on the way.
   */
  takeExpired(nowMs: number, exists: (id: LeaseId) => boolean): LeaseId[] {
    const due: LeaseId[] = [];
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (top === undefined || top.deadlineMs > nowMs || due.length >= leaseExpireBatchMax) break;
      this.pop();
      if (!exists(top.id)) {
        this.deadlines.delete(top.id);
        this.expiring.delete(top.id);
        continue;
      }
      if (this.expiring.has(top.id)) continue;
      this.expiring.add(top.id);
      due.push(top.id);
    }
    return due.sort((a, b) => a - b);
  }

  /** An expiry proposal was applied: those leases are gone. */
  expired(ids: readonly LeaseId[]): void {
    for (const id of ids) {
      this.deadlines.delete(id);
      this.expiring.delete(id);
    }
  }

  /**
   * An expiry proposal ended without being applied (refused, or outcome unknown):
   * if still leading, those leases are due again `leaseExpiryRetryMs` from now
   * (a lease may end later than its TTL, never sooner).
   */
  expiryFailed(nowMs: number, ids: readonly LeaseId[]): void {
    for (const id of ids) {
      if (!this.expiring.delete(id)) continue;
      if (this.deadlines.has(id)) this.setDeadline(id, Math.max(this.deadlines.get(id)!, nowMs + leaseExpiryRetryMs));
    }
  }

  private setDeadline(id: LeaseId, deadlineMs: number): void {
    this.deadlines.set(id, deadlineMs);
    this.push({ deadlineMs, id });
    // Keep-alives leave stale entries behind; rebuild once they outnumber the live ones.
    if (this.heap.length > 2 * this.deadlines.size + 1024) this.rebuild();
  }

  private isStale(d: Due): boolean {
    return this.deadlines.get(d.id) !== d.deadlineMs;
  }

  private dropStale(): void {
    while (this.heap.length > 0 && this.isStale(this.heap[0]!)) this.pop();
  }

  private rebuild(): void {
    const live = this.heap.filter((d) => !this.isStale(d));
    this.heap = [];
    for (const d of live) this.push(d);
  }

  private push(d: Due): void {
    const h = this.heap;
    h.push(d);
    for (let i = h.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (before(h[parent]!, h[i]!)) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }
}

/** Heap order: earlier deadline first, then lower id, so equal deadlines pop deterministically. */
function before(a: Due, b: Due): boolean {
  return a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.id < b.id);
}
