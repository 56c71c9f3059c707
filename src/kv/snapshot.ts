// The state machine's snapshot format, written incrementally and read as a
// stream of chunks cut at arbitrary byte boundaries.
//
//   header   "KVSN", u8 version 1, varint appliedIndex
//   records  u8 1 entry:   varint+bytes key, varint revision, varint+bytes value
//            u8 2 session: varint+utf8 clientId, varint lastSeenIndex, varint count,
//                          count x (varint+utf8 requestId, result)
//   trailer  u8 0, varint entryCount, varint sessionCount,
//            u32 big-endian CRC-32 of every byte before it
//
// Entries come shard by shard in Map order, sessions least recently seen first.
// Two replicas with the same state can order entries differently (rebuilds and
// clones reorder a shard), so snapshot bytes are not canonical; their content is.

import { crc32 } from 'node:zlib';
import type { ByteSource } from './bytes.js';
import { bytesToBinary, ByteWriter, CorruptBytes, readUtf8, readVarint, utf8Bytes } from './bytes.js';
import type { KvResult } from './command.js';
import { readResult, writeResult } from './command.js';
import { idempotencyKeyBytesMax, keyBytesMax } from './limits.js';
import type { ClientSession, RecordedResult } from './sessions.js';
import type { BinaryKey, KvEntry } from './sharded-map.js';

const magic = [0x4b, 0x56, 0x53, 0x4e]; // "KVSN"
const formatVersion = 1;
const recordEnd = 0;
const recordEntry = 1;
const recordSession = 2;

export interface SnapshotSource {
  readonly appliedIndex: number;
  /** Pinned: none of these Maps changes while the reader holds it. */
  readonly shards: readonly ReadonlyMap<BinaryKey, KvEntry>[];
  readonly release: (shard: number, map: ReadonlyMap<BinaryKey, KvEntry>) => void;
  readonly sessions: readonly (readonly [string, ClientSession])[];
}

/**
 * Serialises a captured state a few records at a time. Each `next(maxBytes)`
 * costs about `maxBytes` of work (plus one record), however large the state is.
 */
export class SnapshotReader {
  readonly appliedIndex: number;
  private readonly staged = new ByteWriter(4096);
  private crc = 0;
  private shard = 0;
  private cursor: Iterator<[BinaryKey, KvEntry]> | null = null;
  private sessionNext = 0;
  private entryCount = 0;
  private phase: 'header' | 'shards' | 'sessions' | 'trailer' | 'done' = 'header';

  constructor(private readonly source: SnapshotSource) {
    this.appliedIndex = source.appliedIndex;
  }

  /** The next at most `maxBytes` bytes of the snapshot, or null once all were returned. */
  next(maxBytes: number): Uint8Array | null {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new Error(`SnapshotReader.next(${maxBytes})`);
    while (this.staged.length < maxBytes && this.phase !== 'done') this.stageSome();
    if (this.staged.length === 0) return null;
    return this.staged.take(Math.min(maxBytes, this.staged.length));
  }

  /** Releases the shards not yet read; `next` then returns null. */
  close(): void {
    for (; this.shard < this.source.shards.length && this.phase !== 'done'; this.shard++) this.releaseShard();
    this.phase = 'done';
    this.cursor = null;
    this.staged.take(this.staged.length);
  }

  private stageSome(): void {
    const start = this.staged.length;
    switch (this.phase) {
      case 'header':
        for (const b of magic) this.staged.u8(b);
        this.staged.u8(formatVersion);
        this.staged.varint(this.source.appliedIndex);
        this.phase = 'shards';
        break;
      case 'shards':
        this.stageEntry();
        break;
      case 'sessions': {
        const captured = this.source.sessions[this.sessionNext++];
        if (captured === undefined) this.phase = 'trailer';
        else writeSession(this.staged, captured[0], captured[1]);
        break;
      }
      case 'trailer':
        this.staged.u8(recordEnd);
        this.staged.varint(this.entryCount);
        this.staged.varint(this.source.sessions.length);
        this.crc = crc32(this.staged.view().subarray(start), this.crc);
        this.staged.u32(this.crc);
        this.phase = 'done';
        return;
      case 'done':
        return;
    }
    this.crc = crc32(this.staged.view().subarray(start), this.crc);
  }

  private stageEntry(): void {
    const map = this.source.shards[this.shard];
    if (map === undefined) {
      this.phase = 'sessions';
      return;
    }
    this.cursor ??= map.entries();
    const step = this.cursor.next();
    if (step.done === true) {
      this.releaseShard();
      this.cursor = null;
      this.shard++;
      return;
    }
    const [key, entry] = step.value;
    this.staged.u8(recordEntry);
    this.staged.varint(key.length);
    this.staged.binary(key);
    this.staged.varint(entry.revision);
    this.staged.varint(entry.value.length);
    this.staged.bytes(entry.value);
    this.entryCount++;
  }

  private releaseShard(): void {
    const map = this.source.shards[this.shard];
    if (map !== undefined) this.source.release(this.shard, map);
  }
}

function writeSession(w: ByteWriter, clientId: string, session: ClientSession): void {
  w.u8(recordSession);
  const id = utf8Bytes(clientId);
  w.varint(id.length);
  w.bytes(id);
  w.varint(session.lastSeenIndex);
  w.varint(session.results.length);
  for (const r of session.results) {
    const requestId = utf8Bytes(r.requestId);
    w.varint(requestId.length);
    w.bytes(requestId);
    writeResult(w, r.result);
  }
}

/** Where parsed records go; a sink returns why a record is inconsistent, or null. */
export interface SnapshotSink {
  header(appliedIndex: number): string | null;
  entry(key: BinaryKey, entry: KvEntry): string | null;
  session(clientId: string, session: ClientSession): string | null;
}

