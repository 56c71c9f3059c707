// What each server did in the measured window, beside its CPU time: how often its
// event loop woke and was preempted (from /proc), how many fsyncs it made and how
// many log entries each fsync and each append carried (from its /metrics). These
// say whether a run's cost per operation moved because the servers amortised less
// work per wake-up, fsync or message, or because each unit of work cost more.
import { contextSwitchesOf, type ContextSwitches } from './procs.js';
import type { System } from './run.js';

/** Counter names in one system's Prometheus exposition (summed over their labels). */
interface CounterNames {
  /** A histogram of fsync durations in seconds: its count is the fsyncs. */
  readonly fsyncSeconds: string;
  /** A histogram of entries per fsync, or null where the system has none. */
  readonly entriesPerFsync: string | null;
  readonly entriesPerAppend: string | null;
}

const namesOf: Readonly<Record<System, CounterNames>> = {
  kvstore: { fsyncSeconds: 'kvstore_storage_fsync_duration_seconds', entriesPerFsync: 'kvstore_storage_entries_per_fsync', entriesPerAppend: 'kvstore_raft_append_entries_per_message' },
  etcd: { fsyncSeconds: 'etcd_disk_wal_fsync_duration_seconds', entriesPerFsync: null, entriesPerAppend: null },
};

/** One server's counters at one moment. */
export interface CounterReading {
  readonly switches: ContextSwitches | null;
  /** Sample sums by metric name, or null when /metrics could not be read. */
  readonly samples: ReadonlyMap<string, number> | null;
}

/** One server's work in the window, per second; null where it could not be read. */
export interface ServerActivity {
  readonly wakeupsPerS: number | null;
  readonly preemptionsPerS: number | null;
  readonly fsyncsPerS: number | null;
  /** The mean time an fsync took, in milliseconds. */
  readonly fsyncMs: number | null;
  readonly entriesPerFsync: number | null;
  readonly entriesPerAppend: number | null;
}

/** Sums each metric's samples over its label sets (comments and blank lines skipped). */
export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const nameEnd = line.search(/[{ ]/);
    if (nameEnd <= 0) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!Number.isFinite(value)) continue;
    const name = line.slice(0, nameEnd);
    out.set(name, (out.get(name) ?? 0) + value);
  }
  return out;
}

async function scrape(url: string): Promise<Map<string, number> | null> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return res.ok ? parseExposition(await res.text()) : null;
  } catch {
    return null;
  }
}

export async function readCounters(pid: number, metricsUrl: string | null): Promise<CounterReading> {
  return { switches: contextSwitchesOf(pid), samples: metricsUrl === null ? null : await scrape(metricsUrl) };
}

export function activityBetween(system: System, before: CounterReading, after: CounterReading, seconds: number): ServerActivity {
  const names = namesOf[system];
  const delta = (name: string): number | null => {
    if (before.samples === null || after.samples === null) return null;
    const a = before.samples.get(name);
    const b = after.samples.get(name);
    return a === undefined || b === undefined ? null : b - a;
  };
  const mean = (histogram: string | null): number | null => {
    if (histogram === null) return null;
    const count = delta(`${histogram}_count`);
    const sum = delta(`${histogram}_sum`);
    return count === null || sum === null || count === 0 ? null : sum / count;
  };
  const scaled = (x: number | null, by: number): number | null => (x === null ? null : x * by);
  const perS = (d: number | null): number | null => scaled(d, 1 / seconds);
  const sw = before.switches !== null && after.switches !== null ? { voluntary: after.switches.voluntary - before.switches.voluntary, involuntary: after.switches.involuntary - before.switches.involuntary } : null;
  return {
    wakeupsPerS: perS(sw?.voluntary ?? null),
    preemptionsPerS: perS(sw?.involuntary ?? null),
    fsyncsPerS: perS(delta(`${names.fsyncSeconds}_count`)),
    fsyncMs: scaled(mean(names.fsyncSeconds), 1000),
    entriesPerFsync: mean(names.entriesPerFsync),
    entriesPerAppend: mean(names.entriesPerAppend),
  };
}
