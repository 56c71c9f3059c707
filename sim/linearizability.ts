/**
 * Linearizability checking for key-value client histories, in the style of Wing & Gong
 * and Porcupine (anishathalye/porcupine `checkSingle`): a depth-first search over
 * linearization orders on a doubly linked list of call/return events, memoising
 * (set of linearized ops, model state) as Lowe does, so that no configuration is
 * explored twice.
 *
 * Keys are independent objects, so by P-compositionality a KV history is
 * linearizable iff each key's sub-history is; each key is searched on its own.
 * Transactions and listings touch several keys; they carry the revision (Raft log
 * index) they took effect at, so each is projected onto every key it touches as an
 * op positioned at that revision (sim/projection.ts): its reads see each key as of
 * the revision before (a listing: as of its revision), its writes take that
 * revision. Every key's linearization then puts the whole operation at one point
 * of the log, which is what atomicity means here.
 *
 * Ops whose outcome is `indeterminate` never returned: their return is at +infinity,
 * so they may be linearized anywhere after their call. The model's step for them is
 * total (the write applies if its precondition may hold, and is a no-op otherwise), so
 * "it never happened" is the same as "it happened last". Handled naively they make
 * the search exponential; `searchKey` explains how it avoids that.
 */

import { project } from './projection.js';

export type KvOperation =
  | { readonly kind: 'get'; readonly key: string }
  | {
      readonly kind: 'put';
      readonly key: string;
      readonly value: string;
      readonly ifRevision?: number;
      readonly ifAbsent?: boolean;
    }
  | { readonly kind: 'delete'; readonly key: string; readonly ifRevision?: number };

/** Operations on several keys: a transaction, and one page of a listing. */
export type MultiKeyOperation =
  | {
      readonly kind: 'txn';
      readonly compare: readonly TxnCompare[];
      readonly success: readonly TxnOp[];
      readonly failure: readonly TxnOp[];
    }
  /** One page of the keys starting with `prefix`, after the key `after` (null: from the start). */
  | { readonly kind: 'list'; readonly prefix: string; readonly after: string | null; readonly limit: number };

export type HistoryOperation = KvOperation | MultiKeyOperation;

/** As the store defines them: an absent key has revision 0; a comparison of an absent key's value is false. */
export interface TxnCompare {
  readonly key: string;
  readonly target: 'revision' | 'value';
  readonly operator: 'equal' | 'not_equal' | 'less' | 'greater';
  readonly revision?: number;
  readonly value?: string;
}

export type TxnOp =
  | { readonly op: 'put'; readonly key: string; readonly value: string }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'get'; readonly key: string };

export type TxnOpOutput =
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly deleted: boolean }
  | { readonly op: 'get'; readonly found: false }
  | { readonly op: 'get'; readonly found: true; readonly value: string; readonly revision: number };

export interface ListedEntry {
  readonly key: string;
  readonly value: string;
  readonly revision: number;
}

export type KvOutput =
  | { readonly kind: 'get'; readonly found: false }
  | { readonly kind: 'get'; readonly found: true; readonly value: string; readonly revision: number }
  | { readonly kind: 'put'; readonly revision: number }
  | { readonly kind: 'delete'; readonly deleted: boolean; readonly revision: number }
  | { readonly kind: 'precondition_failed'; readonly currentRevision: number | null };

export type HistoryOutput =
  | KvOutput
  | { readonly kind: 'txn'; readonly succeeded: boolean; readonly revision: number; readonly results: readonly TxnOpOutput[] }
  /** The page, in key order; `revision` is the applied index it was read at; `more`: keys follow the last entry. */
  | { readonly kind: 'list'; readonly revision: number; readonly entries: readonly ListedEntry[]; readonly more: boolean };

/**
 * One key's part of a transaction or a listing that returned: it sees the key as
 * of revision `readsAt`, and writes it (if it does) at `revision`. After it, every
 * write of the key has a revision above `revision`.
 */
export interface PositionedOp {
  readonly kind: 'at';
  readonly key: string;
  readonly readsAt: number;
  readonly revision: number;
  /** The transaction's comparisons of this key, and what is known of them. */
  readonly conditions: readonly TxnCompare[];
  readonly conditionsMust: 'hold' | 'fail' | 'any';
  /** What it read of the key before writing it, if it read it. */
  readonly observed: { readonly found: false } | { readonly found: true; readonly value: string; readonly revision: number } | null;
  readonly write: { readonly kind: 'put'; readonly value: string } | { readonly kind: 'delete'; readonly deleted: boolean } | null;
}

/** What the search linearizes on one key. */
export type KeyInput = KvOperation | PositionedOp;


export type Outcome =
  | { readonly status: 'ok'; readonly output: HistoryOutput; readonly returnAt: number }
  /** Definitely had no effect (e.g. refused before reaching the log). */
  | { readonly status: 'failed' }
  /** May have taken effect at any point after callAt, or never. */
  | { readonly status: 'indeterminate' };

export interface HistoryOp<I extends HistoryOperation = HistoryOperation> {
  readonly id: number;
  readonly client: number;
  readonly input: I;
  /** A logical timestamp (a global counter, not wall time): A precedes B iff A.returnAt < B.callAt. */
  readonly callAt: number;
  readonly outcome: Outcome;
}

