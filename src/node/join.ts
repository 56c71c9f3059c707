import { setTimeout as delay } from 'node:timers/promises';
import type { ClusterMember, KvClient } from '../client/rest-client.js';
import type { Logger } from '../log.js';
import type { MemberAddrs } from '../raft/membership.js';
import type { NodeId } from '../raft/types.js';

/**
 * How a node started with `raft.join` becomes a member (the host side of joining,
 * run by src/main.ts): it asks the cluster, through any member's REST API, to add
 * it as a learner; learns the members' addresses from the answer, so that it
 * accepts the leader's connection; and, with `raft.auto_promote`, asks to be
 * promoted until the leader finds its log close enough to its own (the leader
 * decides: `learner_behind` until then). Every step is retried until it succeeds
 * or the node stops; each answer that cannot succeed on a retry ends the flow with
 * an error in the log.
 */

export interface JoinOptions {
  readonly id: NodeId;
  readonly addrs: MemberAddrs;
  /** A client for the member named by raft.join (it follows redirects to the leader). */
  readonly client: KvClient;
  readonly autoPromote: boolean;
  /** Between two attempts of a step, in milliseconds (an election timeout: a leader may be being elected). */
  readonly retryMs: number;
  /** The members the cluster answered with: the node connects to them. */
  readonly onMembers: (members: readonly ClusterMember[]) => void;
  /** Is this node a voter in its own log's configuration? (Then promotion is done.) */
  readonly isVoter: () => boolean;
  readonly logger: Logger;
}

/** Refusals a retry cannot turn into success: the flow stops and says why. */
const FINAL_REFUSALS: ReadonlySet<string> = new Set(['bad_request', 'unauthenticated', 'permission_denied', 'member_not_found', 'not_voter', 'not_learner']);

export class Joiner {
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(private readonly o: JoinOptions) {}

  /** Runs the flow; resolves when done, failed for good, or stopped. */
  async run(): Promise<void> {
    const log = this.o.logger.child({ component: 'join' });
    const added = await this.retry(log, 'add', async () => {
      const r = await this.o.client.addMember({ id: this.o.id, raft_addr: this.o.addrs.raftAddr, http_addr: this.o.addrs.httpAddr, grpc_addr: this.o.addrs.grpcAddr, learner: true });
      if (r.ok) return { done: true };
      // Already a member (a restart, or an earlier attempt that went through): learn the members anyway.
      if (r.kind === 'failed' && r.error === 'member_exists') return { done: true };
      return { done: false, error: r.error, message: r.message };
    });
    if (!added) return;
    const listed = await this.retry(log, 'list', async () => {
      const r = await this.o.client.members();
      if (!r.ok) return { done: false, error: r.error, message: r.message };
      if (!r.members.some((m) => m.id === this.o.id)) return { done: false, error: 'not_yet_listed', message: 'the configuration does not list this node yet' };
      this.o.onMembers(r.members);
      return { done: true };
    });
    if (!listed) return;
    log.info({ id: this.o.id }, 'joined the cluster as a learner');
    if (!this.o.autoPromote) return;
    const promoted = await this.retry(log, 'promote', async () => {
      if (this.o.isVoter()) return { done: true };
      const r = await this.o.client.promoteMember(this.o.id);
      if (r.ok) return { done: true };
      // A voter already (promoted by an operator, or an earlier attempt that went through).
      if (r.kind === 'failed' && r.error === 'not_learner') return { done: true };
      return { done: false, error: r.error, message: r.message };
    });
    if (promoted) log.info({ id: this.o.id }, 'promoted to voter');
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** Runs `attempt` until it is done (true), refused for good or stopped (false). */
  private async retry(log: Logger, step: string, attempt: () => Promise<{ done: true } | { done: false; error: string; message: string }>): Promise<boolean> {
    let quietUntil = 0;
    for (let n = 1; !this.stopped; n++) {
      const r = await attempt();
      if (r.done) return true;
      if (FINAL_REFUSALS.has(r.error)) {
        log.error({ step, error: r.error, message: r.message }, 'joining the cluster failed; fix the cause and restart the node');
        return false;
      }
      // Waiting for the learner to catch up is expected: say so now and then, not on every try.
      if (r.error !== 'learner_behind' || n >= quietUntil) {
        log.info({ step, attempt: n, error: r.error, message: r.message }, 'joining: retrying');
        quietUntil = n + 10;
      }
      try {
        await delay(this.o.retryMs, undefined, { signal: this.abort.signal });
      } catch {
        return false;
      }
    }
    return false;
  }
}
