import { defaultRaftConfig } from '../raft/config.js';

/** The key-value node's own bounds, around the Raft core's (src/raft/config.ts). */
export interface KvNodeConfig {
  /** How long a proposal or linearizable read may wait before it is answered as outcome-unknown. */
  readonly requestTimeoutMs: number;
  /** Take a snapshot once this many entries were applied since the last one ... */
  readonly snapshotEveryEntries: number;
  /** ... or this many bytes of entry data, whichever comes first. */
  readonly snapshotEveryBytes: number;
  /** A snapshot is read (and sent to followers) in chunks of this size: one per turn of the event loop. */
  readonly snapshotChunkBytes: number;
  /** Entries a shard rebuild may copy per turn of the event loop (memory reclamation). */
  readonly reclaimStepEntries: number;
}

/** Requests outlast this many election timeouts by default, so one lost election does not fail them. */
export const requestTimeoutElections = 5;

export const kvNodeDefaults: KvNodeConfig = {
  requestTimeoutMs: requestTimeoutElections * defaultRaftConfig.electionTimeoutMs,
  snapshotEveryEntries: 100_000,
  snapshotEveryBytes: 64 * 1024 * 1024,
  snapshotChunkBytes: 256 * 1024,
  reclaimStepEntries: 10_000,
};
