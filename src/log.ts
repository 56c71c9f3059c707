import { pino, type Logger as PinoLogger } from 'pino';

/** Structured logs (JSON lines), one logger per node with its id bound. */
export type Logger = PinoLogger;

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export function createLogger(nodeId: string, level: LogLevel): Logger {
  return pino({ level, base: { node: nodeId } });
}

/** A logger that drops everything, for tests of single modules. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
