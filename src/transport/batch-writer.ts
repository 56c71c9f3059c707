// A batch frame (proto/raft/v1/peer.proto: Frame.batch) written by hand into one
// buffer sized exactly beforehand. Why not protobufjs for the whole frame: its
// Writer records every field as a queued operation object (a uint64 also as a
// LongBits) and every nested message as a forked state, over ten short-lived
// objects per entry besides our own wire-shaped copy of it, and ~0.9 us of CPU per
// entry; the leader encodes each batch once per follower. Here it is ~0.15 us.
// Appends, heartbeats, their answers, read index requests and answers (a
// follower's reads) and forwarded proposals are written here field by field;
// every other message is rare and goes through the generated encoder, its bytes
// embedded as they are.
//
// The output is byte for byte what protobufjs writes for the same frame (fields
// in number order, proto3 defaults left out), which test/transport/codec.test.ts
// checks against the generated encoder.

import { varintLength } from '../kv/bytes.js';
import type { AppendEntries, Entry, EntryKind, Message } from '../raft/types.js';
import { kvstore } from './generated/peer.js';

const pb = kvstore.raft.v1;

/** Field tags (field number << 3 | wire type), each one byte. */
const TAG_FRAME_BATCH = (3 << 3) | 2;
const TAG_BATCH_MESSAGE = (1 << 3) | 2;
const TAG_MESSAGE_FROM = (1 << 3) | 2;
const TAG_MESSAGE_TO = (2 << 3) | 2;
const TAG_MESSAGE_TERM = (3 << 3) | 0;
const TAG_MESSAGE_APPEND = (12 << 3) | 2;
const TAG_MESSAGE_APPEND_RESPONSE = (13 << 3) | 2;
const TAG_MESSAGE_HEARTBEAT = (14 << 3) | 2;
const TAG_MESSAGE_HEARTBEAT_RESPONSE = (15 << 3) | 2;
/** Fields 16 and up: each of these tags is a varint of two bytes. */
const TAG_MESSAGE_READ_INDEX_REQUEST = (18 << 3) | 2;
const TAG_MESSAGE_READ_INDEX_RESPONSE = (19 << 3) | 2;
const TAG_MESSAGE_PROPOSE_REQUEST = (20 << 3) | 2;
const TAG_MESSAGE_PROPOSE_RESPONSE = (21 << 3) | 2;
const TAG_APPEND_PREV_INDEX = (1 << 3) | 0;
const TAG_APPEND_PREV_TERM = (2 << 3) | 0;
const TAG_APPEND_ENTRY = (3 << 3) | 2;
const TAG_APPEND_COMMIT = (4 << 3) | 0;
const TAG_ENTRY_INDEX = (1 << 3) | 0;
const TAG_ENTRY_TERM = (2 << 3) | 0;
const TAG_ENTRY_KIND = (3 << 3) | 0;
const TAG_ENTRY_DATA = (4 << 3) | 2;
const TAG_APPEND_RESPONSE_ACCEPTED = (1 << 3) | 2;
const TAG_ACCEPTED_MATCH_INDEX = (1 << 3) | 0;
const TAG_HEARTBEAT_COMMIT = (1 << 3) | 0;
const TAG_HEARTBEAT_SEQ = (2 << 3) | 0;
const TAG_HEARTBEAT_RESPONSE_SEQ = (1 << 3) | 0;
const TAG_HEARTBEAT_RESPONSE_HAS_LOG_END = (2 << 3) | 0;
const TAG_HEARTBEAT_RESPONSE_LOG_END = (3 << 3) | 0;
const TAG_READ_INDEX_REQUEST_ID = (1 << 3) | 0;
const TAG_READ_INDEX_LEASE = (2 << 3) | 0;
const TAG_READ_INDEX_RESPONSE_REQUEST_ID = (1 << 3) | 0;
const TAG_READ_INDEX_RESPONSE_INDEX = (2 << 3) | 0;
const TAG_PROPOSE_BATCH_ID = (1 << 3) | 0;
const TAG_PROPOSE_COMMAND = (2 << 3) | 2;
const TAG_PROPOSE_RESPONSE_BATCH_ID = (1 << 3) | 0;
const TAG_PROPOSE_RESPONSE_ACCEPTED = (2 << 3) | 2;
const TAG_PROPOSE_RESPONSE_REFUSED = (3 << 3) | 2;
const TAG_ACCEPTED_FIRST_INDEX = (1 << 3) | 0;
const TAG_REFUSED_OVERLOADED = (1 << 3) | 0;

