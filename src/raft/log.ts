import type { ConflictHint, Entry, LogIndex, Term } from './types.js';
import { logIndex, term as toTerm } from './types.js';

/**
 * The in-memory Raft log: every entry after the log's base (index 0 / term 0, or the
 * last snapshot's index and term once compacted), plus the commit and apply cursors.
 *
 * Invariants, asserted where they can break:
 *   base <= applied <= committed <= lastIndex
 *   entries[k].index === base + 1 + k, terms non-decreasing
 *   base < unpersistedFrom <= lastIndex + 1: entries from unpersistedFrom on have not
 *   yet been handed to storage.
 */
export class RaftLog {
  private entries: Entry[] = [];
  private baseIndex: LogIndex;
  private baseTerm: Term;
  private commitIndex: LogIndex;
  private appliedIndex: LogIndex;
  private unpersistedFrom: LogIndex;
  /** The payload bytes of `entries`, kept as they come and go so that reading it costs nothing. */
  private entryBytes = 0;

  constructor(persisted: readonly Entry[], commit: LogIndex, base: { index: LogIndex; term: Term } = { index: logIndex(0), term: toTerm(0) }) {
    this.baseIndex = base.index;
    this.baseTerm = base.term;
    this.entries = [...persisted];
    for (let k = 0; k < this.entries.length; k++) {
      if (this.entries[k]!.index !== this.baseIndex + 1 + k) throw new Error(`RaftLog: persisted entries are not contiguous at ${k}`);
      this.entryBytes += this.entries[k]!.data.length;
    }
    this.commitIndex = logIndex(Math.max(this.baseIndex, Math.min(commit, this.lastIndex())));
    this.appliedIndex = this.baseIndex;
    this.unpersistedFrom = logIndex(this.lastIndex() + 1);
  }

  /** The index and term of the last entry the log no longer holds (covered by a snapshot). */
  base(): { readonly index: LogIndex; readonly term: Term } {
    return { index: this.baseIndex, term: this.baseTerm };
  }

  /**
   * Drops the entries up to `index`, which a snapshot of the applied state now covers.
   */
  compact(index: LogIndex): void {
    if (index <= this.baseIndex) return;
    if (index > this.appliedIndex) throw new Error(`RaftLog.compact(${index}) beyond applied ${this.appliedIndex}`);
    const t = this.term(index)!;
    this.entryBytes -= bytesOf(this.entries, 0, index - this.baseIndex);
    this.entries = this.entries.slice(index - this.baseIndex);
    this.baseIndex = index;
    this.baseTerm = t;
    if (this.unpersistedFrom <= index) this.unpersistedFrom = logIndex(index + 1);
  }

  /**
   * Installs a snapshot received from the leader (Raft §7): if we hold the entry it
   * ends at, the entries after it stay; otherwise the whole log is replaced. The
   * snapshot replaces the durable log, so whatever entries stay are handed to storage
   * again after it.
   */
  restore(index: LogIndex, t: Term): void {
    if (index <= this.commitIndex) throw new Error(`RaftLog.restore(${index}) at or below commit ${this.commitIndex}`);
    this.entries = this.matchTerm(index, t) ? this.entries.slice(index - this.baseIndex) : [];
    this.entryBytes = bytesOf(this.entries, 0, this.entries.length);
    this.baseIndex = index;
    this.baseTerm = t;
    this.commitIndex = index;
    this.appliedIndex = index;
    this.unpersistedFrom = logIndex(index + 1);
  }

  firstIndex(): LogIndex {
    return logIndex(this.baseIndex + 1);
  }

  lastIndex(): LogIndex {
    return logIndex(this.baseIndex + this.entries.length);
  }

  lastTerm(): Term {
    return this.entries.length === 0 ? this.baseTerm : this.entries[this.entries.length - 1]!.term;
  }

  committed(): LogIndex {
    return this.commitIndex;
  }

  applied(): LogIndex {
    return this.appliedIndex;
  }

  /** Entries held in memory (after the base). */
  length(): number {
    return this.entries.length;
  }

  /** The payload bytes of the entries held. */
  payloadBytes(): number {
    return this.entryBytes;
  }

  /**
   * A copy that shares nothing mutable with this log (checkpoints): entries are
   * immutable values, so the window is copied as one array of references.
   */
  copy(): RaftLog {
    const out = Object.create(RaftLog.prototype) as RaftLog;
    Object.assign(out, this);
    out.entries = this.entries.slice();
    return out;
  }

  /** The term of the entry at `index`, or null when it is outside the log. */
  term(index: LogIndex): Term | null {
    if (index === this.baseIndex) return this.baseTerm;
    if (index < this.baseIndex || index > this.lastIndex()) return null;
    return this.entries[index - this.baseIndex - 1]!.term;
  }

