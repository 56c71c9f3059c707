import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteReader, ByteWriter, readVarint } from '../../src/kv/bytes.js';
import type { KvCommand, KvResult, TxnOpResult } from '../../src/kv/command.js';
import { decodeCommand, decodeResult, encodeCommand, encodeResult } from '../../src/kv/command.js';
import { keyBytesMax } from '../../src/kv/limits.js';
import { anyKeyArb, bytes, commandArb, tagArb, text, valueArb } from './helpers.js';

const commands = commandArb(anyKeyArb, valueArb, tagArb);

/** Decoded commands hold views; compare them as plain data. */
function plain(c: KvCommand): unknown {
  return JSON.parse(JSON.stringify(c, (_, v: unknown) => (v instanceof Uint8Array ? [...v] : v)));
}

test('codec: every command round-trips through encodeCommand/decodeCommand', () => {
  fc.assert(
    fc.property(commands, (c) => {
      const decoded = decodeCommand(encodeCommand(c));
      assert.ok(!('error' in decoded), JSON.stringify(decoded));
      assert.deepEqual(plain(decoded), plain(c));
    }),
  );
});

test('codec: a command encoded into a reused writer is the same bytes as one encoded alone', () => {
  const w = new ByteWriter(8);
  fc.assert(
    fc.property(fc.array(commands, { minLength: 1, maxLength: 4 }), (cs) => {
      for (const c of cs) assert.deepEqual([...encodeCommand(c, w)], [...encodeCommand(c)]);
    }),
  );
});

test('codec: empty values, 1 MiB values and every byte value survive unchanged', () => {
  const every = Uint8Array.from({ length: 256 }, (_, i) => i);
  for (const value of [new Uint8Array(0), every, new Uint8Array(1 << 20).fill(0xa5)]) {
    const c: KvCommand = { op: 'put', key: every, value, condition: { kind: 'absent' }, tag: null };
    const d = decodeCommand(encodeCommand(c));
    assert.ok(!('error' in d) && d.op === 'put');
    assert.deepEqual(d.key, every);
    assert.deepEqual(d.value, value);
  }
});

test('codec: a put without tag or condition costs 4 bytes of framing for short keys and values', () => {
  assert.equal(encodeCommand({ op: 'put', key: text('k'), value: text('v'), condition: { kind: 'none' }, tag: null }).length, 6);
  assert.equal(encodeCommand({ op: 'delete', key: text('k'), condition: { kind: 'none' }, tag: null }).length, 4);
});

test('codec: decoding arbitrary bytes never throws, and what decodes re-encodes to the same bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const d = decodeCommand(b);
      if (!('error' in d)) assert.deepEqual(encodeCommand(d), b);
    }),
    { numRuns: 2000 },
  );
});

test('codec: truncated, extended or bit-flipped encodings never throw and never decode to a different encoding', () => {
  fc.assert(
    fc.property(commandArb(anyKeyArb, fc.uint8Array({ maxLength: 24 }), tagArb), fc.nat(), fc.nat({ max: 7 }), fc.nat({ max: 2 }), (c, at, bit, how) => {
      const good = encodeCommand(c);
      const i = at % good.length;
      let bad: Uint8Array;
      if (how === 0) bad = good.subarray(0, i);
      else if (how === 1) bad = Uint8Array.from([...good, at & 0xff]);
      else {
        bad = good.slice();
        bad[i]! ^= 1 << bit;
      }
      const d = decodeCommand(bad);
      if (!('error' in d)) assert.deepEqual(encodeCommand(d), bad);
      if (how !== 2) assert.ok('error' in d);
    }),
    { numRuns: 2000 },
  );
});

test('codec: decodeCommand names what is wrong', () => {
  const cases: [Uint8Array, RegExp][] = [
    [bytes(), /truncated/],
    [bytes(9, 0, 1, 0x6b), /unknown op 9/],
    [bytes(1, 0x10, 1, 0x6b, 0), /unknown flags/],
    [bytes(2, 0x08, 1, 0x6b), /unknown flags 0x8 for op 2/],
    [bytes(7, 0), /unknown op 7/],
    [bytes(1, 0x08, 0, 1, 0x6b, 0), /lease 0 is not a positive/],
    [bytes(3, 0, 1, 0x0c, 1, 0x6b, 0, 0, 0), /unknown comparison 0xc/],
    [bytes(3, 0, 0, 2, 2, 1, 0x6b, 2, 1, 0x6b, 0), /success writes a key twice/],
    [bytes(3, 0, 0, 1, 9, 1, 0x6b, 0), /unknown transaction operation 9/],
    [bytes(3, 0, 0x81, 0x01), /129 comparisons, more than 128/],
    [bytes(4, 0, 0), /ttl 0 s is not 1\.\./],
    [bytes(5, 0, 0), /lease 0 is not a positive/],
    [bytes(6, 0, 0), /0 leases to expire/],
    [bytes(6, 0, 2, 5, 5), /not strictly increasing/],
    [bytes(6, 4, 1, 5), /unknown flags 0x4 for op 6/],
    [bytes(1, 0x03, 1, 0x6b, 0), /unknown condition/],
    [bytes(2, 0x02, 1, 0x6b), /delete with condition absent/],
    [bytes(2, 0x00, 0), /key is 0 bytes/],
    [bytes(1, 0x00, 1, 0x6b, 2, 0x76), /truncated/],
    [bytes(1, 0x00, 1, 0x6b, 0, 0xee), /1 trailing bytes/],
    [bytes(2, 0x01, 0x80, 0x00, 1, 0x6b), /not minimal/],
    [bytes(2, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10, 1, 0x6b), /exceeds 2\^53/],
    [bytes(2, 0x04, 1, 0xc3, 1, 0x72, 1, 0x6b), /clientId is not valid UTF-8/],
    [bytes(2, 0x04, 0, 1, 0x72, 1, 0x6b), /empty tag id/],
  ];
  for (const [b, why] of cases) {
    const d = decodeCommand(b);
    assert.ok('error' in d, `${[...b]} decoded`);
    assert.match(d.error, why);
  }
  const long = new ByteWriter();
  long.u8(2);
  long.u8(0);
  long.varint(keyBytesMax + 1);
  long.bytes(new Uint8Array(keyBytesMax + 1));
  assert.match((decodeCommand(long.view()) as { error: string }).error, /key is 4097 bytes/);
});

