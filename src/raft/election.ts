import type { RaftConfig } from './config.js';
import type { RaftEnv } from './env.js';
import type { LeaderContact } from './leader-contact.js';
import type { RaftLog } from './log.js';
import type { NodeId, RequestVote, RequestVoteResponse, Term } from './types.js';

/** The voter's side of elections, as plain functions over what a node knows. */

export interface Voter {
  readonly id: NodeId;
  readonly term: Term;
  readonly votedFor: NodeId | null;
  readonly leaderId: NodeId | null;
  /** When the node last heard from the leader it follows. */
  readonly leaderContact: Readonly<LeaderContact>;
  readonly config: RaftConfig;
  readonly env: RaftEnv;
  readonly log: RaftLog;
}

/** Heard from the leader within the (minimum) election timeout. */
export function leaderHeardRecently(v: Voter): boolean {
  return v.env.nowMs() - v.leaderContact.heardAtMs < v.config.electionTimeoutMs;
}

/**
 * A leader, or a node that heard from a leader within the (minimum) election timeout.
 * A node counts its own start as hearing from a leader, so a restarted node cannot
 * help elect a rival while the leader's lease may still hold.
 */
export function inLease(v: Voter): boolean {
  return v.leaderId === v.id || leaderHeardRecently(v);
}

export function canGrantVote(v: Voter, req: RequestVote): boolean {
  if (!v.log.isUpToDate(req.lastLogIndex, req.lastLogTerm)) return false;
  if (req.preVote) return req.term > v.term;
  // A vote request of a newer term is granted only after the root adopted that term.
  if (req.term !== v.term) return false;
  return v.votedFor === req.from || (v.votedFor === null && v.leaderId === null);
}

export function voteResponse(v: Pick<Voter, 'id' | 'term'>, req: RequestVote, granted: boolean): RequestVoteResponse {
  // A granted pre-vote answers at the term asked about; everything else at ours.
  const t = req.preVote && granted ? req.term : v.term;
  return { type: 'requestVoteResponse', from: v.id, to: req.from, term: t, preVote: req.preVote, granted };
}