/** An entry kind's wire number (peer.proto EntryKind), one byte of varint. */
export function entryKindToWire(kind: EntryKind): kvstore.raft.v1.EntryKind {
  switch (kind) {
    case 'noop':
      return pb.EntryKind.ENTRY_KIND_NOOP;
    case 'command':
      return pb.EntryKind.ENTRY_KIND_COMMAND;
    case 'config':
      return pb.EntryKind.ENTRY_KIND_CONFIG;
  }
}

/** A uint64 field: nothing for 0 (the proto3 default), else its tag and varint. */
const u64FieldBytes = (v: number): number => (v === 0 ? 0 : 1 + varintLength(v));

/** A length-delimited field of `n` bytes: nothing when empty. */
const delimitedFieldBytes = (n: number): number => (n === 0 ? 0 : 1 + varintLength(n) + n);

/** An embedded message is written even when empty, as protobufjs does. */
const embeddedBytes = (n: number): number => 1 + varintLength(n) + n;

/** A bool field: nothing for false (the proto3 default), else its tag and 1. */
const boolFieldBytes = (v: boolean): number => (v ? 2 : 0);

/** The tag of a body field (RaftMessage's oneof) takes two bytes from field 16 on. */
const bodyTagBytes = (m: Message): number => (m.type === 'appendEntries' || m.type === 'appendEntriesResponse' || m.type === 'heartbeat' || m.type === 'heartbeatResponse' ? 1 : 2);

function entryBytes(e: Entry): number {
  return u64FieldBytes(e.index) + u64FieldBytes(e.term) + 2 + delimitedFieldBytes(e.data.length);
}

/**
 * The body (the message inside RaftMessage's oneof) of a message written here, or
 * null for one that is not; an append's entries take `entriesBytes` when known.
 */
function bodyBytes(m: Message, entriesBytes: number): number | null {
  switch (m.type) {
    case 'appendEntries': {
      let n = u64FieldBytes(m.prevLogIndex) + u64FieldBytes(m.prevLogTerm) + u64FieldBytes(m.leaderCommit);
      if (entriesBytes >= 0) return n + entriesBytes;
      for (const e of m.entries) n += embeddedBytes(entryBytes(e));
      return n;
    }
    case 'appendEntriesResponse':
      return m.success ? embeddedBytes(u64FieldBytes(m.matchIndex)) : null;
    case 'heartbeat':
      return u64FieldBytes(m.commit) + u64FieldBytes(m.seq);
    case 'heartbeatResponse':
      return u64FieldBytes(m.seq) + (m.logEnd === null ? 0 : 2 + u64FieldBytes(m.logEnd));
    case 'readIndexRequest':
      return u64FieldBytes(m.requestId) + boolFieldBytes(m.lease);
    case 'readIndexResponse':
      return u64FieldBytes(m.requestId) + u64FieldBytes(m.index);
    case 'proposeRequest': {
      // Every command is written, an empty one too, as protobufjs writes a repeated bytes field.
      let n = u64FieldBytes(m.batchId);
      for (const c of m.commands) n += embeddedBytes(c.length);
      return n;
    }
    case 'proposeResponse':
      return u64FieldBytes(m.batchId) + embeddedBytes(m.result.accepted ? u64FieldBytes(m.result.firstIndex) : boolFieldBytes(m.result.reason === 'overloaded'));
    default:
      return null;
  }
}

/**
 * Per message: its encoded size, then, for one written here, the sizes the write
 * pass needs again, and for an append whose entries are copied from the last
 * append's bytes (EncodedEntries) where they start there, else -1.
 */
const SIZES_PER_MESSAGE = 5;

/**
 * The entries of the last append written and their bytes in its frame (each
 * entry's field tag, length and fields), with where each entry starts. The leader
 * sends the same entries to every follower that keeps up, one frame per follower
 * in the same turn: an append whose entries are a run of these (the same Entry
 * objects, which are immutable) copies their bytes instead of encoding them again
 * (~0.15 us per entry per follower). It holds one frame's buffer until the next
 * append replaces it.
 */
class EncodedEntries {
  private entries: readonly Entry[] = [];
  private frame: Buffer = Buffer.alloc(0);
  /** starts[i] is where entries[i] starts in frame; starts[entries.length] where the last ends. */
  private starts: readonly number[] = [0];

  /** Where the bytes of `run` start in `frame()`, or -1 when `run` is not a run of the entries held. */
  find(run: readonly Entry[]): number {
    const first = run[0];
    const held = this.entries[0];
    if (first === undefined || held === undefined) return -1;
    const k = first.index - held.index;
    if (k < 0 || k + run.length > this.entries.length) return -1;
    for (let i = 0; i < run.length; i++) if (this.entries[k + i] !== run[i]) return -1;
    return this.starts[k]!;
  }

