/** Seconds since `start`, a `process.hrtime.bigint()` reading: what duration histograms observe. */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