test('codec: encodeCommand throws on commands the edge must have rejected', () => {
  const ok = { op: 'put', key: text('k'), value: text('v'), condition: { kind: 'none' }, tag: null } as const;
  assert.throws(() => encodeCommand({ ...ok, key: new Uint8Array(0) }), /key is 0 bytes/);
  assert.throws(() => encodeCommand({ ...ok, key: new Uint8Array(keyBytesMax + 1) }), /key is 4097 bytes/);
  assert.throws(() => encodeCommand({ ...ok, condition: { kind: 'revision', revision: -1 } }), /revision -1/);
  assert.throws(() => encodeCommand({ ...ok, condition: { kind: 'revision', revision: 2 ** 53 } }), /not a non-negative safe integer/);
  assert.throws(() => encodeCommand({ ...ok, tag: { clientId: 'c', requestId: 'x\uD800' } }), /lone surrogate/);
  assert.throws(() => encodeCommand({ ...ok, tag: { clientId: '', requestId: 'r' } }), /clientId is 0 bytes/);
  assert.throws(() => encodeCommand({ ...ok, tag: { clientId: 'c', requestId: 'é'.repeat(129) } }), /requestId is 258 bytes/);
});

test('codec: tag ids keep a leading byte-order mark and astral characters', () => {
  const tag = { clientId: '\uFEFFclient', requestId: '😀\u0000' };
  const d = decodeCommand(encodeCommand({ op: 'delete', key: text('k'), condition: { kind: 'revision', revision: 7 }, tag }));
  assert.ok(!('error' in d));
  assert.ok(d.op === 'delete');
  assert.deepEqual(d.tag, tag);
});

test('varint: boundary values round-trip; overlong encodings do not decode', () => {
  for (const n of [0, 1, 127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 49, Number.MAX_SAFE_INTEGER]) {
    const w = new ByteWriter(1);
    w.varint(n);
    assert.equal(readVarint(new ByteReader(w.view())), n);
  }
  assert.throws(() => new ByteWriter().varint(2 ** 53), /not a non-negative safe integer/);
  assert.throws(() => readVarint(new ByteReader(bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01))), /exceeds/);
});

// fc.record builds null-prototype objects; results are plain ones.
const revisionArb = fc.maxSafeNat();
const txnOpResultArb: fc.Arbitrary<TxnOpResult> = fc.oneof(
  fc.constant({ op: 'put' } as const),
  fc.boolean().map((deleted) => ({ op: 'delete', deleted }) as const),
  fc.constant({ op: 'get', found: false } as const),
  fc.tuple(fc.uint8Array({ maxLength: 8 }), revisionArb).map(([value, revision]) => ({ op: 'get', found: true, value, revision }) as const),
);
const resultArb: fc.Arbitrary<KvResult> = fc.oneof(
  fc.record({ op: fc.constant('put' as const), ok: fc.constant(true as const), revision: revisionArb }),
  fc.record({ op: fc.constant('delete' as const), ok: fc.constant(true as const), deleted: fc.boolean(), revision: revisionArb }),
  fc.record({
    op: fc.constantFrom('put' as const, 'delete' as const),
    ok: fc.constant(false as const),
    error: fc.constant('revision_mismatch' as const),
    currentRevision: fc.option(revisionArb, { nil: null }),
  }),
  fc.record({ op: fc.constantFrom('put' as const, 'txn' as const, 'lease_revoke' as const), ok: fc.constant(false as const), error: fc.constant('lease_not_found' as const), lease: revisionArb }),
  fc.record({ op: fc.constant('txn' as const), ok: fc.constant(true as const), succeeded: fc.boolean(), revision: revisionArb, results: fc.array(txnOpResultArb, { maxLength: 4 }) }),
  fc.constant({ op: 'txn', ok: false, error: 'txn_reads_too_large' } as const),
  fc.record({ op: fc.constant('lease_grant' as const), ok: fc.constant(true as const), lease: revisionArb, ttlSeconds: revisionArb }),
  fc.constant({ op: 'lease_grant', ok: false, error: 'too_many_leases' } as const),
  fc.record({ op: fc.constant('lease_revoke' as const), ok: fc.constant(true as const), revision: revisionArb }),
  fc.record({ op: fc.constant('lease_expire' as const), ok: fc.constant(true as const), revision: revisionArb, expired: revisionArb }),
).map((r) => ({ ...r }) as KvResult);

const plainResult = (r: unknown): unknown => JSON.parse(JSON.stringify(r, (_, v: unknown) => (v instanceof Uint8Array ? [...v] : v)));

test('codec: every result round-trips through encodeResult/decodeResult; garbage yields an error value', () => {
  fc.assert(fc.property(resultArb, (r) => assert.deepEqual(plainResult(decodeResult(encodeResult(r))), plainResult(r))));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
      const d = decodeResult(b);
      if (!('error' in d)) assert.deepEqual(encodeResult(d), b);
    }),
    { numRuns: 1000 },
  );
});
