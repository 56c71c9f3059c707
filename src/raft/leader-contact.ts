/**
 * When a node last heard from the leader it follows (leader stickiness, the
 * election timer's re-arm). Updated in place on every append and heartbeat from
 * that leader, so hearing from the same leader again makes no new machine context
 * (an XState assign copies the whole context).
 */
export class LeaderContact {
  constructor(public heardAtMs: number) {}
}
