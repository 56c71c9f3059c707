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
import { decodeRun, runKey, runsEnd, runsStart } from '../../src/storage/codec.js';
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

export const write = (w: Partial<LogWrite>): LogWrite => ({ hardState: null, snapshot: null, entries: [], ...w });

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

