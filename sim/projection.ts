// A history as the per-key search sees it: single-key ops as they are, and every
// transaction and listing split into one op per key it touches, positioned at its
// revision (see sim/linearizability.ts).
import type { CheckedOp, HistoryOp, KvOperation, MultiKeyOperation, PositionedOp, TxnOp } from './linearizability.js';

/** Keys in the store's order: bytes (UTF-8), not UTF-16 code units. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Something in one op contradicts itself: a history no store could produce. */
export interface Contradiction {
  readonly key: string;
  readonly op: HistoryOp;
  readonly why: string;
}

export interface Projection {
  readonly byKey: ReadonlyMap<string, CheckedOp[]>;
  /** The revisions returned writes took (a transaction's, even a read-only one's). */
  readonly takenRevisions: ReadonlySet<number>;
}

const isMultiKey = (op: HistoryOp): op is HistoryOp<MultiKeyOperation> => op.input.kind === 'txn' || op.input.kind === 'list';

function keysOf(op: HistoryOp): string[] {
  const input = op.input;
  if (input.kind === 'txn') return [...input.compare.map((k) => k.key), ...input.success.map((o) => o.key), ...input.failure.map((o) => o.key)];
  if (input.kind === 'list') return op.outcome.status === 'ok' && op.outcome.output.kind === 'list' ? op.outcome.output.entries.map((e) => e.key) : [];
  return [input.key];
}

/** The values some op reads or compares with, per key: the model keeps only those (see KeyState.value). */
function valuesRead(history: readonly HistoryOp[]): Map<string, Set<string>> {
  const read = new Map<string, Set<string>>();
  const add = (key: string, value: string): void => {
    let set = read.get(key);
    if (set === undefined) read.set(key, (set = new Set()));
    set.add(value);
  };
  for (const op of history) {
    if (op.input.kind === 'txn') for (const k of op.input.compare) if (k.target === 'value') add(k.key, k.value ?? '');
    if (op.outcome.status !== 'ok') continue;
    const out = op.outcome.output;
    if (out.kind === 'get' && out.found && 'key' in op.input) add(op.input.key, out.value);
    if (out.kind === 'list') for (const e of out.entries) add(e.key, e.value);
    if (out.kind === 'txn' && op.input.kind === 'txn') {
      const branch = out.succeeded ? op.input.success : op.input.failure;
      out.results.forEach((r, i) => {
        if (r.op === 'get' && r.found) add(branch[i]!.key, r.value);
      });
    }
  }
  return read;
}

/** Splits a history into per-key ops, or names a contradiction one op carries by itself. */
export function project(history: readonly HistoryOp[]): Projection | Contradiction {
  const takenRevisions = new Set<number>();
  const universe = new Set<string>();
  for (const op of history) {
    for (const k of keysOf(op)) universe.add(k);
    if (op.outcome.status !== 'ok') continue;
    const out = op.outcome.output;
    if (out.kind === 'put' || (out.kind === 'delete' && out.deleted) || out.kind === 'txn') takenRevisions.add(out.revision);
  }
  const read = valuesRead(history);
  const kept = (key: string, value: string): string | null => (read.get(key)?.has(value) === true ? value : null);
  const byKey = new Map<string, CheckedOp[]>();
  const push = (key: string, c: CheckedOp): void => {
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [c]);
    else list.push(c);
  };
  for (const op of history) {
    if (op.outcome.status === 'failed') continue;
    if (!isMultiKey(op)) {
      const input = op.input as KvOperation;
      if (op.outcome.status === 'indeterminate' && input.kind === 'get') continue;
      const value = input.kind === 'put' ? kept(input.key, input.value) : null;
      const out = op.outcome.status === 'ok' ? op.outcome.output : null;
      if (out !== null && (out.kind === 'txn' || out.kind === 'list')) throw new Error(`malformed history: op ${op.id}'s output does not fit it`);
      push(input.key, { op, input, output: out, returnAt: op.outcome.status === 'ok' ? op.outcome.returnAt : Number.POSITIVE_INFINITY, value });
      continue;
    }
    const parts = op.input.kind === 'txn' ? txnParts(op as HistoryOp<Extract<MultiKeyOperation, { kind: 'txn' }>>) : listParts(op as HistoryOp<Extract<MultiKeyOperation, { kind: 'list' }>>, universe);
    if ('why' in parts) return parts;
    for (const [key, input] of parts) {
      const returnAt = op.outcome.status === 'ok' ? op.outcome.returnAt : Number.POSITIVE_INFINITY;
      const putValue = input.kind === 'put' ? input.value : input.kind === 'at' && input.write?.kind === 'put' ? input.write.value : null;
      const value = putValue === null ? null : kept(key, putValue);
      push(key, { op, input, output: input.kind === 'at' ? { kind: 'at' } : null, returnAt, value });
    }
  }
  for (const ops of byKey.values()) ops.sort((a, b) => a.op.callAt - b.op.callAt || a.op.id - b.op.id);
  return { byKey, takenRevisions };
}

type Parts = [string, PositionedOp | KvOperation][] | Contradiction;

