import { Counter, Gauge, type Registry } from 'prom-client';

/** Reads a value when scraped; null when there is nothing to report yet (no series is then set). */
export type Reading = () => number | null;

/**
 * A counter whose total is kept elsewhere (a plain field the source increments) and
 * copied in when scraped: the hot path pays for a `++`, not for prom-client.
 */
export function collectedCounter(registry: Registry, name: string, help: string, read: Reading): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      this.reset();
      if (v !== null) this.inc(v);
    },
  });
}

/** A gauge read from its source when scraped. */
export function collectedGauge(registry: Registry, name: string, help: string, read: Reading): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      const v = read();
      if (v !== null) this.set(v);
    },
  });
}
