import type { Logger } from './log.js';

/** How often one kind of refusal may reach the log. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Logs at most one line per key per interval, and says how many it held back: a
 * flood of refusals (connections, handshakes, requests) costs a counter increment
 * each, not a log line each, so an attacker cannot fill the disk or drown the
 * lines that matter. Keys must come from a fixed set (reasons, never addresses).
 */
export class LogThrottle {
  private readonly last = new Map<string, { atMs: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
    private readonly nowMs: () => number = Date.now,
  ) {}

  warn(key: string, fields: Record<string, unknown>, message: string): void {
    this.write('warn', key, fields, message);
  }

  /** For what is the client's doing and worth knowing of, but is no problem of the node's (a client that hung up). */
  info(key: string, fields: Record<string, unknown>, message: string): void {
    this.write('info', key, fields, message);
  }

  private write(level: 'warn' | 'info', key: string, fields: Record<string, unknown>, message: string): void {
    const now = this.nowMs();
    const seen = this.last.get(key);
    if (seen !== undefined && now - seen.atMs < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.last.set(key, { atMs: now, suppressed: 0 });
    this.log[level](suppressed > 0 ? { ...fields, suppressedSinceLast: suppressed } : fields, message);
  }
}
