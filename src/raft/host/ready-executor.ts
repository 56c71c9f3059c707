import type { ForwardedProposal } from '../outbox.js';
import type { ReadState } from '../read-index.js';
import type { Entry, HardState, Message, Snapshot } from '../types.js';
import type { RaftNode } from './raft-node.js';

/** One atomic write: any part may be empty. */
export interface LogWrite {
  readonly hardState: HardState | null;
  /** A snapshot installed from the leader: it replaces the whole log. */
  readonly snapshot: Snapshot | null;
  /** Entries overwriting the log from entries[0].index on (after the snapshot, if any). */
  readonly entries: readonly Entry[];
  /** False for a write a crash may lose (Ready.mustSync): it need not be synced before it is reported done. */
  readonly mustSync: boolean;
}

/** Durable storage of the Raft log and hard state, as the executor needs it. */
export interface LogStorage {
  /**
   * Starts an atomic write and calls `durable` once it is synced (without `mustSync`:
   * at once) and every earlier write is durable. Writes become durable in
   * the order they were started; an empty write is a barrier that becomes "durable"
   * when every earlier write has. A crash may lose writes made without `mustSync`,
   * nothing else that was reported durable.
   */
  write(w: LogWrite, durable: () => void): void;
}

export interface MessageTransport {
  send(messages: readonly Message[]): void;
}

export interface Applier {
  /** Replaces the state machine with the snapshot's state (it was installed from the leader). */
  restore(snapshot: Snapshot): void;
  apply(entries: readonly Entry[]): void;
}

/** Where confirmed and failed linearizable reads go (served once applied >= index), and the leader's answers to forwarded proposals. */
export interface AnswerListener {
  readsConfirmed(reads: readonly ReadState[]): void;
  readsFailed(requestIds: readonly number[]): void;
  proposalsForwarded(answers: readonly ForwardedProposal[]): void;
}

/**
 * The one place where a node's effects are carried out, in Raft's order: start
 * persisting, send what does not depend on the write, apply what is committed, and
 * only once the write is durable send the messages that promise durable state
 * (votes, append acknowledgements) and feed the node its answers to itself.
 * The real node and the simulator both run this, with their own storage and network.
 */
export class ReadyExecutor {
  constructor(
    private readonly node: RaftNode,
    private readonly storage: LogStorage,
    private readonly transport: MessageTransport,
    private readonly applier: Applier,
    private readonly answers: AnswerListener,
  ) {}

  run(): void {
    const rd = this.node.takeReady();
    if (rd.hardState !== null || rd.snapshot !== null || rd.entries.length > 0 || rd.messagesAfterPersist.length > 0) {
      const after = rd.messagesAfterPersist;
      this.storage.write({ hardState: rd.hardState, snapshot: rd.snapshot, entries: rd.entries, mustSync: rd.mustSync }, () => this.persisted(after));
    }
    if (rd.messages.length > 0) this.transport.send(rd.messages);
    // Before the apply: the host learns where a forwarded batch went before those entries are applied (one frame can
    // bring both), else it could only answer them outcome-unknown.
    if (rd.forwardedProposals.length > 0) this.answers.proposalsForwarded(rd.forwardedProposals);
    if (rd.snapshot !== null) this.applier.restore(rd.snapshot);
    if (rd.committed.length > 0) this.applier.apply(rd.committed);
    if (rd.readStates.length > 0) this.answers.readsConfirmed(rd.readStates);
    if (rd.readFailures.length > 0) this.answers.readsFailed(rd.readFailures);
  }

  private persisted(after: readonly Message[]): void {
    if (after.length === 0) return;
    const remote: Message[] = [];
    for (const m of after) {
      if (m.to === this.node.id) this.node.step(m);
      else remote.push(m);
    }
    if (remote.length > 0) this.transport.send(remote);
    this.run();
  }
}