/**
 * On failure, `ops` is the offending key's sub-history as checked: sorted by call
 * time, without `failed` ops and indeterminate reads (which cannot matter).
 */
export type CheckResult =
  | { readonly ok: true; readonly keysChecked: number; readonly opsChecked: number }
  | { readonly ok: false; readonly key: string; readonly ops: readonly HistoryOp[]; readonly explanation: string }
  | {
      readonly ok: false;
      readonly key: string;
      readonly timedOut: true;
      readonly ops: readonly HistoryOp[];
      readonly explanation: string;
    };

/** Default bound on the (linearized set, state) configurations the search enters for one key. */
export const maxStatesPerKeyDefault = 2_000_000;

/** How many ops an explanation lists: the last ones of the longest linearizable prefix, and candidates next. */
const explainOpsMax = 12;

// ---------------------------------------------------------------------------------
// Rendering

function describeTxnOp(o: TxnOp): string {
  return o.op === 'put' ? `put(${o.key},${JSON.stringify(o.value)})` : `${o.op}(${o.key})`;
}

export function describeKvOperation(input: HistoryOperation | PositionedOp): string {
  switch (input.kind) {
    case 'txn': {
      const compare = input.compare.map((k) => `${k.key}.${k.target} ${k.operator} ${k.target === 'revision' ? k.revision : JSON.stringify(k.value)}`);
      return `txn([${compare.join(', ')}] ? ${input.success.map(describeTxnOp).join(';')} : ${input.failure.map(describeTxnOp).join(';')})`;
    }
    case 'list':
      return `list(${JSON.stringify(input.prefix)}${input.after === null ? '' : `,after=${JSON.stringify(input.after)}`},limit=${input.limit})`;
    case 'at':
      return `${input.key}@${input.readsAt}..${input.revision}`;
    case 'get':
      return `get(${input.key})`;
    case 'put': {
      const conditions =
        (input.ifRevision === undefined ? '' : `,ifRevision=${input.ifRevision}`) +
        (input.ifAbsent === true ? ',ifAbsent' : '');
      return `put(${input.key},${JSON.stringify(input.value)}${conditions})`;
    }
    case 'delete':
      return `delete(${input.key}${input.ifRevision === undefined ? '' : `,ifRevision=${input.ifRevision}`})`;
  }
}

export function describeKvOutput(output: HistoryOutput): string {
  switch (output.kind) {
    case 'txn':
      return `${output.succeeded ? 'succeeded' : 'failed'} rev ${output.revision} [${output.results.map((r) => (r.op === 'get' ? (r.found ? `${JSON.stringify(r.value)} rev ${r.revision}` : 'not found') : r.op === 'delete' ? (r.deleted ? 'deleted' : 'not deleted') : 'put')).join('; ')}]`;
    case 'list':
      return `at rev ${output.revision}: ${output.entries.map((e) => `${e.key}=${JSON.stringify(e.value)}@${e.revision}`).join(' ')}${output.more ? ' …' : ''}`;
    case 'get':
      return output.found ? `${JSON.stringify(output.value)} rev ${output.revision}` : 'not found';
    case 'put':
      return `rev ${output.revision}`;
    case 'delete':
      return `${output.deleted ? 'deleted' : 'not deleted'} rev ${output.revision}`;
    case 'precondition_failed':
      return `precondition failed, current ${output.currentRevision === null ? 'absent' : `rev ${output.currentRevision}`}`;
  }
}

/** One line per op, e.g. `c3 put(k1,"v7") -> rev 42 [t 10..15]`. */
export function describeHistoryOp(op: HistoryOp): string {
  const call = `c${op.client} ${describeKvOperation(op.input)}`;
  switch (op.outcome.status) {
    case 'ok':
      return `${call} -> ${describeKvOutput(op.outcome.output)} [t ${op.callAt}..${op.outcome.returnAt}]`;
    case 'failed':
      return `${call} -> failed [t ${op.callAt}..]`;
    case 'indeterminate':
      return `${call} -> ? [t ${op.callAt}..]`;
  }
}

// ---------------------------------------------------------------------------------
// The sequential model of one key

/**
 * One key's state. `floor` is a revision every later write to the key must exceed:
 * revisions are global Raft log indexes, and writes linearize in log order.
 * Invariant: when present with a known revision, revision === floor; `revision` is
 * null (unknown) only when an indeterminate put wrote the key and nobody has observed
 * the revision it got (it is then known only to exceed `floor`, and to be no other
 * write's revision). States are interned, so equal states are the same object with
 * the same `id`.
 */
interface KeyState {
  readonly id: number;
  readonly present: boolean;
  /**
   * null when absent, or when no read of the key returns the value written: such
   * values need not be told apart, and merging them lets more configurations meet.
   */
  readonly value: string | null;
  readonly revision: number | null;
  readonly floor: number;
}

class KeyStates {
  private readonly byCanonical = new Map<string, KeyState>();
  readonly initial: KeyState = this.absent(0);

