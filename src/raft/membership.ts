import type { LogIndex, NodeId } from './types.js';

/**
 * Cluster membership as plain data and rules (Raft dissertation §4.1, single-server
 * changes). A configuration lists every member with its addresses and whether it
 * votes; learners receive the log and snapshots but never vote and never count
 * toward a quorum, so the quorum arithmetic (quorum.ts) runs over `votersOf(c)`.
 *
 * How the role machine uses it:
 * - The configuration in effect is the latest one in the log, committed or not
 *   (§4.1: a change takes effect when appended). `ConfigHistory` tracks the
 *   configurations of the log window so that a follower whose uncommitted tail is
 *   overwritten falls back to the one before, and a snapshot records the one in
 *   effect at its index.
 * - A leader takes one change at a time (`planChange`): none while a configuration
 *   entry is uncommitted. Nor does it take one before an entry of its own term is
 *   committed (the single-server change bug: a leader that has not committed in its
 *   term may hold a configuration that a rival majority never saw); that rule is the
 *   machine's `awaitsFirstCommit` guard, the one that holds back a new leader's reads.
 * - Only voters campaign and vote; a node that is not a voter in its own
 *   configuration (a learner, a removed node, a node waiting to join) never starts
 *   an election.
 */

/** The addresses a member is reached at, as `host:port`. */
export interface MemberAddrs {
  readonly raftAddr: string;
  readonly httpAddr: string;
  readonly grpcAddr: string;
}

export type MemberRole = 'voter' | 'learner';

export interface Member {
  readonly id: NodeId;
  readonly role: MemberRole;
  readonly addrs: MemberAddrs;
}

/**
 * A cluster configuration. Invariant (checked by `configuration`): member ids are
 * unique and sorted, so two equal configurations have one representation.
 */
export interface Configuration {
  readonly members: readonly Member[];
}

/** The configuration of a node that has joined nothing yet: it neither votes nor campaigns. */
export const emptyConfiguration: Configuration = Object.freeze({ members: Object.freeze([]) });

/** The members sorted by id; a duplicate id is a programmer error. */
export function configuration(members: readonly Member[]): Configuration {
  const sorted = [...members].sort((a, b) => compareIds(a.id, b.id));
  for (let k = 1; k < sorted.length; k++) {
    if (sorted[k]!.id === sorted[k - 1]!.id) throw new Error(`configuration: member ${sorted[k]!.id} listed twice`);
  }
  return Object.freeze({ members: Object.freeze(sorted) });
}

/** Code-unit order, the same on every node (not locale-dependent). */
export function compareIds(a: NodeId, b: NodeId): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function votersOf(c: Configuration): NodeId[] {
  return c.members.filter((m) => m.role === 'voter').map((m) => m.id);
}

export function learnersOf(c: Configuration): NodeId[] {
  return c.members.filter((m) => m.role === 'learner').map((m) => m.id);
}

export function memberOf(c: Configuration, id: NodeId): Member | undefined {
  return c.members.find((m) => m.id === id);
}

export function isVoter(c: Configuration, id: NodeId): boolean {
  return memberOf(c, id)?.role === 'voter';
}

export function sameConfiguration(a: Configuration, b: Configuration): boolean {
  if (a.members.length !== b.members.length) return false;
  return a.members.every((m, k) => {
    const o = b.members[k]!;
    return m.id === o.id && m.role === o.role && m.addrs.raftAddr === o.addrs.raftAddr && m.addrs.httpAddr === o.addrs.httpAddr && m.addrs.grpcAddr === o.addrs.grpcAddr;
  });
}

/** One single-server change: each moves the voter set by at most one member. */
export type ConfigChange =
  | { readonly kind: 'addVoter'; readonly id: NodeId; readonly addrs: MemberAddrs }
  | { readonly kind: 'addLearner'; readonly id: NodeId; readonly addrs: MemberAddrs }
  | { readonly kind: 'promote'; readonly id: NodeId }
  | { readonly kind: 'remove'; readonly id: NodeId };

/** Why a leader refuses a change. Each maps to one error-catalog code at the API edge. */
export type ChangeRefusal =
  /** A configuration entry is still uncommitted (at `pendingIndex`): one change at a time. */
  | { readonly reason: 'change_in_flight'; readonly pendingIndex: LogIndex }
  /** The leader has not yet committed an entry of its own term (the role machine's guard, not planChange's). */
  | { readonly reason: 'leader_not_settled' }
  | { readonly reason: 'member_exists'; readonly id: NodeId }
  | { readonly reason: 'member_not_found'; readonly id: NodeId }
  | { readonly reason: 'not_learner'; readonly id: NodeId }
  | { readonly reason: 'last_voter'; readonly id: NodeId }
  /** The learner's log is more than `distanceMax` entries behind the leader's last index. */
  | { readonly reason: 'learner_behind'; readonly id: NodeId; readonly match: LogIndex; readonly lastIndex: LogIndex; readonly distanceMax: number };

export type ChangePlan = { readonly ok: true; readonly next: Configuration } | { readonly ok: false; readonly refusal: ChangeRefusal };

/** What a leader knows when it is asked for a change. */
export interface ChangeContext {
  readonly current: Configuration;
  /** The log index of the configuration in effect (0 for the bootstrap configuration). */
  readonly currentIndex: LogIndex;
  readonly committed: LogIndex;
  readonly lastIndex: LogIndex;
  /** The highest index known to be replicated on a member. */
  readonly matchOf: (id: NodeId) => LogIndex;
  /** How far behind the leader's last index a learner may be and still be promoted. */
  readonly promotionDistanceMax: number;
}

