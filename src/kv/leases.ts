import type { LeaseId } from './command.js';
import type { BinaryKey } from './sharded-map.js';

/** A lease as the replicated state holds it: no deadline (time is the leader's, not the log's). */
export interface LeaseRecord {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
}

/**
 * The leases that exist and the keys attached to each. When a lease is granted,
 * kept alive and when it runs out is the leader's business (`src/node/lessor.ts`):
 * the log only records grants, revocations and the leader's expiry decisions, so
 * every replica agrees on which leases exist and which keys they carry.
 *
 * Invariants:
 *   ids only grow in insertion order (an id is the log index of its grant)
 *   a key is attached to at most one lease, and the store's entry for it names that lease
 */
export class LeaseTable {
  private readonly leases = new Map<LeaseId, { readonly record: LeaseRecord; readonly keys: Set<BinaryKey> }>();
  private lastId = 0;

  size(): number {
    return this.leases.size;
  }

  has(id: LeaseId): boolean {
    return this.leases.has(id);
  }

  get(id: LeaseId): LeaseRecord | undefined {
    return this.leases.get(id)?.record;
  }

  /** The keys attached to `id`, in the order they were attached; empty for an unknown lease. */
  keys(id: LeaseId): readonly BinaryKey[] {
    const l = this.leases.get(id);
    return l === undefined ? [] : [...l.keys];
  }

  /** Every lease, by id; records are immutable, so a snapshot can hold them. */
  capture(): readonly LeaseRecord[] {
    return [...this.leases.values()].map((l) => l.record);
  }

  /** Adds a lease; ids must increase (a grant's log index, or a snapshot's order). Returns why not, or null. */
  add(record: LeaseRecord): string | null {
    if (record.id <= this.lastId) return `lease ${record.id} is not after lease ${this.lastId}`;
    this.lastId = record.id;
    this.leases.set(record.id, { record, keys: new Set() });
    return null;
  }

  /** Removes a lease and returns the keys that were attached to it (the caller deletes them). */
  remove(id: LeaseId): readonly BinaryKey[] {
    const l = this.leases.get(id);
    if (l === undefined) return [];
    this.leases.delete(id);
    return [...l.keys];
  }

  attach(id: LeaseId, key: BinaryKey): void {
    const l = this.leases.get(id);
    if (l === undefined) throw new Error(`LeaseTable.attach: no lease ${id}`);
    l.keys.add(key);
  }

  detach(id: LeaseId, key: BinaryKey): void {
    this.leases.get(id)?.keys.delete(key);
  }
}
