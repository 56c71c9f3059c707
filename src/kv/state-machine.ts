import type { KvCommand, KvResult } from './command.js';
import { decodeCommand } from './command.js';
import { Sessions } from './sessions.js';
import type { KvEntry } from './sharded-map.js';
import { binaryKey, ShardedMap } from './sharded-map.js';
import { parseSnapshot, SnapshotReader } from './snapshot.js';

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
}

export const kvStateMachineDefaults: KvStateMachineConfig = {
  // At a million keys, ~4k per shard: a copy-on-write clone or a rebuild of one
  // shard costs about a millisecond, and 90% deletions put every shard over the
  // reclaim threshold (~3.5k deletions > max(1024, ~400 live)).
  shardCount: 256,
  sessionResultsPerClient: 16,
  sessionClientsMax: 10_000,
  sessionExpiryEntries: 1_000_000,
  reclaimDeletionsMin: 1024,
};

export type KvApplyOutcome = KvResult | { readonly error: string };

/**
 * The key-value store Raft applies committed entries to: a deterministic
 * function of the log. No clock, randomness or I/O; every replica that applies
 * the same entries holds the same keys, values, revisions and sessions.
 *
 * Invariants:
 *   appliedIndex() only grows; every stored revision and session index <= it
 *   a request tag's first result is returned for every later retry while the
 *   client's session keeps it (see Sessions)
 */
export class KvStateMachine {
  private readonly map: ShardedMap;
  private readonly sessions: Sessions;
  private applied = 0;

  constructor(readonly config: KvStateMachineConfig = kvStateMachineDefaults) {
    this.map = new ShardedMap(config.shardCount, { reclaimDeletionsMin: config.reclaimDeletionsMin });
    this.sessions = new Sessions({
      resultsPerClient: config.sessionResultsPerClient,
      clientsMax: config.sessionClientsMax,
      expiryEntries: config.sessionExpiryEntries,
    });
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

  /** The key's value and revision. The value is the store's own: do not mutate it. */
  get(key: Uint8Array): KvEntry | undefined {
    return this.map.get(binaryKey(key));
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
    if (command.tag !== null) {
      const first = this.sessions.lookup(command.tag);
      if (first !== undefined) {
        this.sessions.touch(command.tag.clientId, index);
        return first;
      }
    }
    const result = this.execute(index, command);
    if (command.tag !== null) this.sessions.record(command.tag, index, result);
    return result;
  }

  /** Applies an entry that carries no command (a leader's no-op, a configuration change). */
  applyNoop(index: number): void {
    this.advanceTo(index);
  }

  /**
   * Captures the state at the applied index; the reader serialises it in chunks.
   * Applying further entries meanwhile does not change what it yields: the
   * shards are pinned (copy-on-write) and sessions are immutable objects.
   * O(shardCount + sessions) now, the rest spread over `next` calls.
   */
  snapshot(): SnapshotReader {
    return new SnapshotReader({
      appliedIndex: this.applied,
      shards: this.map.pinShards(),
      release: (shard, map) => this.map.unpinShard(shard, map),
      sessions: this.sessions.capture(),
    });
  }

  /**
   * Rebuilds a state machine from a snapshot's chunks. A corrupt or truncated
   * snapshot yields `{ error }` and no state machine, never a throw.
   */
  static restore(config: KvStateMachineConfig, chunks: Iterable<Uint8Array>): KvStateMachine | { readonly error: string } {
    const sm = new KvStateMachine(config);
    const failure = parseSnapshot(chunks, {
      header: (appliedIndex) => {
        sm.applied = appliedIndex;
        return null;
      },
      entry: (key, entry) => {
        if (sm.map.get(key) !== undefined) return 'a key appears twice';
        sm.map.set(key, entry);
        return null;
      },
      session: (clientId, session) => sm.sessions.restore(clientId, session),
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

  private advanceTo(index: number): void {
    if (!Number.isSafeInteger(index) || index <= this.applied) {
      throw new Error(`KvStateMachine: index ${index} is not after the applied index ${this.applied}`);
    }
    this.applied = index;
    this.sessions.expire(index);
  }

  private execute(index: number, c: KvCommand): KvResult {
    const key = binaryKey(c.key);
    const current = this.map.get(key);
    const holds =
      c.condition.kind === 'none' ||
      (c.condition.kind === 'absent' && current === undefined) ||
      (c.condition.kind === 'revision' && current !== undefined && current.revision === c.condition.revision);
    if (!holds) return { op: c.op, ok: false, error: 'revision_mismatch', currentRevision: current?.revision ?? null };
    switch (c.op) {
      case 'put':
        // A copy: the command's value is a view into the log entry, which may be
        // a slice of a larger buffer that must not be kept alive.
        this.map.set(key, { value: c.value.slice(), revision: index });
        return { op: 'put', ok: true, revision: index };
      case 'delete':
        return { op: 'delete', ok: true, deleted: current !== undefined && this.map.delete(key), revision: index };
    }
  }
}
