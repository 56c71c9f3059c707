// Helpers of the log store's tests: fresh directories, raw LevelDB access, and
// log writes, entries and snapshots made small.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { LogWrite } from '../../src/raft/host/ready-executor.js';
import type { PersistedState } from '../../src/raft/host/raft-node.js';
import { configuration, describeConfiguration } from '../../src/raft/membership.js';
import type { Entry, EntryKind, HardState, Snapshot } from '../../src/raft/types.js';
import { logIndex, nodeId, term } from '../../src/raft/types.js';
import { chunkOfKey, chunksEnd, chunksStart, decodeRun, firstOfRunKey, hex, runKey, runsEnd, runsStart, snapshotMetaKey } from '../../src/storage/codec.js';
import type { RecordOp } from '../../src/storage/plan.js';
import { LogStore, type LogStoreTuning, type StorageMetrics } from '../../src/storage/log-store.js';

export type RawDb = ClassicLevel<Uint8Array, Uint8Array>;

/** Runs `body` with a fresh directory, removed afterwards whatever happens. */
export async function withDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kvstore-log-store-'));
  try {
    await body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function openOk(dir: string, metrics?: StorageMetrics, onFatal?: (e: Error) => void, tuning?: LogStoreTuning) {
  const r = await LogStore.open(dir, metrics, onFatal, tuning);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r;
}

/** Opens, reads what was recovered, closes. */
export async function reopen(dir: string): Promise<{ state: PersistedState; warnings: readonly string[] }> {
  const r = await openOk(dir);
  await r.store.close();
  return { state: r.recovered, warnings: r.warnings };
}

/** A raw handle on the store's LevelDB, for tampering with it while the store is closed. */
export async function withRaw(dir: string, body: (db: RawDb) => Promise<void>): Promise<void> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await body(db);
  } finally {
    await db.close();
  }
}

export async function flipByte(db: RawDb, key: Uint8Array, at: number): Promise<void> {
  const value = await db.get(key);
  assert.ok(value !== undefined);
  const copy = Uint8Array.from(value);
  copy[at]! ^= 0x40;
  await db.put(key, copy);
}

/** The first indexes of the stored log runs. */
export async function storedRunStarts(db: RawDb): Promise<number[]> {
  const out: number[] = [];
  for await (const key of db.keys({ gte: runsStart, lt: runsEnd })) out.push(Number(Buffer.from(key).readBigUInt64BE(1)));
  return out;
}

/** The entries stored in the run from `first`. */
export async function storedRun(db: RawDb, first: number): Promise<Entry[]> {
  const value = await db.get(runKey(first));
  assert.ok(value !== undefined, `no run from ${first}`);
  const run = decodeRun(value);
  assert.ok(run.ok, run.ok ? '' : run.reason);
  return [...run.value.entries];
}

export function ent(index: number, t: number, kind: EntryKind = 'command', data: Uint8Array = Uint8Array.of(index & 0xff, t & 0xff)): Entry {
  return { index: logIndex(index), term: term(t), kind, data };
}

export function range(from: number, to: number, t: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(ent(i, t));
  return out;
}

export function hs(t: number, votedFor: string | null, commit: number): HardState {
  return { term: term(t), votedFor: votedFor === null ? null : nodeId(votedFor), commit: logIndex(commit) };
}

export function snap(index: number, t: number, chunks: readonly Uint8Array[]): Snapshot {
  const config = configuration(['n1', 'n2', 'n3'].map((id) => ({ id: nodeId(id), role: 'voter' as const, addrs: { raftAddr: `${id}:7081`, httpAddr: `${id}:8081`, grpcAddr: `${id}:9081` } })));
  return { meta: { index: logIndex(index), term: term(t), config }, chunks };
}

export const write = (w: Partial<LogWrite>): LogWrite => ({ hardState: null, snapshot: null, entries: [], mustSync: true, ...w });

/** Resolves once the write is durable. */
export function durably(store: LogStore, w: Partial<LogWrite>): Promise<void> {
  return new Promise((resolve) => store.write(write(w), resolve));
}

export function compacted(store: LogStore, s: Snapshot): Promise<void> {
  return new Promise((resolve) => store.compact(s, resolve));
}

/** Entries and snapshots hold views (Buffers) after recovery: compare them as plain data. */
export function plainEntries(entries: readonly Entry[]): unknown[] {
  return entries.map((e) => ({ ...e, data: [...e.data] }));
}

