import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  checkLinearizable,
  describeHistoryOp,
  type CheckResult,
  type HistoryOp as AnyHistoryOp,
  type KvOperation,
  type KvOutput,
} from '../../sim/linearizability.js';
import { Prng } from '../../sim/prng.js';

// ---------------------------------------------------------------------------------
// Building histories by hand: times are [call, return] pairs.

/** The histories of this file are of single-key operations. */
type HistoryOp = AnyHistoryOp<KvOperation>;
const keyOf = (op: AnyHistoryOp): string => ('key' in op.input ? op.input.key : '');

type Op = Omit<HistoryOp, 'id'>;
type Span = readonly [number, number];

function history(...ops: Op[]): HistoryOp[] {
  return ops.map((op, id) => ({ id, ...op }));
}

function ok(client: number, input: KvOperation, [callAt, returnAt]: Span, output: KvOutput): Op {
  return { client, input, callAt, outcome: { status: 'ok', output, returnAt } };
}

const put = (client: number, key: string, value: string, span: Span, revision: number): Op =>
  ok(client, { kind: 'put', key, value }, span, { kind: 'put', revision });

const casPut = (client: number, key: string, value: string, ifRevision: number, span: Span, revision: number): Op =>
  ok(client, { kind: 'put', key, value, ifRevision }, span, { kind: 'put', revision });

const putIfAbsent = (client: number, key: string, value: string, span: Span, revision: number): Op =>
  ok(client, { kind: 'put', key, value, ifAbsent: true }, span, { kind: 'put', revision });

const get = (client: number, key: string, span: Span, found: readonly [string, number] | null): Op =>
  ok(
    client,
    { kind: 'get', key },
    span,
    found === null ? { kind: 'get', found: false } : { kind: 'get', found: true, value: found[0], revision: found[1] },
  );

const del = (client: number, key: string, span: Span, deleted: boolean, revision: number, ifRevision?: number): Op =>
  ok(client, ifRevision === undefined ? { kind: 'delete', key } : { kind: 'delete', key, ifRevision }, span, {
    kind: 'delete',
    deleted,
    revision,
  });

const preconditionFailed = (client: number, input: KvOperation, span: Span, currentRevision: number | null): Op =>
  ok(client, input, span, { kind: 'precondition_failed', currentRevision });

const indeterminate = (client: number, input: KvOperation, callAt: number): Op => ({
  client,
  input,
  callAt,
  outcome: { status: 'indeterminate' },
});

const failed = (client: number, input: KvOperation, callAt: number): Op => ({
  client,
  input,
  callAt,
  outcome: { status: 'failed' },
});

function assertPasses(ops: readonly HistoryOp[]): void {
  const result = checkLinearizable(ops);
  assert.ok(result.ok, `expected linearizable:\n${result.ok ? '' : result.explanation}`);
}

function assertFails(ops: readonly HistoryOp[], key = 'k'): Extract<CheckResult, { ok: false }> {
  const result = checkLinearizable(ops);
  assert.equal(result.ok, false, `expected a non-linearizable history:\n${ops.map(describeHistoryOp).join('\n')}`);
  assert.ok(!result.ok);
  assert.ok(!('timedOut' in result), 'expected a definite verdict, not a timeout');
  assert.equal(result.key, key);
  assert.ok(result.explanation.includes(JSON.stringify(key)), result.explanation);
  return result;
}

// ---------------------------------------------------------------------------------
// Hand-written histories

test('sequential puts and gets pass', () => {
  const ops = history(
    get(1, 'k', [1, 2], null),
    put(1, 'k', 'a', [3, 4], 1),
    get(2, 'k', [5, 6], ['a', 1]),
    put(2, 'k', 'b', [7, 8], 2),
    get(1, 'k', [9, 10], ['b', 2]),
  );
  const result = checkLinearizable(ops);
  assert.deepEqual(result, { ok: true, keysChecked: 1, opsChecked: 5 });
});

test('concurrent puts: reads may see them in either order, as their revisions say', () => {
  // a is logged before b: a read concurrent with both sees a, a later one sees b.
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 10], 5),
      put(2, 'k', 'b', [2, 11], 6),
      get(3, 'k', [3, 4], ['a', 5]),
      get(3, 'k', [5, 12], ['b', 6]),
    ),
  );
  // The same calls with b logged first.
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 10], 6),
      put(2, 'k', 'b', [2, 11], 5),
      get(3, 'k', [3, 4], ['b', 5]),
      get(3, 'k', [5, 12], ['a', 6]),
    ),
  );
});

