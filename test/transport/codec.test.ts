import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import protobuf from 'protobufjs/minimal.js';
import { ByteBlocks } from '../../src/kv/byte-blocks.js';
import { encodeConfiguration } from '../../src/raft/configuration-codec.js';
import { configuration } from '../../src/raft/membership.js';
import { logIndex, nodeId, term, type Message } from '../../src/raft/types.js';
import { readHotBatch } from '../../src/transport/batch-reader.js';
import { decodeFrame, encodeFrame, FRAME_OVERHEAD_BYTES_MAX, messageBytesBound, toWire, type DecodeResult, type Frame } from '../../src/transport/codec.js';
import { kvstore } from '../../src/transport/generated/peer.js';
import { appendEntriesArb, idArb, MAX, messageArb } from './arbitraries.js';

const pb = kvstore.raft.v1;
const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.array(messageArb, { maxLength: 6 }).map((messages): Frame => ({ kind: 'batch', messages })),
  bytes32.map((mac): Frame => ({ kind: 'handshakeAck', mac })),
  bytes32.map((nonce): Frame => ({ kind: 'challenge', nonce })),
  fc
    .record({ clusterId: fc.string({ minLength: 1, maxLength: 20 }), fromNode: idArb, toNode: idArb, nonce: bytes32, mac: bytes32 })
    .map((handshake): Frame => ({ kind: 'handshake', handshake })),
);

/** Buffer and Uint8Array compare unequal under deepStrictEqual: compare bytes as hex. */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return `bytes:${Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex')}`;
  if (Array.isArray(x)) return x.map(plain);
  if (x !== null && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]));
  return x;
}

function decodeOk(bytes: Uint8Array): Frame {
  const r = decodeFrame(bytes);
  if (!r.ok) assert.fail(`expected a frame, got error: ${r.error}`);
  return r.frame;
}

function decodeError(bytes: Uint8Array, pattern: RegExp): void {
  const r = decodeFrame(bytes);
  assert.equal(r.ok, false, `expected an error matching ${pattern}`);
  if (!r.ok) assert.match(r.error, pattern);
}

// ---- round trips ----

test('every message type round-trips through a batch frame', () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(fc.array(messageArb, { minLength: 1, maxLength: 6 }), (messages) => {
      for (const m of messages) seen.add(m.type);
      const frame: Frame = { kind: 'batch', messages };
      assert.deepStrictEqual(plain(decodeOk(encodeFrame(frame))), plain(frame));
    }),
    { numRuns: 500 },
  );
  assert.equal(seen.size, 13, `types generated: ${[...seen].join(', ')}`);
});

/** The types the codec writes by hand (src/transport/batch-writer.ts) rather than through the generated encoder. */
function handWritten(m: Message): boolean {
  switch (m.type) {
    case 'appendEntriesResponse':
      return m.success;
    case 'appendEntries':
    case 'heartbeat':
    case 'heartbeatResponse':
    case 'readIndexRequest':
    case 'readIndexResponse':
    case 'proposeRequest':
    case 'proposeResponse':
      return true;
    default:
      return false;
  }
}

const handWrittenArb = fc.oneof(appendEntriesArb, messageArb.filter(handWritten));

test('a batch of appends, acceptances, heartbeats, read index and propose messages is encoded byte for byte as the generated encoder encodes it', () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(fc.array(handWrittenArb, { maxLength: 5 }), (messages) => {
      for (const m of messages) seen.add(m.type);
      const expected = pb.Frame.encode({ batch: { messages: messages.map(toWire) } }).finish();
      assert.equal(Buffer.from(encodeFrame({ kind: 'batch', messages })).toString('hex'), Buffer.from(expected).toString('hex'));
    }),
    { numRuns: 500 },
  );
  assert.equal(seen.size, 8, `types generated: ${[...seen].join(', ')}`);
});

