// Bounds on what a request may carry, shared by the command codec, both APIs and
// both client libraries, so a request one of them accepts is never refused by another.
// Those the state machine enforces are part of the replicated logic, not settings:
// a node with other values would apply the same log differently.

/** SPEC §3: keys are 1 to 4096 bytes. */
export const keyBytesMax = 4096;

/**
 * An idempotency key (REST `Idempotency-Key`, gRPC `request_id`) is 1 to this many
 * bytes; over REST it must be visible ASCII (a header value). It becomes the id of
 * a session, so it also bounds each id of a command's request tag.
 */
export const idempotencyKeyBytesMax = 256;

/** A transaction has at most this many comparisons, and at most this many operations per branch (etcd's default). */
export const txnComparesMax = 128;
export const txnOpsMax = 128;

/**
 * The values a transaction's gets return, together, in bytes. The result of a
 * transaction is remembered for its retries (exactly once), so it is kept small;
 * a transaction that would read more is refused whole (`txn_reads_too_large`).
 */
export const txnReadBytesMax = 64 * 1024;

/** A lease lives 1 second to 10 years without a keep-alive. */
export const leaseTtlSecondsMax = 10 * 365 * 24 * 3600;

/** Leases the store holds at once; a grant beyond it is refused (`too_many_leases`). */
export const leasesMax = 100_000;

/** Leases one expiry command removes; the leader splits a larger set of expired leases. */
export const leaseExpireBatchMax = 1_000;

/** A range (prefix listing) page returns at most this many keys, and 1000 when the request does not say. */
export const rangeLimitMax = 10_000;
export const rangeLimitDefault = 1_000;

/**
 * A page stops once its keys and values exceed this many bytes (it always holds at
 * least one key), so a page of large values stays a bounded answer.
 */
export const rangePageBytesMax = 4 * 1024 * 1024;