export function plainSnapshot(s: Snapshot | null): unknown {
  return s === null ? null : { meta: { ...s.meta, config: describeConfiguration(s.meta.config) }, chunks: s.chunks.map((c) => [...c]) };
}

// Recording the batches LevelDB is given, to replay each prefix of them (a crash after that batch).

export interface Recorded {
  readonly ops: readonly RecordOp[];
}

type NativeBatch = (this: RawDb, ops: readonly RecordOp[], options: { readonly sync: boolean }) => Promise<void>;

/**
 * Until the returned function is called, every batch LevelDB is given goes
 * through `around` (with the write to make, and whether it is synced):
 * classic-level's native `_batch`, which the store calls for its writes and
 * abstract-level's `batch` for the others (recovery's), is wrapped.
 */
export function interceptBatches(around: (ops: readonly RecordOp[], write: () => Promise<void>, sync: boolean) => Promise<void>): () => void {
  const proto = ClassicLevel.prototype as unknown as { _batch: NativeBatch };
  const original = proto._batch;
  proto._batch = function (this: RawDb, ops, options) {
    return around(ops, () => original.call(this, ops, options), options.sync);
  };
  return () => {
    proto._batch = original;
  };
}

/** Records (copies of) every batch given to LevelDB while `body` runs. */
export async function recordingBatches<T>(body: (batches: Recorded[]) => Promise<T>): Promise<T> {
  const batches: Recorded[] = [];
  const restore = interceptBatches((ops, write) => {
    // The slice's values are views of a buffer the store reuses: copy them now.
    batches.push({ ops: ops.map((op) => (op.type === 'put' ? { type: 'put', key: Uint8Array.from(op.key), value: Uint8Array.from(op.value) } : { type: 'del', key: Uint8Array.from(op.key) })) });
    return write();
  });
  try {
    return await body(batches);
  } finally {
    restore();
  }
}

export const isChunkPut = (op: RecordOp): boolean => op.type === 'put' && chunkOfKey(op.key) !== null;
export const isSlice = (b: Recorded): boolean => b.ops.length > 0 && b.ops.every(isChunkPut);
export const holdsMeta = (b: Recorded): boolean => b.ops.some((op) => op.type === 'put' && hex(op.key) === hex(snapshotMetaKey));

export function chunksOf(index: number, count: number, bytes: number): Uint8Array[] {
  return Array.from({ length: count }, (_, k) => new Uint8Array(bytes).fill((index * 31 + k) & 0xff));
}

/** The last log index the records of `batches` store: the end of the highest run put. */
export function lastStored(batches: readonly Recorded[]): number {
  let last = 0;
  for (const b of batches) {
    for (const op of b.ops) {
      if (op.type !== 'put' || firstOfRunKey(op.key) === null) continue;
      const run = decodeRun(op.value);
      assert.ok(run.ok);
      last = run.value.first + run.value.entries.length - 1;
    }
  }
  return last;
}

/** Replays batches[0, cut), then `torn` (part of batch cut), into a fresh store, and runs `check` on it. */
export async function withCrashAt(batches: readonly Recorded[], cut: number, torn: readonly RecordOp[], check: (dir: string) => Promise<void>): Promise<void> {
  await withDir(async (fresh) => {
    await withRaw(fresh, async (db) => {
      for (const b of batches.slice(0, cut)) await db.batch([...b.ops]);
      if (torn.length > 0) await db.batch([...torn]);
    });
    await check(fresh);
  });
}

/** Some of the puts of slice batches[cut], the last of them cut short: a slice torn by a disk whose writes are not atomic. */
export function tornSlice(batches: readonly Recorded[], cut: number, n: number, m: number): RecordOp[] {
  const ops = batches[cut]!.ops;
  return ops.slice(0, 1 + (n % ops.length)).map((op, k, all) => (k === all.length - 1 && op.type === 'put' ? { ...op, value: op.value.subarray(0, m % op.value.length) } : op));
}

/** The stored chunk keys, in hex. */
export async function storedChunkKeys(dir: string): Promise<string[]> {
  let keys: string[] = [];
  await withRaw(dir, async (db) => {
    keys = (await db.keys({ gte: chunksStart, lt: chunksEnd }).all()).map(hex);
  });
  return keys;
}
