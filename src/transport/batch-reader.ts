// The fast path of decoding a batch frame: the shape src/transport/batch-writer.ts
// (and protobufjs) writes for appends, acceptances, heartbeats and heartbeat
// responses, read index requests and responses, and forwarded proposals and their
// answers, read straight into our entries. Why: protobufjs decodes every uint64
// into a Long (and a LongBits), and every entry into a message object that the
// codec then copied into ours, about six objects per entry besides the data view.
//
// Anything else (a field out of order, an unknown field, another message type,
// a varint beyond 2^53 - 1, a node id not in ASCII, truncation) makes
// `readHotBatch` return null, and the codec decodes the frame with the generated
// decoder instead, which accepts every valid encoding and words the errors. So this path never refuses what the
// other would accept; the codec checks what it returns exactly as it checks the
// other path's (src/transport/codec.ts).

import type { ByteBlocks } from '../kv/byte-blocks.js';
import { logIndex, term, type Entry, type EntryKind } from '../raft/types.js';
import { kvstore } from './generated/peer.js';

const pb = kvstore.raft.v1;

/** A message of the kinds read here, its numbers checked to be safe integers, nothing else checked yet. */
export type HotMessage =
  | (HotBase & { readonly body: 'appendEntries'; readonly prevLogIndex: number; readonly prevLogTerm: number; readonly entries: Entry[]; readonly leaderCommit: number })
  | (HotBase & { readonly body: 'appendAccepted'; readonly matchIndex: number })
  | (HotBase & { readonly body: 'heartbeat'; readonly commit: number; readonly seq: number })
  | (HotBase & { readonly body: 'heartbeatResponse'; readonly seq: number; readonly hasLogEnd: number; readonly logEnd: number })
  | (HotBase & { readonly body: 'readIndexRequest'; readonly requestId: number; readonly lease: boolean })
  | (HotBase & { readonly body: 'readIndexResponse'; readonly requestId: number; readonly index: number })
  | (HotBase & { readonly body: 'proposeRequest'; readonly batchId: number; readonly commands: Uint8Array[] })
  | (HotBase & { readonly body: 'proposeAccepted'; readonly batchId: number; readonly firstIndex: number })
  | (HotBase & { readonly body: 'proposeRefused'; readonly batchId: number; readonly overloaded: boolean });

interface HotBase {
  readonly from: string;
  readonly to: string;
  readonly term: number;
}

/** Thrown inside the reader only, when the frame is not of the shape read here. */
class NotHot extends Error {}
const notHot = new NotHot('not the fast path');

function bail(): never {
  throw notHot;
}

/** A varint has at most 8 bytes below 2^53 (7 x 7 bits + 4). */
const VARINT_BYTES_MAX = 8;

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
  ) {
    this.pos = start;
  }

  /** A varint of a safe integer ending at or before `end`. */
  varint(end: number): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      if (this.pos >= end) bail();
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(v)) bail();
        return v;
      }
      scale *= 128;
    }
    return bail();
  }

  /** The end of a length-delimited field that starts here, within `end`. */
  delimited(end: number): number {
    const n = this.varint(end);
    if (n > end - this.pos) bail();
    return this.pos + n;
  }

  /** Whether the next byte (before `end`) is `tag`; consumes it if so. */
  tag(tag: number, end: number): boolean {
    if (this.pos >= end || this.buf[this.pos] !== tag) return false;
    this.pos++;
    return true;
  }

  /** A varint field, 0 when absent. */
  u64Field(tag: number, end: number): number {
    return this.tag(tag, end) ? this.varint(end) : 0;
  }

  /** A bool field, false when absent; any varint but 0 is true, as protobufjs reads it. */
  boolField(tag: number, end: number): boolean {
    return this.u64Field(tag, end) !== 0;
  }

  /** A bytes field's value as a view of the frame. */
  bytes(end: number): Uint8Array {
    const to = this.delimited(end);
    const b = this.buf.subarray(this.pos, to);
    this.pos = to;
    return b;
  }

  /** A string field of ASCII only ('' when absent): the generated decoder judges any other bytes' UTF-8. */
  stringField(tag: number, end: number): string {
    if (!this.tag(tag, end)) return '';
    const to = this.delimited(end);
    for (let i = this.pos; i < to; i++) if (this.buf[i]! >= 0x80) bail();
    const s = this.buf.toString('latin1', this.pos, to);
    this.pos = to;
    return s;
  }
}

/**
 * The messages of a batch frame of only the kinds read here, or null for any other
 * frame. Entries' data and forwarded commands are views of the frame, or with
 * `kept`, copies there (see decodeFrame).
 */
export function readHotBatch(bytes: Uint8Array, kept: ByteBlocks | null = null): HotMessage[] | null {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
    const r = new Reader(buf, 0);
    if (!r.tag((3 << 3) | 2, buf.length)) return null;
    const end = r.delimited(buf.length);
    if (end !== buf.length) return null;
    const messages: HotMessage[] = [];
    while (r.pos < end) {
      if (!r.tag((1 << 3) | 2, end)) return null;
      messages.push(readMessage(r, r.delimited(end), kept));
    }
    return messages;
  } catch (err) {
    if (err instanceof NotHot) return null;
    throw err;
  }
}