test('a stale read after a completed write fails', () => {
  const result = assertFails(
    history(put(1, 'k', 'a', [1, 2], 1), put(1, 'k', 'b', [3, 4], 2), get(2, 'k', [5, 6], ['a', 1])),
  );
  assert.match(result.explanation, /c2 get\(k\) -> "a" rev 1 \[t 5\.\.6\]: the key holds another value/);
});

test('a read of a value never written fails', () => {
  assertFails(history(put(1, 'k', 'a', [1, 2], 1), get(2, 'k', [1, 6], ['z', 1])));
  assertFails(history(get(2, 'k', [1, 6], ['z', 1])));
});

test('two clients reading concurrent writes in opposite orders fails', () => {
  assertFails(
    history(
      put(1, 'k', 'a', [1, 20], 5),
      put(2, 'k', 'b', [1, 20], 6),
      get(3, 'k', [2, 3], ['a', 5]),
      get(3, 'k', [6, 7], ['b', 6]),
      get(4, 'k', [2, 3], ['b', 6]),
      get(4, 'k', [6, 7], ['a', 5]),
    ),
  );
  // The same with the writes indeterminate, so only the reads bind the revisions.
  assertFails(
    history(
      indeterminate(1, { kind: 'put', key: 'k', value: 'a' }, 1),
      indeterminate(2, { kind: 'put', key: 'k', value: 'b' }, 1),
      get(3, 'k', [2, 3], ['a', 5]),
      get(3, 'k', [6, 7], ['b', 6]),
      get(4, 'k', [2, 3], ['b', 6]),
      get(4, 'k', [6, 7], ['a', 5]),
    ),
  );
});

test('an indeterminate put observed later passes', () => {
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 2], 1),
      indeterminate(1, { kind: 'put', key: 'k', value: 'b' }, 3),
      get(2, 'k', [4, 5], ['a', 1]),
      get(2, 'k', [100, 101], ['b', 7]),
      get(3, 'k', [102, 103], ['b', 7]),
    ),
  );
});

test('an indeterminate put never observed passes', () => {
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 2], 1),
      indeterminate(1, { kind: 'put', key: 'k', value: 'b' }, 3),
      get(2, 'k', [4, 5], ['a', 1]),
      get(2, 'k', [100, 101], ['a', 1]),
    ),
  );
});

test('reading the old value after an indeterminate put was observed fails', () => {
  assertFails(
    history(
      put(1, 'k', 'a', [1, 2], 1),
      indeterminate(1, { kind: 'put', key: 'k', value: 'b' }, 3),
      get(2, 'k', [4, 5], ['b', 4]),
      get(3, 'k', [6, 7], ['a', 1]),
    ),
  );
});

test('one unobserved revision cannot be observed as two different revisions', () => {
  assertFails(
    history(
      indeterminate(1, { kind: 'put', key: 'k', value: 'b' }, 1),
      get(2, 'k', [4, 5], ['b', 4]),
      get(3, 'k', [6, 7], ['b', 5]),
    ),
  );
});

test('an unobserved revision cannot be one that a returned write took, on any key', () => {
  // Revision 3 is the put on k2's log index, so the indeterminate put on k cannot have it.
  assertFails(
    history(
      indeterminate(1, { kind: 'put', key: 'k', value: 'a' }, 1),
      put(2, 'k2', 'b', [2, 3], 3),
      get(3, 'k', [4, 5], ['a', 3]),
    ),
  );
  assertPasses(
    history(
      indeterminate(1, { kind: 'put', key: 'k', value: 'a' }, 1),
      put(2, 'k2', 'b', [2, 3], 3),
      get(3, 'k', [4, 5], ['a', 4]),
    ),
  );
});

test('an indeterminate CAS that took effect got a revision above the one it matched', () => {
  // If the CAS applied, the key was at revision 3 and the CAS got a later one, so
  // nothing can then read its value at revision 2.
  assertFails(
    history(
      put(1, 'k', 'a', [1, 2], 1),
      indeterminate(2, { kind: 'put', key: 'k', value: 'b' }, 3),
      indeterminate(3, { kind: 'put', key: 'k', value: 'c', ifRevision: 3 }, 4),
      get(1, 'k', [5, 6], ['c', 2]),
    ),
  );
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 2], 1),
      indeterminate(2, { kind: 'put', key: 'k', value: 'b' }, 3),
      indeterminate(3, { kind: 'put', key: 'k', value: 'c', ifRevision: 3 }, 4),
      get(1, 'k', [5, 6], ['c', 4]),
    ),
  );
});

