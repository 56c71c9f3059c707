// What every CLI command shares: its output streams, the exit codes, and how a
// failed call is reported.
import type { Failed, MaybeApplied } from '../client/common.js';

export const EXIT_OK = 0;
/** Definitely not applied, or the key does not exist. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** A write whose outcome is unknown (it may have been applied). */
export const EXIT_MAYBE_APPLIED = 3;

export interface Writable {
  write(chunk: string | Uint8Array): unknown;
}

export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
}

export function reportError(io: CliIo, r: Failed | MaybeApplied): number {
  if (r.kind === 'maybe_applied') {
    io.stderr.write(`Error: outcome unknown, the write may have been applied (${r.error}: ${r.message}); idempotency key ${r.idempotencyKey}\n`);
    return EXIT_MAYBE_APPLIED;
  }
  const status = r.status === 0 ? '' : ` (HTTP ${r.status})`;
  const current = r.currentRevision !== undefined ? `; current revision ${r.currentRevision}` : '';
  io.stderr.write(`Error: ${r.error}${status}: ${r.message}${current}\n`);
  return EXIT_FAILED;
}

/** Rows as a boxed text table; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[]): string => `| ${r.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  const sep = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  return [sep, line(rows[0]!), sep, ...rows.slice(1).map(line), sep].join('\n') + '\n';
}