  /**
   * @param takenRevisions the revisions of the writes that returned, on any key: log
   *   indexes an unobserved revision cannot be. Without this, an indeterminate put
   *   would match any revision a later op names, so every pending one would be
   *   worth trying before every conditional op.
   */
  constructor(
    readonly takenRevisions: ReadonlySet<number>,
    /** The revisions of this key's writes that returned: a read as of revision R follows each of them at or below R. */
    readonly writeRevisions: readonly number[],
  ) {}

  absent(floor: number): KeyState {
    return this.intern(false, null, null, floor);
  }

  present(value: string | null, revision: number | null, floor: number): KeyState {
    return this.intern(true, value, revision, floor);
  }

  private intern(present: boolean, value: string | null, revision: number | null, floor: number): KeyState {
    const canonical = present ? `p${revision ?? '?'}/${floor}/${value === null ? '!' : `=${value}`}` : `a/${floor}`;
    let state = this.byCanonical.get(canonical);
    if (state === undefined) {
      state = { id: this.byCanonical.size, present, value, revision, floor };
      this.byCanonical.set(canonical, state);
    }
    return state;
  }
}

function describeKeyState(s: KeyState): string {
  if (!s.present) return s.floor > 0 ? `absent (last written at rev ${s.floor})` : 'absent';
  const value = s.value === null ? 'a value no read returns' : JSON.stringify(s.value);
  return s.revision === null ? `${value} at an unobserved rev above ${s.floor}` : `${value} rev ${s.revision}`;
}

/** 'unknown': the key holds an unobserved revision, which may be the one required. */
type Precondition = 'holds' | 'fails' | 'unknown';

function ifRevisionOf(input: KeyInput): number | undefined {
  return input.kind === 'put' || input.kind === 'delete' ? input.ifRevision : undefined;
}

function precondition(states: KeyStates, s: KeyState, input: KeyInput): Precondition {
  if (input.kind === 'put' && input.ifAbsent === true && s.present) return 'fails';
  const required = ifRevisionOf(input);
  if (required === undefined) return 'holds';
  if (!s.present) return 'fails';
  if (s.revision !== null) return s.revision === required ? 'holds' : 'fails';
  return required > s.floor && !states.takenRevisions.has(required) ? 'unknown' : 'fails';
}

/** Why a step is impossible: constant codes, so that the hot path allocates nothing. */
type Rejection =
  | 'key_present'
  | 'key_absent'
  | 'other_value'
  | 'other_revision'
  | 'revision_not_increasing'
  | 'revision_taken'
  | 'precondition_fails'
  | 'precondition_holds'
  | 'not_deleted_while_present'
  | 'write_at_or_below_not_applied';

const rejectionText: Record<Rejection, string> = {
  key_present: 'the key is present',
  key_absent: 'the key is absent',
  other_value: 'the key holds another value',
  other_revision: 'the key is at another revision',
  revision_not_increasing: 'revisions must increase in log order',
  revision_taken: 'the key holds an unobserved revision, but this one belongs to another write',
  precondition_fails: 'its precondition does not hold',
  precondition_holds: 'its precondition holds, so it cannot have failed',
  not_deleted_while_present: 'the key is present, so the delete must have deleted it',
  write_at_or_below_not_applied: 'a write at or below the revision it reads is not applied yet',
};

/** The revision a write that applies in state `s` must exceed (binding an unobserved revision to `ifRevision`). */
function revisionToExceed(s: KeyState, input: KeyInput, pre: Precondition): number {
  return pre === 'unknown' ? (ifRevisionOf(input) ?? s.floor) : s.floor;
}

/** A read of revision `observed` on a present key: equal to the known one, or binding an unobserved one. */
function observeRevision(states: KeyStates, s: KeyState, observed: number): KeyState | Rejection {
  if (s.revision !== null) return s.revision === observed ? s : 'other_revision';
  if (observed <= s.floor) return 'revision_not_increasing';
  if (states.takenRevisions.has(observed)) return 'revision_taken';
  return states.present(s.value, observed, observed);
}

/** One key's op as the search sees it. */
export interface CheckedOp {
  /** The history op it is (part of). */
  readonly op: HistoryOp;
  readonly input: KeyInput;
  /** null when indeterminate; a positioned op's output is in its input. */
  readonly output: KvOutput | { readonly kind: 'at' } | null;
  /** +Infinity when indeterminate. */
  readonly returnAt: number;
  /** A put's value as the model keeps it (see KeyState.value); null for other ops. */
  readonly value: string | null;
}

type Truth = 'holds' | 'fails' | 'unknown';

/** One comparison of the store's transactions against the model's state of its key. */
function compareTruth(states: KeyStates, s: KeyState, k: TxnCompare): Truth {
  const signOf = (d: number): boolean => ({ equal: d === 0, not_equal: d !== 0, less: d < 0, greater: d > 0 })[k.operator];
  if (k.target === 'value') {
    if (!s.present) return 'fails';
    if (s.value === null) return 'unknown';
    return signOf(Buffer.compare(Buffer.from(s.value), Buffer.from(k.value ?? ''))) ? 'holds' : 'fails';
  }
  const required = k.revision ?? 0;
  if (!s.present) return signOf(0 - required) ? 'holds' : 'fails';
  if (s.revision !== null) return signOf(s.revision - required) ? 'holds' : 'fails';
  // An unobserved revision: above the floor and no returned write's.
  if (k.operator === 'equal' && (required <= s.floor || states.takenRevisions.has(required))) return 'fails';
  return 'unknown';
}

