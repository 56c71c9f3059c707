import { ChangeWindow, type ChangeFeed, type KvChange, type RevisionChanges } from './change-window.js';
import type { CompareOperator, KvCommand, KvResult, LeaseId, TxnCommand, TxnCompare, TxnOp, TxnOpResult } from './command.js';
import { decodeCommand } from './command.js';
import { LeaseTable, type LeaseRecord } from './leases.js';
import { leasesMax, rangeLimitMax, rangePageBytesMax, txnReadBytesMax } from './limits.js';
import { OrderedKeys } from './ordered-keys.js';
import { Sessions } from './sessions.js';
import type { BinaryKey, KvEntry } from './sharded-map.js';
import { binaryKey, ShardedMap } from './sharded-map.js';
import { parseSnapshot, SnapshotReader } from './snapshot.js';
import type { StoredEntry } from './value-arena.js';

export { SnapshotReader } from './snapshot.js';

export interface KvStateMachineConfig {
  /** A power of two; bounds the work of one copy-on-write clone or rebuild to one shard. */
  readonly shardCount: number;
  readonly sessionResultsPerClient: number;
  readonly sessionClientsMax: number;
  /** A client unseen for this many log entries loses its session. */
  readonly sessionExpiryEntries: number;
  /** See `ShardedMapOptions.reclaimDeletionsMin`. */
  readonly reclaimDeletionsMin: number;
  /** See `ShardedMapOptions.reclaimGarbageBytesMin`. */
  readonly reclaimGarbageBytesMin: number;
  /** The change window watches are served from: at most this many changes ... */
  readonly watchWindowChangesMax: number;
  /** ... and this many key and value bytes. */
  readonly watchWindowBytesMax: number;
}

export const kvStateMachineDefaults: KvStateMachineConfig = {
  // At a million keys, ~4k per shard: a copy-on-write clone or a rebuild of one
  // shard costs about a millisecond, and 90% deletions put every shard over the
  // reclaim thresholds (~3.5k deletions > max(1024, ~400 live), and likewise
  // their value bytes). 4096 shards would make the clones of a snapshot's first
  // turns 16 times smaller, but point GETs measured up to ~25% slower with them
  // (bench/point-ops.ts, BENCHMARKS.md), so the shards stay this size.
  shardCount: 256,
  sessionResultsPerClient: 16,
  sessionClientsMax: 10_000,
  sessionExpiryEntries: 1_000_000,
  reclaimDeletionsMin: 1024,
  reclaimGarbageBytesMin: 4096,
  // etcd keeps its history until compacted (commonly a few minutes' or a thousand
  // revisions' worth); ten thousand changes lets a watcher that reconnects after a
  // failover resume without a gap, and the bytes bound keeps large values in check.
  watchWindowChangesMax: 10_000,
  watchWindowBytesMax: 16 * 1024 * 1024,
};

export type KvApplyOutcome = KvResult | { readonly error: string };

export interface RangeQuery {
  /** Keys starting with these bytes; empty for every key. */
  readonly prefix: Uint8Array;
  /** Continue after this key (the last one of the previous page); null to start at the prefix. */
  readonly after: Uint8Array | null;
  /** 1..rangeLimitMax keys per page. */
  readonly limit: number;
  /** Values are not returned, and do not count toward the page's byte bound. */
  readonly keysOnly: boolean;
}

export interface RangePage {
  /** In byte order of the keys. Values are the store's own: do not mutate them. */
  readonly entries: readonly { readonly key: BinaryKey; readonly entry: KvEntry }[];
  /** More keys under the prefix follow the last one returned. */
  readonly more: boolean;
}

