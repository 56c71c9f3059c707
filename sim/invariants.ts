import type { Entry, LogIndex, Message, NodeId, Role, Term } from '../src/raft/types.js';
import type { SimDisk } from './disk.js';

/** What the checker reads of a running node's Raft core. */
export interface CoreView {
  role(): Role;
  term(): Term;
  readonly log: { committed(): LogIndex; term(index: LogIndex): Term | null };
}

export type Property =
  | 'election-safety'
  | 'leader-append-only'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'apply-in-order'
  | 'monotonic-commit'
  | 'commit-current-term'
  | 'persist-before-send'
  | 'read-before-apply'
  | 'lease-exclusive'
  | 'acknowledged-write-lost'
  | 'answer-mismatch'
  | 'liveness'
  | 'linearizability'
  | 'watch-exactly-once';

export class InvariantViolation extends Error {
  constructor(
    readonly property: Property,
    readonly nodes: readonly NodeId[],
    readonly detail: string,
    readonly step: number,
  ) {
    super(`${property} violated at step ${step} (nodes ${nodes.join(', ')}): ${detail}`);
  }
}

const FNV_PRIME = 0x01000193;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hashBytes(h: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return h >>> 0;
}

/** Hash of an entry chained to the hash of everything before it: equal chains mean equal prefixes. */
function chainHash(prev: number, e: Entry): number {
  let h = Math.imul(prev ^ e.index, FNV_PRIME);
  h = Math.imul(h ^ e.term, FNV_PRIME);
  h = Math.imul(h ^ (e.kind === 'noop' ? 1 : 2), FNV_PRIME);
  return hashBytes(h, e.data);
}

interface NodeView {
  /** chain[i] = chain hash of the node's in-memory log up to index i (chain[0] = 0), snapshots included. */
  chain: number[];
  lastCommit: number;
  lastApplied: number;
  leaderTermSeen: number;
}

/**
 * Raft's safety properties, checked incrementally as the simulator runs: each hook
 * looks only at what changed, so checking every step stays cheap. Log prefixes are
 * compared by chained hashes, so "same hash at index i" means "same entries 1..i".
 */
export class InvariantChecker {
  step = 0;
  private readonly views = new Map<NodeId, NodeView>();
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** Chain hash of the committed log at each index, as first observed by any node. */
  private readonly committed: number[] = [0];
  /** Writes a client saw acknowledged: the index the answer named, and the command the client sent. */
  private readonly acknowledged: { readonly index: number; readonly command: Uint8Array }[] = [];
  /** The command data of each applied index (every node applies the same, by state machine safety). */
  private readonly appliedData: Uint8Array[] = [];
  electionsWon = 0;

  /** A watch was sent something other than the committed sequence of changes (sim/watch-checker.ts). */
  failWatch(nodes: readonly NodeId[], detail: string): never {
    this.fail('watch-exactly-once', nodes, detail);
  }

  private fail(property: Property, nodes: readonly NodeId[], detail: string): never {
    throw new InvariantViolation(property, nodes, detail, this.step);
  }

  /** A node started (first time or after a crash) with a snapshot up to `snapshotIndex` and `entries` after it recovered from its disk. */
  onStart(id: NodeId, snapshotIndex: number, entries: readonly Entry[], commit: number): void {
    if (snapshotIndex >= this.committed.length) this.fail('state-machine-safety', [id], `recovered a snapshot at ${snapshotIndex}, beyond anything committed`);
    const chain = this.committed.slice(0, snapshotIndex + 1);
    for (const e of entries) chain.push(chainHash(chain[chain.length - 1]!, e));
    this.views.set(id, { chain, lastCommit: Math.max(commit, snapshotIndex), lastApplied: snapshotIndex, leaderTermSeen: 0 });
    this.checkChainAgainstCommitted(id, chain, Math.min(commit, this.committed.length - 1), 'state-machine-safety');
  }

  /** A snapshot from the leader replaced the node's log up to `index` (its entries follow in onLogWrite). */
  onSnapshotInstalled(id: NodeId, role: Role, index: number): void {
    if (role === 'leader') this.fail('leader-append-only', [id], `a leader installed a snapshot at ${index}`);
    if (index >= this.committed.length) this.fail('state-machine-safety', [id], `installed a snapshot at ${index}, beyond anything committed`);
    const v = this.views.get(id)!;
    v.chain = this.committed.slice(0, index + 1);
    if (v.lastCommit < index) v.lastCommit = index;
  }