/**
 * Parses a snapshot from its chunks into `sink`. Corrupt or truncated input
 * yields `{ error }`, never a throw; the sink has by then seen some records, so
 * the caller must build into a state it discards on error. The checksum is only
 * known at the end, so every field is bounds-checked as it is read.
 */
export function parseSnapshot(chunks: Iterable<Uint8Array>, sink: SnapshotSink): { readonly error: string } | null {
  const src = new ChunkSource(chunks);
  try {
    for (const b of magic) if (src.u8() !== b) throw new CorruptBytes('bad magic');
    const version = src.u8();
    if (version !== formatVersion) throw new CorruptBytes(`unknown version ${version}`);
    const appliedIndex = readVarint(src);
    check(sink.header(appliedIndex));
    let entries = 0;
    let sessions = 0;
    for (;;) {
      const kind = src.u8();
      if (kind === recordEntry) {
        const keyLength = readVarint(src);
        if (keyLength < 1 || keyLength > keyBytesMax) throw new CorruptBytes(`key is ${keyLength} bytes`);
        const key = src.binary(keyLength);
        const revision = readVarint(src);
        if (revision < 1 || revision > appliedIndex) throw new CorruptBytes(`revision ${revision} outside 1..${appliedIndex}`);
        const value = src.bytes(readVarint(src));
        check(sink.entry(key, { value, revision }));
        entries++;
      } else if (kind === recordSession) {
        const [clientId, session] = readSession(src, appliedIndex);
        check(sink.session(clientId, session));
        sessions++;
      } else if (kind === recordEnd) {
        if (readVarint(src) !== entries) throw new CorruptBytes('entry count mismatch');
        if (readVarint(src) !== sessions) throw new CorruptBytes('session count mismatch');
        const computed = src.crcSoFar();
        const stored = ((src.u8() << 24) | (src.u8() << 16) | (src.u8() << 8) | src.u8()) >>> 0;
        if (stored !== computed) throw new CorruptBytes('checksum mismatch');
        if (!src.atEnd()) throw new CorruptBytes('bytes after the trailer');
        return null;
      } else {
        throw new CorruptBytes(`unknown record ${kind}`);
      }
    }
  } catch (e) {
    if (e instanceof CorruptBytes) return { error: `snapshot: ${e.message}` };
    throw e;
  } finally {
    src.close();
  }
}

function check(problem: string | null): void {
  if (problem !== null) throw new CorruptBytes(problem);
}

function readSession(src: ChunkSource, appliedIndex: number): [string, ClientSession] {
  const clientId = readUtf8(src, idempotencyKeyBytesMax, 'clientId');
  const lastSeenIndex = readVarint(src);
  if (lastSeenIndex < 1 || lastSeenIndex > appliedIndex) throw new CorruptBytes(`last seen ${lastSeenIndex} outside 1..${appliedIndex}`);
  const count = readVarint(src);
  const results: RecordedResult[] = [];
  for (let i = 0; i < count; i++) {
    const requestId = readUtf8(src, idempotencyKeyBytesMax, 'requestId');
    const result: KvResult = readResult(src);
    results.push({ requestId, result });
  }
  return [clientId, { lastSeenIndex, results }];
}

/**
 * Reads across chunk boundaries, folding every consumed byte into a running CRC-32.
 * `bytes` copies, so nothing parsed keeps a chunk alive, and allocates only once
 * the bytes are actually there: a corrupt length cannot make it allocate more
 * than the input holds.
 */
class ChunkSource implements ByteSource {
  private readonly chunks: Iterator<Uint8Array>;
  private chunk: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** chunk[0..crcFrom) is already folded into `crc`. */
  private crcFrom = 0;
  private crc = 0;

  constructor(chunks: Iterable<Uint8Array>) {
    this.chunks = chunks[Symbol.iterator]();
  }

  u8(): number {
    if (this.pos >= this.chunk.length && !this.advance()) throw new CorruptBytes('truncated');
    return this.chunk[this.pos++]!;
  }

  bytes(n: number): Uint8Array {
    if (this.pos + n <= this.chunk.length) {
      const out = this.chunk.slice(this.pos, this.pos + n);
      this.pos += n;
      return out;
    }
    const pieces: Uint8Array[] = [];
    let need = n;
    while (need > 0) {
      if (this.pos >= this.chunk.length && !this.advance()) throw new CorruptBytes('truncated');
      const take = Math.min(need, this.chunk.length - this.pos);
      pieces.push(this.chunk.subarray(this.pos, this.pos + take));
      this.pos += take;
      need -= take;
    }
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of pieces) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  binary(n: number): BinaryKey {
    return bytesToBinary(this.bytes(n)) as BinaryKey;
  }

  /** Lets a generator of chunks clean up when parsing stops early. */
  close(): void {
    this.chunks.return?.();
  }

  /** The CRC-32 of every byte consumed so far. */
  crcSoFar(): number {
    this.crc = crc32(this.chunk.subarray(this.crcFrom, this.pos), this.crc);
    this.crcFrom = this.pos;
    return this.crc;
  }

  atEnd(): boolean {
    while (this.pos >= this.chunk.length) if (!this.advance()) return true;
    return false;
  }

  /** Moves to the next non-empty chunk; false when there is none. */
  private advance(): boolean {
    for (;;) {
      this.crcSoFar();
      const step = this.chunks.next();
      if (step.done === true) return false;
      this.chunk = step.value;
      this.pos = 0;
      this.crcFrom = 0;
      if (this.chunk.length > 0) return true;
    }
  }
}