/**
 * The key-value store Raft applies committed entries to: a deterministic
 * function of the log. No clock, randomness or I/O; every replica that applies
 * the same entries holds the same keys, values, revisions, leases, sessions and
 * change window.
 *
 * Every write goes through `write` / `remove`, which keep the sharded map, the
 * ordered index, the lease table's key sets and the change window in step.
 *
 * Invariants:
 *   appliedIndex() only grows; every stored revision and session index <= it
 *   the ordered index holds exactly the map's keys
 *   an entry's lease exists and lists the entry's key, and no other lease does
 *   the window's latest change of each key agrees with the map (see restore)
 *   a request tag's first result is returned for every later retry while the
 *   client's session keeps it (see Sessions)
 */
export class KvStateMachine {
  private readonly map: ShardedMap;
  private index = new OrderedKeys();
  private readonly sessions: Sessions;
  private readonly leases = new LeaseTable();
  private window: ChangeWindow;
  private applied = 0;

  constructor(readonly config: KvStateMachineConfig = kvStateMachineDefaults) {
    this.map = new ShardedMap(config.shardCount, { reclaimDeletionsMin: config.reclaimDeletionsMin, reclaimGarbageBytesMin: config.reclaimGarbageBytesMin });
    this.sessions = new Sessions({
      resultsPerClient: config.sessionResultsPerClient,
      clientsMax: config.sessionClientsMax,
      expiryEntries: config.sessionExpiryEntries,
    });
    this.window = new ChangeWindow(windowLimits(config));
  }

  appliedIndex(): number {
    return this.applied;
  }

  size(): number {
    return this.map.size();
  }

  /** Key and value bytes stored: an approximation of the memory the data itself takes. */
  bytes(): number {
    return this.map.bytes();
  }

  /** Shard rebuilds (memory reclamation) completed since this state machine was created. */
  shardRebuilds(): number {
    return this.map.rebuilds();
  }

  sessionCount(): number {
    return this.sessions.size();
  }

  leaseCount(): number {
    return this.leases.size();
  }

  /** The key's value and revision. The value is a view of the store's bytes: do not mutate it. */
  get(key: Uint8Array): KvEntry | undefined {
    return this.map.get(binaryKey(key));
  }