  /** The node's state machine was replaced by a snapshot's, applied up to `index`. */
  onRestore(id: NodeId, index: number): void {
    const v = this.views.get(id)!;
    if (index < v.lastApplied) this.fail('apply-in-order', [id], `restored a snapshot at ${index} after applying ${v.lastApplied}`);
    v.lastApplied = index;
  }

  /** The node's in-memory log changed: `entries` were appended or overwrote the log from entries[0].index. */
  onLogWrite(id: NodeId, role: Role, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const v = this.views.get(id)!;
    const first = entries[0]!.index;
    if (first > v.chain.length) this.fail('log-matching', [id], `log write at ${first} leaves a gap after ${v.chain.length - 1}`);
    if (role === 'leader' && first < v.chain.length) {
      this.fail('leader-append-only', [id], `leader overwrote its log from index ${first} (last was ${v.chain.length - 1})`);
    }
    if (first <= v.lastCommit) this.fail('state-machine-safety', [id], `overwrote committed index ${first} (commit ${v.lastCommit})`);
    v.chain.length = first;
    for (const e of entries) v.chain.push(chainHash(v.chain[v.chain.length - 1]!, e));
    this.checkLogMatching(id, entries, v.chain);
  }

  private readonly chainAt = new Map<string, { hash: number; node: NodeId }>();

