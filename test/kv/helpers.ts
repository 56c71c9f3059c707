// Shared arbitraries and oracles for the key-value state machine tests.

import fc from 'fast-check';
import type { CompareOperator, Condition, KvCommand, RequestTag, TxnCompare, TxnOp } from '../../src/kv/command.js';
import { encodeCommand } from '../../src/kv/command.js';
import { leaseTtlSecondsMax } from '../../src/kv/limits.js';
import { parseSnapshot } from '../../src/kv/snapshot.js';
import type { KvEntry } from '../../src/kv/sharded-map.js';
import type { KvStateMachine } from '../../src/kv/state-machine.js';

export const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export function put(key: Uint8Array, value: Uint8Array, condition: Condition = { kind: 'none' }, tag: RequestTag | null = null, lease?: number): Uint8Array {
  return encodeCommand(lease === undefined ? { op: 'put', key, value, condition, tag } : { op: 'put', key, value, condition, tag, lease });
}

export function del(key: Uint8Array, condition: Exclude<Condition, { kind: 'absent' }> = { kind: 'none' }, tag: RequestTag | null = null): Uint8Array {
  return encodeCommand({ op: 'delete', key, condition, tag });
}

/** Keys from a small alphabet, so sequences revisit keys; bytes chosen to be awkward as text. */
export const smallKeyArb = fc
  .uint8Array({ minLength: 1, maxLength: 2 })
  .map((b) => b.map((x) => [0x00, 0x2f, 0x41, 0x80, 0x9f, 0xc3, 0xfe, 0xff][x & 7]!));

export const anyKeyArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 4096 }).map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff)) },
);

const pattern = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

/** Values: often empty or tiny, sometimes up to 1 MiB (a slice of a fixed pattern, to keep generation cheap). */
export const valueArb = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.constant(new Uint8Array(0)) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 1 << 20 }).map((n) => pattern.slice(0, n)) },
);

const idArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 64 });
export const tagArb: fc.Arbitrary<RequestTag | null> = fc.option(
  fc.record({ clientId: idArb, requestId: idArb }).map((t) => ({ ...t })),
  { nil: null },
);

export const conditionArb: fc.Arbitrary<Condition> = fc.oneof(
  fc.constant({ kind: 'none' } as const),
  fc.constant({ kind: 'absent' } as const),
  fc.oneof(fc.nat({ max: 40 }), fc.constant(Number.MAX_SAFE_INTEGER), fc.maxSafeNat()).map((revision) => ({ kind: 'revision', revision }) as const),
);

const leaseIdArb = fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }));
const operatorArb: fc.Arbitrary<CompareOperator> = fc.constantFrom('equal', 'not_equal', 'less', 'greater');

function txnOpsArb(keyArb: fc.Arbitrary<Uint8Array>, valueArbitrary: fc.Arbitrary<Uint8Array>): fc.Arbitrary<TxnOp[]> {
  const opArb: fc.Arbitrary<TxnOp> = fc.oneof(
    fc.record({ op: fc.constant('put' as const), key: keyArb, value: valueArbitrary }).map((o) => ({ ...o })),
    fc.record({ op: fc.constant('put' as const), key: keyArb, value: valueArbitrary, lease: leaseIdArb }).map((o) => ({ ...o })),
    fc.record({ op: fc.constant('delete' as const), key: keyArb }).map((o) => ({ ...o })),
    fc.record({ op: fc.constant('get' as const), key: keyArb }).map((o) => ({ ...o })),
  );
  // A key is written at most once per branch: later writes of a written key are dropped.
  return fc.array(opArb, { maxLength: 5 }).map((ops) => {
    const written = new Set<string>();
    return ops.filter((o) => {
      if (o.op === 'get') return true;
      const k = hex(o.key);
      if (written.has(k)) return false;
      written.add(k);
      return true;
    });
  });
}

