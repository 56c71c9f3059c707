import type { RaftNode } from './node.js';
import type { Entry, HardState, Message } from './types.js';

/** Durable storage of the Raft log and hard state, as the executor needs it. */
export interface LogStorage {
  /**
   * Starts a write of the hard state (when not null) and of entries (overwriting the
   * log from entries[0].index on) and calls `durable` once it is synced. Writes become
   * durable in the order they were started; an empty write is a barrier that becomes
   * "durable" when every earlier write has.
   */
  write(hardState: HardState | null, entries: readonly Entry[], durable: () => void): void;
}

export interface MessageTransport {
  send(messages: readonly Message[]): void;
}

export interface Applier {
  apply(entries: readonly Entry[]): void;
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
  ) {}

  run(): void {
    const rd = this.node.takeReady();
    if (rd.hardState !== null || rd.entries.length > 0 || rd.messagesAfterPersist.length > 0) {
      const after = rd.messagesAfterPersist;
      this.storage.write(rd.hardState, rd.entries, () => this.persisted(after));
    }
    if (rd.messages.length > 0) this.transport.send(rd.messages);
    if (rd.committed.length > 0) this.applier.apply(rd.committed);
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