/** A learner has caught up when its log is within `distanceMax` entries of the leader's. */
export function learnerCaughtUp(match: LogIndex, lastIndex: LogIndex, distanceMax: number): boolean {
  return lastIndex - match <= distanceMax;
}

/** The configuration a change leads to, or why a leader that has committed in its term must refuse it now. */
export function planChange(ctx: ChangeContext, change: ConfigChange): ChangePlan {
  if (ctx.currentIndex > ctx.committed) return refuse({ reason: 'change_in_flight', pendingIndex: ctx.currentIndex });
  const c = ctx.current;
  const existing = memberOf(c, change.id);
  switch (change.kind) {
    case 'addVoter':
    case 'addLearner': {
      if (existing !== undefined) return refuse({ reason: 'member_exists', id: change.id });
      const role: MemberRole = change.kind === 'addVoter' ? 'voter' : 'learner';
      return { ok: true, next: configuration([...c.members, { id: change.id, role, addrs: change.addrs }]) };
    }
    case 'promote': {
      if (existing === undefined) return refuse({ reason: 'member_not_found', id: change.id });
      if (existing.role !== 'learner') return refuse({ reason: 'not_learner', id: change.id });
      const match = ctx.matchOf(change.id);
      if (!learnerCaughtUp(match, ctx.lastIndex, ctx.promotionDistanceMax)) {
        return refuse({ reason: 'learner_behind', id: change.id, match, lastIndex: ctx.lastIndex, distanceMax: ctx.promotionDistanceMax });
      }
      return { ok: true, next: configuration(c.members.map((m) => (m.id === change.id ? { ...m, role: 'voter' } : m))) };
    }
    case 'remove': {
      if (existing === undefined) return refuse({ reason: 'member_not_found', id: change.id });
      if (existing.role === 'voter' && votersOf(c).length === 1) return refuse({ reason: 'last_voter', id: change.id });
      return { ok: true, next: configuration(c.members.filter((m) => m.id !== change.id)) };
    }
  }
}

function refuse(refusal: ChangeRefusal): ChangePlan {
  return { ok: false, refusal };
}

/** Canonical one-line renderings for traces and logs. */
export function describeConfiguration(c: Configuration): string {
  if (c.members.length === 0) return '{}';
  return `{${c.members.map((m) => (m.role === 'voter' ? m.id : `${m.id}(learner)`)).join(' ')}}`;
}

export function describeChange(change: ConfigChange): string {
  return `${change.kind} ${change.id}`;
}

/** A configuration and the log index of the entry that set it (0: bootstrap or none). */
export interface IndexedConfiguration {
  readonly index: LogIndex;
  readonly config: Configuration;
}

/**
 * The configurations of a node's log window: the one in effect at the log's base
 * (from the snapshot, or the bootstrap one) and one per configuration entry after
 * it. The latest is in effect.
 *
 * Invariant: indexes strictly increase, and each is at or above the base's index.
 * The host keeps it in step with the log: `appended` for each configuration entry
 * appended, `truncatedFrom` when a follower's conflicting tail is replaced,
 * `compactedTo` when the log is compacted, `restored` when a snapshot replaces it.
 */
export class ConfigHistory {
  private entries: IndexedConfiguration[];

  constructor(base: IndexedConfiguration) {
    this.entries = [base];
  }

  private assertInvariant(): void {
    for (let k = 1; k < this.entries.length; k++) {
      if (!(this.entries[k]!.index > this.entries[k - 1]!.index)) {
        throw new Error(`ConfigHistory: index ${this.entries[k]!.index} after ${this.entries[k - 1]!.index}`);
      }
    }
  }

  /** The configuration in effect: the latest in the log, committed or not. */
  current(): IndexedConfiguration {
    return this.entries[this.entries.length - 1]!;
  }

  /** The configuration in effect at `index`: the latest set at or before it (for a snapshot at `index`). */
  at(index: LogIndex): IndexedConfiguration {
    if (index < this.entries[0]!.index) throw new Error(`ConfigHistory.at(${index}): before the base at ${this.entries[0]!.index}`);
    for (let k = this.entries.length - 1; k > 0; k--) if (this.entries[k]!.index <= index) return this.entries[k]!;
    return this.entries[0]!;
  }

  /** A configuration entry was appended at `index`. */
  appended(index: LogIndex, config: Configuration): void {
    if (!(index > this.current().index)) throw new Error(`ConfigHistory.appended(${index}): not after ${this.current().index}`);
    this.entries.push({ index, config });
  }

  /** The log's entries from `index` on were removed (a follower's conflicting tail): their configurations go too. */
  truncatedFrom(index: LogIndex): void {
    if (index <= this.entries[0]!.index) throw new Error(`ConfigHistory.truncatedFrom(${index}): at or before the base at ${this.entries[0]!.index}`);
    while (this.current().index >= index) this.entries.pop();
    this.assertInvariant();
  }

  /** The log now starts after `index`: what was in effect there becomes the base. */
  compactedTo(index: LogIndex): void {
    if (index < this.entries[0]!.index) return;
    const base = this.at(index);
    this.entries = [base, ...this.entries.filter((e) => e.index > index)];
    this.assertInvariant();
  }

  /** A snapshot replaced the whole log: its configuration is the only one. */
  restored(base: IndexedConfiguration): void {
    this.entries = [base];
  }

  /** Is the configuration in effect still uncommitted? */
  pendingAfter(committed: LogIndex): boolean {
    return this.current().index > committed;
  }
}
