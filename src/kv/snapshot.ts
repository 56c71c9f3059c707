// The state machine's snapshot format, written incrementally and read as a
// stream of chunks cut at arbitrary byte boundaries.
//
//   header   "KVSN", u8 version 2, varint appliedIndex, varint windowCompactedThrough
//   records  u8 3 lease:    varint id, varint ttlSeconds
//            u8 1 entry:    varint+bytes key, varint revision, varint+bytes value,
//                           varint lease (0: none)
//            u8 2 session:  varint+utf8 clientId, varint lastSeenIndex, varint count,
//                           count x (varint+utf8 requestId, result)
//            u8 4 revision: varint revision, varint count, count x (u8 1 put:
//                           varint+bytes key, varint+bytes value, varint lease |
//                           u8 2 delete: varint+bytes key)
//   trailer  u8 0, varint entryCount, varint sessionCount, varint leaseCount,
//            varint revisionCount, u32 big-endian CRC-32 of every byte before it
//
// Records come in that order: leases by id, entries shard by shard in Map order,
// sessions least recently seen first, the change window's revisions oldest first.
// Two replicas with the same state can order entries differently (rebuilds and
// clones reorder a shard), so snapshot bytes are not canonical; their content is.
//
// Version 1 (before leases and the change window) is still read: no header
// windowCompactedThrough (the window starts empty at appliedIndex), entries without
// a lease, no lease or revision records, and a trailer of the two counts.

import { crc32 } from 'node:zlib';
import type { ByteSource } from './bytes.js';
import { bytesToBinary, ByteWriter, CorruptBytes, readUtf8, readVarint, utf8Bytes } from './bytes.js';
import type { KvChange, RevisionChanges } from './change-window.js';
import type { KvResult } from './command.js';
import { readResult, writeResult } from './command.js';
import type { LeaseRecord } from './leases.js';
import { idempotencyKeyBytesMax, keyBytesMax, leaseTtlSecondsMax } from './limits.js';
import type { ClientSession, RecordedResult } from './sessions.js';
import type { BinaryKey, KvEntry } from './sharded-map.js';
import type { StoredEntry } from './value-arena.js';

const magic = [0x4b, 0x56, 0x53, 0x4e]; // "KVSN"
const formatVersion = 2;
const recordEnd = 0;
const recordEntry = 1;
const recordSession = 2;
const recordLease = 3;
const recordRevision = 4;
const changePut = 1;
const changeDelete = 2;
/** The order records must come in. */
const recordRank: Readonly<Record<number, number>> = { [recordLease]: 1, [recordEntry]: 2, [recordSession]: 3, [recordRevision]: 4 };

export interface SnapshotSource {
  readonly appliedIndex: number;
  readonly windowCompactedThrough: number;
  readonly leases: readonly LeaseRecord[];
  /** Pinned: none of these Maps changes while the reader holds it. */
  readonly shards: readonly ReadonlyMap<BinaryKey, StoredEntry>[];
  readonly release: (shard: number, map: ReadonlyMap<BinaryKey, StoredEntry>) => void;
  readonly sessions: readonly (readonly [string, ClientSession])[];
  readonly window: readonly RevisionChanges[];
}

/**
 * Serialises a captured state a few records at a time. Each `next(maxBytes)`
 * costs about `maxBytes` of work (plus one record), however large the state is.
 */
export class SnapshotReader {
  readonly appliedIndex: number;
  private readonly staged = new ByteWriter(4096);
  private crc = 0;
  /** The last `unfolded` staged bytes are not in `crc` yet: it is computed a chunk at a time, not a record at a time. */
  private unfolded = 0;
  private shard = 0;
  private cursor: Iterator<[BinaryKey, StoredEntry]> | null = null;
  private leaseNext = 0;
  private sessionNext = 0;
  private revisionNext = 0;
  private entryCount = 0;
  private phase: 'header' | 'leases' | 'shards' | 'sessions' | 'window' | 'trailer' | 'done' = 'header';

  constructor(private readonly source: SnapshotSource) {
    this.appliedIndex = source.appliedIndex;
  }