  entry(index: LogIndex): Entry | undefined {
    return this.entries[index - this.baseIndex - 1];
  }

  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction (§5.4.1): is a log ending at (index, term) at least as up-to-date as ours? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Leader-side append of fresh entries at the end of the log. */
  append(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (e.index !== this.lastIndex() + 1) throw new Error(`RaftLog.append: index ${e.index} after ${this.lastIndex()}`);
      this.entries.push(e);
      this.entryBytes += e.data.length;
    }
  }

  /**
   * Follower-side append (AppendEntries receiver, §5.3). Returns the last index now
   * known to match the leader, or a conflict hint when prevLogIndex does not match.
   */
  maybeAppend(prevLogIndex: LogIndex, prevLogTerm: Term, entries: readonly Entry[]): { ok: true; lastNewIndex: LogIndex } | { ok: false; hint: ConflictHint } {
    if (prevLogIndex < this.baseIndex) {
      // Already compacted below: everything up to base is committed, so it matches;
      // skip the entries we can no longer compare.
      entries = entries.filter((e) => e.index > this.baseIndex);
      prevLogIndex = this.baseIndex;
      prevLogTerm = this.baseTerm;
    }
    const ourTerm = this.term(prevLogIndex);
    if (ourTerm === null) return { ok: false, hint: { index: logIndex(this.lastIndex() + 1), term: null } };
    if (ourTerm !== prevLogTerm) return { ok: false, hint: { index: this.firstIndexOfTerm(prevLogIndex, ourTerm), term: ourTerm } };

    const lastNewIndex = logIndex(prevLogIndex + entries.length);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      const existing = this.term(e.index);
      if (existing === e.term) continue;
      if (existing !== null) {
        if (e.index <= this.commitIndex) throw new Error(`RaftLog: conflict at committed index ${e.index}`);
        this.truncateFrom(e.index);
      }
      for (let j = k; j < entries.length; j++) this.entries.push(entries[j]!);
      this.entryBytes += bytesOf(entries, k, entries.length);
      break;
    }
    return { ok: true, lastNewIndex };
  }

  private truncateFrom(index: LogIndex): void {
    const keep = index - this.baseIndex - 1;
    this.entryBytes -= bytesOf(this.entries, keep, this.entries.length);
    this.entries.length = keep;
    if (this.unpersistedFrom > index) this.unpersistedFrom = index;
  }

  private firstIndexOfTerm(from: LogIndex, t: Term): LogIndex {
    let i = from;
    while (i - 1 > this.baseIndex && this.term(logIndex(i - 1)) === t) i = logIndex(i - 1);
    return i;
  }

  /**
   * Leader-side use of a conflict hint: the index to probe next. If we hold entries
   * of the hinted term, resume after our last one of it; otherwise skip the
   * follower's whole term.
   */
  nextIndexFromHint(hint: ConflictHint): LogIndex {
    if (hint.term === null) return hint.index;
    // Scan back to our last entry of hint.term; terms are non-decreasing, so stop once below it.
    for (let i = this.lastIndex(); i > this.baseIndex; i--) {
      const t = this.term(logIndex(i))!;
      if (t === hint.term) return logIndex(i + 1);
      if (t < hint.term) break;
    }
    return hint.index;
  }

  /** Entries in [lo, hi], at most maxCount of them and about maxBytes (always at least one). */
  slice(lo: LogIndex, hi: LogIndex, maxCount: number, maxBytes: number): Entry[] {
    if (lo <= this.baseIndex) throw new Error(`RaftLog.slice: ${lo} is compacted`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= hi && out.length < maxCount; i++) {
      const e = this.entries[i - this.baseIndex - 1]!;
      bytes += e.data.length;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  commitTo(index: LogIndex): boolean {
    if (index <= this.commitIndex) return false;
    if (index > this.lastIndex()) throw new Error(`RaftLog.commitTo(${index}) beyond last ${this.lastIndex()}`);
    this.commitIndex = index;
    return true;
  }

  /** Hands out the committed entries not yet applied, and counts them applied (the host applies in order). */
  takeCommitted(): Entry[] {
    if (this.appliedIndex >= this.commitIndex) return [];
    const out = this.entries.slice(this.appliedIndex - this.baseIndex, this.commitIndex - this.baseIndex);
    this.appliedIndex = this.commitIndex;
    return out;
  }

  /** Hands out the entries not yet given to storage (possibly overwriting earlier ones from their first index). */
  takeUnpersisted(): Entry[] {
    if (this.unpersistedFrom > this.lastIndex()) return [];
    const out = this.entries.slice(this.unpersistedFrom - this.baseIndex - 1);
    this.unpersistedFrom = logIndex(this.lastIndex() + 1);
    return out;
  }
}

/** The payload bytes of entries[from, to). */
function bytesOf(entries: readonly Entry[], from: number, to: number): number {
  let bytes = 0;
  for (let k = from; k < to; k++) bytes += entries[k]!.data.length;
  return bytes;
}
