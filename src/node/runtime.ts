import type { Clock } from '../raft/host/raft-node.js';

/**
 * Everything a KvNode needs from the world that is not storage or the network:
 * time, randomness and "soon". Injected, so that the simulator runs the very same
 * node on a simulated clock of its own (drifting, per node) with seeded randomness,
 * and a seed reproduces a run; `realRuntime` (src/node/real-runtime.ts) is Node's.
 */
export interface NodeRuntime {
  /** The timers of the Raft core (elections, heartbeats) and of the node (request timeouts). */
  readonly clock: Clock;
  /** This node's monotonic clock, in milliseconds (lease reads and leader stickiness compare its readings). */
  nowMs(): number;
  /** A uniformly random integer in [0, bound): election jitter. */
  randomInt(bound: number): number;
  /**
   * A uniformly random integer in [0, 2^52), drawn once by each KvNode as it
   * starts, from randomness apart from the election jitter's: where that process
   * starts numbering its forwarded batches and reads.
   */
  requestIdBase(): number;
  /**
   * Runs `fn` after the current turn, once what is already due has run: proposals
   * arriving in the same turn reach the core as one batch, and a snapshot is taken
   * one chunk per turn.
   */
  soon(fn: () => void): void;
}
