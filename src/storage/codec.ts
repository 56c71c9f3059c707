// The on-disk format of the Raft log store: LevelDB keys and checksummed binary
// records, written by hand, big-endian (no JSON).
//
// Key layout (the first byte says what a key holds; nothing else is stored):
//
//   0x00                        format (the version of this layout)
//   0x01                        hard state (term, votedFor, commit)
//   0x02                        snapshot metadata (index, term, chunk count, configuration)
//   0x05 ‖ first index (u64 BE) log run: the entries of one synced batch, from its first index on
//   0x06 ‖ snapshot index (u64 BE) ‖ chunk (u32 BE)
//                               snapshot chunk
//
// Format 1 (no format record) stored one record per log entry under 0x04 ‖ index;
// format 2 stores the entries a group commit appends as one record, a run, so a
// synced batch is a handful of LevelDB operations whatever its number of entries.
// A run written later at a higher key overwrites the entries of the run before it
// from its first index on (a conflicting suffix is replaced by writing the new run
// and deleting the runs after it; the older run's value is not rewritten). So the
// log is the stored runs applied in key order, each cutting the log to its first
// index - 1 and appending its entries.
//
// Format 3 keys a chunk by its snapshot's index as well (format 2 stored chunk k
// of the one snapshot under 0x03 ‖ k), so the chunks of a new snapshot are written
// beside the old snapshot's, a few per synced batch, and one last batch switches
// the metadata over (log-store.ts): a crash in between leaves the old snapshot
// whole, and chunks no metadata names, which recovery deletes. Recovery upgrades
// a format 2 store in place.
//
// Big-endian numbers make LevelDB's bytewise key order the numeric order, so the
// runs of a log are one ordered range, scanned in index order.
//
// Every value starts with a CRC-32 of the rest of the value:
//
//   format:        crc u32 ‖ version u32
//   hard state:    crc u32 ‖ term u64 ‖ commit u64 ‖ voted u8 (0 none, 1 some) ‖ votedFor UTF-8
//   snapshot meta: crc u32 ‖ index u64 ‖ term u64 ‖ chunkCount u32 ‖ configuration (src/raft/configuration-codec.ts)
//   chunk:         crc u32 ‖ snapshot index u64 ‖ data
//   run:           crc u32 ‖ first index u64 ‖ count u32 ‖ count × (term u64 ‖ kind u8 (0 noop, 1 command, 2 config) ‖ length u32 ‖ data)
//
// A chunk carries its snapshot's index so a chunk of another snapshot is never
// taken for one of this snapshot; a run carries its first index so a value stored
// under the wrong key is recognised. One checksum covers a whole run: a run is
// written atomically, so it is kept or dropped whole.

import { crc32 } from 'node:zlib';
import type { Entry, EntryKind, HardState, NodeId, SnapshotMeta } from '../raft/types.js';
import { logIndex, nodeId, term } from '../raft/types.js';
import { decodeConfiguration, encodeConfiguration } from '../raft/configuration-codec.js';

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const keyFormat = 0x00;
const keyHardState = 0x01;
const keySnapshotMeta = 0x02;
/** Format 2's chunk key: 0x03 ‖ chunk (u32 BE). */
const keyFormat2Chunk = 0x03;
/** Format 1's per-entry records: only looked for, to refuse a data directory of that format. */
const keyFormat1Entry = 0x04;
const keyRun = 0x05;
const keyChunk = 0x06;

/** The version of this layout, stored under the format key. */
export const storeFormat = 3;
/** The format recovery upgrades in place: chunks under format 2's keys. */
export const format2 = 2;

const crcBytes = 4;
const u64Bytes = 8;
const formatBytes = crcBytes + 4;
const runHeaderBytes = crcBytes + u64Bytes + 4;
const runEntryHeaderBytes = u64Bytes + 1 + 4;
const hardStateHeaderBytes = crcBytes + u64Bytes + u64Bytes + 1;
const snapshotMetaHeaderBytes = crcBytes + u64Bytes + u64Bytes + 4;
const chunkHeaderBytes = crcBytes + u64Bytes;
const u32Max = 0xffffffff;
const twoPow32 = 2 ** 32;

