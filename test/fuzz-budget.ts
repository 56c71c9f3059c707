// How many runs a fuzzer makes: a modest budget in `npm test`, KVSTORE_FUZZ_SCALE
// times more under `npm run fuzz`.

const scale = Number(process.env['KVSTORE_FUZZ_SCALE'] ?? '1');
if (!Number.isFinite(scale) || scale <= 0) throw new Error(`KVSTORE_FUZZ_SCALE must be a positive number, got ${process.env['KVSTORE_FUZZ_SCALE']}`);

export function fuzzRuns(base: number): number {
  return Math.max(1, Math.round(base * scale));
}

/** Test timeouts grow with the budget. */
export function fuzzTimeoutMs(baseMs: number): number {
  return Math.round(baseMs * Math.max(1, scale));
}
