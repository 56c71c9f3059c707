// Reading the log store back after a restart, and deciding whether what is on disk
// can be trusted.
//
// The rule: a node may forget what it never reported durable, never what is
// committed. An uncommitted tail that fails its checksum (a torn or rotted last
// write) is cut off with a warning and the node starts without it, as if the write
// had never happened; a damaged committed entry, hard state or snapshot stops the
// node, because serving from it would silently serve different data. A run
// (codec.ts) is one atomic write, so it is kept or dropped whole.

import type { ClassicLevel } from 'classic-level';
import type { PersistedState } from '../raft/host/raft-node.js';
import type { Entry, HardState, Snapshot, SnapshotMeta } from '../raft/types.js';
import { emptyPersistedState } from '../raft/host/raft-node.js';
import {
  chunkKey,
  chunkOfKey,
  chunksEnd,
  chunksStart,
  decodeChunk,
  decodeFormat,
  decodeHardState,
  decodeRun,
  decodeSnapshotMeta,
  encodeFormat,
  encodeRun,
  firstOfRunKey,
  format1EntriesEnd,
  format1EntriesStart,
  format2,
  format2ChunkOfKey,
  format2ChunksEnd,
  format2ChunksStart,
  formatKey,
  hardStateKey,
  hex,
  runKey,
  runsEnd,
  runsStart,
  snapshotMetaKey,
  storeFormat,
} from './codec.js';
import type { RecordOp } from './plan.js';
import { StoredLog } from './stored-log.js';

export type Db = ClassicLevel<Uint8Array, Uint8Array>;

export type Recovery =
  | { readonly ok: true; readonly state: PersistedState; readonly log: StoredLog; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly error: string };

/** The records of a store, read synchronously: LevelDB's as read at open, or the simulator's disk. */
export interface RecordReader {
  get(key: Uint8Array): Uint8Array | undefined;
  /** The records with keys in [gte, lt), in key order. */
  range(gte: Uint8Array, lt: Uint8Array): Iterable<readonly [Uint8Array, Uint8Array]>;
}

/**
 * A recovery and the repairs it needs made durable, in one synced batch, before the
 * node starts: deletions (an uncommitted corrupt tail, runs left behind a snapshot,
 * chunks of a snapshot that never became the base), a rewritten run, the format
 * record of a new store, a format 2 store's chunks moved to format 3's keys.
 */
export type PlannedRecovery = (Extract<Recovery, { ok: true }> & { readonly repairs: readonly RecordOp[] }) | Extract<Recovery, { ok: false }>;

const refuse = (why: string): Extract<Recovery, { ok: false }> => ({ ok: false, error: `refusing to start: ${why}` });

/**
 * Reads and verifies everything in LevelDB, repairs what may be repaired in one
 * synced batch, and returns the durable state. LevelDB errors propagate as exceptions.
 */
export async function recover(db: Db): Promise<Recovery> {
  // The store holds the log since the last snapshot and that snapshot: all of it is read anyway.
  const r = recoverRecords(sortedRecords(await db.iterator().all()));
  if (r.ok && r.repairs.length > 0) await db.batch([...r.repairs], { sync: true });
  return r;
}

/**
 * Verifies a store's records and decides what the node starts from: the durable
 * state, and the repairs to make first. Refuses when committed state is damaged, or
 * the records are of another format.
 */