function txnParts(op: HistoryOp<Extract<MultiKeyOperation, { kind: 'txn' }>>): Parts {
  const t = op.input;
  const keys = [...new Set([...t.compare.map((k) => k.key), ...t.success.map((o) => o.key), ...t.failure.map((o) => o.key)])];
  if (op.outcome.status !== 'ok') return indeterminateTxnParts(op, keys);
  const out = op.outcome.output;
  if (out.kind !== 'txn') throw new Error(`malformed history: op ${op.id}'s output does not fit it`);
  const branch = out.succeeded ? t.success : t.failure;
  if (out.results.length !== branch.length || out.results.some((r, i) => r.op !== branch[i]!.op)) throw new Error(`malformed history: op ${op.id}'s results do not fit its branch`);
  const R = out.revision;
  const parts: [string, PositionedOp][] = [];
  for (const key of keys) {
    const conditions = t.compare.filter((k) => k.key === key);
    const ops = branch.map((o, i) => [o, out.results[i]!] as const).filter(([o]) => o.key === key);
    if (conditions.length === 0 && ops.length === 0) continue;
    let observed: PositionedOp['observed'] = null;
    let write: PositionedOp['write'] = null;
    for (const [o, r] of ops) {
      if (o.op === 'get' && r.op === 'get') {
        const seen = r.found ? { found: true as const, value: r.value, revision: r.revision } : { found: false as const };
        if (write === null) {
          if (observed !== null && JSON.stringify(observed) !== JSON.stringify(seen)) return { key, op, why: 'two reads of the key in one transaction saw different things' };
          observed = seen;
        } else {
          const own = write.kind === 'put' ? JSON.stringify({ found: true, value: write.value, revision: R }) : JSON.stringify({ found: false });
          if (JSON.stringify(seen) !== own) return { key, op, why: 'a read after the transaction\'s own write of the key did not see that write' };
        }
      } else if (write !== null) {
        return { key, op, why: 'the transaction writes the key twice' };
      } else {
        write = o.op === 'put' ? { kind: 'put', value: o.value } : { kind: 'delete', deleted: r.op === 'delete' && r.deleted };
      }
    }
    const onlyThisKey = t.compare.every((k) => k.key === key);
    parts.push([key, { kind: 'at', key, readsAt: R - 1, revision: R, conditions, conditionsMust: out.succeeded ? 'hold' : onlyThisKey ? 'fail' : 'any', observed, write }]);
  }
  return parts;
}

/**
 * A transaction that never returned may have run either branch, or not at all: on
 * each key it writes, that is an indeterminate write of that key. Exact (a
 * conditional put or delete) when its one comparison is an equal revision of that
 * key and the write is in the success branch; otherwise unconditional, which allows
 * more, never less. A key written by both branches has no such form: refused.
 */
function indeterminateTxnParts(op: HistoryOp<Extract<MultiKeyOperation, { kind: 'txn' }>>, keys: readonly string[]): Parts {
  const t = op.input;
  const parts: [string, KvOperation][] = [];
  for (const key of keys) {
    const inSuccess = t.success.find((o): o is Exclude<TxnOp, { op: 'get' }> => o.key === key && o.op !== 'get');
    const inFailure = t.failure.find((o): o is Exclude<TxnOp, { op: 'get' }> => o.key === key && o.op !== 'get');
    if (inSuccess !== undefined && inFailure !== undefined) throw new Error(`unsupported history: the unanswered transaction ${op.id} writes ${key} in both branches`);
    const w = inSuccess ?? inFailure;
    if (w === undefined) continue;
    const only = t.compare.length === 1 ? t.compare[0]! : null;
    const exact = inSuccess !== undefined && only !== null && only.key === key && only.target === 'revision' && only.operator === 'equal' ? (only.revision ?? 0) : null;
    if (w.op === 'put') parts.push([key, exact === null ? { kind: 'put', key, value: w.value } : exact === 0 ? { kind: 'put', key, value: w.value, ifAbsent: true } : { kind: 'put', key, value: w.value, ifRevision: exact }]);
    else if (exact !== 0) parts.push([key, exact === null ? { kind: 'delete', key } : { kind: 'delete', key, ifRevision: exact }]);
  }
  return parts;
}

/** A page sees, at its revision, every key of the history in the range it covered: present as listed, or absent. */
function listParts(op: HistoryOp<Extract<MultiKeyOperation, { kind: 'list' }>>, universe: ReadonlySet<string>): Parts {
  if (op.outcome.status !== 'ok') return [];
  const out = op.outcome.output;
  if (out.kind !== 'list') throw new Error(`malformed history: op ${op.id}'s output does not fit it`);
  const { prefix, after, limit } = op.input;
  const inRange = (k: string): boolean => k.startsWith(prefix) && (after === null || compareKeys(k, after) > 0);
  for (let i = 0; i < out.entries.length; i++) {
    const e = out.entries[i]!;
    if (!inRange(e.key)) return { key: e.key, op, why: 'the page lists a key outside the range it was asked for' };
    if (i > 0 && compareKeys(out.entries[i - 1]!.key, e.key) >= 0) return { key: e.key, op, why: 'the page is not in key order' };
    if (e.revision > out.revision) return { key: e.key, op, why: `the page, read at revision ${out.revision}, lists a write at revision ${e.revision}` };
  }
  if (out.entries.length > limit) return { key: prefix, op, why: `the page has more than its limit of ${limit} keys` };
  const last = out.entries[out.entries.length - 1];
  if (out.more && last === undefined) return { key: prefix, op, why: 'an empty page says more keys follow' };
  const listed = new Map(out.entries.map((e) => [e.key, e]));
  const parts: [string, PositionedOp][] = [];
  for (const key of universe) {
    if (!inRange(key) || (out.more && compareKeys(key, last!.key) > 0)) continue;
    const e = listed.get(key);
    const observed = e === undefined ? ({ found: false } as const) : ({ found: true, value: e.value, revision: e.revision } as const);
    parts.push([key, { kind: 'at', key, readsAt: out.revision, revision: out.revision, conditions: [], conditionsMust: 'any', observed, write: null }]);
  }
  return parts;
}
