import type { Configuration } from './membership.js';
import type { LogIndex, NodeId } from './types.js';

/**
 * Election timeouts a leader keeps replicating to a departing member that has not
 * yet acknowledged its removal: long enough to outlast a partition or a restart,
 * bounded so that a member removed because it is gone for good is not pursued forever.
 */
export const DEPARTURE_ROUNDS_MAX = 10;

/**
 * Members a leader has removed but still replicates to, so that each learns of
 * its removal (hashicorp/raft stops replicating to a removed server only once it
 * has replicated the configuration entry that removes it). A departing member
 * gets appends and heartbeats like any follower until its log holds the entry
 * that removed it; only then, or after `roundsMax` election timeouts without it
 * (a member removed because it is gone for good), does the leader stop. A node
 * still not told (cut off all that time, or removed under another leader) asks
 * for votes once it stops hearing from a leader: the leader it asks makes it
 * departing again. Its acknowledgements never count toward a quorum: commits,
 * elections, reads and CheckQuorum count the voters of the configuration, which
 * it is not in.
 *
 * Invariant: no departing member is a member of the configuration in effect.
 */
export class Departures {
  /** Each departing member: the index of the entry that removed it, and election timeouts left to learn it. */
  private readonly byId = new Map<NodeId, { readonly removalIndex: LogIndex; roundsLeft: number }>();

  constructor(private readonly roundsMax: number) {}

  /** `id` was removed by the configuration entry at `removalIndex`. */
  add(id: NodeId, removalIndex: LogIndex): void {
    this.byId.set(id, { removalIndex, roundsLeft: this.roundsMax });
  }

  has(id: NodeId): boolean {
    return this.byId.has(id);
  }

  ids(): IterableIterator<NodeId> {
    return this.byId.keys();
  }

  /** The configuration in effect changed: whoever it lists is a member again, not departing. */
  follow(c: Configuration): void {
    for (const m of c.members) this.byId.delete(m.id);
  }

  /** `id`'s log holds everything up to `match`: if that covers its removal it is done (true). */
  reached(id: NodeId, match: LogIndex): boolean {
    const d = this.byId.get(id);
    if (d === undefined || match < d.removalIndex) return false;
    this.byId.delete(id);
    return true;
  }

  /** An election timeout passed: the members that ran out of rounds are given up, and returned. */
  age(): NodeId[] {
    const gone: NodeId[] = [];
    for (const [id, d] of this.byId) {
      if (--d.roundsLeft > 0) continue;
      this.byId.delete(id);
      gone.push(id);
    }
    return gone;
  }
}

