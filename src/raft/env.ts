/**
 * What the Raft core needs from the world, injected so that a seed reproduces a run:
 * the current time (for leader stickiness) and a random source (for election jitter).
 * Timers are not here: the XState actor schedules them on the injected `Clock`.
 */
export interface RaftEnv {
  nowMs(): number;
  /** A uniformly random integer in [0, bound). */
  randomInt(bound: number): number;
}
