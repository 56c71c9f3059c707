// Reading the log store back after a restart, and deciding whether what is on disk
// can be trusted.
//
// The rule: a node may forget what it never reported durable, never what is
// committed. An uncommitted tail that fails its checksum (a torn or rotted last
// write) is cut off with a warning and the node starts without it, as if the write
// had never happened; a damaged committed entry, hard state or snapshot stops the
// node, because serving from it would silently serve different data.

import type { ClassicLevel } from 'classic-level';
import type { PersistedState } from '../raft/host/raft-node.js';
import type { Entry, HardState, Snapshot } from '../raft/types.js';
import { emptyPersistedState } from '../raft/host/raft-node.js';
import {
  chunkKey,
  chunkOfKey,
  chunksEnd,
  chunksStart,
  decodeChunk,
  decodeEntry,
  decodeHardState,
  decodeSnapshotMeta,
  entriesEnd,
  entriesStart,
  hardStateKey,
  hex,
  indexOfKey,
  snapshotMetaKey,
} from './codec.js';

export type Db = ClassicLevel<Uint8Array, Uint8Array>;

/** What the store must know about the disk to keep writing it. */
export interface StoredRange {
  /** The snapshot's index, 0 without one: entries are stored for (snapshotIndex, lastIndex]. */
  readonly snapshotIndex: number;
  readonly lastIndex: number;
  readonly snapshotChunks: number;
}

export type Recovery =
  | { readonly ok: true; readonly state: PersistedState; readonly range: StoredRange; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly error: string };

/** The records of a store, read synchronously: LevelDB's as read at open, or the simulator's disk. */
export interface RecordReader {
  get(key: Uint8Array): Uint8Array | undefined;
  /** The records with keys in [gte, lt), in key order. */
  range(gte: Uint8Array, lt: Uint8Array): Iterable<readonly [Uint8Array, Uint8Array]>;
}

/** A recovery and the repairs (deletions) it needs made durable, in one synced batch, before the node starts. */
export type PlannedRecovery = (Extract<Recovery, { ok: true }> & { readonly deletes: readonly Uint8Array[] }) | Extract<Recovery, { ok: false }>;

const refuse = (why: string): Extract<Recovery, { ok: false }> => ({ ok: false, error: `refusing to start: ${why}` });

/**
 * Reads and verifies everything in LevelDB, repairs what may be repaired (an
 * uncommitted corrupt tail, entries left behind a snapshot) in one synced batch,
 * and returns the durable state. LevelDB errors propagate as exceptions.
 */
export async function recover(db: Db): Promise<Recovery> {
  const records = new Map<number, readonly [Uint8Array, Uint8Array][]>();
  for (const [gte, lt] of [
    [chunksStart, chunksEnd],
    [entriesStart, entriesEnd],
  ] as const) {
    records.set(gte[0]!, await db.iterator({ gte, lt }).all());
  }
  const single = new Map<number, Uint8Array | undefined>();
  for (const key of [hardStateKey, snapshotMetaKey]) single.set(key[0]!, await db.get(key));
  const r = recoverRecords({ get: (key) => single.get(key[0]!), range: (gte) => records.get(gte[0]!) ?? [] });
  if (r.ok && r.deletes.length > 0) {
    await db.batch(
      r.deletes.map((key) => ({ type: 'del' as const, key })),
      { sync: true },
    );
  }
  return r;
}

/**
 * Verifies a store's records and decides what the node starts from: the durable
 * state, and the records to delete first (an uncommitted torn or corrupt tail,
 * entries left behind a snapshot). Refuses when committed state is damaged.
 */