/**
 * A positioned op (a transaction's or a listing's part on this key): it must sit
 * in log order (nothing after `readsAt` linearized before it), its comparisons
 * must come out as the transaction's branch says, its reads see the state, and
 * its write takes its revision. An unobserved revision is bound by an equal
 * comparison that must hold, or by a read.
 */
function stepPositioned(states: KeyStates, s: KeyState, p: PositionedOp, value: string | null): KeyState | Rejection {
  if (s.floor > p.readsAt) return 'revision_not_increasing';
  if (states.writeRevisions.some((w) => w > s.floor && w <= p.readsAt && !(p.write !== null && w === p.revision))) return 'write_at_or_below_not_applied';
  let cur = s;
  if (p.conditionsMust !== 'any' && p.conditions.length > 0) {
    const truths = p.conditions.map((k) => compareTruth(states, cur, k));
    const all: Truth = truths.includes('fails') ? 'fails' : truths.includes('unknown') ? 'unknown' : 'holds';
    if (p.conditionsMust === 'hold' && all === 'fails') return 'precondition_fails';
    if (p.conditionsMust === 'fail' && all === 'holds') return 'precondition_holds';
    if (p.conditionsMust === 'hold' && cur.present && cur.revision === null) {
      const bound = p.conditions.find((k) => k.target === 'revision' && k.operator === 'equal');
      if (bound !== undefined) {
        const next = observeRevision(states, cur, bound.revision ?? 0);
        if (typeof next === 'string') return next;
        if (bound.revision! > p.readsAt) return 'revision_not_increasing';
        cur = next;
      }
    }
  }
  const o = p.observed;
  if (o !== null) {
    if (!o.found) {
      if (cur.present) return 'key_present';
    } else {
      if (!cur.present) return 'key_absent';
      if (cur.value !== o.value) return 'other_value';
      if (o.revision > p.readsAt) return 'revision_not_increasing';
      const next = observeRevision(states, cur, o.revision);
      if (typeof next === 'string') return next;
      cur = next;
    }
  }
  const w = p.write;
  if (w === null) return cur.present ? states.present(cur.value, cur.revision, Math.max(cur.floor, p.revision)) : states.absent(Math.max(cur.floor, p.revision));
  if (w.kind === 'put') return states.present(value, p.revision, p.revision);
  if (w.deleted !== cur.present) return w.deleted ? 'key_absent' : 'not_deleted_while_present';
  return states.absent(p.revision);
}

/**
 * Linearizes `op` in state `s`: the next state, or why that is impossible. Total for
 * indeterminate writes (null output).
 *
 * A read sees the key's value and revision; a write applies iff its precondition
 * holds and then gets a revision above every earlier write's (revisions are log
 * indexes); a `precondition_failed` needs the precondition not to hold and reports the
 * key's revision (null when absent); a delete reports `deleted` iff it applied. An
 * unobserved revision matches the first revision observed or required of it, as long
 * as that exceeds `floor` and is no returned write's.
 */
function step(states: KeyStates, s: KeyState, op: CheckedOp): KeyState | Rejection {
  const { input, output } = op;
  if (input.kind === 'at') return stepPositioned(states, s, input, op.value);
  const pre = precondition(states, s, input);
  if (output === null) {
    if (pre === 'fails') return s;
    // Its own revision is unknown, but exceeds the one its precondition matched.
    const floor = revisionToExceed(s, input, pre);
    switch (input.kind) {
      case 'put':
        return states.present(op.value, null, floor);
      case 'delete':
        return s.present ? states.absent(floor) : s;
      case 'get':
        return s;
    }
  }
  if (output.kind === 'at') throw new Error('unreachable: a positioned output for a single-key op');
  switch (output.kind) {
    case 'get':
      if (!output.found) return s.present ? 'key_present' : s;
      if (!s.present) return 'key_absent';
      if (s.value !== output.value) return 'other_value';
      return observeRevision(states, s, output.revision);
    case 'put':
      if (pre === 'fails') return 'precondition_fails';
      if (output.revision <= revisionToExceed(s, input, pre)) return 'revision_not_increasing';
      return states.present(op.value, output.revision, output.revision);
    case 'delete':
      if (!output.deleted) return s.present && pre === 'holds' ? 'not_deleted_while_present' : s;
      if (!s.present) return 'key_absent';
      if (pre === 'fails') return 'precondition_fails';
      if (output.revision <= revisionToExceed(s, input, pre)) return 'revision_not_increasing';
      return states.absent(output.revision);
    case 'precondition_failed': {
      if (pre === 'holds') return 'precondition_holds';
      const current = output.currentRevision;
      if (!s.present) return current === null ? s : 'key_absent';
      if (current === null) return 'key_present';
      if (s.revision !== null) return current === s.revision ? s : 'other_revision';
      // The unobserved revision was not the one required, since the precondition failed.
      if (current === ifRevisionOf(input)) return 'precondition_holds';
      return observeRevision(states, s, current);
    }
  }
}

