/** Latency buckets (seconds) shared by the request histograms, so API dashboards line up. */
export const requestLatencyBucketsSeconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
