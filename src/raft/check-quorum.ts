import type { NodeId } from './types.js';
import type { Progress } from './progress.js';

/**
 * When the leader's CheckQuorum next looks (by the env clock): on the first
 * heartbeat tick at or after `dueAtMs`, a leader that heard from no majority since
 * the last check steps down. Updated in place once an election timeout, rather
 * than assigned: an XState assign copies the whole context.
 */
export class QuorumCheck {
  constructor(private dueAtMs: number) {}

  due(nowMs: number): boolean {
    return nowMs >= this.dueAtMs;
  }

  rearm(dueAtMs: number): void {
    this.dueAtMs = dueAtMs;
  }
}

/** Has a majority of the voters (ourselves included) been heard from since the last check? */
export function quorumActive(leader: { readonly id: NodeId; readonly voters: readonly NodeId[]; readonly progress: ReadonlyMap<NodeId, Progress> }): boolean {
  let active = 0;
  for (const id of leader.voters) if (id === leader.id || leader.progress.get(id)!.recentActive) active++;
  return active * 2 > leader.voters.length;
}
