/**
 * Latency buckets (seconds) shared by every duration histogram, so dashboards line
 * up: 100 µs (a stale read, an fsync on a fast disk) to 10 s (past any request
 * timeout at the default election timeout).
 */
export const latencyBucketsSeconds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Buckets for counts per batch (entries per fsync, per append message), up to appendEntriesMax and beyond. */
export const batchSizeBuckets = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