test('appends to several followers of runs of the same entries, or of other entries at the same indexes, each encode as the generated encoder encodes them', () => {
  const frameHex = (messages: readonly Message[]): string => Buffer.from(encodeFrame({ kind: 'batch', messages })).toString('hex');
  const expectedHex = (messages: readonly Message[]): string => Buffer.from(pb.Frame.encode({ batch: { messages: messages.map(toWire) } }).finish()).toString('hex');
  fc.assert(
    fc.property(appendEntriesArb, appendEntriesArb, fc.array(fc.tuple(fc.nat(10), fc.nat(10), fc.nat(2)), { minLength: 1, maxLength: 6 }), (a, other, cuts) => {
      if (a.type !== 'appendEntries' || other.type !== 'appendEntries') return;
      // The leader's appends: runs of one log's entries (the same objects), now and then another log's.
      for (const [x, y, which] of cuts) {
        const m: Extract<Message, { type: 'appendEntries' }> = which === 2 ? other : a;
        const from = Math.min(x, y, m.entries.length);
        const entries = m.entries.slice(from, Math.max(from, Math.min(Math.max(x, y), m.entries.length)));
        const first = entries[0];
        const prevLogIndex = first === undefined ? m.prevLogIndex : logIndex(first.index - 1);
        const prevLogTerm = from === 0 ? m.prevLogTerm : m.entries[from - 1]!.term;
        const append: Message = { ...m, to: nodeId(`f${x}`), prevLogIndex, prevLogTerm, entries };
        // Twice in one frame as well: the second is sized and written against the bytes held before the frame.
        const batch: Message[] = which === 1 ? [append, { ...append, to: nodeId('g') }] : [append];
        assert.equal(frameHex(batch), expectedHex(batch));
        assert.deepStrictEqual(plain(decodeOk(encodeFrame({ kind: 'batch', messages: batch }))), plain({ kind: 'batch', messages: batch }));
      }
    }),
    { numRuns: 300 },
  );
});

test('messages written by hand between the others keep their place and bytes in the batch', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(handWrittenArb, messageArb), { minLength: 1, maxLength: 8 }), (messages) => {
      const encoded = encodeFrame({ kind: 'batch', messages });
      const wire = pb.Frame.decode(encoded).batch?.messages ?? [];
      assert.equal(wire.length, messages.length);
      messages.forEach((m, i) => {
        if (!handWritten(m)) return;
        assert.equal(Buffer.from(pb.RaftMessage.encode(wire[i]!).finish()).toString('hex'), Buffer.from(pb.RaftMessage.encode(toWire(m)).finish()).toString('hex'));
      });
      assert.deepStrictEqual(plain(decodeOk(encoded)), plain({ kind: 'batch', messages }));
    }),
    { numRuns: 300 },
  );
});

/** The batch again, each message followed by an unknown field (99, varint 1), which the fast path does not read. */
function withUnknownFields(messages: readonly Message[]): Uint8Array {
  const batch = protobuf.Writer.create();
  for (const m of messages) batch.uint32((1 << 3) | 2).bytes(Uint8Array.from([...pb.RaftMessage.encode(toWire(m)).finish(), 0x98, 0x06, 0x01]));
  return protobuf.Writer.create().uint32((3 << 3) | 2).bytes(batch.finish()).finish();
}

test('a batch the fast path does not read decodes as one it reads', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(handWrittenArb, messageArb), { minLength: 1, maxLength: 6 }), (messages) => {
      assert.deepStrictEqual(plain(decodeOk(withUnknownFields(messages))), plain(decodeOk(encodeFrame({ kind: 'batch', messages }))));
    }),
    { numRuns: 300 },
  );
});

test('either path refuses an append whose entries break log matching, with the same error', () => {
  const m: Message = {
    type: 'appendEntries',
    from: nodeId('a'),
    to: nodeId('b'),
    term: term(5),
    prevLogIndex: logIndex(10),
    prevLogTerm: term(2),
    entries: [
      { index: logIndex(11), term: term(2), kind: 'command', data: Uint8Array.of(1) },
      { index: logIndex(13), term: term(2), kind: 'command', data: Uint8Array.of(2) },
    ],
    leaderCommit: logIndex(0),
  };
  decodeError(encodeFrame({ kind: 'batch', messages: [m] }), /messages\[0\]\.entries\[1\]\.index: 13, expected 12/);
  decodeError(withUnknownFields([m]), /messages\[0\]\.entries\[1\]\.index: 13, expected 12/);
});

test('challenge, handshake, handshake ack and empty batch frames round-trip', () => {
  fc.assert(
    fc.property(frameArb, (frame) => {
      assert.deepStrictEqual(plain(decodeOk(encodeFrame(frame))), plain(frame));
    }),
  );
});

test('a heartbeat response without a log end stays distinct from one with log end 0', () => {
  for (const logEnd of [null, logIndex(0), logIndex(7)]) {
    const m: Message = { type: 'heartbeatResponse', from: nodeId('a'), to: nodeId('b'), term: term(3), seq: 5, logEnd };
    assert.deepStrictEqual(decodeOk(encodeFrame({ kind: 'batch', messages: [m] })), { kind: 'batch', messages: [m] });
  }
});