  private checkLogMatching(id: NodeId, entries: readonly Entry[], chain: readonly number[]): void {
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const h = chain[e.index]!;
      const seen = this.chainAt.get(key);
      if (seen === undefined) this.chainAt.set(key, { hash: h, node: id });
      else if (seen.hash !== h) this.fail('log-matching', [seen.node, id], `entries at index ${e.index} term ${e.term} have different prefixes`);
    }
  }

  private checkChainAgainstCommitted(id: NodeId, chain: readonly number[], upTo: number, property: Property): void {
    if (upTo <= 0) return;
    if (chain[upTo] !== this.committed[upTo]) this.fail(property, [id], `log differs from the committed log at or before index ${upTo}`);
  }

  /** A node's state machine took `e`, in log order. */
  onApply(id: NodeId, e: Entry, nodes: ReadonlyMap<NodeId, CoreView>): void {
    const v = this.views.get(id)!;
    const node = nodes.get(id)!;
    // Applying reveals the node's commit index even before the step's end-of-step check.
    if (node.log.committed() > v.lastCommit) this.onCommit(id, node.term(), v, node.log.committed(), nodes);
    if (e.index !== v.lastApplied + 1) this.fail('apply-in-order', [id], `applied ${e.index} after ${v.lastApplied}`);
    v.lastApplied = e.index;
    if (e.index >= this.committed.length) this.fail('state-machine-safety', [id], `applied ${e.index} beyond its commit index`);
    if (v.chain[e.index] !== this.committed[e.index]) this.fail('state-machine-safety', [id], `applied a different entry at index ${e.index}`);
    this.appliedData[e.index] ??= e.data;
  }

  /**
   * Leader `id` of term `t` confirmed a lease read: its lease promises that no other
   * leader exists yet (README, "Reads"), which the simulator sees in true time.
   */
  onLeaseReadConfirmed(id: NodeId, t: Term, nodes: ReadonlyMap<NodeId, CoreView>): void {
    for (const [other, node] of nodes) {
      if (node.role() === 'leader' && node.term() > t) this.fail('lease-exclusive', [id, other], `a lease read in term ${t} while ${other} leads term ${node.term()}`);
    }
  }

  /** A linearizable read confirmed at `readIndex` was answered from a state machine that applied up to `appliedIndex`. */
  onReadServed(id: NodeId, readIndex: number, appliedIndex: number): void {
    if (appliedIndex < readIndex) this.fail('read-before-apply', [id], `a read confirmed at index ${readIndex} was served with only ${appliedIndex} applied`);
  }

  /** Checked after every simulator step over every running node. */
  afterStep(nodes: ReadonlyMap<NodeId, CoreView>): void {
    for (const [id, node] of nodes) {
      const v = this.views.get(id)!;
      if (node.role() === 'leader') this.onLeader(id, node.term(), v);
      const commit = node.log.committed();
      if (commit < v.lastCommit) this.fail('monotonic-commit', [id], `commit went from ${v.lastCommit} back to ${commit}`);
      if (commit > v.lastCommit) this.onCommit(id, node.term(), v, commit, nodes);
    }
  }

  private onLeader(id: NodeId, t: Term, v: NodeView): void {
    if (v.leaderTermSeen === t) return;
    v.leaderTermSeen = t;
    const other = this.leaderOfTerm.get(t);
    if (other !== undefined && other !== id) this.fail('election-safety', [other, id], `two leaders in term ${t}`);
    this.leaderOfTerm.set(t, id);
    this.electionsWon++;
    // Leader Completeness: a new leader holds every entry committed so far.
    const upTo = this.committed.length - 1;
    if (upTo > 0 && v.chain[upTo] !== this.committed[upTo]) {
      this.fail('leader-completeness', [id], `leader of term ${t} lacks committed entries up to ${upTo}`);
    }
  }

  private onCommit(id: NodeId, t: Term, v: NodeView, commit: LogIndex, nodes: ReadonlyMap<NodeId, CoreView>): void {
    // Raft's Figure 8 rule (§5.4.2): a leader counts replicas only for an entry of its own term.
    const node = nodes.get(id);
    if (node?.role() === 'leader' && node.log.term(commit) !== t) this.fail('commit-current-term', [id], `leader of term ${t} committed up to ${commit}, an entry of term ${node.log.term(commit)}`);
    const upTo = Math.min(commit, this.committed.length - 1);
    this.checkChainAgainstCommitted(id, v.chain, upTo, 'state-machine-safety');
    for (let i = this.committed.length; i <= commit; i++) this.committed.push(v.chain[i]!);
    v.lastCommit = commit;
    // Leaders of later terms must hold what was just found committed.
    for (const [other, node] of nodes) {
      if (node.role() === 'leader' && node.term() > t) this.checkChainAgainstCommitted(other, this.views.get(other)!.chain, commit, 'leader-completeness');
    }
  }

  /** A message is about to leave `from`; what it promises must already be on `from`'s disk. */
  onSend(m: Message, disk: SimDisk, sender: CoreView): void {
    if (m.type === 'requestVoteResponse' && m.granted && !m.preVote) {
      const hs = disk.durableHardState();
      if (hs.term < m.term || (hs.term === m.term && hs.votedFor !== m.to)) {
        this.fail('persist-before-send', [m.from, m.to], `vote for ${m.to} in term ${m.term} sent before it was durable`);
      }
    } else if (m.type === 'appendEntriesResponse' && m.success) {
      const durable = m.matchIndex <= disk.durableSnapshotIndex() ? null : disk.durableEntry(m.matchIndex);
      // While the sender is still in the message's term its log cannot have been rewritten since.
      const stillSameTerm = sender.term() === m.term;
      // (An entry the sender compacted away since is committed, so any durable copy of it is the one acknowledged.)
      const memoryTerm = sender.log.term(m.matchIndex);
      const durableIsAcked = durable === null || (durable !== undefined && (!stillSameTerm || memoryTerm === null || durable.term === memoryTerm));
      if (!durableIsAcked || disk.durableHardState().term < m.term) {
        this.fail('persist-before-send', [m.from, m.to], `acknowledged index ${m.matchIndex} in term ${m.term} before it was durable`);
      }
    }
  }

  /**
   * A client's write was answered as applied at `index` (the revision it was given):
   * the entry there must be the client's own command, and stay committed.
   */
  onAcknowledged(index: number, command: Uint8Array): void {
    this.acknowledged.push({ index, command });
    const applied = this.appliedData[index];
    if (applied !== undefined && !sameBytes(applied, command)) this.fail('answer-mismatch', [], `a write was answered as applied at ${index}, which holds another command`);
  }

  /** At the end of a run: every acknowledged write is committed where it was answered, and in every node's log. */
  /** Every acknowledged write is committed and in the log of every node, or of every node in `members` (a removed or never-added node keeps no log). */
  checkAcknowledgedKept(members?: ReadonlySet<NodeId>): void {
    for (const { index, command } of this.acknowledged) {
      const data = this.appliedData[index];
      if (data === undefined || index >= this.committed.length) this.fail('acknowledged-write-lost', [], `acknowledged write at ${index} was never committed`);
      if (!sameBytes(data, command)) this.fail('answer-mismatch', [], `a write was answered as applied at ${index}, which holds another command`);
      const hash = this.committed[index];
      for (const [id, v] of this.views) {
        if (members !== undefined && !members.has(id)) continue;
        if (v.chain[index] !== hash) this.fail('acknowledged-write-lost', [id], `log lacks acknowledged write at ${index}`);
      }
    }
  }

  committedCount(): number {
    return this.committed.length - 1;
  }

  failLiveness(detail: string): never {
    this.fail('liveness', [], detail);
  }

  failLinearizability(detail: string): never {
    this.fail('linearizability', [], detail);
  }
}