export const formatKey = Uint8Array.of(keyFormat);
export const hardStateKey = Uint8Array.of(keyHardState);
export const snapshotMetaKey = Uint8Array.of(keySnapshotMeta);

const chunkKeyBytes = 1 + u64Bytes + 4;

/** The key of chunk `chunk` of the snapshot at `snapshotIndex`. */
export function chunkKey(snapshotIndex: number, chunk: number): Uint8Array {
  if (!Number.isInteger(chunk) || chunk < 0 || chunk > u32Max) throw new Error(`chunkKey: bad chunk number ${chunk}`);
  const key = new Uint8Array(chunkKeyBytes);
  key[0] = keyChunk;
  setU64(key, 1, snapshotIndex);
  putU32(key, 1 + u64Bytes, chunk);
  return key;
}

/** Format 2's key of chunk `chunk` (of its one snapshot). */
export function format2ChunkKey(chunk: number): Uint8Array {
  const key = new Uint8Array(1 + 4);
  key[0] = keyFormat2Chunk;
  putU32(key, 1, chunk);
  return key;
}

export function runKey(first: number): Uint8Array {
  const key = new Uint8Array(1 + u64Bytes);
  key[0] = keyRun;
  setU64(key, 1, first);
  return key;
}

/** The key range holding every chunk, of every snapshot, in (snapshot index, chunk) order: [chunksStart, chunksEnd). */
export const chunksStart = Uint8Array.of(keyChunk);
export const chunksEnd = Uint8Array.of(keyChunk + 1);
/** The key range of format 2's chunks: [format2ChunksStart, format2ChunksEnd). */
export const format2ChunksStart = Uint8Array.of(keyFormat2Chunk);
export const format2ChunksEnd = Uint8Array.of(keyFormat2Chunk + 1);
/** The key range holding every log run: [runsStart, runsEnd). */
export const runsStart = Uint8Array.of(keyRun);
export const runsEnd = Uint8Array.of(keyRun + 1);
/** The key range of format 1's log entries: [format1EntriesStart, format1EntriesEnd). */
export const format1EntriesStart = Uint8Array.of(keyFormat1Entry);
export const format1EntriesEnd = Uint8Array.of(keyFormat1Entry + 1);

/** The snapshot index and chunk number in a key of the chunk range, or null when the key is malformed. */
export function chunkOfKey(key: Uint8Array): { readonly snapshotIndex: number; readonly chunk: number } | null {
  if (key.length !== chunkKeyBytes || key[0] !== keyChunk) return null;
  const snapshotIndex = getU64(key, 1);
  return snapshotIndex === null ? null : { snapshotIndex, chunk: getU32(key, 1 + u64Bytes) };
}

/** The chunk number in a key of format 2's chunk range, or null when the key is malformed. */
export function format2ChunkOfKey(key: Uint8Array): number | null {
  return key.length === 1 + 4 && key[0] === keyFormat2Chunk ? getU32(key, 1) : null;
}

/** The first index in a key of the run range, or null when the key is malformed. */
export function firstOfRunKey(key: Uint8Array): number | null {
  return key.length === 1 + u64Bytes && key[0] === keyRun ? getU64(key, 1) : null;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function encodeFormat(version: number): Uint8Array {
  const out = new Uint8Array(formatBytes);
  putU32(out, 4, version);
  seal(out);
  return out;
}

/** The version in a format value. */
export function decodeFormat(value: Uint8Array): Decoded<number> {
  if (value.length !== formatBytes) return corrupt(`${value.length} bytes, not ${formatBytes}`);
  if (!sealed(value)) return corrupt('checksum mismatch');
  return { ok: true, value: getU32(value, 4) };
}

/** One value holding `entries`, which are consecutive from `first` on (one allocation, one checksum). */
export function encodeRun(first: number, entries: readonly Entry[]): Uint8Array {
  if (entries.length === 0 || entries.length > u32Max) throw new Error(`encodeRun: ${entries.length} entries`);
  let bytes = runHeaderBytes;
  for (const e of entries) bytes += runEntryHeaderBytes + e.data.length;
  const out = new Uint8Array(bytes);
  setU64(out, 4, first);
  putU32(out, 12, entries.length);
  let at = runHeaderBytes;
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k]!;
    if (e.index !== first + k) throw new Error(`encodeRun: entry ${e.index} at position ${k} of a run from ${first}`);
    setU64(out, at, e.term);
    out[at + 8] = kindCode(e.kind);
    putU32(out, at + 9, e.data.length);
    out.set(e.data, at + runEntryHeaderBytes);
    at += runEntryHeaderBytes + e.data.length;
  }
  seal(out);
  return out;
}