// ---------------------------------------------------------------------------------
// The search over one key's sub-history

interface KeySearch {
  readonly verdict: 'linearizable' | 'not_linearizable' | 'gave_up';
  readonly statesExplored: number;
  /** Indexes into the key's ops of the longest linearizable prefix found, in order. */
  readonly prefix: readonly number[];
}

const FULL_WORD = 0xffffffff;

/** splitmix32: deterministic per-op hash words for the Zobrist hash of a linearized set. */
function zobristWords(n: number, salt: number): Uint32Array {
  const words = new Uint32Array(n);
  let x = salt >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    words[i] = (z ^ (z >>> 16)) >>> 0;
  }
  return words;
}

/**
 * The linearized ops among those that returned, as a bitset indexed in call order,
 * with a Zobrist hash. Invariant: every word below `lo` is full and every word from
 * `hi` on is zero. Since ops are indexed in call order and only a few are concurrent,
 * this canonical window — all a dead end stores — is small however long the history.
 */
class ReturnedSet {
  readonly words: Uint32Array;
  private readonly zobrist1: Uint32Array;
  private readonly zobrist2: Uint32Array;
  lo = 0;
  hi = 0;
  hash1 = 0;
  hash2 = 0;

  constructor(n: number) {
    this.words = new Uint32Array((n + 31) >>> 5);
    this.zobrist1 = zobristWords(n, 0x243f6a88);
    this.zobrist2 = zobristWords(n, 0x85a308d3);
  }

  add(i: number): void {
    const w = i >>> 5;
    this.words[w] = this.words[w]! | (1 << (i & 31));
    if (w >= this.hi) this.hi = w + 1;
    while (this.lo < this.hi && this.words[this.lo] === FULL_WORD) this.lo++;
    this.hash1 ^= this.zobrist1[i]!;
    this.hash2 ^= this.zobrist2[i]!;
  }

  remove(i: number): void {
    const w = i >>> 5;
    this.words[w] = this.words[w]! & ~(1 << (i & 31));
    if (w < this.lo) this.lo = w;
    while (this.hi > this.lo && this.words[this.hi - 1] === 0) this.hi--;
    this.hash1 ^= this.zobrist1[i]!;
    this.hash2 ^= this.zobrist2[i]!;
  }
}

/**
 * The configurations a search left without finding a linearization: which of the ops
 * that returned were linearized (the window of their set), which indeterminate ones,
 * the state, and whether the last op linearized was indeterminate. Millions of them
 * may be kept, so they are packed into one growing Uint32Array and chained from an
 * open hash table. Entry layout, in words: next entry + 1 (0: none), hash, check,
 * stateId, afterIndeterminate (0/1), lo, window length, the window, the indeterminate set.
 */
class DeadEnds {
  private slots = new Int32Array(1 << 12);
  private arena = new Uint32Array(1 << 16);
  private used = 0;
  private size = 0;

  constructor(private readonly indeterminateWords: number) {}

  /** Whether a dead end rules this configuration out (see `searchKey`). */
  rulesOut(returned: ReturnedSet, indeterminate: Uint32Array, stateId: number, afterIndeterminate: boolean): boolean {
    const hash = (returned.hash1 ^ Math.imul(stateId, 0x9e3779b1)) >>> 0;
    const check = (returned.hash2 ^ Math.imul(stateId, 0x85ebca77)) >>> 0;
    const a = this.arena;
    const length = returned.hi - returned.lo;
    for (let entry = this.slots[hash & (this.slots.length - 1)]! - 1; entry >= 0; entry = a[entry]! - 1) {
      if (a[entry + 1] !== hash || a[entry + 2] !== check || a[entry + 3] !== stateId) continue;
      if ((a[entry + 4] === 1 && !afterIndeterminate) || a[entry + 5] !== returned.lo || a[entry + 6] !== length) continue;
      let match = true;
      const window = entry + 7;
      for (let w = 0; w < length && match; w++) match = a[window + w] === returned.words[returned.lo + w];
      const set = window + length;
      for (let w = 0; w < this.indeterminateWords && match; w++) match = (a[set + w]! & ~indeterminate[w]!) === 0;
      if (match) return true;
    }
    return false;
  }

  add(returned: ReturnedSet, indeterminate: Uint32Array, stateId: number, afterIndeterminate: boolean): void {
    const length = returned.hi - returned.lo;
    const words = 7 + length + this.indeterminateWords;
    if (this.used + words > this.arena.length) {
      const arena = new Uint32Array(Math.max(2 * this.arena.length, this.used + words));
      arena.set(this.arena.subarray(0, this.used));
      this.arena = arena;
    }
    if (4 * (this.size + 1) > 3 * this.slots.length) this.rehash();
    const a = this.arena;
    const entry = this.used;
    const hash = (returned.hash1 ^ Math.imul(stateId, 0x9e3779b1)) >>> 0;
    a[entry + 1] = hash;
    a[entry + 2] = (returned.hash2 ^ Math.imul(stateId, 0x85ebca77)) >>> 0;
    a[entry + 3] = stateId;
    a[entry + 4] = afterIndeterminate ? 1 : 0;
    a[entry + 5] = returned.lo;
    a[entry + 6] = length;
    a.set(returned.words.subarray(returned.lo, returned.hi), entry + 7);
    a.set(indeterminate, entry + 7 + length);
    this.link(entry, hash);
    this.used += words;
    this.size++;
  }