test('a conflict hint without a term stays distinct from one with term 0', () => {
  const base = { type: 'appendEntriesResponse', from: nodeId('a'), to: nodeId('b'), term: term(3), success: false, rejectedIndex: logIndex(9) } as const;
  for (const hintTerm of [null, term(0), term(2)]) {
    const m: Message = { ...base, hint: { index: logIndex(4), term: hintTerm } };
    assert.deepStrictEqual(decodeOk(encodeFrame({ kind: 'batch', messages: [m] })), { kind: 'batch', messages: [m] });
  }
});

test('decoded bytes are views of the frame, not copies', () => {
  const data = Uint8Array.from({ length: 100 }, (_, i) => i);
  const m: Message = { type: 'installSnapshot', from: nodeId('a'), to: nodeId('b'), term: term(1), meta: { index: logIndex(5), term: term(1), config: configuration([{ id: nodeId('a'), role: 'voter', addrs: { raftAddr: 'a:1', httpAddr: 'a:2', grpcAddr: 'a:3' } }]) }, chunk: 0, chunkCount: 1, data };
  const bytes = encodeFrame({ kind: 'batch', messages: [m] });
  const frame = decodeOk(bytes);
  assert.equal(frame.kind, 'batch');
  const got = frame.kind === 'batch' ? frame.messages[0] : undefined;
  assert.equal(got?.type, 'installSnapshot');
  if (got?.type === 'installSnapshot') assert.equal(got.data.buffer, bytes.buffer);
});

test('messageBytesBound bounds the encoded size of any batch', () => {
  fc.assert(
    fc.property(fc.array(messageArb, { maxLength: 8 }), (messages) => {
      const bound = FRAME_OVERHEAD_BYTES_MAX + messages.reduce((n, m) => n + messageBytesBound(m), 0);
      assert.ok(encodeFrame({ kind: 'batch', messages }).length <= bound);
    }),
    { numRuns: 500 },
  );
});

// ---- untrusted input ----

function check(r: DecodeResult): void {
  // Whatever decodes must be something we would encode the same way again.
  if (r.ok) assert.deepStrictEqual(plain(decodeFrame(encodeFrame(r.frame))), plain(r));
}

test('decoding random bytes never throws', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      check(decodeFrame(bytes));
    }),
    { numRuns: 2_000 },
  );
});

test('decoding corrupted or truncated valid frames never throws', () => {
  fc.assert(
    fc.property(
      frameArb,
      fc.array(fc.record({ at: fc.nat(), byte: fc.nat(255) }), { maxLength: 4 }),
      fc.option(fc.nat(), { nil: null }),
      (frame, flips, cut) => {
        let bytes = encodeFrame(frame).slice();
        for (const f of flips) if (bytes.length > 0) bytes[f.at % bytes.length] = f.byte;
        if (cut !== null) bytes = bytes.subarray(0, cut % (bytes.length + 1));
        check(decodeFrame(bytes));
      },
    ),
    { numRuns: 2_000 },
  );
});

const wire = (from = 'a', to = 'b', t = 5) => ({ from, to, term: t });
const batchOf = (...messages: kvstore.raft.v1.RaftMessage.$Properties[]): Uint8Array => pb.Frame.encode({ batch: { messages } }).finish();
const appendOf = (entries: kvstore.raft.v1.Entry.$Properties[], prevLogIndex = 10, prevLogTerm = 2, t = 5): Uint8Array =>
  batchOf({ ...wire('a', 'b', t), appendEntries: { prevLogIndex, prevLogTerm, entries, leaderCommit: 0 } });
const entry = (index: number, t: number, kind = pb.EntryKind.ENTRY_KIND_COMMAND) => ({ index, term: t, kind, data: new Uint8Array([1]) });
const twoVoters = encodeConfiguration(configuration(['a', 'b'].map((id) => ({ id: nodeId(id), role: 'voter' as const, addrs: { raftAddr: `${id}:1`, httpAddr: `${id}:2`, grpcAddr: `${id}:3` } }))));
const snapshotOf = (chunk: number, chunkCount: number, config: Uint8Array = twoVoters): Uint8Array =>
  batchOf({ ...wire(), installSnapshot: { meta: { index: 3, term: 1, configuration: config }, chunk, chunkCount, data: new Uint8Array([1, 2]) } });