export function recoverRecords(db: RecordReader): PlannedRecovery {
  let hardState: HardState = emptyPersistedState.hardState;
  const hsValue = db.get(hardStateKey);
  if (hsValue !== undefined) {
    const hs = decodeHardState(hsValue);
    if (!hs.ok) return refuse(`the hard state (key ${hex(hardStateKey)}) is corrupt (${hs.reason})`);
    hardState = hs.value;
  }

  const snap = readSnapshot(db);
  if (!snap.ok) return refuse(snap.error);
  const snapshot = snap.snapshot;
  const snapshotIndex = snapshot === null ? 0 : snapshot.meta.index;
  /** Everything up to here is committed: the snapshot covers only applied entries. */
  const committed = Math.max(hardState.commit, snapshotIndex);

  const warnings: string[] = [];
  const deletes: Uint8Array[] = [];
  const entries: Entry[] = [];
  let behindSnapshot = 0;
  let prevTerm: number = snapshot === null ? 0 : snapshot.meta.term;
  /** The first damaged or missing index and why; the tail from there on is dropped. */
  let damage: { readonly index: number; readonly why: string } | null = null;
  let dropped = 0;
  for (const [key, value] of db.range(entriesStart, entriesEnd)) {
    if (damage !== null) {
      deletes.push(key);
      dropped++;
      continue;
    }
    const expected = snapshotIndex + entries.length + 1;
    const index = indexOfKey(key);
    if (index === null) return refuse(`a log entry key is malformed (key ${hex(key)})`);
    if (index <= snapshotIndex) {
      deletes.push(key);
      behindSnapshot++;
      continue;
    }
    if (index !== expected) {
      damage = { index: expected, why: 'missing' };
    } else {
      const e = decodeEntry(value);
      if (!e.ok) damage = { index, why: `corrupt (${e.reason})` };
      else if (e.value.index !== index) damage = { index, why: `corrupt (it holds entry ${e.value.index})` };
      else if (e.value.term < prevTerm) damage = { index, why: `corrupt (its term ${e.value.term} is below the previous term ${prevTerm})` };
      else {
        entries.push(e.value);
        prevTerm = e.value.term;
        continue;
      }
    }
    if (damage.index <= committed) return refuse(`log entry ${damage.index} is ${damage.why} and it is committed (commit index ${committed})`);
    deletes.push(key);
    dropped++;
  }
  const lastIndex = snapshotIndex + entries.length;
  if (damage === null && lastIndex < committed) return refuse(`log entry ${lastIndex + 1} is missing and it is committed (commit index ${committed})`);
  if (damage !== null) {
    warnings.push(
      `log entry ${damage.index} is ${damage.why} and uncommitted (commit index ${committed}): ` +
        `deleted ${dropped} stored entr${dropped === 1 ? 'y' : 'ies'} from there on; the log now ends at ${lastIndex}`,
    );
  }
  if (behindSnapshot > 0) warnings.push(`deleted ${behindSnapshot} log entries left behind the snapshot at ${snapshotIndex}`);

  return {
    ok: true,
    deletes,
    state: { hardState, snapshot, entries },
    range: { snapshotIndex, lastIndex, snapshotChunks: snapshot === null ? 0 : snapshot.chunks.length },
    warnings,
  };
}

function readSnapshot(db: RecordReader): { readonly ok: true; readonly snapshot: Snapshot | null } | { readonly ok: false; readonly error: string } {
  const metaValue = db.get(snapshotMetaKey);
  const stored = metaValue === undefined ? null : decodeSnapshotMeta(metaValue);
  if (stored !== null && !stored.ok) return { ok: false, error: `the snapshot metadata (key ${hex(snapshotMetaKey)}) is corrupt (${stored.reason})` };
  const meta = stored === null ? null : stored.value.meta;
  const chunkCount = stored === null ? 0 : stored.value.chunkCount;
  const chunks: Uint8Array[] = [];
  for (const [key, value] of db.range(chunksStart, chunksEnd)) {
    const k = chunkOfKey(key);
    if (k === null) return { ok: false, error: `a snapshot chunk key is malformed (key ${hex(key)})` };
    if (meta === null) return { ok: false, error: `snapshot chunk ${k} is stored but there is no snapshot metadata` };
    if (k >= chunkCount) return { ok: false, error: `snapshot chunk ${k} is stored but the snapshot at ${meta.index} has ${chunkCount} chunks` };
    if (k !== chunks.length) break;
    const c = decodeChunk(value);
    if (!c.ok) return { ok: false, error: `snapshot chunk ${k} of ${chunkCount} (key ${hex(chunkKey(k))}) is corrupt (${c.reason})` };
    if (c.value.snapshotIndex !== meta.index) {
      return { ok: false, error: `snapshot chunk ${k} belongs to the snapshot at ${c.value.snapshotIndex}, not the one at ${meta.index}` };
    }
    chunks.push(c.value.data);
  }
  if (meta === null) return { ok: true, snapshot: null };
  if (chunks.length !== chunkCount) return { ok: false, error: `snapshot chunk ${chunks.length} of ${chunkCount} (snapshot at ${meta.index}) is missing` };
  return { ok: true, snapshot: { meta, chunks } };
}