  private link(entry: number, hash: number): void {
    const slot = hash & (this.slots.length - 1);
    this.arena[entry] = this.slots[slot]!;
    this.slots[slot] = entry + 1;
  }

  private rehash(): void {
    this.slots = new Int32Array(2 * this.slots.length);
    for (let entry = 0; entry < this.used; entry += 7 + this.arena[entry + 6]! + this.indeterminateWords) {
      this.link(entry, this.arena[entry + 1]!);
    }
  }
}

/**
 * Porcupine's `checkSingle` on arrays. List nodes: 0 is the head, 1 + 2i is op i's
 * call and 2 + 2i its return; nodes are linked in time order (calls before returns at
 * equal times, since A precedes B only if A.returnAt < B.callAt). Linearizing op i
 * "lifts" both its nodes out of the list; backtracking "unlifts" them.
 *
 * Handled naively, indeterminate ops make the search exponential: k of them pending
 * can be linearized in 2^k subsets and orders at every position. But a linearization
 * stays valid when an indeterminate op is moved to the end (it constrains no other
 * op's position, and its step is total), so the search looks only for linearizations
 * in a canonical form, which any linearization reaches by such moves (or by swapping
 * the identities of interchangeable ones):
 * - no indeterminate op is linearized where it leaves the state unchanged;
 * - none is linearized right before an op that overwrites the key whatever its state
 *   (an unconditional put, or an indeterminate unconditional delete): nothing sees it;
 * - indeterminate ops with the same effect in every state are used in call order.
 * Memoisation records dead ends, and skips a configuration when a dead end has the
 * same state, the same linearized ops that returned, a subset of its linearized
 * indeterminate ops (the extra ones can move to the end), and no more freedom for the
 * next op (an indeterminate op last forbids an overwrite next).
 */