  /** One page of the keys under a prefix, in byte order (see `RangeQuery`). */
  range(q: RangeQuery): RangePage {
    if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > rangeLimitMax) throw new Error(`KvStateMachine.range: limit ${q.limit}`);
    const prefix = binaryKey(q.prefix);
    const after = q.after === null ? null : binaryKey(q.after);
    const fromAfter = after !== null && after >= prefix;
    const entries: { key: BinaryKey; entry: KvEntry }[] = [];
    let bytes = 0;
    let more = false;
    this.index.forEachFrom(fromAfter ? after : prefix, fromAfter, (key) => {
      if (!key.startsWith(prefix)) return false;
      const entry = this.map.get(key)!;
      const size = key.length + (q.keysOnly ? 0 : entry.valueLength);
      if (entries.length >= q.limit || (entries.length > 0 && bytes + size > rangePageBytesMax)) {
        more = true;
        return false;
      }
      entries.push({ key, entry });
      bytes += size;
      return true;
    });
    return { entries, more };
  }

  /** The lease and the keys attached to it, if it exists. */
  lease(id: LeaseId): { readonly record: LeaseRecord; readonly keys: readonly BinaryKey[] } | undefined {
    const record = this.leases.get(id);
    return record === undefined ? undefined : { record, keys: this.leases.keys(id) };
  }

  /** Every lease, by id. */
  leaseRecords(): readonly LeaseRecord[] {
    return this.leases.capture();
  }

  /** The recent changes watches are served from. */
  changes(): ChangeFeed {
    return this.window;
  }

  /**
   * Applies the command entry at `index`. Bytes that do not decode are applied as
   * a no-op and answered with `{ error }`: every replica sees the same bytes, so
   * every replica skips them alike.
   */
  apply(index: number, data: Uint8Array): KvApplyOutcome {
    this.advanceTo(index);
    const command = decodeCommand(data);
    if ('error' in command) return command;
    const tag = command.op === 'lease_expire' ? null : command.tag;
    if (tag !== null) {
      const first = this.sessions.lookup(tag);
      if (first !== undefined) {
        this.sessions.touch(tag.clientId, index);
        return first;
      }
    }
    // Every change the command makes goes to the window as one revision.
    this.window.begin(index);
    const result = this.execute(index, command);
    this.window.end();
    if (tag !== null) this.sessions.record(tag, index, result);
    return result;
  }

  /** Applies an entry that carries no command (a leader's no-op, a configuration change). */
  applyNoop(index: number): void {
    this.advanceTo(index);
  }

  /**
   * Captures the state at the applied index; the reader serialises it in chunks.
   * Applying further entries meanwhile does not change what it yields: the
   * shards are pinned (copy-on-write), and sessions, leases and the window's
   * records are immutable objects. O(shardCount + sessions + leases + window
   * revisions) now, the rest spread over `next` calls.
   */
  snapshot(): SnapshotReader {
    return new SnapshotReader({
      appliedIndex: this.applied,
      windowCompactedThrough: this.window.compacted(),
      leases: this.leases.capture(),
      shards: this.map.pinShards(),
      release: (shard, map) => this.map.unpinShard(shard, map),
      sessions: this.sessions.capture(),
      window: this.window.capture(),
    });
  }

  /**
   * Rebuilds a state machine from a snapshot's chunks. A corrupt, truncated or
   * inconsistent snapshot yields `{ error }` and no state machine, never a throw.
   * Consistent means: every entry's lease exists; and the change window agrees
   * with the entries: the last change of each key in the window is a put of the
   * entry's value, revision and lease, or a delete of a key that is absent, and
   * every entry written after the window's start is such a put.
   */
  static restore(config: KvStateMachineConfig, chunks: Iterable<Uint8Array>): KvStateMachine | { readonly error: string } {
    const sm = new KvStateMachine(config);
    const keys: BinaryKey[] = [];
    const revisions: RevisionChanges[] = [];
    let compactedThrough = 0;
    let entriesInWindow = 0;
    const failure = parseSnapshot(chunks, {
      header: (appliedIndex, compacted) => {
        sm.applied = appliedIndex;
        compactedThrough = compacted;
        return null;
      },
      lease: (record) => sm.leases.add(record),
      entry: (key, entry) => {
        if (sm.map.get(key) !== undefined) return 'a key appears twice';
        if (entry.lease !== 0) {
          if (!sm.leases.has(entry.lease)) return `an entry names lease ${entry.lease}, which does not exist`;
          sm.leases.attach(entry.lease, key);
        }
        sm.map.set(key, entry.value, entry.revision, entry.lease);
        keys.push(key);
        if (entry.revision > compactedThrough) entriesInWindow++;
        return null;
      },
      session: (clientId, session) => sm.sessions.restore(clientId, session),
      revision: (r) => {
        const last = revisions[revisions.length - 1];
        if (last !== undefined && r.revision <= last.revision) return `window revision ${r.revision} is not after ${last.revision}`;
        if (new Set(r.changes.map((c) => c.key)).size !== r.changes.length) return `window revision ${r.revision} changes a key twice`;
        revisions.push(r);
        return null;
      },
      end: () => {
        const problem = sm.restoreWindow(compactedThrough, revisions, entriesInWindow);
        if (problem === null) sm.index = OrderedKeys.of(keys);
        return problem;
      },
    });
    return failure ?? sm;
  }

  /**
   * Rebuilds at most `budgetEntries` entries' worth of shards that had many
   * deletions; returns whether work remains. The host calls it between events.
   */
  reclaimStep(budgetEntries: number): boolean {
    return this.map.reclaimStep(budgetEntries);
  }

  /** Checks the window against the entries (see `restore`) and installs it, sharing the entries' values. */
  private restoreWindow(compactedThrough: number, revisions: readonly RevisionChanges[], entriesInWindow: number): string | null {
    const latest = new Map<BinaryKey, number>();
    for (const r of revisions) for (const c of r.changes) latest.set(c.key, r.revision);
    let puts = 0;
    for (const r of revisions) {
      for (const c of r.changes) {
        if (latest.get(c.key) !== r.revision) continue;
        const e = this.map.get(c.key);
        if (c.value === null) {
          if (e !== undefined) return `the window deletes a key at ${r.revision} that is present`;
          continue;
        }
        if (e === undefined || e.revision !== r.revision || e.lease !== c.lease || Buffer.compare(e.value, c.value) !== 0) {
          return `the window's put at ${r.revision} disagrees with the entry of its key`;
        }
        puts++;
      }
    }
    if (puts !== entriesInWindow) return `${entriesInWindow} entries were written after revision ${compactedThrough}, but the window has ${puts} of them`;
    this.window = new ChangeWindow(windowLimits(this.config), compactedThrough);
    for (const r of revisions) {
      const changes = r.changes.map((c): KvChange => {
        if (c.value === null || latest.get(c.key) !== r.revision) return c;
        return { key: c.key, value: this.map.get(c.key)!.value, lease: c.lease };
      });
      this.window.record({ revision: r.revision, changes });
    }
    return null;
  }

  private advanceTo(index: number): void {
    if (!Number.isSafeInteger(index) || index <= this.applied) {
      throw new Error(`KvStateMachine: index ${index} is not after the applied index ${this.applied}`);
    }
    this.applied = index;
    this.sessions.expire(index);
  }

  private execute(index: number, c: KvCommand): KvResult {
    switch (c.op) {
      case 'put':
      case 'delete': {
        const key = binaryKey(c.key);
        const shard = this.map.shardOf(key);
        const current = this.map.get(key, shard);
        const holds =
          c.condition.kind === 'none' ||
          (c.condition.kind === 'absent' && current === undefined) ||
          (c.condition.kind === 'revision' && current !== undefined && current.revision === c.condition.revision);
        if (!holds) return { op: c.op, ok: false, error: 'revision_mismatch', currentRevision: current?.revision ?? null };
        if (c.op === 'delete') {
          if (current !== undefined) this.remove(key, current, shard);
          return { op: 'delete', ok: true, deleted: current !== undefined, revision: index };
        }
        if (c.lease !== undefined && !this.leases.has(c.lease)) return { op: 'put', ok: false, error: 'lease_not_found', lease: c.lease };
        this.write(index, key, c.value, c.lease ?? 0, current, shard);
        return { op: 'put', ok: true, revision: index };
      }
      case 'txn':
        return this.executeTxn(index, c);
      case 'lease_grant':
        if (this.leases.size() >= leasesMax) return { op: 'lease_grant', ok: false, error: 'too_many_leases' };
        this.mustAddLease({ id: index, ttlSeconds: c.ttlSeconds });
        return { op: 'lease_grant', ok: true, lease: index, ttlSeconds: c.ttlSeconds };
      case 'lease_revoke':
        if (!this.leases.has(c.lease)) return { op: 'lease_revoke', ok: false, error: 'lease_not_found', lease: c.lease };
        this.revoke(c.lease);
        return { op: 'lease_revoke', ok: true, revision: index };
      case 'lease_expire': {
        let expired = 0;
        for (const id of c.leases) {
          if (!this.leases.has(id)) continue;
          this.revoke(id);
          expired++;
        }
        return { op: 'lease_expire', ok: true, revision: index, expired };
      }
    }
  }

  private executeTxn(index: number, c: TxnCommand): KvResult {
    const succeeded = c.compare.every((k) => this.compareHolds(k));
    const ops = succeeded ? c.success : c.failure;
    for (const o of ops) {
      if (o.op === 'put' && o.lease !== undefined && !this.leases.has(o.lease)) return { op: 'txn', ok: false, error: 'lease_not_found', lease: o.lease };
    }
    if (this.txnReadBytes(ops) > txnReadBytesMax) return { op: 'txn', ok: false, error: 'txn_reads_too_large' };
    const results = ops.map((o): TxnOpResult => {
      const key = binaryKey(o.key);
      const current = this.map.get(key);
      switch (o.op) {
        case 'put':
          this.write(index, key, o.value, o.lease ?? 0, current);
          return { op: 'put' };
        case 'delete':
          if (current !== undefined) this.remove(key, current);
          return { op: 'delete', deleted: current !== undefined };
        case 'get':
          // A copy: the session keeps the result, and a view would keep the value's whole arena block.
          return current === undefined ? { op: 'get', found: false } : { op: 'get', found: true, value: current.value.slice(), revision: current.revision };
      }
    });
    return { op: 'txn', ok: true, succeeded, revision: index, results };
  }

  /** The value bytes a branch's gets would return, each seeing the branch's earlier writes. */
  private txnReadBytes(ops: readonly TxnOp[]): number {
    const written = new Map<BinaryKey, number>();
    let total = 0;
    for (const o of ops) {
      const key = binaryKey(o.key);
      if (o.op === 'put') written.set(key, o.value.length);
      else if (o.op === 'delete') written.set(key, 0);
      else total += written.get(key) ?? this.map.get(key)?.valueLength ?? 0;
    }
    return total;
  }

  private compareHolds(k: TxnCompare): boolean {
    const current = this.map.get(binaryKey(k.key));
    if (k.target === 'revision') return holds(k.operator, (current?.revision ?? 0) - k.revision);
    return current !== undefined && holds(k.operator, Buffer.compare(current.value, k.value));
  }

  private mustAddLease(record: LeaseRecord): void {
    const problem = this.leases.add(record);
    if (problem !== null) throw new Error(`KvStateMachine: ${problem}`);
  }

  /**
   * Ends a lease: every key attached to it is deleted at this revision, in byte
   * order (the lease table's own order depends on the replica's history of
   * restores, and the window's order of changes must not).
   */
  private revoke(id: LeaseId): void {
    const keys = [...this.leases.remove(id)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const key of keys) this.remove(key, this.map.get(key)!);
  }

  /** `current` is the key's entry now, and `shard` its shard (as `ShardedMap.get` takes it), if the caller has it. */
  private write(index: number, key: BinaryKey, value: Uint8Array, lease: LeaseId, current: StoredEntry | undefined, shard: number = this.map.shardOf(key)): void {
    if (current === undefined) this.index.insert(key);
    else if (current.lease !== 0) this.leases.detach(current.lease, key);
    if (lease !== 0) this.leases.attach(lease, key);
    // The map stores a copy (the command's value is a view into the log entry);
    // the window shares it. The window holds the latest changes only, whose
    // values are in the arena's newest blocks, so it keeps few others alive.
    const stored = this.map.set(key, value, index, lease, shard);
    this.window.add(key, stored.value, lease);
  }

  private remove(key: BinaryKey, current: StoredEntry, shard: number = this.map.shardOf(key)): void {
    this.map.delete(key, shard);
    this.index.delete(key);
    if (current.lease !== 0) this.leases.detach(current.lease, key);
    this.window.add(key, null, 0);
  }
}

function windowLimits(config: KvStateMachineConfig): { changesMax: number; bytesMax: number } {
  return { changesMax: config.watchWindowChangesMax, bytesMax: config.watchWindowBytesMax };
}

/** Whether `sign` (negative, zero or positive, as a comparison returns) satisfies the operator. */
function holds(operator: CompareOperator, sign: number): boolean {
  switch (operator) {
    case 'equal':
      return sign === 0;
    case 'not_equal':
      return sign !== 0;
    case 'less':
      return sign < 0;
    case 'greater':
      return sign > 0;
  }
}