export function recoverRecords(db: RecordReader): PlannedRecovery {
  const repairs: RecordOp[] = [];
  const warnings: string[] = [];
  const format = checkFormat(db);
  if (typeof format === 'object') return format;
  if (format !== 'ok') repairs.push({ type: 'put', key: formatKey, value: encodeFormat(storeFormat) });
  if (format === 'format 2') warnings.push(`upgraded the log store from format ${format2} to ${storeFormat} (snapshot chunks keyed by their snapshot's index)`);

  let hardState: HardState = emptyPersistedState.hardState;
  const hsValue = db.get(hardStateKey);
  if (hsValue !== undefined) {
    const hs = decodeHardState(hsValue);
    if (!hs.ok) return refuse(`the hard state (key ${hex(hardStateKey)}) is corrupt (${hs.reason})`);
    hardState = hs.value;
  }

  const snap = format === 'format 2' ? readFormat2Snapshot(db, repairs) : readSnapshot(db, repairs, warnings);
  if (!snap.ok) return refuse(snap.error);
  const snapshot = snap.snapshot;
  const snapshotIndex = snapshot === null ? 0 : snapshot.meta.index;
  const snapshotTerm = snapshot === null ? 0 : snapshot.meta.term;
  /** Everything up to here is committed: the snapshot covers only applied entries. */
  const committed = Math.max(hardState.commit, snapshotIndex);

  /** The log after the snapshot: entries[k] is entry snapshotIndex + 1 + k. */
  const entries: Entry[] = [];
  const starts: number[] = [];
  let behindSnapshot = 0;
  /** The first damaged or missing index and what is wrong there; the runs from there on are dropped. */
  let damage: { readonly index: number; readonly what: string } | null = null;
  let dropped = 0;
  /** The last run kept, and how far it is stored: a dropped run after it leaves its entries past the log's new end. */
  let kept: { readonly first: number; readonly stored: readonly Entry[] } | null = null;
  const runs = [...db.range(runsStart, runsEnd)];
  for (let k = 0; k < runs.length; k++) {
    const [key, value] = runs[k]!;
    const first = firstOfRunKey(key);
    if (first === null) return refuse(`a log run key is malformed (key ${hex(key)})`);
    if (damage !== null) {
      repairs.push({ type: 'del', key });
      dropped++;
      continue;
    }
    const end = snapshotIndex + entries.length;
    const next = k + 1 < runs.length ? firstOfRunKey(runs[k + 1]![0]) : null;
    if (next !== null && next - 1 <= snapshotIndex) {
      // Every entry of it that counts is overwritten by the next run, or behind the snapshot.
      repairs.push({ type: 'del', key });
      behindSnapshot++;
      continue;
    }
    const from = Math.max(first, snapshotIndex + 1);
    const run = first > end + 1 ? null : decodeRun(value);
    if (run === null) damage = { index: end + 1, what: `log entry ${end + 1} is missing` };
    else if (!run.ok) damage = { index: from, what: `the log run from entry ${first} is corrupt (${run.reason})` };
    else if (run.value.first !== first) damage = { index: from, what: `the log run from entry ${first} is corrupt (it holds the run from ${run.value.first})` };
    else {
      const stored = run.value.entries;
      const storedLast = first + stored.length - 1;
      if (storedLast <= snapshotIndex) {
        repairs.push({ type: 'del', key });
        behindSnapshot++;
        continue;
      }
      // The run overwrites the log from its first entry on (where the run before it stopped counting), and the next run overwrites it from its own.
      const until = next === null ? storedLast : Math.min(storedLast, next - 1);
      const termBroken = appendTerms(entries, stored, from - first, until - first, snapshotTerm);
      if (termBroken === null) {
        starts.push(first);
        kept = { first, stored };
        continue;
      }
      damage = { index: from, what: `the log run from entry ${first} is corrupt (${termBroken})` };
    }
    if (damage.index <= committed) return refuse(`${damage.what} and it is committed (commit index ${committed})`);
    repairs.push({ type: 'del', key });
    dropped++;
    if (kept !== null && kept.first + kept.stored.length - 1 > end) {
      // Rewritten to end where the log now does, so that its overwritten entries do not come back.
      repairs.push({ type: 'put', key: runKey(kept.first), value: encodeRun(kept.first, kept.stored.slice(0, end - kept.first + 1)) });
    }
  }
  const lastIndex = snapshotIndex + entries.length;
  if (damage === null && lastIndex < committed) return refuse(`log entry ${lastIndex + 1} is missing and it is committed (commit index ${committed})`);
  if (damage !== null) {
    warnings.push(
      `${damage.what} and uncommitted (commit index ${committed}): ` +
        `deleted ${dropped} stored log run${dropped === 1 ? '' : 's'} from there on; the log now ends at ${lastIndex}`,
    );
  }
  if (behindSnapshot > 0) warnings.push(`deleted ${behindSnapshot} log run${behindSnapshot === 1 ? '' : 's'} left behind the snapshot at ${snapshotIndex}`);

  return {
    ok: true,
    repairs,
    state: { hardState, snapshot, entries },
    log: StoredLog.of(snapshotIndex, lastIndex, snapshot === null ? 0 : snapshot.chunks.length, starts),
    warnings,
  };
}

