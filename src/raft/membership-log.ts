import { decodeConfiguration } from './configuration-codec.js';
import type { Departures } from './departures.js';
import { ConfigHistory, type Configuration, type IndexedConfiguration } from './membership.js';
import { Progress } from './progress.js';
import type { LogIndex, NodeId } from './types.js';
import { logIndex } from './types.js';

/**
 * Keeping a node's configurations in step with its log: configuration entries
 * (kind `config`, data = configuration-codec bytes) take effect when they enter
 * the log, so whatever changes the log (recovery, appends that may overwrite an
 * uncommitted tail) updates the ConfigHistory here; and a leader's progress
 * tracking follows the configuration in effect.
 */

/** What this module reads of an entry (an Entry is one). */
export interface LogEntryLike {
  readonly index: LogIndex;
  readonly kind: string;
  readonly data: Uint8Array;
}

/** What this module reads of the log (a RaftLog is one). */
export interface LogLike {
  entry(index: LogIndex): LogEntryLike | undefined;
  lastIndex(): LogIndex;
}

export const CONFIG_ENTRY_KIND = 'config';

export function isConfigEntry(e: LogEntryLike): boolean {
  return e.kind === CONFIG_ENTRY_KIND;
}

/**
 * The configuration an entry carries. Entries are checksummed on disk and checked
 * on the wire, and only a leader's own encoder writes them: one that does not
 * decode is a bug, and fails loudly.
 */
export function configOfEntry(e: LogEntryLike): Configuration {
  const d = decodeConfiguration(e.data);
  if (!d.ok) throw new Error(`configuration entry at ${e.index} does not decode: ${d.reason}`);
  return d.config;
}

/** The history of a recovered log: its base configuration, then each configuration entry in it. */
export function historyOf(base: IndexedConfiguration, entries: readonly LogEntryLike[]): ConfigHistory {
  const h = new ConfigHistory(base);
  for (const e of entries) if (isConfigEntry(e) && e.index > base.index) h.appended(e.index, configOfEntry(e));
  return h;
}

/**
 * After the log took an append whose entries start at `from`: if the append may
 * have replaced or added configurations (it carried one, or one stood at or after
 * `from`), the history from `from` on is rebuilt from the log. Otherwise nothing
 * at or after `from` was or is a configuration entry, and nothing is read.
 */
export function followAppend(h: ConfigHistory, log: LogLike, from: LogIndex, appended: readonly LogEntryLike[]): void {
  if (h.current().index < from && !appended.some(isConfigEntry)) return;
  h.truncatedFrom(from);
  for (let i = from; i <= log.lastIndex(); i++) {
    const e = log.entry(logIndex(i))!;
    if (isConfigEntry(e)) h.appended(e.index, configOfEntry(e));
  }
}

/** Every member but `self`: whom a leader replicates to (voters and learners alike). */
export function peersOf(c: Configuration, self: NodeId): NodeId[] {
  return c.members.filter((m) => m.id !== self).map((m) => m.id);
}

/**
 * A leader's progress follows its configuration: a new member (or departing one)
 * gets a Progress that probes from the leader's next index, a removed one loses
 * its own unless it is departing (still told of its removal); the leader's entry
 * stays while it leads (its own acknowledgements go through it), member or not.
 */
export function syncProgress(progress: Map<NodeId, Progress>, c: Configuration, self: NodeId, nextIndex: LogIndex, inflightMax: number, departing: Departures): void {
  for (const m of c.members) if (!progress.has(m.id)) progress.set(m.id, new Progress(nextIndex, inflightMax));
  for (const id of departing.ids()) if (!progress.has(id)) progress.set(id, new Progress(nextIndex, inflightMax));
  for (const id of [...progress.keys()]) if (id !== self && !departing.has(id) && !c.members.some((m) => m.id === id)) progress.delete(id);
}

/**
 * What a node's core knows of membership, kept in step with its log: the
 * configuration history, the voters and peers of the configuration in effect (the
 * arrays the replication and election code read, updated in place), and whether
 * this node may vote yet: a node that started empty to join a cluster (raft.join)
 * takes no part in elections until its log reaches the commit index a leader
 * sent it, so a voter that lost its data cannot help elect a leader that lacks
 * what it had acknowledged.
 */
export class Membership {
  readonly voters: NodeId[] = [];
  readonly peers: NodeId[] = [];
  private seen: IndexedConfiguration | null = null;
  private selfVoter = false;

  constructor(
    readonly history: ConfigHistory,
    private readonly self: NodeId,
    /** Not yet caught up since an empty start with raft.join. */
    public catchingUp: boolean,
  ) {
    this.refresh();
  }

  /** After anything that may have changed the history; true if the configuration in effect changed. */
  refresh(): boolean {
    const cur = this.history.current();
    if (cur === this.seen) return false;
    this.seen = cur;
    this.voters.length = 0;
    this.peers.length = 0;
    for (const m of cur.config.members) {
      if (m.role === 'voter') this.voters.push(m.id);
      if (m.id !== this.self) this.peers.push(m.id);
    }
    this.selfVoter = this.voters.includes(this.self);
    return true;
  }

  current(): IndexedConfiguration {
    return this.history.current();
  }

  isSelfVoter(): boolean {
    return this.selfVoter;
  }

  /** May this node campaign or grant votes? Only a voter that is not catching up. */
  mayVote(): boolean {
    return this.selfVoter && !this.catchingUp;
  }

  /** A leader's append reached us: once our log holds its commit index, we have caught up. */
  heardCommit(lastIndex: LogIndex, leaderCommit: LogIndex): void {
    if (this.catchingUp && lastIndex >= leaderCommit) this.catchingUp = false;
  }
}