export interface Run {
  readonly first: number;
  /** At least one, consecutive from `first` on. */
  readonly entries: readonly Entry[];
}

/** Decodes a run value; the entries' data are views into `value`. */
export function decodeRun(value: Uint8Array): Decoded<Run> {
  if (value.length < runHeaderBytes) return corrupt(`${value.length} bytes, shorter than a run header`);
  if (!sealed(value)) return corrupt('checksum mismatch');
  const first = getU64(value, 4);
  const count = getU32(value, 12);
  if (first === null || first === 0 || count === 0 || first + count - 1 > Number.MAX_SAFE_INTEGER) return corrupt('undecodable header');
  const entries: Entry[] = new Array<Entry>(count);
  let at = runHeaderBytes;
  for (let k = 0; k < count; k++) {
    if (at + runEntryHeaderBytes > value.length) return corrupt(`entry ${k + 1} of ${count} is cut off`);
    const t = getU64(value, at);
    const kind = kindOfCode(value[at + 8]!);
    const length = getU32(value, at + 9);
    const dataAt = at + runEntryHeaderBytes;
    if (t === null || kind === null || dataAt + length > value.length) return corrupt(`entry ${k + 1} of ${count} is undecodable`);
    entries[k] = { index: logIndex(first + k), term: term(t), kind, data: value.subarray(dataAt, dataAt + length) };
    at = dataAt + length;
  }
  if (at !== value.length) return corrupt(`${value.length - at} trailing bytes`);
  return { ok: true, value: { first, entries } };
}

export function encodeHardState(hs: HardState): Uint8Array {
  const voted = hs.votedFor === null ? noBytes : idBytes(hs.votedFor);
  const out = new Uint8Array(hardStateHeaderBytes + voted.length);
  setU64(out, 4, hs.term);
  setU64(out, 12, hs.commit);
  out[20] = hs.votedFor === null ? 0 : 1;
  out.set(voted, hardStateHeaderBytes);
  seal(out);
  return out;
}

export function decodeHardState(value: Uint8Array): Decoded<HardState> {
  if (value.length < hardStateHeaderBytes) return corrupt(`${value.length} bytes, shorter than a hard state`);
  if (!sealed(value)) return corrupt('checksum mismatch');
  const t = getU64(value, 4);
  const commit = getU64(value, 12);
  const voted = value[20];
  if (t === null || commit === null || (voted !== 0 && voted !== 1)) return corrupt('undecodable');
  if (voted === 0 && value.length !== hardStateHeaderBytes) return corrupt('trailing bytes');
  const votedFor = voted === 0 ? null : decodeNodeId(value.subarray(hardStateHeaderBytes));
  if (votedFor === undefined) return corrupt('votedFor is not UTF-8');
  return { ok: true, value: { term: term(t), votedFor, commit: logIndex(commit) } };
}

export interface StoredSnapshotMeta {
  readonly meta: SnapshotMeta;
  readonly chunkCount: number;
}

export function encodeSnapshotMeta(meta: SnapshotMeta, chunkCount: number): Uint8Array {
  if (chunkCount > u32Max) throw new Error(`encodeSnapshotMeta: ${chunkCount} chunks`);
  const config = encodeConfiguration(meta.config);
  const out = new Uint8Array(snapshotMetaHeaderBytes + config.length);
  setU64(out, 4, meta.index);
  setU64(out, 12, meta.term);
  putU32(out, 20, chunkCount);
  out.set(config, snapshotMetaHeaderBytes);
  seal(out);
  return out;
}

