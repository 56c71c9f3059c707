import type { RaftConfig } from '../src/raft/config.js';
import type { ClientRouting, ReadMode } from './clients.js';
import { membershipOps, type ChurnAction, type FaultEvent, type FaultKind, type FaultTarget } from './faults.js';
import type { NetworkFaults } from './network.js';
import type { Prng } from './prng.js';

/**
 * Swarm testing (TigerBeetle's VOPR, Groce et al.): rather than one fault mix for
 * every run, each seed draws which faults run at all and how hard (how many, how
 * long in election timeouts, how often aimed at the leader, how lossy and slow
 * the network), the timing of the cluster (election timeout, heartbeat ratio),
 * how far apart the nodes' clocks run, its flow control, snapshot interval,
 * whether and how often the cluster's membership changes under it,
 * how each client routes its requests and which reads it makes. A mix
 * that turns most faults off reaches corners that a run full of every fault never
 * does (a long quiet stretch with one partition that cuts off the leader, say).
 */
export interface Swarm {
  readonly kinds: readonly FaultKind[];
  readonly faults: readonly FaultEvent[];
  /** The network between faults. */
  readonly network: NetworkFaults;
  readonly raft: Partial<RaftConfig>;
  /** How the clock rates were drawn, and each node's drift (parts per million), by position. */
  readonly clocks: ClockSpread;
  readonly clockDriftPpm: readonly number[];
  readonly snapshotEveryEntries: number;
  readonly routing: readonly ClientRouting[];
  /** The read modes clients draw from, repeated by weight. */
  readonly readModes: readonly ReadMode[];
}

/**
 * Clock rates, all within the bound lease reads assume (any two nodes differ by at
 * most leaseClockDriftMs per election timeout): anywhere inside it; every node at
 * one of its two edges; or a minority of slow nodes against a fast majority, the
 * spread at which a leader's lease comes closest to a rival's election.
 */
export type ClockSpread = 'inside' | 'edges' | 'split';

export interface SwarmInput {
  /** The fault kinds a seed may turn on. */
  readonly allowed: readonly FaultKind[];
  readonly durationMs: number;
  readonly nodes: number;
  readonly clients: number;
}

/** A uniform pick on a log scale in [lo, hi], so small and large values are both common. */
function logUniform(rng: Prng, lo: number, hi: number): number {
  return Math.round(lo * (hi / lo) ** (rng.int(1001) / 1000));
}

/** `items` each repeated by its weight. */
function weighted<T>(items: readonly (readonly [T, number])[]): T[] {
  return items.flatMap(([x, w]) => Array.from({ length: w }, () => x));
}