test('failed ops are ignored', () => {
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 2], 1),
      failed(2, { kind: 'put', key: 'k', value: 'z' }, 3),
      failed(2, { kind: 'delete', key: 'k' }, 4),
      failed(3, { kind: 'get', key: 'k' }, 5),
      get(3, 'k', [6, 7], ['a', 1]),
    ),
  );
  // A failed put had no effect, so reading its value is not linearizable.
  assertFails(history(failed(2, { kind: 'put', key: 'k', value: 'z' }, 1), get(3, 'k', [6, 7], ['z', 3])));
});

test('CAS: success and precondition_failed that agree with the revision pass', () => {
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 2], 3),
      casPut(1, 'k', 'b', 3, [3, 4], 4),
      preconditionFailed(2, { kind: 'put', key: 'k', value: 'c', ifRevision: 3 }, [5, 6], 4),
      casPut(2, 'k', 'c', 4, [7, 8], 9),
      get(1, 'k', [10, 11], ['c', 9]),
    ),
  );
  // Two concurrent CASes on the same revision: exactly one wins, the other sees the winner's revision.
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 2], 3),
      casPut(1, 'k', 'b', 3, [3, 10], 5),
      preconditionFailed(2, { kind: 'put', key: 'k', value: 'c', ifRevision: 3 }, [4, 9], 5),
    ),
  );
});

test('CAS: inconsistent successes and precondition failures fail', () => {
  // Success against a revision the key no longer has.
  assertFails(
    history(put(1, 'k', 'a', [1, 2], 3), put(1, 'k', 'b', [3, 4], 4), casPut(2, 'k', 'c', 3, [5, 6], 7)),
  );
  // precondition_failed although the revision matched.
  assertFails(
    history(
      put(1, 'k', 'a', [1, 2], 3),
      preconditionFailed(2, { kind: 'put', key: 'k', value: 'c', ifRevision: 3 }, [3, 4], 3),
    ),
  );
  // precondition_failed reporting a current revision the key never had.
  assertFails(
    history(
      put(1, 'k', 'a', [1, 2], 3),
      preconditionFailed(2, { kind: 'put', key: 'k', value: 'c', ifRevision: 2 }, [3, 4], 8),
    ),
  );
  // Two concurrent CASes on the same revision cannot both win.
  assertFails(
    history(put(1, 'k', 'a', [1, 2], 3), casPut(1, 'k', 'b', 3, [3, 10], 5), casPut(2, 'k', 'c', 3, [4, 9], 6)),
  );
});

test('CAS against an unobserved revision binds it', () => {
  // The indeterminate put got revision 4, which the CAS then matched.
  assertPasses(
    history(
      indeterminate(1, { kind: 'put', key: 'k', value: 'a' }, 1),
      casPut(2, 'k', 'b', 4, [5, 6], 7),
      get(3, 'k', [8, 9], ['b', 7]),
    ),
  );
  // ...but once bound by a CAS, a read of the old value must agree.
  assertFails(
    history(
      indeterminate(1, { kind: 'put', key: 'k', value: 'a' }, 1),
      preconditionFailed(2, { kind: 'put', key: 'k', value: 'b', ifRevision: 2 }, [5, 6], 4),
      get(3, 'k', [8, 9], ['a', 5]),
    ),
  );
});

test('put-if-absent succeeds only while the key is absent', () => {
  assertPasses(
    history(
      putIfAbsent(1, 'k', 'a', [1, 10], 2),
      preconditionFailed(2, { kind: 'put', key: 'k', value: 'b', ifAbsent: true }, [2, 11], 2),
      del(1, 'k', [12, 13], true, 5),
      putIfAbsent(2, 'k', 'c', [14, 15], 6),
    ),
  );
  // Two concurrent put-if-absents cannot both succeed.
  assertFails(history(putIfAbsent(1, 'k', 'a', [1, 10], 2), putIfAbsent(2, 'k', 'b', [2, 11], 3)));
  // Nor can one fail on an absent key.
  assertFails(history(preconditionFailed(2, { kind: 'put', key: 'k', value: 'b', ifAbsent: true }, [1, 2], null)));
});

