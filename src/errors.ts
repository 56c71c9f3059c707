import { keyBytesMax, leasesMax, txnReadBytesMax } from './kv/limits.js';
import type { NodeId } from './raft/types.js';

/** Why a request did not get an answer from the state machine. */
export type RequestError =
  /** Refused before reaching any log: safe to retry (on the leader, if known). */
  | { readonly kind: 'not_leader'; readonly leaderId: NodeId | null }
  | { readonly kind: 'overloaded' }
  /** Reached a log, but this node cannot tell whether it will be applied. */
  | { readonly kind: 'outcome_unknown' }
  | { readonly kind: 'stopped' };

/**
 * The one catalog of client-facing errors: a stable code, its HTTP status and its
 * gRPC status code. REST and gRPC both map from here; the README's error table
 * lists the same rows (a test checks that).
 */
export const errorCatalog = {
  bad_request: { http: 400, grpc: 'INVALID_ARGUMENT', retry: 'never', meaning: 'malformed request (bad JSON, bad header, bad query)' },
  bad_key: { http: 400, grpc: 'INVALID_ARGUMENT', retry: 'never', meaning: `the key is empty, longer than ${keyBytesMax} bytes or badly percent-encoded` },
  unauthenticated: { http: 401, grpc: 'UNAUTHENTICATED', retry: 'with a valid token', meaning: 'authentication is on and the request has no bearer token, a malformed one or an unknown one' },
  permission_denied: { http: 403, grpc: 'PERMISSION_DENIED', retry: 'never', meaning: "the token's role may not do this (read < write < admin)" },
  bad_precondition: { http: 400, grpc: 'INVALID_ARGUMENT', retry: 'never', meaning: 'If-Match / If-None-Match malformed or combined' },
  key_not_found: { http: 404, grpc: 'NOT_FOUND', retry: 'never', meaning: 'no such key' },
  not_found: { http: 404, grpc: 'NOT_FOUND', retry: 'never', meaning: 'no such route' },
  method_not_allowed: { http: 405, grpc: 'UNIMPLEMENTED', retry: 'never', meaning: 'method not supported on this route (see Allow)' },
  length_required: { http: 411, grpc: 'INVALID_ARGUMENT', retry: 'never', meaning: 'a PUT without Content-Length or chunked body' },
  revision_mismatch: { http: 412, grpc: 'FAILED_PRECONDITION', retry: 'never', meaning: 'the key is not at the expected revision (or exists, for create-only)' },
  value_too_large: { http: 413, grpc: 'RESOURCE_EXHAUSTED', retry: 'never', meaning: 'the value exceeds http.value_bytes_max' },
  request_timeout: { http: 408, grpc: 'DEADLINE_EXCEEDED', retry: 'yes', meaning: 'the request did not arrive in full within http.body_timeout_ms / grpc.body_timeout_ms; not applied' },
  unsupported_media_type: { http: 415, grpc: 'INVALID_ARGUMENT', retry: 'never', meaning: 'a body type the route does not take' },
  too_many_requests: { http: 429, grpc: 'RESOURCE_EXHAUSTED', retry: 'after Retry-After', meaning: 'the listener has http.requests_max / grpc.requests_max requests in progress; not applied' },
  headers_too_large: { http: 431, grpc: 'RESOURCE_EXHAUSTED', retry: 'never', meaning: 'the request head exceeds 16 KiB' },
  lease_not_found: { http: 404, grpc: 'NOT_FOUND', retry: 'never', meaning: 'no such lease: it expired, was revoked or never existed; nothing was applied' },
  idempotency_key_reused: { http: 422, grpc: 'INVALID_ARGUMENT', retry: 'never', meaning: 'the Idempotency-Key (gRPC request_id) was first used for a request of another kind, whose first answer it keeps; nothing was applied' },
  txn_reads_too_large: { http: 413, grpc: 'RESOURCE_EXHAUSTED', retry: 'never', meaning: `the gets of a transaction would return more than ${txnReadBytesMax / 1024} KiB of values; nothing was applied` },
  too_many_leases: { http: 429, grpc: 'RESOURCE_EXHAUSTED', retry: 'once leases end', meaning: `the store holds ${leasesMax.toLocaleString('en-US')} leases; the grant was not applied` },
  compacted: { http: 410, grpc: 'OUT_OF_RANGE', retry: 'from a fresh listing', meaning: 'the watch starts before the oldest revision the change window holds (named in the message and X-Kvstore-Oldest-Revision): list again, then watch from the listing\'s revision + 1' },
  watch_too_slow: { http: 410, grpc: 'RESOURCE_EXHAUSTED', retry: 'from a fresh listing', meaning: 'the watcher stopped reading and the change window moved past it; it was cut off rather than buffered without bound' },
  too_many_watchers: { http: 429, grpc: 'RESOURCE_EXHAUSTED', retry: 'at another node, or later', meaning: 'this node serves as many watches as it may (10,000)' },
  member_not_found: { http: 404, grpc: 'NOT_FOUND', retry: 'never', meaning: 'no member with that id in the configuration; nothing changed' },
  member_exists: { http: 409, grpc: 'ALREADY_EXISTS', retry: 'never', meaning: 'a member with that id exists already (remove it first to replace it); nothing changed' },
  change_in_flight: { http: 409, grpc: 'ABORTED', retry: 'once the pending change commits', meaning: 'a membership change is not committed yet, or a new leader has not committed in its term: one change at a time; nothing changed' },
  not_learner: { http: 409, grpc: 'FAILED_PRECONDITION', retry: 'never', meaning: 'only a learner can be promoted, and this member votes already' },
  learner_behind: { http: 409, grpc: 'FAILED_PRECONDITION', retry: 'once it caught up', meaning: "the learner's log is more than raft.learner_promotion_distance_entries behind the leader's; not promoted" },
  last_voter: { http: 400, grpc: 'FAILED_PRECONDITION', retry: 'never', meaning: 'removing the only voter would leave no cluster; add another voter first' },
  not_voter: { http: 400, grpc: 'FAILED_PRECONDITION', retry: 'never', meaning: 'leadership can only go to another voter (not a learner)' },
  transfer_timed_out: { http: 503, grpc: 'UNAVAILABLE', retry: 'after Retry-After', meaning: 'the transfer target did not take over within an election timeout; the old leader leads on' },
  not_leader: { http: 307, grpc: 'UNAVAILABLE', retry: 'at the leader', meaning: 'this node does not lead: Location / X-Raft-Leader name the leader' },
  no_leader: { http: 503, grpc: 'UNAVAILABLE', retry: 'after Retry-After', meaning: 'no leader known now; the write was not applied' },
  overloaded: { http: 503, grpc: 'UNAVAILABLE', retry: 'after Retry-After', meaning: 'too many uncommitted proposals; the write was not applied' },
  node_stopping: { http: 503, grpc: 'UNAVAILABLE', retry: 'at another node', meaning: 'this node is stopping (SIGTERM or a storage fault); not applied' },
  not_ready: { http: 503, grpc: 'UNAVAILABLE', retry: 'after Retry-After', meaning: 'readiness: no leader known or still applying' },
  member_unreachable: { http: 502, grpc: 'UNAVAILABLE', retry: 'yes', meaning: 'the cluster page asked this node for another member, which did not answer' },
  outcome_unknown: { http: 504, grpc: 'DEADLINE_EXCEEDED', retry: 'only if idempotent', meaning: 'the write may or may not have been applied' },
  internal: { http: 500, grpc: 'INTERNAL', retry: 'never', meaning: 'a bug: reported, never caused by client input' },
} as const satisfies Record<string, { http: number; grpc: string; retry: string; meaning: string }>;

export type ErrorCode = keyof typeof errorCatalog;

/** The catalog code for a request the node could not take. */
export function codeOfRequestError(e: RequestError): ErrorCode {
  switch (e.kind) {
    case 'not_leader':
      return e.leaderId === null ? 'no_leader' : 'not_leader';
    case 'overloaded':
      return 'overloaded';
    case 'outcome_unknown':
      return 'outcome_unknown';
    case 'stopped':
      return 'node_stopping';
  }
}
