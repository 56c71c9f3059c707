import { learnersOf, memberOf, votersOf, type ConfigChange, type Configuration, type MemberAddrs } from '../src/raft/membership.js';
import type { NodeId, Term } from '../src/raft/types.js';
import type { SimCluster } from './cluster.js';
import type { Prng } from './prng.js';

/**
 * Fault schedules as plain data, so fast-check can generate and shrink them. Every
 * fault undoes itself after its duration. A target is a node position (modulo the
 * cluster size, so one schedule fits any size) or 'leader': whoever leads when the
 * fault strikes, the most disruptive choice.
 */
export type FaultTarget = number | 'leader';

/** What a membership fault asks the leader for: a single-server change, or a leadership transfer. */
export type MembershipOp = 'change' | 'transfer';

/** What the leader-churn nemesis does to each new leader: cut it off, cut it off with one follower, or crash it. */
export type ChurnAction = 'isolate' | 'partition' | 'crash';

export type FaultEvent =
  | { readonly atMs: number; readonly kind: 'crash'; readonly target: FaultTarget; readonly forMs: number }
  /** A crash that leaves the last unsynced write torn on disk (see SimDisk's CrashMode). */
  | { readonly atMs: number; readonly kind: 'crashTorn'; readonly target: FaultTarget; readonly forMs: number }
  /** A crash at the moment the target's next write is on disk, before the node hears it is durable. */
  | { readonly atMs: number; readonly kind: 'crashAtSync'; readonly target: FaultTarget; readonly forMs: number }
  /** The target's next sync fails: the node stops, as production does, and restarts after `forMs`. */
  | { readonly atMs: number; readonly kind: 'failSync'; readonly target: FaultTarget; readonly forMs: number }
  | { readonly atMs: number; readonly kind: 'crashAll'; readonly forMs: number }
  | { readonly atMs: number; readonly kind: 'isolate'; readonly target: FaultTarget; readonly forMs: number }
  /** `group` (node positions, and the leader when `withLeader`) hears only itself. */
  | { readonly atMs: number; readonly kind: 'partition'; readonly group: readonly number[]; readonly withLeader?: boolean; readonly forMs: number }
  | { readonly atMs: number; readonly kind: 'cutLink'; readonly from: number; readonly to: number; readonly forMs: number }
  /**
   * The leader-churn nemesis: for `forMs`, every node that becomes leader is hit
   * (`action`) a random 0..`afterMaxMs` after its election, if it still leads that
   * term, and let back `downMs` later. With a small delay its no-op never reaches a
   * majority, which is how entries of old terms end up replicated to a majority
   * without an entry of the new leader's term (Raft's Figure 8), while clients keep
   * sending the leader that was cut off their reads and writes.
   */
  | {
      readonly atMs: number;
      readonly kind: 'churn';
      readonly action: ChurnAction;
      readonly afterMaxMs: number;
      /** Wait, after that delay, until a majority has answered one of the leader's heartbeats: its lease is then as fresh as it gets. */
      readonly onAck: boolean;
      readonly downMs: number;
      readonly forMs: number;
    }
  /**
   * A membership change or a leadership transfer, asked of whoever leads when it
   * strikes: `pick` chooses, modulo their number, among the changes its
   * configuration allows then (add a non-member as a learner, promote or remove a
   * learner, remove a voter while more than two remain: the leader included), or
   * among the transfer targets (any voter, or the most up-to-date one). Unlike
   * the other faults it is not undone after a while: the liveness phase brings
   * every node back as a voter (restoreMembership).
   */
  | { readonly atMs: number; readonly kind: 'membership'; readonly op: MembershipOp; readonly pick: number }
  | {
      readonly atMs: number;
      readonly kind: 'network';
      readonly lossPerMille: number;
      readonly duplicatePerMille: number;
      readonly delayMaxMs: number;
      readonly forMs: number;
    };

export type FaultKind = FaultEvent['kind'];