  /**
   * The next at most `maxBytes` bytes of the snapshot, or null once all were returned.
   *
   * Each chunk is a view of a SharedArrayBuffer of its own, which V8 does not count
   * as external memory. A node keeps every chunk of a snapshot (hundreds of MB),
   * and V8 starts a full collection each time the ArrayBuffers it counts grow by
   * 64 MB: with a heap of a million entries, each one was a 200-450 ms pause in the
   * middle of the snapshot (bench/snapshot-lag.ts). A chunk is still freed when it
   * is unreachable: young at a scavenge, old at the next full collection, which then
   * comes with the heap's growth rather than with the chunks'.
   */
  next(maxBytes: number): Uint8Array | null {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new Error(`SnapshotReader.next(${maxBytes})`);
    while (this.staged.length < maxBytes && this.phase !== 'done') this.stageSome();
    this.foldCrc();
    const n = Math.min(maxBytes, this.staged.length);
    if (n === 0) return null;
    const chunk = new Uint8Array(new SharedArrayBuffer(n));
    chunk.set(this.staged.view().subarray(0, n));
    this.staged.take(n);
    return chunk;
  }

  /** Releases the shards not yet read; `next` then returns null. */
  close(): void {
    for (; this.shard < this.source.shards.length && this.phase !== 'done'; this.shard++) this.releaseShard();
    this.phase = 'done';
    this.cursor = null;
    this.staged.take(this.staged.length);
    this.unfolded = 0;
  }

  private stageSome(): void {
    const start = this.staged.length;
    switch (this.phase) {
      case 'header':
        for (const b of magic) this.staged.u8(b);
        this.staged.u8(formatVersion);
        this.staged.varint(this.source.appliedIndex);
        this.staged.varint(this.source.windowCompactedThrough);
        this.phase = 'leases';
        break;
      case 'leases': {
        const lease = this.source.leases[this.leaseNext++];
        if (lease === undefined) this.phase = 'shards';
        else {
          this.staged.u8(recordLease);
          this.staged.varint(lease.id);
          this.staged.varint(lease.ttlSeconds);
        }
        break;
      }
      case 'shards':
        this.stageEntry();
        break;
      case 'sessions': {
        const captured = this.source.sessions[this.sessionNext++];
        if (captured === undefined) this.phase = 'window';
        else writeSession(this.staged, captured[0], captured[1]);
        break;
      }
      case 'window': {
        const r = this.source.window[this.revisionNext++];
        if (r === undefined) this.phase = 'trailer';
        else writeRevision(this.staged, r);
        break;
      }
      case 'trailer':
        this.staged.u8(recordEnd);
        this.staged.varint(this.entryCount);
        this.staged.varint(this.source.sessions.length);
        this.staged.varint(this.source.leases.length);
        this.staged.varint(this.source.window.length);
        this.unfolded += this.staged.length - start;
        this.foldCrc();
        this.staged.u32(this.crc);
        this.phase = 'done';
        return;
      case 'done':
        return;
    }
    this.unfolded += this.staged.length - start;
  }

