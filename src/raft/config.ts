/** Timing and flow-control settings of the Raft core, all in milliseconds, entries or bytes. */
export interface RaftConfig {
  /** The election timeout is drawn uniformly from [electionTimeoutMs, 2 * electionTimeoutMs). */
  readonly electionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** Appends in flight to one follower before the leader waits for acknowledgements. */
  readonly inflightAppendsMax: number;
  readonly appendEntriesMax: number;
  readonly appendBytesMax: number;
  /** Proposals accepted but not yet committed, past which the leader refuses new ones. */
  readonly uncommittedEntriesMax: number;
  /**
   * Lease reads assume clocks on different nodes advance at nearly the same rate: a
   * lease lasts electionTimeoutMs minus this bound after the heartbeat that earned it.
   */
  readonly leaseClockDriftMs: number;
  /** Snapshot chunks in flight to one follower before the leader waits for its answers. */
  readonly snapshotChunksInflightMax: number;
  /** Entries kept in memory behind a new snapshot, for followers only slightly behind. */
  readonly snapshotCatchUpEntries: number;
  /** A learner is promoted only when its log is at most this many entries behind the leader's last index. */
  readonly learnerPromotionDistanceEntries: number;
}

export const defaultRaftConfig: RaftConfig = {
  electionTimeoutMs: 1000,
  heartbeatIntervalMs: 100,
  inflightAppendsMax: 64,
  appendEntriesMax: 256,
  appendBytesMax: 1 << 20,
  uncommittedEntriesMax: 10_000,
  leaseClockDriftMs: 100,
  snapshotChunksInflightMax: 4,
  snapshotCatchUpEntries: 1000,
  learnerPromotionDistanceEntries: 1000,
};

/** Why `c` breaks the core's rules (every bound positive, timing that works), or null. */
export function validateRaftConfig(c: RaftConfig): string | null {
  for (const [k, v] of Object.entries(c)) {
    if (!Number.isInteger(v) || v < 0 || (v === 0 && k !== 'snapshotCatchUpEntries' && k !== 'learnerPromotionDistanceEntries')) return `${k} must be a positive integer, got ${String(v)}`;
  }
  if (c.heartbeatIntervalMs * 2 > c.electionTimeoutMs) return 'heartbeatIntervalMs must be at most half of electionTimeoutMs';
  if (c.leaseClockDriftMs >= c.electionTimeoutMs) return 'leaseClockDriftMs must be below electionTimeoutMs';
  return null;
}