test('malformed frames decode to errors', async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['an empty frame', new Uint8Array(0), /no kind/],
    ['truncated protobuf', pb.Frame.encode({ handshake: { clusterId: 'c', fromNode: 'a', toNode: 'b' } }).finish().subarray(0, 5), /index out of range|offset|range/i],
    ['a message without a body', batchOf(wire()), /no body/],
    ['a message without from', batchOf({ ...wire(''), heartbeat: { commit: 1, seq: 1 } }), /from: empty/],
    ['a handshake without a node', pb.Frame.encode({ handshake: { clusterId: 'c', fromNode: 'a' } }).finish(), /toNode: empty/],
    ['a handshake with a short nonce', pb.Frame.encode({ handshake: { clusterId: 'c', fromNode: 'a', toNode: 'b', nonce: new Uint8Array(31), mac: new Uint8Array(32) } }).finish(), /nonce: 31 bytes, expected 32/],
    ['a handshake without a proof', pb.Frame.encode({ handshake: { clusterId: 'c', fromNode: 'a', toNode: 'b', nonce: new Uint8Array(32) } }).finish(), /mac: 0 bytes, expected 32/],
    ['a challenge without a nonce', pb.Frame.encode({ challenge: {} }).finish(), /challenge.nonce: 0 bytes/],
    ['an ack with a long proof', pb.Frame.encode({ handshakeAck: { mac: new Uint8Array(33) } }).finish(), /handshakeAck.mac: 33 bytes/],
    ['an append response without a result', batchOf({ ...wire(), appendEntriesResponse: {} }), /no result/],
    ['a rejection without a hint', batchOf({ ...wire(), appendEntriesResponse: { rejected: { rejectedIndex: 3 } } }), /hint: missing/],
    ['a hint term without hasTerm', batchOf({ ...wire(), appendEntriesResponse: { rejected: { rejectedIndex: 3, hint: { index: 2, hasTerm: false, term: 4 } } } }), /without hasTerm/],
    ['a log end without hasLogEnd', batchOf({ ...wire(), heartbeatResponse: { seq: 1, hasLogEnd: false, logEnd: 4 } }), /without hasLogEnd/],
    ['an unspecified entry kind', appendOf([entry(11, 2, pb.EntryKind.ENTRY_KIND_UNSPECIFIED)]), /unknown entry kind 0/],
    ['an unknown entry kind', appendOf([entry(11, 2, 7 as kvstore.raft.v1.EntryKind)]), /unknown entry kind 7/],
    ['entries not starting at prevLogIndex + 1', appendOf([entry(12, 2)]), /index: 12, expected 11/],
    ['entries with a gap', appendOf([entry(11, 2), entry(13, 2)]), /index: 13, expected 12/],
    ['entries with decreasing terms', appendOf([entry(11, 3), entry(12, 2)]), /term: 2/],
    ['an entry term below prevLogTerm', appendOf([entry(11, 1)]), /term: 1/],
    ['an entry term above the leader term', appendOf([entry(11, 6)]), /term: 6/],
    ['a chunk number equal to chunkCount', snapshotOf(2, 2), /chunk: 2/],
    ['no chunks', snapshotOf(0, 0), /chunkCount: 0/],
    ['a snapshot without a configuration', snapshotOf(0, 1, new Uint8Array(0)), /configuration: truncated/],
    ['a snapshot with a configuration out of order', snapshotOf(0, 1, Uint8Array.of(1, 2, ...twoVoters.subarray(2 + (twoVoters.length - 2) / 2), ...twoVoters.subarray(2, 2 + (twoVoters.length - 2) / 2))), /increasing id order/],
    ['a configuration entry that is not one', appendOf([{ index: 11, term: 2, kind: pb.EntryKind.ENTRY_KIND_CONFIG, data: new Uint8Array([7]) }]), /not a configuration/],
    ['a snapshot without meta', batchOf({ ...wire(), installSnapshot: { chunk: 0, chunkCount: 1 } }), /meta: missing/],
    ['a term of 2^53', batchOf({ ...wire('a', 'b', 2 ** 53), heartbeat: { commit: 1, seq: 1 } }), /term: .* beyond/],
    ['an index of 2^64 - 2^11', appendOf([], 2 ** 64 - 2 ** 11), /prevLogIndex: .* beyond/],
    ['a seq beyond 2^53', batchOf({ ...wire(), heartbeat: { commit: 1, seq: 2 ** 60 } }), /seq: .* beyond/],
    ['a node id that is not UTF-8', Uint8Array.from([0x1a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0xc3, 0x28]), /utf-?8|invalid/i],
    // The shape the fast path reads (from, to, a heartbeat), but the bytes of from are not UTF-8.
    ['a heartbeat from a node id that is not UTF-8', Uint8Array.from([0x1a, 0x0b, 0x0a, 0x09, 0x0a, 0x02, 0xc3, 0x28, 0x12, 0x01, 0x62, 0x72, 0x00]), /utf-?8|invalid/i],
  ];
  for (const [name, bytes, pattern] of cases) {
    await t.test(name, () => decodeError(bytes, pattern));
  }
});

