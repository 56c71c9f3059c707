import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Entry, Snapshot } from '../../src/raft/types.js';
import { logIndex, term } from '../../src/raft/types.js';
import { chunkOfKey } from '../../src/storage/codec.js';
import { LogStore } from '../../src/storage/log-store.js';
import { hs, interceptBatches, openOk, snap, withDir } from './store-helpers.js';

// A real process killed with SIGKILL in the middle of a big sliced compaction, or
// of a big sliced install of a leader's snapshot (32 MiB: 43 slices of 3 chunks),
// at a slice boundary the parent picks from the child's progress, and after it;
// the store is reopened and must hold the old or the new snapshot whole, and every
// append the child saw durable.

const chunkBytes = 256 * 1024;
const oldIndex = 50;
const newIndex = 100;
/** Where the sliced install's snapshot is: past the log, which it replaces. */
const installIndex = 200;
const bigChunks = 128;

type Mode = 'compaction' | 'install';

/** Chunk k of the snapshot at `index`: pseudo-random bytes (LevelDB compresses nothing away), the same in both processes. */
function chunk(index: number, k: number): Uint8Array {
  const words = new Uint32Array(chunkBytes / 4);
  let x = (index * 2654435761 + k * 40503 + 1) >>> 0;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

function snapshotAt(index: number, count: number): Snapshot {
  return snap(index, 1, Array.from({ length: count }, (_, k) => chunk(index, k)));
}

function entry(index: number): Entry {
  return { index: logIndex(index), term: term(1), kind: 'command', data: Uint8Array.of(index & 0xff, (index >> 8) & 0xff, 7) };
}

/** The index of the big snapshot the child writes. */
const bigIndex = (mode: Mode): number => (mode === 'compaction' ? newIndex : installIndex);

/**
 * The child: a store with a small snapshot at 50 and the log to 100, then a big
 * compaction at 100, or a big install at 200 (with entry 201), while appends go
 * on, reporting progress.
 */
async function child(dir: string, mode: Mode): Promise<void> {
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  interceptBatches((ops, write) => {
    const written = write();
    if (ops.length > 0 && ops.every((op) => chunkOfKey(op.key)?.snapshotIndex === bigIndex(mode))) void written.then(() => say('slice'));
    return written;
  });
  const opened = await LogStore.open(dir);
  if (!opened.ok) throw new Error(opened.error);
  const store = opened.store;
  const durably = (w: Parameters<LogStore['write']>[0]): Promise<void> => new Promise((resolve) => store.write(w, resolve));
  await durably({ hardState: hs(1, null, newIndex), snapshot: null, entries: Array.from({ length: newIndex }, (_, i) => entry(i + 1)), mustSync: true });
  await new Promise<void>((resolve) => store.compact(snapshotAt(oldIndex, 2), resolve));
  say('old durable');
  let next: number;
  if (mode === 'compaction') {
    store.compact(snapshotAt(newIndex, bigChunks), () => say('new durable'));
    next = newIndex + 1;
  } else {
    store.write({ hardState: hs(1, null, installIndex), snapshot: snapshotAt(installIndex, bigChunks), entries: [entry(installIndex + 1)], mustSync: true }, () => say('new durable'));
    next = installIndex + 2;
  }
  // Appends every 2 ms until killed, each acknowledged once durable.
  setInterval(() => {
    const i = next++;
    store.write({ hardState: hs(1, null, i), snapshot: null, entries: [entry(i)], mustSync: true }, () => say(`acked ${i}`));
  }, 2);
}

/** Runs the child until `killWhen` holds for the lines it printed, kills it with SIGKILL, and returns what it printed. */
async function runAndKill(dir: string, mode: Mode, killWhen: (lines: readonly string[]) => boolean): Promise<string[]> {
  const proc: ChildProcess = spawn(process.execPath, [fileURLToPath(import.meta.url), '--snapshot-writer', dir, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`the writer exited by itself (${code ?? signal}) after: ${lines.slice(-3).join(' | ')}`))));
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        lines.push(line);
        if (killWhen(lines)) proc.kill('SIGKILL');
      });
    });
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  }
  return lines;
}

const count = (lines: readonly string[], what: string): number => lines.filter((l) => l === what).length;

async function checkRecovered(dir: string, mode: Mode, lines: readonly string[]): Promise<string> {
  const r = await openOk(dir);
  await r.store.close();
  const { snapshot, entries } = r.recovered;
  // No log entry was lost or cut off: at most the chunks of the snapshot not switched to were deleted.
  for (const w of r.warnings) assert.match(w, /^deleted \d+ stored snapshot chunks? of other snapshots/);
  assert.ok(snapshot !== null);
  const index = snapshot.meta.index;
  assert.ok(index === oldIndex || index === bigIndex(mode), `snapshot at ${index}`);
  if (lines.includes('new durable')) assert.equal(index, bigIndex(mode), `the ${mode} was reported durable`);
  const expected = index === oldIndex ? 2 : bigChunks;
  assert.equal(snapshot.chunks.length, expected);
  snapshot.chunks.forEach((c, k) => assert.ok(Buffer.from(c).equals(Buffer.from(chunk(index, k))), `chunk ${k} of the snapshot at ${index}`));
  // The old state's log ends at 100; after an install nothing before 201 is there.
  const acked = Math.max(index === installIndex ? installIndex + 1 : newIndex, ...lines.filter((l) => l.startsWith('acked ')).map((l) => Number(l.slice(6))));
  assert.ok(entries.length > 0 && entries[0]!.index === index + 1, `the log starts after the snapshot at ${index}`);
  entries.forEach((e, k) => assert.deepEqual([...e.data], [...entry(index + 1 + k).data], `entry ${e.index}`));
  const last = index + entries.length;
  assert.ok(last >= acked, `every acknowledged append is there (log to ${last}, acked to ${acked})`);
  return `snapshot at ${index}, log to ${last}, acked to ${acked}, ${count(lines, 'slice')} slices durable`;
}

if (process.argv[2] === '--snapshot-writer') {
  await child(process.argv[3]!, process.argv[4] as Mode);
} else {
  for (const mode of ['compaction', 'install'] as const) {
    test(`LogStore: a process killed with SIGKILL during a big sliced ${mode}, or after it, restarts with the old or the new snapshot whole and every acknowledged append`, async (t) => {
      const trials: readonly [string, (lines: readonly string[]) => boolean][] = [
        ['after the first slice', (lines) => count(lines, 'slice') >= 1],
        ['a third of the way', (lines) => count(lines, 'slice') >= 16],
        [`after the ${mode}`, (lines) => lines.includes('new durable') && lines.filter((l) => l.startsWith('acked ')).length >= 3],
      ];
      for (const [when, killWhen] of trials) {
        await withDir(async (dir) => {
          const lines = await runAndKill(dir, mode, killWhen);
          assert.ok(lines.includes('old durable'));
          const recovered = await checkRecovered(dir, mode, lines);
          // Killed mid-way, the install had not switched: the old state, whole.
          if (when !== `after the ${mode}` && mode === 'install') assert.match(recovered, new RegExp(`^snapshot at ${oldIndex},`));
          t.diagnostic(`killed ${when}: ${recovered}`);
        });
      }
    });
  }
}
