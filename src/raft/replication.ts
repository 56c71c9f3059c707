import type { RaftConfig } from './config.js';
import type { RaftLog } from './log.js';
import type { Progress } from './progress.js';
import type { AppendEntries, Heartbeat, NodeId, Term } from './types.js';
import { logIndex } from './types.js';

/** The leader's side of log replication, as plain functions over the log and one peer's progress. */

interface Leader {
  readonly id: NodeId;
  readonly term: Term;
  readonly log: RaftLog;
  readonly config: RaftConfig;
}

/**
 * The appends to send to `to` now: as many as its window allows in replicate mode,
 * one in probe mode. With `sendIfEmpty`, an append without entries still goes out
 * (it carries the commit index, or probes where the follower's log ends).
 */
export function appendsFor(leader: Leader, to: NodeId, pr: Progress, sendIfEmpty: boolean): AppendEntries[] {
  const out: AppendEntries[] = [];
  const { log, config } = leader;
  while (!pr.isPaused()) {
    const prevLogIndex = logIndex(pr.next - 1);
    const prevLogTerm = log.term(prevLogIndex);
    if (prevLogTerm === null) throw new Error(`appendsFor: no term at ${prevLogIndex} (next ${pr.next}, last ${log.lastIndex()})`);
    const entries = pr.next <= log.lastIndex() ? log.slice(pr.next, log.lastIndex(), config.appendEntriesMax, config.appendBytesMax) : [];
    if (entries.length === 0 && !(sendIfEmpty && out.length === 0)) break;
    const lastIndex = logIndex(prevLogIndex + entries.length);
    out.push({ type: 'appendEntries', from: leader.id, to, term: leader.term, prevLogIndex, prevLogTerm, entries, leaderCommit: log.committed() });
    pr.sentAppend(lastIndex, entries.length);
    if (entries.length === 0) break;
  }
  return out;
}

export function heartbeatFor(leader: Leader, to: NodeId, pr: Progress, seq: number): Heartbeat {
  return { type: 'heartbeat', from: leader.id, to, term: leader.term, commit: logIndex(Math.min(pr.match, leader.log.committed())), seq };
}
