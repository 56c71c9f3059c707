import type { ReadState } from './read-index.js';
import type { Message, Snapshot } from './types.js';

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
  /** Reads accepted but not confirmed before this node stopped leading. */
  readFailures: number[] = [];
  /** A snapshot received from the leader: persist it (it replaces the log) and restore the state machine from it. */
  installSnapshot: Snapshot | null = null;

  /** Everything produced since the last drain, leaving the outbox empty. */
  drain(): { messages: Message[]; afterPersist: Message[]; readStates: ReadState[]; readFailures: number[]; installSnapshot: Snapshot | null } {
    const out = { messages: this.messages, afterPersist: this.afterPersist, readStates: this.readStates, readFailures: this.readFailures, installSnapshot: this.installSnapshot };
    this.messages = [];
    this.afterPersist = [];
    this.readStates = [];
    this.readFailures = [];
    this.installSnapshot = null;
    return out;
  }

  send(m: Message): void {
    if (m.type === 'requestVoteResponse' || m.type === 'appendEntriesResponse' || (m.type === 'installSnapshotResponse' && m.done)) this.afterPersist.push(m);
    else this.messages.push(m);
  }
}