export function drawSwarm(rng: Prng, input: SwarmInput): Swarm {
  const { allowed, durationMs, nodes, clients } = input;
  const electionTimeoutMs = rng.pick([200, 300, 500, 1000, 2000]);
  const et = electionTimeoutMs;
  const delayMaxMs = logUniform(rng, 2, 40);
  // Each allowed kind runs in about half the seeds; a few seeds run none at all.
  const kinds = allowed.filter(() => rng.chance(1, 2));
  const count = kinds.length === 0 ? 0 : rng.range(1, Math.max(1, Math.ceil((2 * durationMs) / 1000)));
  // Durations in election timeouts: a leader cut off for one to two of them is
  // replaced while it still believes it leads (CheckQuorum has not yet stopped it).
  const forMsMax = logUniform(rng, et, 8 * et);
  const leaderPerMille = rng.int(1001);
  const burstLossMax = rng.int(400);
  const burstDelayMax = logUniform(rng, 2, 200);
  const faults: FaultEvent[] = [];
  for (let k = 0; k < count; k++) {
    const atMs = rng.int(durationMs);
    const forMs = rng.range(Math.ceil(et / 10), forMsMax);
    const target: FaultTarget = rng.chance(leaderPerMille, 1000) ? 'leader' : rng.int(8);
    const kind = rng.pick(kinds);
    switch (kind) {
      case 'crash':
      case 'crashTorn':
      case 'crashAtSync':
      case 'failSync':
      case 'isolate':
        faults.push({ atMs, kind, target, forMs });
        break;
      case 'crashAll':
        faults.push({ atMs, kind, forMs });
        break;
      case 'partition':
        // Aimed at the leader: it keeps at most one follower.
        faults.push(target === 'leader' ? { atMs, kind, group: rng.chance(1, 2) ? [rng.int(8)] : [], withLeader: true, forMs } : { atMs, kind, group: [rng.int(8), rng.int(8)], forMs });
        break;
      case 'cutLink':
        faults.push({ atMs, kind, from: rng.int(8), to: rng.int(8), forMs });
        break;
      case 'churn': {
        // From before a new leader's first append lands to a few round trips after.
        const action: ChurnAction = rng.pick(['isolate', 'isolate', 'partition', 'crash']);
        const afterMaxMs = rng.int(4 * delayMaxMs + 1);
        faults.push({ atMs, kind, action, afterMaxMs, onAck: rng.chance(1, 2), downMs: rng.range(et, 3 * et), forMs: rng.range(2 * et, 10 * et) });
        break;
      }
      case 'membership':
        faults.push({ atMs, kind, op: rng.pick(membershipOps), pick: rng.int(64) });
        break;
      case 'network':
        faults.push({ atMs, kind, lossPerMille: rng.int(burstLossMax + 1), duplicatePerMille: rng.int(200), delayMaxMs: rng.range(2, burstDelayMax), forMs });
        break;
    }
  }
  // Membership changes come in a stream of their own, a few per simulated second at most:
  // a change takes a round trip or more, and most of the interesting ones follow another.
  if (kinds.includes('membership')) {
    const changes = rng.range(1, Math.max(1, Math.ceil((3 * durationMs) / 1000)));
    for (let k = 0; k < changes; k++) faults.push({ atMs: rng.int(durationMs), kind: 'membership', op: rng.pick(membershipOps), pick: rng.int(64) });
  }
  const network: NetworkFaults = { lossPerMille: rng.chance(1, 3) ? rng.int(50) : 0, duplicatePerMille: rng.chance(1, 3) ? rng.int(50) : 0, delayMinMs: 1, delayMaxMs };
  // Between 2 and 20 heartbeats per election timeout, on a log scale.
  const heartbeatIntervalMs = Math.max(1, Math.floor(et / logUniform(rng, 2, 20)));
  const leaseClockDriftMs = et / 10;
  // A window of at least delayMaxMs entries per round trip (about 500 a second): tiny
  // appends stay, but on a slow network a follower that fell behind can still catch
  // up with the clients' load once faults stop, as the liveness check demands.
  const appendEntriesMax = logUniform(rng, 1, 256);
  const inflightAppendsMax = Math.max(logUniform(rng, 1, 64), Math.ceil(delayMaxMs / appendEntriesMax));
  const raft: Partial<RaftConfig> = {
    electionTimeoutMs,
    heartbeatIntervalMs,
    leaseClockDriftMs,
    appendEntriesMax,
    inflightAppendsMax,
    snapshotCatchUpEntries: rng.chance(1, 3) ? 0 : logUniform(rng, 1, 500),
  };
  const clocks = rng.pick<ClockSpread>(['inside', 'inside', 'edges', 'split']);
  const clockDriftPpm = drawDrift(rng, clocks, nodes, Math.floor((leaseClockDriftMs * 1_000_000) / et / 2));
  const spreadPerMille = rng.pick([0, 250, 500, 750, 1000]);
  const routing: ClientRouting[] = Array.from({ length: Math.max(1, clients) }, () => (rng.chance(spreadPerMille, 1000) ? 'spread' : 'follow-leader'));
  const readModes = weighted<ReadMode>([
    ['linearizable', rng.range(1, 3)],
    ['lease', rng.range(0, 3)],
    ['stale', rng.range(0, 1)],
  ]);
  return {
    kinds,
    faults: faults.sort((a, b) => a.atMs - b.atMs),
    network,
    raft,
    clocks,
    clockDriftPpm,
    snapshotEveryEntries: logUniform(rng, 5, 2000),
    routing,
    readModes,
  };
}

/** Each node's drift in ppm, every one within `halfBoundPpm` of true time, so any two within the bound. */
function drawDrift(rng: Prng, spread: ClockSpread, nodes: number, halfBoundPpm: number): number[] {
  switch (spread) {
    case 'inside':
      return Array.from({ length: nodes }, () => rng.range(-halfBoundPpm, halfBoundPpm));
    case 'edges':
      return Array.from({ length: nodes }, () => (rng.chance(1, 2) ? halfBoundPpm : -halfBoundPpm));
    case 'split': {
      const slow = new Set<number>();
      const minority = rng.range(1, Math.max(1, Math.floor((nodes - 1) / 2)));
      while (slow.size < minority) slow.add(rng.int(nodes));
      return Array.from({ length: nodes }, (_, k) => (slow.has(k) ? -halfBoundPpm : halfBoundPpm));
    }
  }
}

/** One line: the mix and the settings a seed drew. */
export function describeSwarm(s: Swarm): string {
  const r = s.raft;
  const spread = s.routing.filter((x) => x === 'spread').length;
  const modes = (['linearizable', 'lease', 'stale'] as const).map((m) => `${m}${s.readModes.filter((x) => x === m).length}`).join('/');
  return (
    `swarm: faults=${s.kinds.join('+') || 'none'} x${s.faults.length} net=loss${s.network.lossPerMille}/dup${s.network.duplicatePerMille}/delay<=${s.network.delayMaxMs}ms ` +
    `election=${r.electionTimeoutMs}ms heartbeat=${r.heartbeatIntervalMs}ms clocks=${s.clocks}(${s.clockDriftPpm.join(',')}ppm) ` +
    `append=${r.appendEntriesMax}x${r.inflightAppendsMax} catchup=${r.snapshotCatchUpEntries} snapshot_every=${s.snapshotEveryEntries} ` +
    `clients_spread=${spread}/${s.routing.length} reads=${modes}`
  );
}