test('conditional delete', () => {
  assertPasses(
    history(
      put(1, 'k', 'a', [1, 2], 3),
      preconditionFailed(1, { kind: 'delete', key: 'k', ifRevision: 2 }, [3, 4], 3),
      del(1, 'k', [5, 6], true, 7, 3),
      get(2, 'k', [8, 9], null),
      preconditionFailed(2, { kind: 'delete', key: 'k', ifRevision: 3 }, [10, 11], null),
      del(2, 'k', [12, 13], false, 14),
    ),
  );
  // Deleted against a revision the key does not have.
  assertFails(history(put(1, 'k', 'a', [1, 2], 3), del(1, 'k', [5, 6], true, 7, 2)));
  // An unconditional delete of a present key must delete it.
  assertFails(history(put(1, 'k', 'a', [1, 2], 3), del(1, 'k', [5, 6], false, 7)));
  // A delete's revision is its log index, so a later put must have a greater one.
  assertFails(history(put(1, 'k', 'a', [1, 2], 3), del(1, 'k', [5, 6], true, 7), put(1, 'k', 'b', [8, 9], 6)));
});

test('a put whose revision is lower than an earlier completed put fails', () => {
  const result = assertFails(history(put(1, 'k', 'a', [1, 2], 10), put(2, 'k', 'b', [3, 4], 9)));
  assert.match(result.explanation, /revisions must increase in log order/);
});

test('with several keys only the non-linearizable one is reported', () => {
  const result = assertFails(
    history(
      put(1, 'k1', 'a', [1, 2], 1),
      put(2, 'k2', 'a', [1, 2], 2),
      put(3, 'k3', 'a', [1, 2], 3),
      get(1, 'k1', [3, 4], ['a', 1]),
      put(2, 'k2', 'b', [3, 4], 4),
      get(3, 'k3', [3, 4], ['a', 3]),
      get(1, 'k2', [5, 6], ['a', 2]),
      get(3, 'k1', [5, 6], ['a', 1]),
    ),
    'k2',
  );
  assert.ok(result.ops.every((op) => keyOf(op) === 'k2'));
  assert.equal(result.ops.length, 3);
});

test('the explanation names the key, the longest prefix and the ops that cannot come next', () => {
  const result = assertFails(
    history(put(1, 'k1', 'a', [1, 2], 1), put(1, 'k1', 'b', [3, 4], 2), get(2, 'k1', [5, 6], ['a', 1])),
    'k1',
  );
  assert.equal(
    result.explanation.split('\n').slice(1).join('\n'),
    [
      'Longest linearizable prefix found: 2 of 3 ops, leaving the key "b" rev 2:',
      '  c1 put(k1,"a") -> rev 1 [t 1..2]',
      '  c1 put(k1,"b") -> rev 2 [t 3..4]',
      'None of the ops that could come next can be linearized there:',
      '  c2 get(k1) -> "a" rev 1 [t 5..6]: the key holds another value',
    ].join('\n'),
  );
  assert.match(result.explanation, /^key "k1" is not linearizable/);
});

test('a search that exceeds maxStatesPerKey reports a timeout instead of a verdict', () => {
  // Eight concurrent puts and a read of a value never written: deciding needs many states.
  const ops = history(
    ...Array.from({ length: 8 }, (_, c) => put(c, 'k', `v${c}`, [1, 50], 10 + c)),
    get(9, 'k', [2, 49], ['never', 1]),
  );
  const result = checkLinearizable(ops, { maxStatesPerKey: 20 });
  assert.ok(!result.ok && 'timedOut' in result, 'expected a timeout');
  assert.equal(result.key, 'k');
  assert.match(result.explanation, /gave up after exploring 21 states/);
  assert.equal(checkLinearizable(ops).ok, false);
});

test('a malformed history is a programmer error', () => {
  assert.throws(() => checkLinearizable(history(put(1, 'k', 'a', [5, 4], 1))), /returns before its call/);
  assert.throws(
    () => checkLinearizable(history(ok(1, { kind: 'get', key: 'k' }, [1, 2], { kind: 'put', revision: 1 }))),
    /does not fit/,
  );
});

// ---------------------------------------------------------------------------------
// Generated histories: a sequential execution of a reference store, then intervals
// around each op's linearization point.