/** Groups of fault kinds the CLI accepts in `--faults a,b,c`. */
export const faultClasses = {
  net: ['network'],
  partition: ['isolate', 'partition', 'cutLink'],
  crash: ['crash', 'crashAll'],
  disk: ['crashTorn', 'crashAtSync', 'failSync'],
  churn: ['churn'],
  members: ['membership'],
} as const satisfies Record<string, readonly FaultKind[]>;

export type FaultClass = keyof typeof faultClasses;

function resolve(cluster: SimCluster, t: FaultTarget): NodeId | null {
  return t === 'leader' ? cluster.leader() : cluster.ids[t % cluster.ids.length]!;
}

export function describeFault(f: FaultEvent): string {
  const t = (x: FaultTarget): string => (x === 'leader' ? 'leader' : `#${x}`);
  switch (f.kind) {
    case 'crash':
    case 'crashTorn':
    case 'crashAtSync':
    case 'failSync':
    case 'isolate':
      return `${f.kind} ${t(f.target)} for ${f.forMs}ms`;
    case 'crashAll':
      return `crash all for ${f.forMs}ms`;
    case 'partition':
      return `partition {${[...(f.withLeader === true ? ['leader'] : []), ...f.group.map(t)].join(',')}} | rest for ${f.forMs}ms`;
    case 'cutLink':
      return `cut ${t(f.from)}->${t(f.to)} for ${f.forMs}ms`;
    case 'churn':
      return `churn: ${f.action} each new leader within ${f.afterMaxMs}ms of its election${f.onAck ? ', once a majority answered a heartbeat' : ''}, for ${f.downMs}ms, for ${f.forMs}ms`;
    case 'membership':
      return `membership ${f.op} #${f.pick}`;
    case 'network':
      return `network loss=${f.lossPerMille}/1000 dup=${f.duplicatePerMille}/1000 delay<=${f.delayMaxMs}ms for ${f.forMs}ms`;
  }
}

/**
 * Puts every fault of the schedule, and its undoing, on the cluster's clock.
 * Returns a function that calls off the faults that have not struck yet (their
 * undoing still runs for those that did).
 */
export function scheduleFaults(cluster: SimCluster, schedule: readonly FaultEvent[], onFault: (f: FaultEvent) => void): () => void {
  const ids = cluster.ids;
  let on = true;
  const later = (ms: number, fn: () => void): void => void cluster.clock.setTimeout(fn, ms);
  schedule.forEach((f, k) => {
    later(f.atMs, () => {
      if (!on) return;
      onFault(f);
      switch (f.kind) {
        case 'crash': {
          const id = resolve(cluster, f.target);
          if (id === null || !cluster.isUp(id)) return;
          cluster.crash(id);
          return later(f.forMs, () => cluster.restart(id));
        }
        case 'crashTorn': {
          const id = resolve(cluster, f.target);
          if (id === null || !cluster.isUp(id)) return;
          cluster.crash(id, 'tear-last-write');
          return later(f.forMs, () => cluster.restart(id));
        }
        case 'crashAtSync': {
          const id = resolve(cluster, f.target);
          if (id === null || !cluster.isUp(id)) return;
          return cluster.crashAtNextSync(id, f.forMs);
        }
        case 'failSync': {
          const id = resolve(cluster, f.target);
          if (id === null || !cluster.isUp(id)) return;
          return cluster.failNextSync(id, f.forMs);
        }
        case 'crashAll': {
          const down = ids.filter((id) => cluster.isUp(id));
          down.forEach((id) => cluster.crash(id));
          return later(f.forMs, () => down.forEach((id) => cluster.restart(id)));
        }
        case 'isolate': {
          const id = resolve(cluster, f.target);
          if (id === null) return;
          cluster.isolate(id);
          return later(f.forMs, () => cluster.reconnect(id));
        }
        case 'partition': {
          const leader = f.withLeader === true ? cluster.leader() : null;
          const group = [...new Set([...(leader === null ? [] : [leader]), ...f.group.map((k) => ids[k % ids.length]!)])];
          cluster.partition(group);
          return later(f.forMs, () => cluster.heal());
        }
        case 'cutLink': {
          const from = ids[f.from % ids.length]!;
          const to = ids[f.to % ids.length]!;
          if (from === to) return;
          cluster.cutLink(from, to);
          return later(f.forMs, () => cluster.network.healLink(from, to));
        }
        case 'churn':
          return churn(cluster, f, cluster.rng.fork(`churn/${k}`), () => on);
        case 'membership':
          return askMembership(cluster, f);
        case 'network': {
          const before = cluster.network.faults;
          cluster.network.faults = { lossPerMille: f.lossPerMille, duplicatePerMille: f.duplicatePerMille, delayMinMs: 1, delayMaxMs: f.delayMaxMs };
          return later(f.forMs, () => (cluster.network.faults = before));
        }
      }
    });
  });
  return () => {
    on = false;
  };
}

