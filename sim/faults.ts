import type { NodeId } from '../src/raft/types.js';
import type { SimCluster } from './cluster.js';
import type { Prng } from './prng.js';

/**
 * Fault schedules as plain data, so fast-check can generate and shrink them. Nodes
 * are named by position modulo the cluster size, so one schedule fits any size.
 */
export type FaultEvent =
  | { readonly atMs: number; readonly kind: 'crash'; readonly node: number }
  | { readonly atMs: number; readonly kind: 'restart'; readonly node: number }
  | { readonly atMs: number; readonly kind: 'crashAll' }
  | { readonly atMs: number; readonly kind: 'restartAll' }
  | { readonly atMs: number; readonly kind: 'isolate'; readonly node: number }
  | { readonly atMs: number; readonly kind: 'partition'; readonly group: readonly number[] }
  | { readonly atMs: number; readonly kind: 'cutLink'; readonly from: number; readonly to: number }
  | { readonly atMs: number; readonly kind: 'heal' }
  | { readonly atMs: number; readonly kind: 'network'; readonly lossPerMille: number; readonly duplicatePerMille: number; readonly delayMaxMs: number };

export type FaultKind = FaultEvent['kind'];

/** Groups of fault kinds the CLI accepts in `--faults a,b,c`. */
export const faultClasses = {
  net: ['network'],
  partition: ['isolate', 'partition', 'cutLink', 'heal'],
  crash: ['crash', 'restart', 'crashAll', 'restartAll'],
} as const satisfies Record<string, readonly FaultKind[]>;

export type FaultClass = keyof typeof faultClasses;

export function describeFault(f: FaultEvent, ids: readonly NodeId[]): string {
  const n = (k: number): NodeId => ids[k % ids.length]!;
  switch (f.kind) {
    case 'crash':
    case 'restart':
    case 'isolate':
      return `${f.kind} ${n(f.node)}`;
    case 'partition':
      return `partition ${[...new Set(f.group.map(n))].join(',')} | rest`;
    case 'cutLink':
      return `cut ${n(f.from)}->${n(f.to)}`;
    case 'network':
      return `network loss=${f.lossPerMille}/1000 dup=${f.duplicatePerMille}/1000 delay<=${f.delayMaxMs}ms`;
    case 'crashAll':
    case 'restartAll':
    case 'heal':
      return f.kind;
  }
}

/** Puts every fault of the schedule on the cluster's clock. */
export function scheduleFaults(cluster: SimCluster, schedule: readonly FaultEvent[], onFault: (f: FaultEvent) => void): void {
  const ids = cluster.ids;
  const n = (k: number): NodeId => ids[k % ids.length]!;
  for (const f of schedule) {
    cluster.clock.setTimeout(() => {
      onFault(f);
      switch (f.kind) {
        case 'crash':
          return cluster.crash(n(f.node));
        case 'restart':
          return cluster.restart(n(f.node));
        case 'crashAll':
          return ids.forEach((id) => cluster.crash(id));
        case 'restartAll':
          return ids.forEach((id) => cluster.restart(id));
        case 'isolate':
          return cluster.isolate(n(f.node));
        case 'partition':
          return cluster.partition([...new Set(f.group.map(n))]);
        case 'cutLink':
          return f.from % ids.length === f.to % ids.length ? undefined : cluster.cutLink(n(f.from), n(f.to));
        case 'heal':
          return cluster.heal();
        case 'network':
          cluster.network.faults = { lossPerMille: f.lossPerMille, duplicatePerMille: f.duplicatePerMille, delayMinMs: 1, delayMaxMs: f.delayMaxMs };
          return;
      }
    }, f.atMs);
  }
}

/** A random schedule over [0, durationMs) using only the given kinds (swarm testing: the mix itself is random). */
export function randomFaultSchedule(rng: Prng, kinds: readonly FaultKind[], durationMs: number, count: number): FaultEvent[] {
  const out: FaultEvent[] = [];
  if (kinds.length === 0) return out;
  for (let k = 0; k < count; k++) {
    const atMs = rng.int(durationMs);
    const kind = rng.pick(kinds);
    const node = rng.int(8);
    switch (kind) {
      case 'crash':
      case 'restart':
      case 'isolate':
        out.push({ atMs, kind, node });
        break;
      case 'partition':
        out.push({ atMs, kind, group: [rng.int(8), rng.int(8)] });
        break;
      case 'cutLink':
        out.push({ atMs, kind, from: node, to: rng.int(8) });
        break;
      case 'network':
        out.push({ atMs, kind, lossPerMille: rng.int(200), duplicatePerMille: rng.int(100), delayMaxMs: rng.range(2, 50) });
        break;
      case 'crashAll':
      case 'restartAll':
      case 'heal':
        out.push({ atMs, kind });
        break;
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}
