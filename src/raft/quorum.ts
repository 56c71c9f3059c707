import type { LogIndex, NodeId } from './types.js';

/** Quorum arithmetic for a single set of voters. Knows nothing of Raft beyond "majority". */

export function majority(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest value that a majority of voters has reached: the value at position
 * majority-1 of the values sorted in descending order.
 */
export function quorumValue(voters: readonly NodeId[], valueOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) throw new Error('quorumValue with no voters');
  const values = new Float64Array(n);
  for (let k = 0; k < n; k++) values[k] = valueOf(voters[k]!);
  values.sort();
  // Ascending order: the majority-th largest sits at n - majority(n).
  return values[n - majority(n)]!;
}

/** The highest log index that a majority of voters holds. */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => LogIndex): LogIndex {
  return quorumValue(voters, matchOf) as LogIndex;
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Tallies granted and rejected votes among voters (a voter counts once). */
export function voteOutcome(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const need = majority(voters.length);
  if (granted >= need) return 'won';
  if (rejected > voters.length - need) return 'lost';
  return 'pending';
}
