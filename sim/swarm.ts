import type { RaftConfig } from '../src/raft/config.js';
import type { ClientRouting } from './clients.js';
import type { FaultEvent, FaultKind, FaultTarget } from './faults.js';
import type { NetworkFaults } from './network.js';
import type { Prng } from './prng.js';

/**
 * Swarm testing (TigerBeetle's VOPR, Groce et al.): rather than one fault mix for
 * every run, each seed draws which faults run at all and how hard (how many, how
 * long, how often aimed at the leader, how lossy and slow the network), the
 * timing of the cluster (election timeout, heartbeat ratio), its flow control and
 * snapshot interval, and how each client routes its requests. A mix that turns
 * most faults off reaches corners that a run full of every fault never does (a
 * long quiet stretch with one partition that cuts off the leader, say).
 */
export interface Swarm {
  readonly kinds: readonly FaultKind[];
  readonly faults: readonly FaultEvent[];
  /** The network between faults. */
  readonly network: NetworkFaults;
  readonly raft: Partial<RaftConfig>;
  readonly snapshotEveryEntries: number;
  readonly routing: readonly ClientRouting[];
}

/** A uniform pick on a log scale in [lo, hi], so small and large values are both common. */
function logUniform(rng: Prng, lo: number, hi: number): number {
  return Math.round(lo * (hi / lo) ** (rng.int(1001) / 1000));
}

export function drawSwarm(rng: Prng, allowed: readonly FaultKind[], durationMs: number, clients: number): Swarm {
  // Each allowed kind runs in about half the seeds; a few seeds run none at all.
  const kinds = allowed.filter(() => rng.chance(1, 2));
  const count = kinds.length === 0 ? 0 : rng.range(1, Math.max(1, Math.ceil((2 * durationMs) / 1000)));
  const forMsMax = logUniform(rng, 200, 8000);
  const leaderPerMille = rng.int(1001);
  const burstLossMax = rng.int(400);
  const burstDelayMax = logUniform(rng, 2, 200);
  const faults: FaultEvent[] = [];
  for (let k = 0; k < count; k++) {
    const atMs = rng.int(durationMs);
    const forMs = rng.range(50, forMsMax);
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
        // Aimed at the leader: it keeps at most one follower, a minority that cannot commit.
        faults.push(target === 'leader' ? { atMs, kind, group: rng.chance(1, 2) ? [rng.int(8)] : [], withLeader: true, forMs } : { atMs, kind, group: [rng.int(8), rng.int(8)], forMs });
        break;
      case 'cutLink':
        faults.push({ atMs, kind, from: rng.int(8), to: rng.int(8), forMs });
        break;
      case 'network':
        faults.push({ atMs, kind, lossPerMille: rng.int(burstLossMax + 1), duplicatePerMille: rng.int(200), delayMaxMs: rng.range(2, burstDelayMax), forMs });
        break;
    }
  }
  const delayMaxMs = logUniform(rng, 2, 40);
  const network: NetworkFaults = { lossPerMille: rng.chance(1, 3) ? rng.int(50) : 0, duplicatePerMille: rng.chance(1, 3) ? rng.int(50) : 0, delayMinMs: 1, delayMaxMs };
  const electionTimeoutMs = rng.pick([200, 300, 500, 1000, 2000]);
  // Between 2 and 20 heartbeats per election timeout, on a log scale.
  const heartbeatIntervalMs = Math.max(1, Math.floor(electionTimeoutMs / logUniform(rng, 2, 20)));
  const raft: Partial<RaftConfig> = {
    electionTimeoutMs,
    heartbeatIntervalMs,
    leaseClockDriftMs: electionTimeoutMs / 10,
    appendEntriesMax: logUniform(rng, 1, 256),
    inflightAppendsMax: logUniform(rng, 1, 64),
    snapshotCatchUpEntries: rng.chance(1, 3) ? 0 : logUniform(rng, 1, 500),
  };
  const routing: ClientRouting[] = Array.from({ length: Math.max(1, clients) }, () => (rng.chance(1, 2) ? 'spread' : 'follow-leader'));
  return { kinds, faults: faults.sort((a, b) => a.atMs - b.atMs), network, raft, snapshotEveryEntries: logUniform(rng, 20, 2000), routing };
}

/** One line: the mix and the settings a seed drew. */
export function describeSwarm(s: Swarm): string {
  const r = s.raft;
  const spread = s.routing.filter((x) => x === 'spread').length;
  return (
    `swarm: faults=${s.kinds.join('+') || 'none'} x${s.faults.length} net=loss${s.network.lossPerMille}/dup${s.network.duplicatePerMille}/delay<=${s.network.delayMaxMs}ms ` +
    `election=${r.electionTimeoutMs}ms heartbeat=${r.heartbeatIntervalMs}ms append=${r.appendEntriesMax}x${r.inflightAppendsMax} catchup=${r.snapshotCatchUpEntries} ` +
    `snapshot_every=${s.snapshotEveryEntries} clients_spread=${spread}/${s.routing.length}`
  );
}
