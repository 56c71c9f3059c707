import type { Entry, LogIndex, NodeId, Term } from '../raft/types.js';
import type { AdminOutcome, MembersView } from './cluster-admin.js';
import type { NodeRuntime } from './runtime.js';

type ChangeDone = (o: AdminOutcome<{ readonly index: LogIndex; readonly view: MembersView }>) => void;
type TransferDone = (o: AdminOutcome<{ readonly leaderId: NodeId; readonly term: Term }>) => void;

/**
 * Membership changes and leadership transfers waiting for their outcome on one
 * node: a change until its configuration entry is applied (with the term it was
 * appended at: else another leader's entry took the index, and the change was never
 * made) or its time is up; a transfer until this node hears of the target as
 * leader, or two election timeouts pass (the leader gives up after one). Each is
 * answered exactly once.
 */
export class AdminRequests {
  private readonly changes = new Map<number, { readonly term: Term; readonly done: ChangeDone; readonly timer: unknown }>();
  private readonly transfers = new Set<{ readonly to: NodeId; readonly done: TransferDone; readonly timer: unknown }>();

  constructor(
    private readonly runtime: NodeRuntime,
    private readonly requestTimeoutMs: number,
    private readonly electionTimeoutMs: number,
    private readonly view: () => MembersView,
  ) {}

  awaitChange(index: LogIndex, term: Term, done: ChangeDone): void {
    const timer = this.runtime.clock.setTimeout(() => {
      const c = this.changes.get(index);
      if (c === undefined || c.done !== done) return;
      this.changes.delete(index);
      done({ ok: false, error: { kind: 'outcome_unknown' } });
    }, this.requestTimeoutMs);
    this.changes.set(index, { term, done, timer });
  }

  /** An entry was applied: the change waiting at its index, if any, is answered. */
  applied(e: Entry, leaderId: NodeId | null): void {
    if (this.changes.size === 0) return;
    const c = this.changes.get(e.index);
    if (c === undefined) return;
    this.changes.delete(e.index);
    this.runtime.clock.clearTimeout(c.timer);
    if (c.term !== e.term) c.done({ ok: false, error: { kind: 'not_leader', leaderId } });
    else c.done({ ok: true, value: { index: e.index, view: this.view() } });
  }

  awaitTransfer(to: NodeId, done: TransferDone, leaderNow: () => { readonly leaderId: NodeId | null; readonly term: Term }): void {
    const t = {
      to,
      done,
      timer: this.runtime.clock.setTimeout(() => {
        if (!this.transfers.delete(t)) return;
        const now = leaderNow();
        if (now.leaderId === to) done({ ok: true, value: { leaderId: to, term: now.term } });
        else done({ ok: false, error: { kind: 'transfer_timed_out', to } });
      }, 2 * this.electionTimeoutMs),
    };
    this.transfers.add(t);
  }

  /** The node's view of the leader now: transfers to it are done. */
  leaderSeen(leaderId: NodeId | null, term: Term): void {
    if (this.transfers.size === 0 || leaderId === null) return;
    for (const t of [...this.transfers]) {
      if (t.to !== leaderId) continue;
      this.transfers.delete(t);
      this.runtime.clock.clearTimeout(t.timer);
      t.done({ ok: true, value: { leaderId, term } });
    }
  }

  /** The node stops: whatever waits may or may not have happened. */
  stop(): void {
    for (const [index, c] of this.changes) {
      this.changes.delete(index);
      this.runtime.clock.clearTimeout(c.timer);
      c.done({ ok: false, error: { kind: 'outcome_unknown' } });
    }
    for (const t of [...this.transfers]) {
      this.transfers.delete(t);
      this.runtime.clock.clearTimeout(t.timer);
      t.done({ ok: false, error: { kind: 'stopped' } });
    }
  }
}
