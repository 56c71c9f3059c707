import type { LeaseId } from './command.js';
import { lowerBound } from './lower-bound.js';
import type { BinaryKey } from './sharded-map.js';

/** One key's change at a revision: its new value, or null when it was deleted. */
export interface KvChange {
  readonly key: BinaryKey;
  readonly value: Uint8Array | null;
  /** The lease the key is attached to after a put; 0 for none (and for deletes). */
  readonly lease: LeaseId;
}

/** Every change one command made, at its revision (its log index). Each key appears at most once. */
export interface RevisionChanges {
  readonly revision: number;
  readonly changes: readonly KvChange[];
}

export interface ChangeWindowLimits {
  /** Changes kept (summed over revisions); the oldest revisions are dropped past it. */
  readonly changesMax: number;
  /** Key and value bytes kept, likewise. */
  readonly bytesMax: number;
}

/** The read side, as watchers use it. */
export interface ChangeFeed {
  /** Every revision from this one on is in the window (revisions without changes have no record). */
  oldestServable(): number;
  /**
   * Calls `visit` with the revisions at or after `revision`, oldest first, until it
   * returns false. Throws if `revision` is older than `oldestServable()`. The
   * objects are built for the call: keep them if you like.
   */
  forEachFrom(revision: number, visit: (r: RevisionChanges) => boolean): void;
}

/**
 * The recent history of the store, for watches: the changes of the latest
 * revisions, bounded by count and bytes. Part of the replicated state (and of
 * snapshots), so every replica can serve the same watches, from the same oldest
 * revision, whatever its restarts and snapshot installs; the bounds are fixed in
 * the code for the same reason. A put's value is the same buffer the store holds,
 * so the window costs memory only for values since overwritten or deleted.
 *
 * Writes are on the apply path, so they allocate nothing per change: changes go
 * into parallel arrays (key, value, lease) and each revision is a start offset
 * into them. A revision is opened with `begin`, filled with `add` and closed with
 * `end`; an opened revision that got no change leaves no record.
 *
 * Invariants:
 *   revs[revHead..] strictly increase, all > compactedThrough; starts[i] is
 *   revision i's first change, and its changes run to starts[i + 1] (or the end)
 *   changeCount and byteCount are the sums over the changes kept
 *   the limits hold, except that the newest revision is always kept
 */
export class ChangeWindow implements ChangeFeed {
  private revs: number[] = [];
  private starts: number[] = [];
  private revHead = 0;
  private keys: BinaryKey[] = [];
  private values: (Uint8Array | null)[] = [];
  private leases: LeaseId[] = [];
  private changeHead = 0;
  private changeCount = 0;
  private byteCount = 0;
  /** The revision being recorded, and where its changes start; 0 when none is open. */
  private open = 0;
  private openStart = 0;

  /** @param compactedThrough the newest revision already dropped (0: none). */
  constructor(
    readonly limits: ChangeWindowLimits,
    private compactedThrough = 0,
  ) {
    for (const [name, v] of Object.entries(limits)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new Error(`ChangeWindow: ${name} ${String(v)} is not a positive integer`);
    }
  }

  oldestServable(): number {
    return this.compactedThrough + 1;
  }

  /** The newest revision dropped from the window, 0 if none was. */
  compacted(): number {
    return this.compactedThrough;
  }

  changes(): number {
    return this.changeCount;
  }

  bytes(): number {
    return this.byteCount;
  }

  revisions(): number {
    return this.revs.length - this.revHead;
  }

  begin(revision: number): void {
    const last = this.revisions() > 0 ? this.revs[this.revs.length - 1]! : this.compactedThrough;
    if (this.open !== 0 || revision <= last) throw new Error(`ChangeWindow.begin: revision ${revision} is not after the window's last (${last})`);
    this.open = revision;
    this.openStart = this.keys.length;
  }

  add(key: BinaryKey, value: Uint8Array | null, lease: LeaseId): void {
    if (this.open === 0) throw new Error('ChangeWindow.add: no revision is open');
    this.keys.push(key);
    this.values.push(value);
    this.leases.push(lease);
  }

  /** Closes the open revision and drops the oldest revisions over the limits. */
  end(): void {
    const revision = this.open;
    this.open = 0;
    if (revision === 0) throw new Error('ChangeWindow.end: no revision is open');
    if (this.keys.length === this.openStart) return;
    this.revs.push(revision);
    this.starts.push(this.openStart);
    for (let i = this.openStart; i < this.keys.length; i++) this.byteCount += this.keys[i]!.length + (this.values[i]?.length ?? 0);
    this.changeCount += this.keys.length - this.openStart;
    while (this.revisions() > 1 && (this.changeCount > this.limits.changesMax || this.byteCount > this.limits.bytesMax)) this.dropOldest();
  }

  /** A whole revision at once (restoring a snapshot). */
  record(r: RevisionChanges): void {
    if (r.changes.length === 0) throw new Error('ChangeWindow.record: a revision without changes');
    this.begin(r.revision);
    for (const c of r.changes) this.add(c.key, c.value, c.lease);
    this.end();
  }

  forEachFrom(revision: number, visit: (r: RevisionChanges) => boolean): void {
    if (revision <= this.compactedThrough) throw new Error(`ChangeWindow: revision ${revision} was compacted (oldest servable ${this.oldestServable()})`);
    for (let i = this.firstAtOrAfter(revision); i < this.revs.length; i++) if (!visit(this.at(i))) return;
  }

  /** The records, oldest first (for a snapshot). */
  capture(): readonly RevisionChanges[] {
    const out: RevisionChanges[] = [];
    for (let i = this.revHead; i < this.revs.length; i++) out.push(this.at(i));
    return out;
  }

  private at(i: number): RevisionChanges {
    const end = i + 1 < this.starts.length ? this.starts[i + 1]! : this.keys.length;
    const changes: KvChange[] = [];
    for (let c = this.starts[i]!; c < end; c++) changes.push({ key: this.keys[c]!, value: this.values[c]!, lease: this.leases[c]! });
    return { revision: this.revs[i]!, changes };
  }

  private firstAtOrAfter(revision: number): number {
    return lowerBound(this.revs, revision, this.revHead);
  }

  private dropOldest(): void {
    const i = this.revHead++;
    const end = this.starts[i + 1]!;
    this.compactedThrough = this.revs[i]!;
    for (let c = this.changeHead; c < end; c++) {
      this.byteCount -= this.keys[c]!.length + (this.values[c]?.length ?? 0);
      // Let the value go now, not when the arrays are next cut.
      this.values[c] = null;
    }
    this.changeCount -= end - this.changeHead;
    this.changeHead = end;
    // Cut the dead front once it is half the arrays: amortised O(1) per change.
    if (this.revHead * 2 >= this.revs.length) {
      this.revs = this.revs.slice(this.revHead);
      this.starts = this.starts.slice(this.revHead).map((s) => s - this.changeHead);
      this.keys = this.keys.slice(this.changeHead);
      this.values = this.values.slice(this.changeHead);
      this.leases = this.leases.slice(this.changeHead);
      this.revHead = 0;
      this.changeHead = 0;
    }
  }
}
