// The bench's tables: one block per run, the ratio table of --vs-etcd, and the
// search steps of --find-max.
import type { NodeFigures, RunResult } from './run.js';
import { OPS } from './workload.js';

function pad(cells: readonly (string | number)[], widths: readonly number[]): string {
  return cells.map((c, k) => String(c).padStart(widths[k]!)).join('  ');
}

export function modelText(r: RunResult): string {
  return r.model.kind === 'open' ? `open ${r.model.ratePerS}/s (in flight ≤ ${r.model.inflightMax})` : `closed ${r.model.clients} clients`;
}

const fixed = (x: number | null, digits: number): string => (x === null ? '–' : x.toFixed(digits));

/** A node's wake-ups, preemptions, fsyncs and batch sizes in the window ('–' where unread). */
function activityText(n: NodeFigures): string {
  const parts = [`main thread woke ${fixed(n.wakeupsPerS, 0)}/s, preempted ${fixed(n.preemptionsPerS, 0)}/s`, `fsyncs ${fixed(n.fsyncsPerS, 0)}/s of ${fixed(n.fsyncMs, 2)} ms`];
  if (n.entriesPerFsync !== null) parts.push(`entries/fsync ${fixed(n.entriesPerFsync, 1)}`);
  if (n.entriesPerAppend !== null) parts.push(`entries/append ${fixed(n.entriesPerAppend, 1)}`);
  return parts.join(' · ');
}

export function runTable(r: RunResult): string {
  const failures = Object.entries(r.failures).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  const lines = [
    `== ${r.system} ${r.version} · ${modelText(r)} · ${r.seconds} s`,
    `   ${r.target}${r.leader === null ? '' : ` · leader ${r.leader}`}`,
    `   achieved ${r.achievedPerS}/s · answered ${r.completed} · dropped ${r.dropped} · failures: ${failures}`,
  ];
  const widths = [8, 8, 8, 8, 8, 8, 9];
  lines.push(`   ${pad(['op', 'count', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms'], widths)}`);
  for (const op of [...OPS, 'all'] as const) {
    const p = r.latency[op];
    if (p.count === 0) continue;
    lines.push(`   ${pad([op, p.count, p.p50Ms.toFixed(2), p.p90Ms.toFixed(2), p.p99Ms.toFixed(2), p.p999Ms.toFixed(2), p.maxMs.toFixed(2)], widths)}`);
  }
  if (r.nodes.length > 0) {
    lines.push(`   ${r.nodes.map((n) => `${n.name} cpu ${n.cpuSeconds.toFixed(2)} s rss≤${n.peakRssMiB} MiB`).join(' · ')}`);
    lines.push(`   server CPU ${r.serverCpuUsPerOp} µs/op · load generator ${r.generatorCpuUsPerOp} µs/op`);
    for (const n of r.nodes) lines.push(`   ${n.name} ${activityText(n)}`);
  }
  return lines.join('\n');
}

export interface Ratio {
  readonly metric: string;
  /** ours / etcd in each repetition. */
  readonly perRepetition: readonly number[];
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** ours / etcd for each repetition's pair of runs: throughput, server CPU per op, p99 per op and overall. */
export function ratios(pairs: readonly { ours: RunResult; etcd: RunResult }[]): Ratio[] {
  const metric = (name: string, f: (r: RunResult) => number | null): Ratio | null => {
    const xs: number[] = [];
    for (const { ours, etcd } of pairs) {
      const a = f(ours);
      const b = f(etcd);
      if (a === null || b === null || b === 0) return null;
      xs.push(a / b);
    }
    return { metric: name, perRepetition: xs };
  };
  const out = [
    metric('throughput', (r) => r.achievedPerS),
    metric('server CPU µs/op', (r) => r.serverCpuUsPerOp),
    ...OPS.map((op) => metric(`p99 ${op}`, (r) => (r.latency[op].count === 0 ? null : r.latency[op].p99Ms))),
    metric('p99 all', (r) => r.latency.all.p99Ms),
    metric('p99.9 all', (r) => r.latency.all.p999Ms),
  ];
  return out.filter((x): x is Ratio => x !== null);
}

export function ratioTable(rs: readonly Ratio[]): string {
  const widths = [18, 8, 24];
  const lines = [`   ${pad(['ours / etcd', 'median', 'per repetition'], widths)}`];
  for (const r of rs) lines.push(`   ${pad([r.metric, median(r.perRepetition).toFixed(2), r.perRepetition.map((x) => x.toFixed(2)).join(' ')], widths)}`);
  return lines.join('\n');
}

export { median };