export function decodeSnapshotMeta(value: Uint8Array): Decoded<StoredSnapshotMeta> {
  if (value.length < snapshotMetaHeaderBytes) return corrupt(`${value.length} bytes, shorter than snapshot metadata`);
  if (!sealed(value)) return corrupt('checksum mismatch');
  const index = getU64(value, 4);
  const t = getU64(value, 12);
  if (index === null || t === null) return corrupt('undecodable');
  const chunkCount = getU32(value, 20);
  const config = decodeConfiguration(value.subarray(snapshotMetaHeaderBytes));
  if (!config.ok) return corrupt(`configuration: ${config.reason}`);
  return { ok: true, value: { meta: { index: logIndex(index), term: term(t), config: config.config }, chunkCount } };
}

export function encodeChunk(snapshotIndex: number, data: Uint8Array): Uint8Array {
  return encodeChunkInto(new Uint8Array(chunkHeaderBytes + data.length), snapshotIndex, data);
}

/** The bytes a chunk of `dataBytes` takes encoded. */
export function chunkValueBytes(dataBytes: number): number {
  return chunkHeaderBytes + dataBytes;
}

/** Encodes a chunk into the front of `out` (at least chunkValueBytes long) and returns that view of it. */
export function encodeChunkInto(out: Uint8Array, snapshotIndex: number, data: Uint8Array): Uint8Array {
  const value = out.subarray(0, chunkHeaderBytes + data.length);
  setU64(value, 4, snapshotIndex);
  value.set(data, chunkHeaderBytes);
  seal(value);
  return value;
}

/** Decodes a chunk value: its snapshot's index and its data (a view into `value`). */
export function decodeChunk(value: Uint8Array): Decoded<{ readonly snapshotIndex: number; readonly data: Uint8Array }> {
  if (value.length < chunkHeaderBytes) return corrupt(`${value.length} bytes, shorter than a chunk header`);
  if (!sealed(value)) return corrupt('checksum mismatch');
  const snapshotIndex = getU64(value, 4);
  if (snapshotIndex === null) return corrupt('undecodable header');
  return { ok: true, value: { snapshotIndex, data: value.subarray(chunkHeaderBytes) } };
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const noBytes = new Uint8Array(0);

/** Node ids' UTF-8, kept: the hard state is written on every commit, and a cluster has few ids. */
const idBytesCache = new Map<string, Uint8Array>();
const idBytesCacheMax = 1024;

function idBytes(id: string): Uint8Array {
  let b = idBytesCache.get(id);
  if (b === undefined) {
    b = utf8.encode(id);
    if (idBytesCache.size < idBytesCacheMax) idBytesCache.set(id, b);
  }
  return b;
}

function decodeNodeId(bytes: Uint8Array): NodeId | undefined {
  try {
    return nodeId(utf8Strict.decode(bytes));
  } catch {
    return undefined;
  }
}

function corrupt<T>(reason: string): Decoded<T> {
  return { ok: false, reason };
}

// Big-endian numbers by hand: a DataView per record costs more than the record
// on the simulator's hot path, which writes every log run through this codec.

function putU32(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24;
  b[at + 1] = (n >>> 16) & 0xff;
  b[at + 2] = (n >>> 8) & 0xff;
  b[at + 3] = n & 0xff;
}

function getU32(b: Uint8Array, at: number): number {
  return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

function setU64(b: Uint8Array, at: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`codec: ${n} is not a non-negative safe integer`);
  putU32(b, at, Math.floor(n / twoPow32));
  putU32(b, at + 4, n >>> 0);
}

/** A u64 as a number, or null when it exceeds 2^53 - 1 (never written, so corrupt). */
function getU64(b: Uint8Array, at: number): number | null {
  const hi = getU32(b, at);
  if (hi > 0x1fffff) return null;
  return hi * twoPow32 + getU32(b, at + 4);
}

/** Writes the CRC-32 of bytes 4.. into bytes 0..3. */
function seal(record: Uint8Array): void {
  putU32(record, 0, crc32(record.subarray(crcBytes)));
}

function sealed(record: Uint8Array): boolean {
  return getU32(record, 0) === crc32(record.subarray(crcBytes));
}

function kindCode(kind: EntryKind): number {
  switch (kind) {
    case 'noop':
      return 0;
    case 'command':
      return 1;
    case 'config':
      return 2;
  }
}

function kindOfCode(code: number): EntryKind | null {
  return code === 0 ? 'noop' : code === 1 ? 'command' : code === 2 ? 'config' : null;
}
