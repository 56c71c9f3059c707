// Bounds on what a request may carry, shared by the command codec, both APIs and
// both client libraries, so a request one of them accepts is never refused by another.

/** SPEC §3: keys are 1 to 4096 bytes. */
export const keyBytesMax = 4096;

/**
 * An idempotency key (REST `Idempotency-Key`, gRPC `request_id`) is 1 to this many
 * bytes; over REST it must be visible ASCII (a header value). It becomes the id of
 * a session, so it also bounds each id of a command's request tag.
 */
export const idempotencyKeyBytesMax = 256;