/**
 * Appends run[from..until] to the log, checking that terms never decrease; on a
 * decrease appends nothing and says where. `entries` is the log after the snapshot.
 */
function appendTerms(entries: Entry[], run: readonly Entry[], from: number, until: number, snapshotTerm: number): string | null {
  let prev = entries.length > 0 ? entries[entries.length - 1]!.term : snapshotTerm;
  for (let k = from; k <= until; k++) {
    const t = run[k]!.term;
    if (t < prev) return `entry ${run[k]!.index} has term ${t}, below the previous term ${prev}`;
    prev = t;
  }
  for (let k = from; k <= until; k++) entries.push(run[k]!);
  return null;
}

/**
 * 'ok' for a store of this format, 'new' for an empty one (its format is written
 * first), 'format 2' for one recovery upgrades, else the refusal.
 */
function checkFormat(db: RecordReader): 'ok' | 'new' | 'format 2' | Extract<Recovery, { ok: false }> {
  const value = db.get(formatKey);
  if (value === undefined) {
    const format1 = !isEmpty(db.range(format1EntriesStart, format1EntriesEnd));
    const anything = format1 || db.get(hardStateKey) !== undefined || db.get(snapshotMetaKey) !== undefined || !isEmpty(db.range(chunksStart, chunksEnd)) || !isEmpty(db.range(format2ChunksStart, format2ChunksEnd)) || !isEmpty(db.range(runsStart, runsEnd));
    if (!anything) return 'new';
    return refuse(
      'the log store holds data but no format record: it was written by an older kvstore, in log store format 1 (one LevelDB record per log entry), ' +
        `and this build reads only format ${storeFormat} (one record per group commit). Keep the data by taking a backup with the older build ` +
        '(kvstore snapshot save) and restoring it with this one into an empty data directory (kvstore snapshot restore), ' +
        'or start this node on an empty data directory with raft.join so that the cluster re-syncs it',
    );
  }
  const version = decodeFormat(value);
  if (!version.ok) return refuse(`the format record (key ${hex(formatKey)}) is corrupt (${version.reason})`);
  if (version.value === format2) return 'format 2';
  if (version.value !== storeFormat) return refuse(`the log store is in format ${version.value}, and this build reads only formats ${format2} and ${storeFormat}`);
  return 'ok';
}

function isEmpty(records: Iterable<unknown>): boolean {
  for (const _ of records) return false;
  return true;
}