/** A reference store: revisions are log indexes, and every write takes the next one. */
class ReferenceStore {
  private readonly data = new Map<string, { value: string; revision: number }>();
  private lastIndex = 0;

  current(key: string): { value: string; revision: number } | undefined {
    return this.data.get(key);
  }

  apply(input: KvOperation): KvOutput {
    const now = this.data.get(input.key);
    if (input.kind === 'get') {
      return now === undefined ? { kind: 'get', found: false } : { kind: 'get', found: true, ...now };
    }
    const index = ++this.lastIndex;
    const absentRequired = input.kind === 'put' && input.ifAbsent === true;
    if ((absentRequired && now !== undefined) || (input.ifRevision !== undefined && now?.revision !== input.ifRevision)) {
      return { kind: 'precondition_failed', currentRevision: now?.revision ?? null };
    }
    if (input.kind === 'put') {
      this.data.set(input.key, { value: input.value, revision: index });
      return { kind: 'put', revision: index };
    }
    this.data.delete(input.key);
    return { kind: 'delete', deleted: now !== undefined, revision: index };
  }
}

type OpShape = 'get' | 'put' | 'casPut' | 'putIfAbsent' | 'delete' | 'casDelete';
type Fate = 'ok' | 'failed' | 'applied-then-lost' | 'never-applied';

function makeInput(shape: OpShape, key: string, value: string, store: ReferenceStore, staleBy: number): KvOperation {
  // CASes usually name the current revision, sometimes a stale or made-up one.
  const ifRevision = Math.max(0, (store.current(key)?.revision ?? 1) - staleBy);
  switch (shape) {
    case 'get':
      return { kind: 'get', key };
    case 'put':
      return { kind: 'put', key, value };
    case 'casPut':
      return { kind: 'put', key, value, ifRevision };
    case 'putIfAbsent':
      return { kind: 'put', key, value, ifAbsent: true };
    case 'delete':
      return { kind: 'delete', key };
    case 'casDelete':
      return { kind: 'delete', key, ifRevision };
  }
}

/** Outcome of an op executed (or not) at its linearization point. */
function execute(store: ReferenceStore, input: KvOperation, fate: Fate, returnAt: number): HistoryOp['outcome'] {
  switch (fate) {
    case 'ok':
      return { status: 'ok', output: store.apply(input), returnAt };
    case 'failed':
      return { status: 'failed' };
    case 'applied-then-lost':
      store.apply(input);
      return { status: 'indeterminate' };
    case 'never-applied':
      return { status: 'indeterminate' };
  }
}