  /** The bytes of `run`, which `find` placed at `start`. */
  bytesOf(run: readonly Entry[], start: number): number {
    const k = run[0]!.index - this.entries[0]!.index;
    return this.starts[k + run.length]! - start;
  }

  get bytes(): Buffer {
    return this.frame;
  }

  hold(entries: readonly Entry[], frame: Buffer, starts: readonly number[]): void {
    this.entries = entries;
    this.frame = frame;
    this.starts = starts;
  }
}

const encoded = new EncodedEntries();

class Cursor {
  at = 0;
  constructor(readonly buf: Buffer) {}

  varint(v: number): void {
    const buf = this.buf;
    while (v >= 128) {
      // v % 128 is exact for every safe integer, as is the division.
      buf[this.at++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    buf[this.at++] = v;
  }

  u64Field(tag: number, v: number): void {
    if (v === 0) return;
    this.buf[this.at++] = tag;
    this.varint(v);
  }

  stringField(tag: number, s: string, bytes: number): void {
    if (bytes === 0) return;
    this.buf[this.at++] = tag;
    this.varint(bytes);
    this.at += this.buf.write(s, this.at, bytes, 'utf8');
  }

  bytesField(tag: number, b: Uint8Array): void {
    if (b.length === 0) return;
    this.buf[this.at++] = tag;
    this.varint(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }

  boolField(tag: number, v: boolean): void {
    if (!v) return;
    this.buf[this.at++] = tag;
    this.buf[this.at++] = 1;
  }

  header(tag: number, length: number): void {
    this.varint(tag);
    this.varint(length);
  }
}

/**
 * The Frame of a batch of `messages`; `encodeOther` encodes a message of a type
 * not written here (a whole RaftMessage, untagged).
 */
export function writeBatchFrame(messages: readonly Message[], encodeOther: (m: Message) => Uint8Array): Buffer {
  // Sizes first, kept per message so that the write pass need not work them out again.
  const sizes: number[] = [];
  const others: (Uint8Array | null)[] = [];
  let batchBytes = 0;
  for (const m of messages) {
    let n: number;
    let copyFrom = -1;
    let entriesBytes = -1;
    if (m.type === 'appendEntries') {
      copyFrom = encoded.find(m.entries);
      if (copyFrom >= 0) entriesBytes = encoded.bytesOf(m.entries, copyFrom);
    }
    const body = bodyBytes(m, entriesBytes);
    if (body !== null) {
      const fromBytes = Buffer.byteLength(m.from, 'utf8');
      const toBytes = Buffer.byteLength(m.to, 'utf8');
      n = delimitedFieldBytes(fromBytes) + delimitedFieldBytes(toBytes) + u64FieldBytes(m.term) + bodyTagBytes(m) - 1 + embeddedBytes(body);
      sizes.push(n, fromBytes, toBytes, body, copyFrom);
      others.push(null);
    } else {
      const bytes = encodeOther(m);
      n = bytes.length;
      sizes.push(n, 0, 0, 0, -1);
      others.push(bytes);
    }
    batchBytes += embeddedBytes(n);
  }
  const c = new Cursor(Buffer.allocUnsafe(embeddedBytes(batchBytes)));
  c.header(TAG_FRAME_BATCH, batchBytes);
  // The cache is replaced only after the write pass: the sizes pass found its runs in the one held now.
  let written: { readonly entries: readonly Entry[]; readonly starts: readonly number[] } | null = null;
  for (let i = 0; i < messages.length; i++) {
    const k = SIZES_PER_MESSAGE * i;
    c.header(TAG_BATCH_MESSAGE, sizes[k]!);
    const other = others[i];
    if (other !== null && other !== undefined) {
      c.buf.set(other, c.at);
      c.at += other.length;
      continue;
    }
    const m = messages[i]!;
    c.stringField(TAG_MESSAGE_FROM, m.from, sizes[k + 1]!);
    c.stringField(TAG_MESSAGE_TO, m.to, sizes[k + 2]!);
    c.u64Field(TAG_MESSAGE_TERM, m.term);
    const copyFrom = sizes[k + 4]!;
    if (m.type !== 'appendEntries') writeBody(c, m, sizes[k + 3]!);
    else {
      const starts = writeAppend(c, m, sizes[k + 3]!, copyFrom);
      if (copyFrom < 0 && m.entries.length > 0) written = { entries: m.entries, starts };
    }
  }
  if (written !== null) encoded.hold(written.entries, c.buf, written.starts);
  if (c.at !== c.buf.length) throw new Error(`writeBatchFrame: wrote ${c.at} of ${c.buf.length} bytes`);
  return c.buf;
}

/**
 * An append's body, of `bytes` (bodyBytes), with its tag and length: its entries
 * copied from the held bytes at `copyFrom`, or encoded when it is -1. Returns where
 * each encoded entry starts (and where the last ends) in the frame.
 */
function writeAppend(c: Cursor, m: AppendEntries, bytes: number, copyFrom: number): number[] {
  c.header(TAG_MESSAGE_APPEND, bytes);
  c.u64Field(TAG_APPEND_PREV_INDEX, m.prevLogIndex);
  c.u64Field(TAG_APPEND_PREV_TERM, m.prevLogTerm);
  const starts: number[] = [];
  if (copyFrom >= 0) {
    const n = encoded.bytesOf(m.entries, copyFrom);
    c.buf.set(encoded.bytes.subarray(copyFrom, copyFrom + n), c.at);
    c.at += n;
  } else {
    for (const e of m.entries) {
      starts.push(c.at);
      c.header(TAG_APPEND_ENTRY, entryBytes(e));
      c.u64Field(TAG_ENTRY_INDEX, e.index);
      c.u64Field(TAG_ENTRY_TERM, e.term);
      c.buf[c.at++] = TAG_ENTRY_KIND;
      c.buf[c.at++] = entryKindToWire(e.kind);
      c.bytesField(TAG_ENTRY_DATA, e.data);
    }
    starts.push(c.at);
  }
  c.u64Field(TAG_APPEND_COMMIT, m.leaderCommit);
  return starts;
}

/** The body of a message other than an append for which `bodyBytes` gave `bytes`, with its tag and length. */
function writeBody(c: Cursor, m: Message, bytes: number): void {
  switch (m.type) {
    case 'appendEntriesResponse':
      if (!m.success) throw new Error('writeBody: a rejection is not written here');
      c.header(TAG_MESSAGE_APPEND_RESPONSE, bytes);
      c.header(TAG_APPEND_RESPONSE_ACCEPTED, u64FieldBytes(m.matchIndex));
      c.u64Field(TAG_ACCEPTED_MATCH_INDEX, m.matchIndex);
      return;
    case 'heartbeat':
      c.header(TAG_MESSAGE_HEARTBEAT, bytes);
      c.u64Field(TAG_HEARTBEAT_COMMIT, m.commit);
      c.u64Field(TAG_HEARTBEAT_SEQ, m.seq);
      return;
    case 'heartbeatResponse':
      c.header(TAG_MESSAGE_HEARTBEAT_RESPONSE, bytes);
      c.u64Field(TAG_HEARTBEAT_RESPONSE_SEQ, m.seq);
      if (m.logEnd === null) return;
      c.boolField(TAG_HEARTBEAT_RESPONSE_HAS_LOG_END, true);
      c.u64Field(TAG_HEARTBEAT_RESPONSE_LOG_END, m.logEnd);
      return;
    case 'readIndexRequest':
      c.header(TAG_MESSAGE_READ_INDEX_REQUEST, bytes);
      c.u64Field(TAG_READ_INDEX_REQUEST_ID, m.requestId);
      c.boolField(TAG_READ_INDEX_LEASE, m.lease);
      return;
    case 'readIndexResponse':
      c.header(TAG_MESSAGE_READ_INDEX_RESPONSE, bytes);
      c.u64Field(TAG_READ_INDEX_RESPONSE_REQUEST_ID, m.requestId);
      c.u64Field(TAG_READ_INDEX_RESPONSE_INDEX, m.index);
      return;
    case 'proposeRequest':
      c.header(TAG_MESSAGE_PROPOSE_REQUEST, bytes);
      c.u64Field(TAG_PROPOSE_BATCH_ID, m.batchId);
      for (const command of m.commands) {
        c.header(TAG_PROPOSE_COMMAND, command.length);
        c.buf.set(command, c.at);
        c.at += command.length;
      }
      return;
    case 'proposeResponse':
      c.header(TAG_MESSAGE_PROPOSE_RESPONSE, bytes);
      c.u64Field(TAG_PROPOSE_RESPONSE_BATCH_ID, m.batchId);
      if (m.result.accepted) {
        c.header(TAG_PROPOSE_RESPONSE_ACCEPTED, u64FieldBytes(m.result.firstIndex));
        c.u64Field(TAG_ACCEPTED_FIRST_INDEX, m.result.firstIndex);
      } else {
        const overloaded = m.result.reason === 'overloaded';
        c.header(TAG_PROPOSE_RESPONSE_REFUSED, boolFieldBytes(overloaded));
        c.boolField(TAG_REFUSED_OVERLOADED, overloaded);
      }
      return;
    default:
      throw new Error(`writeBody: ${m.type} is not written here`);
  }
}
