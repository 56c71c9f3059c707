import type { Message } from './types.js';

/**
 * Effects produced while the core handles events, drained by the host after each
 * batch of events. Messages whose meaning depends on durable state (vote and append
 * responses, including the node's answers to itself) wait in `afterPersist` until
 * every write produced so far is reported durable (etcd's msgsAfterAppend).
 */
export class Outbox {
  messages: Message[] = [];
  afterPersist: Message[] = [];

  send(m: Message): void {
    if (m.type === 'requestVoteResponse' || m.type === 'appendEntriesResponse') this.afterPersist.push(m);
    else this.messages.push(m);
  }
}