test('the largest safe numbers decode exactly', () => {
  const m: Message = { type: 'heartbeat', from: nodeId('a'), to: nodeId('b'), term: term(MAX), commit: logIndex(MAX), seq: MAX };
  assert.deepStrictEqual(decodeOk(encodeFrame({ kind: 'batch', messages: [m] })), { kind: 'batch', messages: [m] });
});

test('unknown fields are skipped, for peers on a newer schema', () => {
  const known = batchOf({ ...wire(), heartbeat: { commit: 1, seq: 2 } });
  // Field 99 of the Frame, varint 1: appended after the batch.
  const bytes = Uint8Array.from([...known, 0x98, 0x06, 0x01]);
  const frame = decodeOk(bytes);
  assert.equal(frame.kind, 'batch');
  assert.deepStrictEqual(frame.kind === 'batch' ? frame.messages.map((m) => m.type) : [], ['heartbeat']);
});

test('a bool written as a varint other than 0 or 1 decodes as the generated decoder reads it', () => {
  // protobufjs reads a bool as true when any bit of the varint is set: 2 and 2^32 as well as 1.
  for (const [varint, lease] of [[[0x02], true], [[0x80, 0x80, 0x80, 0x80, 0x10], true], [[0x80, 0x00], false]] as const) {
    const body = [0x08, 0x07, 0x10, ...varint];
    const message = [0x0a, 0x01, 0x61, 0x12, 0x01, 0x62, 0x18, 0x01, 0x92, 0x01, body.length, ...body];
    const bytes = Uint8Array.from([(3 << 3) | 2, message.length + 2, (1 << 3) | 2, message.length, ...message]);
    assert.equal(pb.Frame.decode(bytes).batch?.messages?.[0]?.readIndexRequest?.lease, lease);
    assert.deepStrictEqual(decodeOk(bytes), { kind: 'batch', messages: [{ type: 'readIndexRequest', from: nodeId('a'), to: nodeId('b'), term: term(1), requestId: 7, lease }] });
  }
});

test('forwarded commands decode as views of the frame, not copies, when nothing is given to keep them in', () => {
  const m: Message = { type: 'proposeRequest', from: nodeId('a'), to: nodeId('b'), term: term(1), batchId: 3, commands: [Uint8Array.of(1, 2, 3), new Uint8Array(0)] };
  const bytes = encodeFrame({ kind: 'batch', messages: [m] });
  const frame = decodeOk(bytes);
  const got = frame.kind === 'batch' ? frame.messages[0] : undefined;
  assert.equal(got?.type, 'proposeRequest');
  if (got?.type === 'proposeRequest') {
    assert.deepStrictEqual(got.commands.map((c) => [...c]), [[1, 2, 3], []]);
    assert.equal(got.commands[0]?.buffer, bytes.buffer);
  }
});

test('with blocks to keep them in, entries and forwarded commands decode as copies there, and nothing else changes', () => {
  // Buffers (views of the frame) and Uint8Arrays (the copies) compared by their bytes; the holder's own
  // value, since JSON.stringify has already turned a Buffer into its toJSON() form.
  const plainBytes = (d: DecodeResult): unknown =>
    JSON.parse(
      JSON.stringify(d, function (this: Record<string, unknown>, k: string, v: unknown) {
        const own = this[k];
        return own instanceof Uint8Array ? [...own] : v;
      }),
    );
  const proposeArb = fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 5 }).map((commands): Message => ({ type: 'proposeRequest', from: nodeId('n2'), to: nodeId('n1'), term: term(3), batchId: 7, commands }));
  const appendArb = appendEntriesArb.map((m): Message => ({ ...m, from: nodeId('n1'), to: nodeId('n2') }));
  fc.assert(
    fc.property(fc.array(fc.oneof(appendArb, proposeArb), { minLength: 1, maxLength: 4 }), (messages) => {
      const bytes = encodeFrame({ kind: 'batch', messages });
      assert.notEqual(readHotBatch(bytes), null, 'a frame the fast path reads');
      const r = decodeFrame(bytes, new ByteBlocks(4096, 4096));
      assert.deepStrictEqual(plainBytes(r), plainBytes(decodeFrame(bytes)));
      assert.ok(r.ok && r.frame.kind === 'batch');
      for (const m of r.frame.messages) {
        const held = m.type === 'appendEntries' ? m.entries.map((e) => e.data) : m.type === 'proposeRequest' ? m.commands : [];
        for (const b of held) assert.notEqual(b.buffer, bytes.buffer);
      }
    }),
  );
});