  private foldCrc(): void {
    if (this.unfolded === 0) return;
    const staged = this.staged.view();
    this.crc = crc32(staged.subarray(staged.length - this.unfolded), this.crc);
    this.unfolded = 0;
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
    this.staged.varint(entry.valueLength);
    this.staged.bytes(entry.value);
    this.staged.varint(entry.lease);
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

function writeRevision(w: ByteWriter, r: RevisionChanges): void {
  w.u8(recordRevision);
  w.varint(r.revision);
  w.varint(r.changes.length);
  for (const c of r.changes) {
    w.u8(c.value === null ? changeDelete : changePut);
    w.varint(c.key.length);
    w.binary(c.key);
    if (c.value === null) continue;
    w.varint(c.value.length);
    w.bytes(c.value);
    w.varint(c.lease);
  }
}

/** Where parsed records go; a sink returns why a record is inconsistent, or null. */
export interface SnapshotSink {
  header(appliedIndex: number, windowCompactedThrough: number): string | null;
  lease(record: LeaseRecord): string | null;
  entry(key: BinaryKey, entry: KvEntry): string | null;
  session(clientId: string, session: ClientSession): string | null;
  revision(r: RevisionChanges): string | null;
  /** Every record was read and the checksum holds: the last chance to refuse the whole. */
  end(): string | null;
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
    if (version !== 1 && version !== formatVersion) throw new CorruptBytes(`unknown version ${version}`);
    const appliedIndex = readVarint(src);
    const compactedThrough = version === 1 ? appliedIndex : readVarint(src);
    if (compactedThrough > appliedIndex) throw new CorruptBytes(`window compacted through ${compactedThrough}, after the applied index ${appliedIndex}`);
    check(sink.header(appliedIndex, compactedThrough));
    const counts = { entries: 0, sessions: 0, leases: 0, revisions: 0 };
    let rank = 0;
    for (;;) {
      const kind = src.u8();
      if (kind === recordEnd) {
        if (readVarint(src) !== counts.entries) throw new CorruptBytes('entry count mismatch');
        if (readVarint(src) !== counts.sessions) throw new CorruptBytes('session count mismatch');
        if (version !== 1 && readVarint(src) !== counts.leases) throw new CorruptBytes('lease count mismatch');
        if (version !== 1 && readVarint(src) !== counts.revisions) throw new CorruptBytes('revision count mismatch');
        const computed = src.crcSoFar();
        const stored = ((src.u8() << 24) | (src.u8() << 16) | (src.u8() << 8) | src.u8()) >>> 0;
        if (stored !== computed) throw new CorruptBytes('checksum mismatch');
        if (!src.atEnd()) throw new CorruptBytes('bytes after the trailer');
        check(sink.end());
        return null;
      }
      const kindRank = recordRank[kind];
      if (kindRank === undefined || (version === 1 && kind !== recordEntry && kind !== recordSession)) throw new CorruptBytes(`unknown record ${kind}`);
      if (kindRank < rank) throw new CorruptBytes(`record ${kind} out of order`);
      rank = kindRank;
      if (kind === recordLease) {
        const id = readVarint(src);
        const ttlSeconds = readVarint(src);
        if (id < 1 || id > appliedIndex) throw new CorruptBytes(`lease ${id} outside 1..${appliedIndex}`);
        if (ttlSeconds < 1 || ttlSeconds > leaseTtlSecondsMax) throw new CorruptBytes(`lease ${id} has a ttl of ${ttlSeconds} s`);
        check(sink.lease({ id, ttlSeconds }));
        counts.leases++;
      } else if (kind === recordEntry) {
        const key = readKey(src);
        const revision = readVarint(src);
        if (revision < 1 || revision > appliedIndex) throw new CorruptBytes(`revision ${revision} outside 1..${appliedIndex}`);
        const value = src.bytes(readVarint(src));
        const lease = version === 1 ? 0 : readVarint(src);
        check(sink.entry(key, { value, revision, lease }));
        counts.entries++;
      } else if (kind === recordSession) {
        const [clientId, session] = readSession(src, appliedIndex);
        check(sink.session(clientId, session));
        counts.sessions++;
      } else {
        check(sink.revision(readRevision(src, compactedThrough, appliedIndex)));
        counts.revisions++;
      }
    }
  } catch (e) {
    if (e instanceof CorruptBytes) return { error: `snapshot: ${e.message}` };
    throw e;
  } finally {
    src.close();
  }
}

function readKey(src: ChunkSource): BinaryKey {
  const keyLength = readVarint(src);
  if (keyLength < 1 || keyLength > keyBytesMax) throw new CorruptBytes(`key is ${keyLength} bytes`);
  return src.binary(keyLength);
}

function readRevision(src: ChunkSource, compactedThrough: number, appliedIndex: number): RevisionChanges {
  const revision = readVarint(src);
  if (revision <= compactedThrough || revision > appliedIndex) throw new CorruptBytes(`window revision ${revision} outside ${compactedThrough + 1}..${appliedIndex}`);
  const count = readVarint(src);
  if (count < 1) throw new CorruptBytes(`window revision ${revision} has no changes`);
  const changes: KvChange[] = [];
  for (let i = 0; i < count; i++) {
    const kind = src.u8();
    if (kind !== changePut && kind !== changeDelete) throw new CorruptBytes(`unknown change ${kind}`);
    const key = readKey(src);
    if (kind === changeDelete) {
      changes.push({ key, value: null, lease: 0 });
      continue;
    }
    const value = src.bytes(readVarint(src));
    const lease = readVarint(src);
    if (lease >= revision) throw new CorruptBytes(`a change at ${revision} names lease ${lease}, granted later`);
    changes.push({ key, value, lease });
  }
  return { revision, changes };
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
      // Not chunk.slice: on a Buffer (LevelDB's chunks are) that is a view.
      const out = new Uint8Array(this.chunk.subarray(this.pos, this.pos + n));
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