/** A RecordReader over records in LevelDB's (bytewise) key order. */
function sortedRecords(records: readonly (readonly [Uint8Array, Uint8Array])[]): RecordReader {
  /** The position of the first record with a key not below `key`. */
  const lowerBound = (key: Uint8Array): number => {
    let lo = 0;
    let hi = records.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Buffer.compare(records[mid]![0], key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return {
    get(key) {
      const r = records[lowerBound(key)];
      return r !== undefined && Buffer.compare(r[0], key) === 0 ? r[1] : undefined;
    },
    *range(gte, lt) {
      for (let k = lowerBound(gte); k < records.length && Buffer.compare(records[k]![0], lt) < 0; k++) yield records[k]!;
    },
  };
}

type SnapshotRead = { readonly ok: true; readonly snapshot: Snapshot | null } | { readonly ok: false; readonly error: string };

/** The snapshot metadata, or null when none is stored. */
function readMeta(db: RecordReader): { readonly ok: true; readonly meta: SnapshotMeta | null; readonly chunkCount: number } | { readonly ok: false; readonly error: string } {
  const metaValue = db.get(snapshotMetaKey);
  if (metaValue === undefined) return { ok: true, meta: null, chunkCount: 0 };
  const stored = decodeSnapshotMeta(metaValue);
  if (!stored.ok) return { ok: false, error: `the snapshot metadata (key ${hex(snapshotMetaKey)}) is corrupt (${stored.reason})` };
  return { ok: true, meta: stored.value.meta, chunkCount: stored.value.chunkCount };
}

/** Chunk `k` of the snapshot at meta.index, stored under `key`, decoded and checked. */
function readChunk(key: Uint8Array, value: Uint8Array, k: number, meta: SnapshotMeta, chunkCount: number): { readonly ok: true; readonly data: Uint8Array } | { readonly ok: false; readonly error: string } {
  if (k >= chunkCount) return { ok: false, error: `snapshot chunk ${k} is stored but the snapshot at ${meta.index} has ${chunkCount} chunks` };
  const c = decodeChunk(value);
  if (!c.ok) return { ok: false, error: `snapshot chunk ${k} of ${chunkCount} (key ${hex(key)}) is corrupt (${c.reason})` };
  if (c.value.snapshotIndex !== meta.index) return { ok: false, error: `snapshot chunk ${k} belongs to the snapshot at ${c.value.snapshotIndex}, not the one at ${meta.index}` };
  return { ok: true, data: c.value.data };
}

function gathered(meta: SnapshotMeta | null, chunkCount: number, chunks: Uint8Array[]): SnapshotRead {
  if (meta === null) return { ok: true, snapshot: null };
  if (chunks.length !== chunkCount) return { ok: false, error: `snapshot chunk ${chunks.length} of ${chunkCount} (snapshot at ${meta.index}) is missing` };
  return { ok: true, snapshot: { meta, chunks } };
}

/**
 * The snapshot the metadata names, from its chunks. Chunks of any other snapshot
 * are deleted with a warning: a sliced compaction cut short by a crash, whose
 * metadata was never written, or the chunks of a snapshot replaced since.
 */
function readSnapshot(db: RecordReader, repairs: RecordOp[], warnings: string[]): SnapshotRead {
  const m = readMeta(db);
  if (!m.ok) return m;
  const { meta, chunkCount } = m;
  const chunks: Uint8Array[] = [];
  let others = 0;
  for (const [key, value] of db.range(chunksStart, chunksEnd)) {
    const id = chunkOfKey(key);
    if (id === null) return { ok: false, error: `a snapshot chunk key is malformed (key ${hex(key)})` };
    if (meta === null || id.snapshotIndex !== meta.index) {
      repairs.push({ type: 'del', key });
      others++;
      continue;
    }
    // Past a missing chunk (reported below), the rest is not read.
    if (id.chunk !== chunks.length) continue;
    const c = readChunk(key, value, id.chunk, meta, chunkCount);
    if (!c.ok) return c;
    chunks.push(c.data);
  }
  if (others > 0) {
    const base = meta === null ? 'there is no snapshot' : `the snapshot is the one at ${meta.index}`;
    warnings.push(`deleted ${others} stored snapshot chunk${others === 1 ? '' : 's'} of other snapshots (a snapshot write cut short, or replaced): ${base}`);
  }
  return gathered(meta, chunkCount, chunks);
}

/** A format 2 store's snapshot, its chunks moved to format 3's keys by the repairs, which also write the new format record. */
function readFormat2Snapshot(db: RecordReader, repairs: RecordOp[]): SnapshotRead {
  const m = readMeta(db);
  if (!m.ok) return m;
  const { meta, chunkCount } = m;
  const chunks: Uint8Array[] = [];
  for (const [key, value] of db.range(format2ChunksStart, format2ChunksEnd)) {
    const k = format2ChunkOfKey(key);
    if (k === null) return { ok: false, error: `a snapshot chunk key is malformed (key ${hex(key)})` };
    if (meta === null) return { ok: false, error: `snapshot chunk ${k} is stored but there is no snapshot metadata` };
    if (k !== chunks.length) break;
    const c = readChunk(key, value, k, meta, chunkCount);
    if (!c.ok) return c;
    chunks.push(c.data);
    repairs.push({ type: 'del', key }, { type: 'put', key: chunkKey(meta.index, k), value });
  }
  return gathered(meta, chunkCount, chunks);
}