const stepArbitrary = fc.record({
  shape: fc.constantFrom<OpShape>('get', 'get', 'get', 'put', 'put', 'casPut', 'putIfAbsent', 'delete', 'casDelete'),
  key: fc.constantFrom('a', 'b'),
  value: fc.constantFrom('v1', 'v2', 'v3'),
  staleBy: fc.constantFrom(0, 0, 0, 1, 2),
  fate: fc.constantFrom<Fate>('ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'failed', 'applied-then-lost', 'never-applied'),
  client: fc.nat(7),
  callSlack: fc.nat(30),
  returnSlack: fc.nat(30),
});

type Step = typeof stepArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** Op i linearizes at time 100 + 10i; its interval reaches up to 30 either side, so several overlap. */
function generatedHistory(steps: readonly Step[]): HistoryOp[] {
  const store = new ReferenceStore();
  return steps.map((s, id) => {
    const point = 100 + 10 * id;
    const input = makeInput(s.shape, s.key, s.value, store, s.staleBy);
    const outcome = execute(store, input, s.fate, point + s.returnSlack);
    return { id, client: s.client, input, callAt: point - s.callSlack, outcome };
  });
}

function describeFailure(result: CheckResult, ops: readonly HistoryOp[]): string {
  return result.ok ? '' : `${result.explanation}\n--- history:\n${ops.map(describeHistoryOp).join('\n')}`;
}

test('property: a sequential execution seen through overlapping intervals is linearizable', () => {
  fc.assert(
    fc.property(fc.array(stepArbitrary, { maxLength: 60, size: 'max' }), (steps) => {
      const ops = generatedHistory(steps);
      const result = checkLinearizable(ops);
      assert.ok(result.ok, describeFailure(result, ops));
      // The order ops are listed in does not matter.
      assert.ok(checkLinearizable([...ops].reverse()).ok);
    }),
    { numRuns: 300 },
  );
});

test('property: a read of a value never written to its key makes the history non-linearizable', () => {
  fc.assert(
    fc.property(fc.array(stepArbitrary, { minLength: 1, maxLength: 40, size: 'max' }), fc.nat(), (steps, pick) => {
      const ops = generatedHistory(steps);
      const reads = ops.filter((op) => op.input.kind === 'get' && op.outcome.status === 'ok');
      fc.pre(reads.length > 0);
      const victim = reads[pick % reads.length]!;
      assert.ok(victim.outcome.status === 'ok');
      const mutated: HistoryOp = {
        ...victim,
        outcome: { ...victim.outcome, output: { kind: 'get', found: true, value: 'never-written', revision: 1 } },
      };
      const result = checkLinearizable(ops.map((op) => (op === victim ? mutated : op)));
      assert.equal(result.ok, false);
      assert.ok(!result.ok && !('timedOut' in result), 'expected a definite verdict');
      assert.equal(result.key, victim.input.key);
    }),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------------------------
// A deliberately dumb oracle: a model written again from scratch, with concrete
// revisions, and every order of the ops tried, all keys at once. An indeterminate op
// may be placed anywhere after its call or nowhere; an indeterminate write that
// applies gets a log index of its own, tried among every revision the history names
// that no returned write took, and a fresh one just above the key's last (not an
// integer, so that it is no other op's and every integer above the last exceeds it).

function oracleLinearizable(history: readonly HistoryOp[]): boolean {
  const ops = history.filter(
    (op) => op.outcome.status === 'ok' || (op.outcome.status === 'indeterminate' && op.input.kind !== 'get'),
  );
  const taken = new Set<number>();
  const named = new Set<number>();
  for (const op of ops) {
    if (op.input.kind !== 'get' && op.input.ifRevision !== undefined) named.add(op.input.ifRevision);
    if (op.outcome.status !== 'ok') continue;
    const out = op.outcome.output;
    if (out.kind === 'put' || (out.kind === 'delete' && out.deleted)) taken.add(out.revision);
    if (out.kind === 'put' || out.kind === 'delete' || (out.kind === 'get' && out.found)) named.add(out.revision);
    if (out.kind === 'precondition_failed' && out.currentRevision !== null) named.add(out.currentRevision);
  }
  const untaken = [...named].filter((r) => !taken.has(r));

  const data = new Map<string, { value: string; revision: number }>();
  const floor = new Map<string, number>();
  const remaining = new Set(ops);
  const determinateLeft = (): number => [...remaining].filter((op) => op.outcome.status === 'ok').length;
  const returnAt = (op: HistoryOp): number => (op.outcome.status === 'ok' ? op.outcome.returnAt : Infinity);

  /** Runs `rest` with `op` linearized next in each way its outcome allows; true if one succeeds. */
  const place = (op: HistoryOp, rest: () => boolean): boolean => {
    const { input } = op;
    const { key } = input;
    const now = data.get(key);
    const low = floor.get(key) ?? 0;
    const holds =
      input.kind === 'get' ||
      ((input.kind !== 'put' || input.ifAbsent !== true || now === undefined) &&
        (input.ifRevision === undefined || now?.revision === input.ifRevision));
    const fresh = Number.isInteger(low) ? low + 0.5 : (low + Math.ceil(low)) / 2;
    const attempt = (next: { value: string; revision: number } | undefined, nextFloor: number): boolean => {
      if (next === undefined) data.delete(key);
      else data.set(key, next);
      floor.set(key, nextFloor);
      const found = rest();
      if (now === undefined) data.delete(key);
      else data.set(key, now);
      floor.set(key, low);
      return found;
    };
    if (op.outcome.status !== 'ok') {
      if (!holds) return false; // the same as never happening
      if (input.kind === 'delete') return now !== undefined && attempt(undefined, fresh);
      if (input.kind !== 'put') return false;
      return [...untaken, fresh].some((r) => r > low && attempt({ value: input.value, revision: r }, r));
    }
    const out = op.outcome.output;
    switch (out.kind) {
      case 'get':
        if (!out.found) return now === undefined && rest();
        return now?.value === out.value && now.revision === out.revision && rest();
      case 'put':
        if (input.kind !== 'put' || !holds || out.revision <= low) return false;
        return attempt({ value: input.value, revision: out.revision }, out.revision);
      case 'delete':
        if (!out.deleted) return !(now !== undefined && holds) && rest();
        if (now === undefined || !holds || out.revision <= low) return false;
        return attempt(undefined, out.revision);
      case 'precondition_failed':
        return !holds && out.currentRevision === (now?.revision ?? null) && rest();
      default:
        throw new Error('this oracle checks single-key histories');
    }
  };

  const search = (): boolean => {
    if (determinateLeft() === 0) return true;
    for (const op of [...remaining]) {
      // op can go next unless some other remaining op returned before it was called.
      if ([...remaining].some((other) => returnAt(other) < op.callAt)) continue;
      remaining.delete(op);
      const found = place(op, search);
      remaining.add(op);
      if (found) return true;
    }
    return false;
  };
  return search();
}

/**
 * Small histories, often made non-linearizable by intervals that miss their op's
 * point or by a changed output. Values are often left unread, and indeterminate ops
 * are common, to exercise the search's shortcuts for them.
 */
const smallHistoryArbitrary = fc
  .tuple(
    fc.array(stepArbitrary, { maxLength: 7, size: 'max' }),
    fc.array(fc.tuple(fc.integer({ min: -40, max: 10 }), fc.nat(40)), { minLength: 7, maxLength: 7 }),
    fc.option(fc.tuple(fc.nat(), fc.constantFrom(-1, 1)), { freq: 5 }),
    fc.array(fc.constantFrom<Fate>('ok', 'ok', 'ok', 'failed', 'applied-then-lost', 'never-applied'), {
      minLength: 7,
      maxLength: 7,
    }),
  )
  .map(([steps, spans, perturbation, fates]) => {
    const ops = generatedHistory(steps.map((s, i) => ({ ...s, fate: fates[i]! })));
    return ops.map((op, i): HistoryOp => {
      if (op.outcome.status !== 'ok') return op;
      const [callOffset, length] = spans[i]!;
      const callAt = 100 + 10 * i + callOffset;
      let output = op.outcome.output;
      if (perturbation !== null && perturbation[0] % ops.length === i) {
        const delta = perturbation[1];
        if (output.kind === 'put' || output.kind === 'delete') output = { ...output, revision: output.revision + delta };
        else if (output.kind === 'get' && output.found) output = { ...output, revision: output.revision + delta };
        else if (output.kind === 'precondition_failed') {
          output = { ...output, currentRevision: output.currentRevision === null ? 1 : null };
        } else output = { kind: 'get', found: true, value: 'v1', revision: 1 };
      }
      return { ...op, callAt, outcome: { status: 'ok', output, returnAt: callAt + length } };
    });
  });

test('property: agrees with a brute-force oracle on small histories', () => {
  let linearizable = 0;
  let notLinearizable = 0;
  fc.assert(
    fc.property(smallHistoryArbitrary, (ops) => {
      const expected = oracleLinearizable(ops);
      const result = checkLinearizable(ops);
      assert.equal(result.ok, expected, `oracle says ${expected}:\n${ops.map(describeHistoryOp).join('\n')}`);
      if (expected) linearizable++;
      else notLinearizable++;
    }),
    { numRuns: 2000 },
  );
  // Both verdicts must be well represented for the comparison to mean anything.
  assert.ok(linearizable > 300 && notLinearizable > 300, `${linearizable} linearizable, ${notLinearizable} not`);
});

// ---------------------------------------------------------------------------------
// Performance: closed-loop clients, each with at most one op in flight, a few of
// which give up (before or after their op reached the store).

interface ClientsOptions {
  readonly seed: number;
  readonly clients: number;
  readonly opsTotal: number;
  readonly keys: readonly string[];
  /** Chance, each time a client's op could advance, that the client gives up instead. */
  readonly giveUpPerMille: number;
}

function concurrentClientsHistory(o: ClientsOptions): HistoryOp[] {
  const rng = new Prng(o.seed, 'linearizability-clients');
  const store = new ReferenceStore();
  interface InFlight {
    readonly id: number;
    readonly input: KvOperation;
    readonly callAt: number;
    output: KvOutput | null;
  }
  const inFlight: (InFlight | null)[] = Array.from({ length: o.clients }, () => null);
  const ops: HistoryOp[] = [];
  const shapes: readonly OpShape[] = ['get', 'get', 'get', 'put', 'put', 'casPut', 'putIfAbsent', 'delete', 'casDelete'];
  let clock = 0;
  let issued = 0;
  while (ops.length < o.opsTotal) {
    const c = rng.int(o.clients);
    const op = inFlight[c];
    if (op === null || op === undefined) {
      if (issued === o.opsTotal) continue;
      const shape = shapes[rng.int(shapes.length)]!;
      const key = o.keys[rng.int(o.keys.length)]!;
      // Unique values, as the simulator's clients write.
      const input = makeInput(shape, key, `c${c}-${issued}`, store, rng.chance(1, 4) ? rng.int(3) : 0);
      inFlight[c] = { id: issued++, input, callAt: clock++, output: null };
    } else if (rng.chance(o.giveUpPerMille, 1000) || op.output !== null) {
      const outcome: HistoryOp['outcome'] =
        op.output === null || rng.chance(o.giveUpPerMille, 1000)
          ? { status: 'indeterminate' }
          : { status: 'ok', output: op.output, returnAt: clock++ };
      ops.push({ id: op.id, client: c, input: op.input, callAt: op.callAt, outcome });
      inFlight[c] = null;
    } else {
      op.output = store.apply(op.input);
    }
  }
  return ops;
}

test('performance: 2,000 ops from 8 concurrent clients on 3 keys check fine', () => {
  const ops = concurrentClientsHistory({ seed: 7, clients: 8, opsTotal: 2000, keys: ['x', 'y', 'z'], giveUpPerMille: 5 });
  assert.ok(ops.some((op) => op.outcome.status === 'indeterminate'));
  const result = checkLinearizable(ops);
  assert.ok(result.ok, describeFailure(result, ops));
  assert.equal(result.keysChecked, 3);
});

test('performance: 5,000 ops from 10 clients on one key, 1 in 25 indeterminate, check fine', () => {
  const ops = concurrentClientsHistory({ seed: 11, clients: 10, opsTotal: 5000, keys: ['x'], giveUpPerMille: 20 });
  const indeterminate = ops.filter((op) => op.outcome.status === 'indeterminate').length;
  assert.ok(indeterminate > 100, `${indeterminate} indeterminate ops`);
  const result = checkLinearizable(ops, { maxStatesPerKey: 500_000 });
  assert.ok(result.ok, describeFailure(result, ops));
});

test('a stale read hidden among 2,000 ops with indeterminate ones is found', () => {
  const ops = concurrentClientsHistory({ seed: 3, clients: 8, opsTotal: 2000, keys: ['x', 'y', 'z'], giveUpPerMille: 5 });
  const puts = ops.filter((op) => op.input.kind === 'put' && op.outcome.status === 'ok' && op.outcome.output.kind === 'put');
  const returnAt = (op: HistoryOp): number => (op.outcome.status === 'ok' ? op.outcome.returnAt : Infinity);
  const revision = (op: HistoryOp): number =>
    op.outcome.status === 'ok' && op.outcome.output.kind === 'put' ? op.outcome.output.revision : -1;
  // A read from the second half of the history, made to return an older put's value
  // although a newer put to its key completed before the read was called.
  const victim = ops.find(
    (read, i) =>
      i > ops.length / 2 &&
      read.input.kind === 'get' &&
      read.outcome.status === 'ok' &&
      puts.some((newer) => newer.input.key === read.input.key && returnAt(newer) < read.callAt && revision(newer) > 1),
  );
  assert.ok(victim !== undefined && victim.outcome.status === 'ok');
  const newer = puts.filter((put) => put.input.key === victim.input.key && returnAt(put) < victim.callAt).at(-1)!;
  const stale = puts.find((put) => put.input.key === victim.input.key && revision(put) < revision(newer))!;
  assert.ok(stale.input.kind === 'put');
  const mutated: HistoryOp = {
    ...victim,
    outcome: { ...victim.outcome, output: { kind: 'get', found: true, value: stale.input.value, revision: revision(stale) } },
  };
  const result = checkLinearizable(ops.map((op) => (op === victim ? mutated : op)));
  assert.ok(!result.ok && !('timedOut' in result), 'expected a definite verdict');
  assert.equal(result.key, victim.input.key);
  assert.ok(result.explanation.includes(describeHistoryOp(mutated)), result.explanation);
});
