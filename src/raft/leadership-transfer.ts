import type { Configuration } from './membership.js';
import { compareIds, memberOf, votersOf } from './membership.js';
import type { LogIndex, NodeId } from './types.js';

/**
 * Which member a leader hands its leadership to (Raft dissertation §3.10). The
 * leader then stops taking proposals for at most an election timeout, brings the
 * target's log up to its own, and sends it TimeoutNow; the target campaigns at
 * once, with a vote request that voters take even while they still hear from the
 * old leader (it is the old leader's wish), bypassing PreVote.
 */

export type TransferRefusal =
  /** The named member is not in the configuration. */
  | { readonly reason: 'member_not_found'; readonly id: NodeId }
  /** The named member cannot lead: a learner never campaigns. */
  | { readonly reason: 'not_voter'; readonly id: NodeId }
  /** The leader itself was named: nothing to transfer. */
  | { readonly reason: 'already_leader'; readonly id: NodeId }
  /** No other voter exists (a one-voter cluster). */
  | { readonly reason: 'no_other_voter' };

export type TransferTarget = { readonly ok: true; readonly to: NodeId } | { readonly ok: false; readonly refusal: TransferRefusal };

/**
 * The named voter, or with `requested` null the other voter with the highest
 * match (the quickest to bring up to date; ties go to the smallest id, so the
 * choice is the same on every run).
 */
export function pickTransferTarget(c: Configuration, leaderId: NodeId, matchOf: (id: NodeId) => LogIndex, requested: NodeId | null): TransferTarget {
  if (requested !== null) {
    const m = memberOf(c, requested);
    if (m === undefined) return { ok: false, refusal: { reason: 'member_not_found', id: requested } };
    if (m.role !== 'voter') return { ok: false, refusal: { reason: 'not_voter', id: requested } };
    if (requested === leaderId) return { ok: false, refusal: { reason: 'already_leader', id: requested } };
    return { ok: true, to: requested };
  }
  let best: NodeId | null = null;
  for (const id of votersOf(c)) {
    if (id === leaderId) continue;
    if (best === null || matchOf(id) > matchOf(best) || (matchOf(id) === matchOf(best) && compareIds(id, best) < 0)) best = id;
  }
  return best === null ? { ok: false, refusal: { reason: 'no_other_voter' } } : { ok: true, to: best };
}