function searchKey(ops: readonly CheckedOp[], states: KeyStates, maxStates: number): KeySearch {
  const n = ops.length;
  const HEAD = 0;
  const time = (node: number): number => {
    const op = ops[(node - 1) >> 1]!;
    return (node & 1) === 1 ? op.op.callAt : op.returnAt;
  };
  const order: number[] = [];
  for (let node = 1; node <= 2 * n; node++) order.push(node);
  order.sort((a, b) => time(a) - time(b) || (b & 1) - (a & 1) || a - b);

  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = HEAD;
  for (const node of order) {
    next[last] = node;
    prev[node] = last;
    last = node;
  }
  const lift = (call: number): void => {
    const ret = call + 1;
    next[prev[call]!] = next[call]!;
    prev[next[call]!] = prev[call]!;
    next[prev[ret]!] = next[ret]!;
    if (next[ret]! !== -1) prev[next[ret]!] = prev[ret]!;
  };
  const unlift = (call: number): void => {
    const ret = call + 1;
    next[prev[ret]!] = ret;
    if (next[ret]! !== -1) prev[next[ret]!] = ret;
    next[prev[call]!] = call;
    prev[next[call]!] = call;
  };

  // Each op's index among the ops that returned, or among the indeterminate ones.
  const indexInKind = new Int32Array(n);
  let returnedCount = 0;
  let indeterminateCount = 0;
  ops.forEach((op, i) => {
    indexInKind[i] = op.output === null ? indeterminateCount++ : returnedCount++;
  });
  const returned = new ReturnedSet(returnedCount);
  const indeterminate = new Uint32Array((indeterminateCount + 31) >>> 5);
  const flipIndeterminate = (j: number): void => {
    indeterminate[j >>> 5] = indeterminate[j >>> 5]! ^ (1 << (j & 31));
  };
  const add = (i: number): void => {
    if (ops[i]!.output === null) flipIndeterminate(indexInKind[i]!);
    else returned.add(indexInKind[i]!);
  };
  const remove = (i: number): void => {
    if (ops[i]!.output === null) flipIndeterminate(indexInKind[i]!);
    else returned.remove(indexInKind[i]!);
  };

  // 1 for the ops that overwrite the key whatever its state, so are never linearized
  // right after an indeterminate op.
  const overwrites = new Uint8Array(n);
  ops.forEach((op, i) => {
    const input = op.input;
    const unconditional = ifRevisionOf(input) === undefined && !(input.kind === 'put' && input.ifAbsent === true);
    overwrites[i] = unconditional && (input.kind === 'put' || (input.kind === 'delete' && op.output === null)) ? 1 : 0;
  });
  let afterIndeterminate = false;

  // Indeterminate ops with the same effect in every state are interchangeable, so
  // each class of them is used in call order: any linearization can be relabelled
  // so, since by the time the j-th of a class is used, j of them have been called.
  const classOf = new Int32Array(n);
  const rankInClass = new Int32Array(n);
  const classByEffect = new Map<string, number>();
  const classSizes: number[] = [];
  ops.forEach((op, i) => {
    if (op.output !== null) return;
    const input = op.input;
    const ifAbsent = input.kind === 'put' && input.ifAbsent === true;
    const effect = `${input.kind}/${ifRevisionOf(input) ?? ''}/${ifAbsent}/${op.value === null ? '!' : `=${op.value}`}`;
    let c = classByEffect.get(effect);
    if (c === undefined) {
      c = classSizes.length;
      classByEffect.set(effect, c);
      classSizes.push(0);
    }
    classOf[i] = c;
    rankInClass[i] = classSizes[c]!;
    classSizes[c] = classSizes[c]! + 1;
  });
  const usedInClass = new Int32Array(classSizes.length);

  const deadEnds = new DeadEnds(indeterminate.length);

  const stackNodes: number[] = [];
  const stackStates: KeyState[] = [];
  let state = states.initial;
  let returnedLeft = returnedCount;
  let explored = 0;

  let best: number[] = [];
  let bestIsCurrent = true;
  const captureBest = (): void => {
    if (!bestIsCurrent) return;
    best = stackNodes.map((node) => (node - 1) >> 1);
    bestIsCurrent = false;
  };
  const result = (verdict: KeySearch['verdict']): KeySearch => {
    captureBest();
    return { verdict, statesExplored: explored, prefix: best };
  };

  // Each level of the search tries the ops that returned first, then (`trying
  // indeterminate`) the indeterminate ones, each among the calls before the list's
  // first return. Once every op that returned is linearized, the indeterminate ones
  // left can all go last.
  let node = next[HEAD]!;
  let tryingIndeterminate = false;
  while (returnedLeft > 0) {
    if ((node & 1) === 1) {
      const i = (node - 1) >> 1;
      const op = ops[i]!;
      const isIndeterminate = op.output === null;
      if (
        isIndeterminate !== tryingIndeterminate ||
        (afterIndeterminate && overwrites[i] === 1) ||
        (isIndeterminate && rankInClass[i] !== usedInClass[classOf[i]!])
      ) {
        node = next[node]!;
        continue;
      }
      const after = step(states, state, op);
      if (typeof after !== 'string' && !(isIndeterminate && after === state)) {
        // The dead-end check is of the configuration after this step.
        const wasAfterIndeterminate = afterIndeterminate;
        afterIndeterminate = isIndeterminate;
        add(i);
        if (!deadEnds.rulesOut(returned, indeterminate, after.id, afterIndeterminate)) {
          if (++explored > maxStates) return result('gave_up');
          stackNodes.push(node);
          stackStates.push(state);
          state = after;
          lift(node);
          if (isIndeterminate) usedInClass[classOf[i]!]!++;
          else returnedLeft--;
          if (stackNodes.length > best.length) bestIsCurrent = true;
          node = next[HEAD]!;
          tryingIndeterminate = false;
          continue;
        }
        remove(i);
        afterIndeterminate = wasAfterIndeterminate;
      }
      node = next[node]!;
    } else if (!tryingIndeterminate) {
      tryingIndeterminate = true;
      node = next[HEAD]!;
    } else {
      // The op returning here cannot be linearized before its return: backtrack.
      captureBest();
      const call = stackNodes.pop();
      if (call === undefined) return result('not_linearizable');
      deadEnds.add(returned, indeterminate, state.id, afterIndeterminate);
      const i = (call - 1) >> 1;
      state = stackStates.pop()!;
      remove(i);
      unlift(call);
      const wasIndeterminate = ops[i]!.output === null;
      if (wasIndeterminate) usedInClass[classOf[i]!]!--;
      else returnedLeft++;
      tryingIndeterminate = wasIndeterminate;
      const below = stackNodes[stackNodes.length - 1];
      afterIndeterminate = below !== undefined && ops[(below - 1) >> 1]!.output === null;
      node = next[call]!;
    }
  }
  return result('linearizable');
}

// ---------------------------------------------------------------------------------
// Explanations

/** The revisions of one key's writes that returned: puts, deletes that deleted, and transactions' writes. */
function writeRevisionsOf(ops: readonly CheckedOp[]): number[] {
  const revisions: number[] = [];
  for (const op of ops) {
    const out = op.output;
    if (out === null) continue;
    if (op.input.kind === 'at') {
      if (op.input.write !== null) revisions.push(op.input.revision);
    } else if (out.kind === 'put' || (out.kind === 'delete' && out.deleted)) revisions.push(out.revision);
  }
  return revisions;
}