function readMessage(r: Reader, end: number, kept: ByteBlocks | null): HotMessage {
  const from = r.stringField((1 << 3) | 2, end);
  const to = r.stringField((2 << 3) | 2, end);
  const t = r.u64Field((3 << 3) | 0, end);
  // Fields 16 and up have tags of two bytes.
  const bodyTag = r.varint(end);
  const bodyEnd = r.delimited(end);
  if (bodyEnd !== end) bail();
  switch (bodyTag) {
    case (12 << 3) | 2: {
      const prevLogIndex = r.u64Field((1 << 3) | 0, end);
      const prevLogTerm = r.u64Field((2 << 3) | 0, end);
      const entries: Entry[] = [];
      while (r.tag((3 << 3) | 2, end)) entries.push(readEntry(r, r.delimited(end), kept));
      const leaderCommit = r.u64Field((4 << 3) | 0, end);
      done(r, end);
      return { from, to, term: t, body: 'appendEntries', prevLogIndex, prevLogTerm, entries, leaderCommit };
    }
    case (13 << 3) | 2: {
      if (!r.tag((1 << 3) | 2, end)) bail();
      const acceptedEnd = r.delimited(end);
      const matchIndex = r.u64Field((1 << 3) | 0, acceptedEnd);
      done(r, acceptedEnd);
      done(r, end);
      return { from, to, term: t, body: 'appendAccepted', matchIndex };
    }
    case (14 << 3) | 2: {
      const commit = r.u64Field((1 << 3) | 0, end);
      const seq = r.u64Field((2 << 3) | 0, end);
      done(r, end);
      return { from, to, term: t, body: 'heartbeat', commit, seq };
    }
    case (15 << 3) | 2: {
      const seq = r.u64Field((1 << 3) | 0, end);
      const hasLogEnd = r.u64Field((2 << 3) | 0, end);
      const logEnd = r.u64Field((3 << 3) | 0, end);
      done(r, end);
      return { from, to, term: t, body: 'heartbeatResponse', seq, hasLogEnd, logEnd };
    }
    case (18 << 3) | 2: {
      const requestId = r.u64Field((1 << 3) | 0, end);
      const lease = r.boolField((2 << 3) | 0, end);
      done(r, end);
      return { from, to, term: t, body: 'readIndexRequest', requestId, lease };
    }
    case (19 << 3) | 2: {
      const requestId = r.u64Field((1 << 3) | 0, end);
      const index = r.u64Field((2 << 3) | 0, end);
      done(r, end);
      return { from, to, term: t, body: 'readIndexResponse', requestId, index };
    }
    case (20 << 3) | 2: {
      const batchId = r.u64Field((1 << 3) | 0, end);
      const commands: Uint8Array[] = [];
      while (r.tag((2 << 3) | 2, end)) commands.push(keep(r.bytes(end), kept));
      done(r, end);
      return { from, to, term: t, body: 'proposeRequest', batchId, commands };
    }
    case (21 << 3) | 2: {
      const batchId = r.u64Field((1 << 3) | 0, end);
      if (r.tag((2 << 3) | 2, end)) {
        const acceptedEnd = r.delimited(end);
        const firstIndex = r.u64Field((1 << 3) | 0, acceptedEnd);
        done(r, acceptedEnd);
        done(r, end);
        return { from, to, term: t, body: 'proposeAccepted', batchId, firstIndex };
      }
      if (!r.tag((3 << 3) | 2, end)) bail();
      const refusedEnd = r.delimited(end);
      const overloaded = r.boolField((1 << 3) | 0, refusedEnd);
      done(r, refusedEnd);
      done(r, end);
      return { from, to, term: t, body: 'proposeRefused', batchId, overloaded };
    }
    default:
      return bail();
  }
}

function readEntry(r: Reader, end: number, kept: ByteBlocks | null): Entry {
  const index = r.u64Field((1 << 3) | 0, end);
  const t = r.u64Field((2 << 3) | 0, end);
  const kind = entryKindFromNumber(r.u64Field((3 << 3) | 0, end)) ?? bail();
  const data = r.tag((4 << 3) | 2, end) ? keep(r.bytes(end), kept) : new Uint8Array(0);
  done(r, end);
  return { index: logIndex(index), term: term(t), kind, data };
}

function keep(view: Uint8Array, kept: ByteBlocks | null): Uint8Array {
  return kept === null ? view : kept.copy(view);
}

/** The entry kind of a wire number (peer.proto EntryKind), null for a number it does not define. */
export function entryKindFromNumber(n: number): EntryKind | null {
  switch (n) {
    case pb.EntryKind.ENTRY_KIND_NOOP:
      return 'noop';
    case pb.EntryKind.ENTRY_KIND_COMMAND:
      return 'command';
    case pb.EntryKind.ENTRY_KIND_CONFIG:
      return 'config';
    default:
      return null;
  }
}

/** A field left over (unknown, repeated or out of order) takes the other path. */
function done(r: Reader, end: number): void {
  if (r.pos !== end) bail();
}