/**
 * Hits each leader elected within the churn window, as `f` says. The delays come
 * from `rng`, one draw per election, so a window mixes leaders hit before their
 * no-op left with leaders hit after some of their appends were acknowledged.
 */
function churn(cluster: SimCluster, f: Extract<FaultEvent, { kind: 'churn' }>, rng: Prng, active: () => boolean): void {
  const endsAt = cluster.clock.now() + f.forMs;
  const hit = (id: NodeId, term: Term): void => {
    if (!active() || cluster.clock.now() >= endsAt) return stop();
    const leads = (): boolean => active() && cluster.node(id)?.role() === 'leader' && cluster.node(id)!.term() === term;
    const strike = (): void => {
      if (!leads()) return;
      cluster.trace.note(cluster.clock.now(), `FAULT churn ${f.action} ${id} (leader of term ${term})`);
      switch (f.action) {
        case 'isolate':
          cluster.isolate(id);
          return void cluster.clock.setTimeout(() => cluster.reconnect(id), f.downMs);
        case 'partition': {
          // It keeps one follower where that is still a minority (five nodes or more).
          const others = cluster.ids.filter((x) => x !== id);
          cluster.partition(cluster.ids.length >= 5 ? [id, rng.pick(others)] : [id]);
          return void cluster.clock.setTimeout(() => cluster.heal(), f.downMs);
        }
        case 'crash':
          cluster.crash(id);
          return void cluster.clock.setTimeout(() => cluster.restart(id), f.downMs);
      }
    };
    cluster.clock.setTimeout(() => {
      if (!f.onAck) return strike();
      // Who answered each heartbeat round of `id` from now on, until a round has a majority (with `id` itself).
      const answered = new Map<number, Set<NodeId>>();
      const stopWatching = cluster.onDelivered((m) => {
        if (!leads()) return stopWatching();
        if (m.to !== id || m.type !== 'heartbeatResponse' || m.term !== term) return;
        const round = answered.get(m.seq) ?? new Set<NodeId>();
        answered.set(m.seq, round.add(m.from));
        if (round.size < Math.floor(cluster.ids.length / 2)) return;
        stopWatching();
        strike();
      });
    }, rng.int(f.afterMaxMs + 1));
  };
  const stop = cluster.onLeaderElected(hit);
  // The leader in office when the window opens is hit too, or a stable leader would never be.
  const current = cluster.leader();
  if (current !== null) hit(current, cluster.node(current)!.term());
}

/** The operations membership faults draw from, repeated by weight: changes more often than transfers. */
export const membershipOps: readonly MembershipOp[] = ['change', 'change', 'change', 'transfer'];

/** Simulated nodes are reached by id: every address of a member is its id. */
export function simAddrs(id: NodeId): MemberAddrs {
  return { raftAddr: id, httpAddr: id, grpcAddr: id };
}

/** The configuration in effect on node `id` (the leader's is the cluster's). */
function configurationOf(cluster: SimCluster, id: NodeId): Configuration {
  return { members: cluster.kvNode(id)!.members().members };
}

/**
 * Asks the leader for `f`'s operation. The answer comes later and is not waited
 * for; a refusal (a change in flight, a learner still behind, a new leader not
 * settled) is as good an outcome as any. At least two voters stay, so that one
 * crash does not stop a cluster for good.
 */