function explainKey(
  key: string,
  ops: readonly CheckedOp[],
  takenRevisions: ReadonlySet<number>,
  search: KeySearch,
  maxStates: number,
): string {
  // Replay the prefix keeping every value (the search forgets the ones no read
  // returns), so that the state reads as a client would see it.
  const states = new KeyStates(takenRevisions, writeRevisionsOf(ops));
  const withValues = ops.map((op): CheckedOp => ({ ...op, value: op.input.kind === 'put' ? op.input.value : op.input.kind === 'at' && op.input.write?.kind === 'put' ? op.input.write.value : null }));
  let state = states.initial;
  for (const i of search.prefix) {
    const after = step(states, state, withValues[i]!);
    if (typeof after === 'string') throw new Error(`unreachable: a linearizable prefix fails to replay (${after})`);
    state = after;
  }

  const lines: string[] = [];
  if (search.verdict === 'gave_up') {
    lines.push(
      `key ${JSON.stringify(key)}: gave up after exploring ${search.statesExplored} states ` +
        `(maxStatesPerKey ${maxStates}) without deciding whether its ${ops.length} ops are linearizable.`,
    );
  } else {
    lines.push(
      `key ${JSON.stringify(key)} is not linearizable: no order of its ${ops.length} ops agrees with both ` +
        `their real-time order and a single copy of the key (${search.statesExplored} states explored).`,
    );
  }
  lines.push(
    `Longest linearizable prefix found: ${search.prefix.length} of ${ops.length} ops, ` +
      `leaving the key ${describeKeyState(state)}:`,
  );
  const shownFrom = Math.max(0, search.prefix.length - explainOpsMax);
  if (shownFrom > 0) lines.push(`  (${shownFrom} earlier ops)`);
  for (const i of search.prefix.slice(shownFrom)) lines.push(`  ${describeHistoryOp(ops[i]!.op)}`);

  // The ops that could come next: not yet linearized, and called before the first
  // return among those not yet linearized. Indeterminate ones can always go later.
  const linearized = new Set(search.prefix);
  const pending = withValues.filter((_, i) => !linearized.has(i));
  let firstReturn = Number.POSITIVE_INFINITY;
  for (const op of pending) firstReturn = Math.min(firstReturn, op.returnAt);
  const candidates = pending.filter((op) => op.output !== null && op.op.callAt <= firstReturn);
  lines.push(
    search.verdict === 'gave_up'
      ? 'Ops that could come next:'
      : 'None of the ops that could come next can be linearized there:',
  );
  for (const op of candidates.slice(0, explainOpsMax)) {
    const after = step(states, state, op);
    const why =
      typeof after === 'string'
        ? rejectionText[after]
        : 'allowed here, but no linearization of the remaining ops continues from there';
    lines.push(`  ${describeHistoryOp(op.op)}: ${why}`);
  }
  if (candidates.length > explainOpsMax) lines.push(`  (${candidates.length - explainOpsMax} more)`);
  const indeterminate = pending.filter((op) => op.output === null).length;
  if (indeterminate > 0) lines.push(`(${indeterminate} indeterminate ops not linearized, which may take effect later or never)`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------
// Entry point

function validate(history: readonly HistoryOp[]): void {
  const ids = new Set<number>();
  for (const op of history) {
    const where = `malformed history: op ${op.id} (${describeHistoryOp(op)})`;
    if (ids.has(op.id)) throw new Error(`${where}: duplicate id`);
    ids.add(op.id);
    if (!Number.isFinite(op.callAt)) throw new Error(`${where}: callAt is not finite`);
    if (op.outcome.status !== 'ok') continue;
    const { output, returnAt } = op.outcome;
    if (!Number.isFinite(returnAt) || returnAt < op.callAt) throw new Error(`${where}: returns before its call`);
    // Transactions and listings are checked as they are projected (sim/projection.ts).
    if (op.input.kind === 'txn' || op.input.kind === 'list') continue;
    const conditional =
      op.input.kind !== 'get' &&
      (op.input.ifRevision !== undefined || (op.input.kind === 'put' && op.input.ifAbsent === true));
    const fits = output.kind === op.input.kind || (output.kind === 'precondition_failed' && conditional);
    if (!fits) throw new Error(`${where}: output does not fit the operation`);
  }
}

/**
 * Checks that `history` is linearizable against a single-copy key-value store whose
 * revisions are Raft log indexes (see `step` for the model). Keys are checked in
 * sorted order; the first key found non-linearizable is reported. A key whose search
 * enters more than `maxStatesPerKey` configurations (each memoised once left) is
 * reported as timed out, unless another key is definitely non-linearizable.
 */
export function checkLinearizable(
  history: readonly HistoryOp[],
  opts: { readonly maxStatesPerKey?: number } = {},
): CheckResult {
  validate(history);
  const maxStates = opts.maxStatesPerKey ?? maxStatesPerKeyDefault;
  const projected = project(history);
  if ('why' in projected) {
    const explanation = `key ${JSON.stringify(projected.key)} is not linearizable: ${describeHistoryOp(projected.op)}: ${projected.why}.`;
    return { ok: false, key: projected.key, ops: [projected.op], explanation };
  }
  const { byKey, takenRevisions } = projected;

  let opsChecked = 0;
  let timedOut: CheckResult | undefined;
  for (const key of [...byKey.keys()].sort()) {
    const ops = byKey.get(key)!;
    opsChecked += ops.length;
    const states = new KeyStates(takenRevisions, writeRevisionsOf(ops));
    const search = searchKey(ops, states, maxStates);
    if (search.verdict === 'linearizable') continue;
    const explanation = explainKey(key, ops, takenRevisions, search, maxStates);
    const keyOps = ops.map((op) => op.op);
    if (search.verdict === 'not_linearizable') return { ok: false, key, ops: keyOps, explanation };
    timedOut ??= { ok: false, key, timedOut: true, ops: keyOps, explanation };
  }
  return timedOut ?? { ok: true, keysChecked: byKey.size, opsChecked };
}
