import type { Entry, Message } from './types.js';

/** Canonical one-line renderings, shared by logs, simulator traces and tests. */

export function describeEntries(entries: readonly Entry[]): string {
  if (entries.length === 0) return '[]';
  const first = entries[0]!;
  const last = entries[entries.length - 1]!;
  return first === last ? `[${first.index}@${first.term}]` : `[${first.index}@${first.term}..${last.index}@${last.term}]`;
}

export function describeMessage(m: Message): string {
  const head = `${m.from}->${m.to} t${m.term}`;
  switch (m.type) {
    case 'requestVote':
      return `${head} ${m.preVote ? 'PreVote' : m.transfer ? 'TransferVote' : 'Vote'} last=${m.lastLogIndex}@${m.lastLogTerm}`;
    case 'timeoutNow':
      return `${head} TimeoutNow`;
    case 'requestVoteResponse':
      return `${head} ${m.preVote ? 'PreVoteResp' : 'VoteResp'} ${m.granted ? 'granted' : 'rejected'}`;
    case 'appendEntries':
      return `${head} App prev=${m.prevLogIndex}@${m.prevLogTerm} ${describeEntries(m.entries)} commit=${m.leaderCommit}`;
    case 'appendEntriesResponse':
      return m.success
        ? `${head} AppResp ok match=${m.matchIndex}`
        : `${head} AppResp reject at=${m.rejectedIndex} hint=${m.hint.index}@${m.hint.term ?? '-'}`;
    case 'heartbeat':
      return `${head} Heartbeat commit=${m.commit} seq=${m.seq}`;
    case 'heartbeatResponse':
      return `${head} HeartbeatResp seq=${m.seq}${m.logEnd === null ? '' : ` log ends at ${m.logEnd}`}`;
    case 'installSnapshot':
      return `${head} Snap ${m.meta.index}@${m.meta.term} chunk ${m.chunk + 1}/${m.chunkCount}`;
    case 'installSnapshotResponse':
      return `${head} SnapResp ${m.snapshotIndex} ${m.done ? 'installed' : `next=${m.nextChunk}`}`;
    case 'readIndexRequest':
      return `${head} ReadIndex #${m.requestId}${m.lease ? ' lease' : ''}`;
    case 'readIndexResponse':
      return `${head} ReadIndexResp #${m.requestId} index=${m.index}`;
    case 'proposeRequest':
      return `${head} Prop #${m.batchId} ${m.commands.length} commands`;
    case 'proposeResponse':
      return `${head} PropResp #${m.batchId} ${m.result.accepted ? `from ${m.result.firstIndex}` : `refused ${m.result.reason}`}`;
  }
}