function askMembership(cluster: SimCluster, f: Extract<FaultEvent, { kind: 'membership' }>): void {
  const leader = cluster.leader();
  if (leader === null) return;
  const kv = cluster.kvNode(leader)!;
  const config = configurationOf(cluster, leader);
  const voters = votersOf(config);
  if (f.op === 'transfer') {
    const targets = [null, ...voters.filter((id) => id !== leader)];
    const to = targets[f.pick % targets.length]!;
    cluster.trace.note(cluster.clock.now(), `MEMBERSHIP transfer from ${leader} to ${to ?? 'any'}`);
    return void kv.transferLeadership(to);
  }
  const learners = learnersOf(config);
  const changes: ConfigChange[] = [
    ...cluster.ids.filter((id) => memberOf(config, id) === undefined).map((id): ConfigChange => ({ kind: 'addLearner', id, addrs: simAddrs(id) })),
    ...learners.map((id): ConfigChange => ({ kind: 'promote', id })),
    ...learners.map((id): ConfigChange => ({ kind: 'remove', id })),
    ...(voters.length > 2 ? voters.map((id): ConfigChange => ({ kind: 'remove', id })) : []),
  ];
  if (changes.length === 0) return;
  const change = changes[f.pick % changes.length]!;
  cluster.trace.note(cluster.clock.now(), `MEMBERSHIP ${change.kind} ${change.id} (leader ${leader})`);
  void kv.changeMembers(change);
}

/**
 * The liveness phase's undoing of membership faults: every `everyMs`, while a
 * node is missing from the leader's configuration or is a learner there, asks the
 * leader for the next step back (add it as a learner, promote it), one change at
 * a time. Returns whether every node is a voter again, in a committed configuration.
 */
export function restoreMembership(cluster: SimCluster, everyMs: number): () => boolean {
  let restored = false;
  const tick = (): void => {
    const leader = cluster.leader();
    if (leader !== null) {
      const view = cluster.kvNode(leader)!.members();
      const config = { members: view.members };
      const missing = cluster.ids.find((id) => memberOf(config, id) === undefined);
      const learner = learnersOf(config)[0];
      if (view.committed && missing === undefined && learner === undefined) {
        restored = true;
        return;
      }
      if (view.committed) void cluster.kvNode(leader)!.changeMembers(missing !== undefined ? { kind: 'addLearner', id: missing, addrs: simAddrs(missing) } : { kind: 'promote', id: learner! });
    }
    cluster.clock.setTimeout(tick, everyMs);
  };
  tick();
  return () => restored;
}

/** A random schedule over [0, durationMs) using only the given kinds (swarm testing: the mix itself is random). */
export function randomFaultSchedule(rng: Prng, kinds: readonly FaultKind[], durationMs: number, count: number): FaultEvent[] {
  const out: FaultEvent[] = [];
  if (kinds.length === 0) return out;
  for (let k = 0; k < count; k++) {
    const atMs = rng.int(durationMs);
    const forMs = rng.range(100, 5000);
    const target: FaultTarget = rng.chance(1, 2) ? 'leader' : rng.int(8);
    const kind = rng.pick(kinds);
    switch (kind) {
      case 'crash':
      case 'crashTorn':
      case 'crashAtSync':
      case 'failSync':
      case 'isolate':
        out.push({ atMs, kind, target, forMs });
        break;
      case 'crashAll':
        out.push({ atMs, kind, forMs });
        break;
      case 'partition':
        out.push({ atMs, kind, group: [rng.int(8), rng.int(8)], forMs });
        break;
      case 'cutLink':
        out.push({ atMs, kind, from: rng.int(8), to: rng.int(8), forMs });
        break;
      case 'churn':
        out.push({ atMs, kind, action: rng.pick(['isolate', 'partition', 'crash'] as const), afterMaxMs: rng.range(0, 50), onAck: rng.chance(1, 2), downMs: rng.range(500, 3000), forMs });
        break;
      case 'membership':
        out.push({ atMs, kind, op: rng.pick(membershipOps), pick: rng.int(64) });
        break;
      case 'network':
        out.push({ atMs, kind, lossPerMille: rng.int(300), duplicatePerMille: rng.int(200), delayMaxMs: rng.range(2, 80), forMs });
        break;
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs);
}
