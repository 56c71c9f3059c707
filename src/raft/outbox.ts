import type { ReadState } from './read-index.js';
import type { Message, NodeId, ProposeResponse, Snapshot } from './types.js';

/** A follower's forwarded batch, answered by its leader. */
export interface ForwardedProposal {
  readonly batchId: number;
  /** The leader that answered, and its term: accepted commands are entries of that term. */
  readonly leaderId: NodeId;
  readonly term: number;
  readonly result: ProposeResponse['result'];
}

/** Handed out for an empty list, so that a drain allocates only for lists that hold something. */
const none: readonly never[] = Object.freeze([]);

/**
 * Effects produced while the core handles events, drained by the host after each
 * batch of events. Messages whose meaning depends on durable state (vote and append
 * responses, a finished snapshot install, the node's answers to itself) wait in `afterPersist` until
 * every write produced so far is reported durable (etcd's msgsAfterAppend).
 */
export class Outbox {
  messages: Message[] = [];
  afterPersist: Message[] = [];
  readStates: ReadState[] = [];
  /** Reads accepted but not confirmed before this node stopped leading (or following). */
  readFailures: number[] = [];
  /** Answers to batches this follower forwarded to its leader. */
  forwardedProposals: ForwardedProposal[] = [];
  /** A snapshot received from the leader: persist it (it replaces the log) and restore the state machine from it. */
  installSnapshot: Snapshot | null = null;
  /**
   * Leader: entries were appended this turn that no append carries yet. The host
   * sends `flushAppends` before it drains, so that a turn's batches (its own and
   * those its followers forwarded) go to each follower as one append.
   */
  appendsDue = false;
  /** Leader: the commit index moved this turn while a follower waits for entries it forwarded (sent with `flushAppends`). */
  commitDue = false;

  /** Everything produced since the last drain, leaving the outbox empty (an empty list is handed out as the shared `none`). */
  drain(): {
    messages: readonly Message[];
    afterPersist: readonly Message[];
    readStates: readonly ReadState[];
    readFailures: readonly number[];
    forwardedProposals: readonly ForwardedProposal[];
    installSnapshot: Snapshot | null;
  } {
    const out = {
      messages: this.messages.length === 0 ? none : this.messages,
      afterPersist: this.afterPersist.length === 0 ? none : this.afterPersist,
      readStates: this.readStates.length === 0 ? none : this.readStates,
      readFailures: this.readFailures.length === 0 ? none : this.readFailures,
      forwardedProposals: this.forwardedProposals.length === 0 ? none : this.forwardedProposals,
      installSnapshot: this.installSnapshot,
    };
    if (this.messages.length > 0) this.messages = [];
    if (this.afterPersist.length > 0) this.afterPersist = [];
    if (this.readStates.length > 0) this.readStates = [];
    if (this.readFailures.length > 0) this.readFailures = [];
    if (this.forwardedProposals.length > 0) this.forwardedProposals = [];
    this.installSnapshot = null;
    return out;
  }

  send(m: Message): void {
    if (m.type === 'requestVoteResponse' || m.type === 'appendEntriesResponse' || (m.type === 'installSnapshotResponse' && m.done)) this.afterPersist.push(m);
    else this.messages.push(m);
  }
}
