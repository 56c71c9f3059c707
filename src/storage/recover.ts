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

const refuse = (why: string): Recovery => ({ ok: false, error: `refusing to start: ${why}` });

/**
 * Reads and verifies everything, repairs what may be repaired (an uncommitted
 * corrupt tail, entries left behind a snapshot) in one synced batch, and returns
 * the durable state. LevelDB errors propagate as exceptions.
 */
export async function recover(db: Db): Promise<Recovery> {
  let hardState: HardState = emptyPersistedState.hardState;
  const hsValue = await db.get(hardStateKey);
  if (hsValue !== undefined) {
    const hs = decodeHardState(hsValue);
    if (!hs.ok) return refuse(`the hard state (key ${hex(hardStateKey)}) is corrupt (${hs.reason})`);
    hardState = hs.value;
  }

  const snap = await readSnapshot(db);
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
  for await (const [key, value] of db.iterator({ gte: entriesStart, lt: entriesEnd })) {
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
  if (deletes.length > 0) {
    await db.batch(
      deletes.map((key) => ({ type: 'del' as const, key })),
      { sync: true },
    );
  }

  return {
    ok: true,
    state: { hardState, snapshot, entries },
    range: { snapshotIndex, lastIndex, snapshotChunks: snapshot === null ? 0 : snapshot.chunks.length },
    warnings,
  };
}

async function readSnapshot(db: Db): Promise<{ readonly ok: true; readonly snapshot: Snapshot | null } | { readonly ok: false; readonly error: string }> {
  const metaValue = await db.get(snapshotMetaKey);
  const stored = metaValue === undefined ? null : decodeSnapshotMeta(metaValue);
  if (stored !== null && !stored.ok) return { ok: false, error: `the snapshot metadata (key ${hex(snapshotMetaKey)}) is corrupt (${stored.reason})` };
  const meta = stored === null ? null : stored.value.meta;
  const chunkCount = stored === null ? 0 : stored.value.chunkCount;
  const chunks: Uint8Array[] = [];
  for await (const [key, value] of db.iterator({ gte: chunksStart, lt: chunksEnd })) {
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
