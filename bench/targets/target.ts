import type { Op } from '../workload.js';

/**
 * How one operation ended. `ok` includes a GET or DELETE of an absent key (a
 * correct answer); every other kind is a failure, counted by kind.
 */
export type Outcome = 'ok' | FailureKind;

export type FailureKind =
  /** No leader, or a refused write that was not applied (REST 503, gRPC UNAVAILABLE). */
  | 'unavailable'
  /** Maybe applied (REST 504, gRPC DEADLINE_EXCEEDED / UNKNOWN). */
  | 'outcome_unknown'
  /** More redirects than a cluster of this size can need. */
  | 'redirect_loop'
  /** The client's own timeout. */
  | 'timeout'
  /** The connection failed. */
  | 'network'
  /** Any other status: `http_429`, `grpc_8`, … */
  | `http_${number}`
  | `grpc_${number}`;

/** The store under test, as the load generator drives it. */
export interface Target {
  /** One line on how requests travel: protocol, connections, redirects. */
  readonly description: string;
  run(op: Op, key: number): Promise<Outcome>;
  close(): Promise<void>;
}