export function commandArb(keyArb: fc.Arbitrary<Uint8Array>, valueArbitrary: fc.Arbitrary<Uint8Array>, tagArbitrary: fc.Arbitrary<RequestTag | null>): fc.Arbitrary<KvCommand> {
  const compareArb: fc.Arbitrary<TxnCompare> = fc.oneof(
    fc.record({ target: fc.constant('revision' as const), key: keyArb, operator: operatorArb, revision: fc.oneof(fc.nat({ max: 40 }), fc.maxSafeNat()) }).map((k) => ({ ...k })),
    fc.record({ target: fc.constant('value' as const), key: keyArb, operator: operatorArb, value: valueArbitrary }).map((k) => ({ ...k })),
  );
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyArb, value: valueArbitrary, condition: conditionArb, tag: tagArbitrary }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('put' as const), key: keyArb, value: valueArbitrary, condition: conditionArb, tag: tagArbitrary, lease: leaseIdArb }) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('delete' as const),
        key: keyArb,
        condition: conditionArb.map((c) => (c.kind === 'absent' ? ({ kind: 'none' } as const) : c)),
        tag: tagArbitrary,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        op: fc.constant('txn' as const),
        compare: fc.array(compareArb, { maxLength: 3 }),
        success: txnOpsArb(keyArb, valueArbitrary),
        failure: txnOpsArb(keyArb, valueArbitrary),
        tag: tagArbitrary,
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('lease_grant' as const), ttlSeconds: fc.integer({ min: 1, max: leaseTtlSecondsMax }), tag: tagArbitrary }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('lease_revoke' as const), lease: leaseIdArb, tag: tagArbitrary }) },
    {
      weight: 1,
      arbitrary: fc.uniqueArray(leaseIdArb, { minLength: 1, maxLength: 4 }).map((ids) => ({ op: 'lease_expire' as const, leases: ids.sort((x, y) => x - y) })),
    },
  ).map((c) => ({ ...c }) as KvCommand);
}

/** Tags from a few clients and request ids, so retries and collisions happen. */
export const smallTagArb: fc.Arbitrary<RequestTag | null> = fc.option(
  fc.record({ clientId: fc.constantFrom('c1', 'c2', 'c3'), requestId: fc.constantFrom('r1', 'r2', 'r3', 'r4') }).map((t) => ({ ...t })),
  { nil: null, freq: 2 },
);

/** Small-key commands whose revision conditions often name a recent index. */
export function modelCommandArb(tagArbitrary: fc.Arbitrary<RequestTag | null>): fc.Arbitrary<KvCommand> {
  return commandArb(smallKeyArb, fc.uint8Array({ maxLength: 6 }), tagArbitrary);
}

export interface StateDump {
  readonly appliedIndex: number;
  readonly compactedThrough: number;
  /** [id, ttlSeconds] by id. */
  readonly leases: readonly (readonly [number, number])[];
  /** [key hex, revision, value hex, lease], sorted by key. */
  readonly entries: readonly (readonly [string, number, string, number])[];
  readonly sessions: readonly (readonly [string, number, string])[];
  /** [revision, [key hex, value hex or null, lease][]], oldest first. */
  readonly window: readonly (readonly [number, readonly (readonly [string, string | null, number])[]])[];
}

const resultJson = (_: string, v: unknown): unknown => (v instanceof Uint8Array ? hex(v) : v);

/** A canonical rendering of a snapshot's content (entry order is not canonical in the bytes). */
export function dumpChunks(chunks: Iterable<Uint8Array>): StateDump {
  let appliedIndex = -1;
  let compactedThrough = -1;
  const leases: [number, number][] = [];
  const entries: [string, number, string, number][] = [];
  const sessions: [string, number, string][] = [];
  const window: [number, [string, string | null, number][]][] = [];
  const failure = parseSnapshot(chunks, {
    header: (i, c) => {
      appliedIndex = i;
      compactedThrough = c;
      return null;
    },
    lease: (l) => {
      leases.push([l.id, l.ttlSeconds]);
      return null;
    },
    entry: (key, e) => {
      entries.push([Buffer.from(key, 'latin1').toString('hex'), e.revision, hex(e.value), e.lease]);
      return null;
    },
    session: (clientId, s) => {
      sessions.push([clientId, s.lastSeenIndex, JSON.stringify(s.results, resultJson)]);
      return null;
    },
    revision: (r) => {
      window.push([r.revision, r.changes.map((c) => [Buffer.from(c.key, 'latin1').toString('hex'), c.value === null ? null : hex(c.value), c.lease])]);
      return null;
    },
    end: () => null,
  });
  if (failure !== null) throw new Error(failure.error);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return { appliedIndex, compactedThrough, leases, entries, sessions, window };
}

export function readAll(sm: KvStateMachine, maxBytes = 1 << 16): Uint8Array[] {
  const reader = sm.snapshot();
  const chunks: Uint8Array[] = [];
  for (let c = reader.next(maxBytes); c !== null; c = reader.next(maxBytes)) chunks.push(c);
  return chunks;
}

export const dump = (sm: KvStateMachine): StateDump => dumpChunks(readAll(sm));

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(chunks));
}

/** An entry as a plain object, to compare with `assert.deepEqual` (stored entries keep their value in an arena). */
export function plainEntry(entry: KvEntry): KvEntry;
export function plainEntry(entry: KvEntry | undefined): KvEntry | undefined;
export function plainEntry(entry: KvEntry | undefined): KvEntry | undefined {
  return entry === undefined ? undefined : { value: Uint8Array.from(entry.value), revision: entry.revision, lease: entry.lease };
}
