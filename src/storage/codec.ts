// The on-disk format of the Raft log store: LevelDB keys and checksummed binary
// records, written by hand, big-endian (no JSON).
//
// Key layout (the first byte says what a key holds; nothing else is stored):
//
//   0x01                        hard state (term, votedFor, commit)
//   0x02                        snapshot metadata (index, term, chunk count, configuration)
//   0x03 ‖ chunk (u32 BE)       snapshot chunk
//   0x04 ‖ index (u64 BE)       log entry
//
// Big-endian numbers make LevelDB's bytewise key order the numeric order, so the
// entries of a log are one ordered range, scanned and deleted by index.
//
// Every value starts with a CRC-32 of the rest of the value:
//
//   hard state:    crc u32 ‖ term u64 ‖ commit u64 ‖ voted u8 (0 none, 1 some) ‖ votedFor UTF-8
//   snapshot meta: crc u32 ‖ index u64 ‖ term u64 ‖ chunkCount u32 ‖ configuration (src/raft/configuration-codec.ts)
//   chunk:         crc u32 ‖ snapshot index u64 ‖ data
//   entry:         crc u32 ‖ index u64 ‖ term u64 ‖ kind u8 (0 noop, 1 command, 2 config) ‖ data
//
// A chunk carries its snapshot's index so a chunk of another snapshot is never
// taken for one of this snapshot; an entry carries its index so a value stored
// under the wrong key is recognised.

import { crc32 } from 'node:zlib';
import type { Entry, EntryKind, HardState, NodeId, SnapshotMeta } from '../raft/types.js';
import { logIndex, nodeId, term } from '../raft/types.js';
import { decodeConfiguration, encodeConfiguration } from '../raft/configuration-codec.js';

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

const keyHardState = 0x01;
const keySnapshotMeta = 0x02;
const keyChunk = 0x03;
const keyEntry = 0x04;

const crcBytes = 4;
const u64Bytes = 8;
const entryHeaderBytes = crcBytes + u64Bytes + u64Bytes + 1;
const hardStateHeaderBytes = crcBytes + u64Bytes + u64Bytes + 1;
const snapshotMetaHeaderBytes = crcBytes + u64Bytes + u64Bytes + 4;
const chunkHeaderBytes = crcBytes + u64Bytes;
const u32Max = 0xffffffff;
const twoPow32 = 2 ** 32;

export const hardStateKey = Uint8Array.of(keyHardState);
export const snapshotMetaKey = Uint8Array.of(keySnapshotMeta);

export function chunkKey(chunk: number): Uint8Array {
  if (!Number.isInteger(chunk) || chunk < 0 || chunk > u32Max) throw new Error(`chunkKey: bad chunk number ${chunk}`);
  const key = new Uint8Array(1 + 4);
  key[0] = keyChunk;
  putU32(key, 1, chunk);
  return key;
}

export function entryKey(index: number): Uint8Array {
  const key = new Uint8Array(1 + u64Bytes);
  key[0] = keyEntry;
  setU64(key, 1, index);
  return key;
}

/** The key range holding every chunk: [chunksStart, chunksEnd). */
export const chunksStart = Uint8Array.of(keyChunk);
export const chunksEnd = Uint8Array.of(keyChunk + 1);
/** The key range holding every log entry: [entriesStart, entriesEnd). */
export const entriesStart = Uint8Array.of(keyEntry);
export const entriesEnd = Uint8Array.of(keyEntry + 1);

/** The chunk number in a key of the chunk range, or null when the key is malformed. */
export function chunkOfKey(key: Uint8Array): number | null {
  return key.length === 1 + 4 && key[0] === keyChunk ? getU32(key, 1) : null;
}

/** The index in a key of the entry range, or null when the key is malformed. */
export function indexOfKey(key: Uint8Array): number | null {
  return key.length === 1 + u64Bytes && key[0] === keyEntry ? getU64(key, 1) : null;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function encodeEntry(e: Entry): Uint8Array {
  const out = new Uint8Array(entryHeaderBytes + e.data.length);
  setU64(out, 4, e.index);
  setU64(out, 12, e.term);
  out[20] = kindCode(e.kind);
  out.set(e.data, entryHeaderBytes);
  seal(out);
  return out;
}

/** Decodes an entry value; its data is a view into `value`. */
export function decodeEntry(value: Uint8Array): Decoded<Entry> {
  if (value.length < entryHeaderBytes) return corrupt(`${value.length} bytes, shorter than an entry header`);
  if (!sealed(value)) return corrupt('checksum mismatch');
  const index = getU64(value, 4);
  const t = getU64(value, 12);
  const kind = kindOfCode(value[20]!);
  if (index === null || t === null || kind === null) return corrupt('undecodable header');
  return { ok: true, value: { index: logIndex(index), term: term(t), kind, data: value.subarray(entryHeaderBytes) } };
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
  const out = new Uint8Array(chunkHeaderBytes + data.length);
  setU64(out, 4, snapshotIndex);
  out.set(data, chunkHeaderBytes);
  seal(out);
  return out;
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
// on the simulator's hot path, which writes every entry through this codec.

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
