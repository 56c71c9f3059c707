// Tail-latency bench for the state machine's memory and snapshots at scale:
// 1,000,000 keys of 32 B with 256 B values (288 MB raw), the memory they take
// per key against the raw bytes, then a snapshot taken the way a node takes one
// (src/node/kv-node.ts maybeSnapshot): one chunk of raft.snapshot_chunk_bytes per
// turn of the event loop, the chunks kept, then `LogStore.compact` onto them (the
// real store, in a temporary directory, its durable write sliced over turns),
// while writes keep arriving at `--write-rate` per second: a 1 ms timer applies
// the puts due (at most 64 at a time) and appends them to the same store's log as
// one write, as a loaded node does with its clients' requests. The event loop's delay is measured from
// the first chunk until the compaction is durable, and for each of the two phases.
//
//   npm run bench:snapshot [-- --keys N --write-rate N --no-compact --slice-bytes N]
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import { setImmediate as turn } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { encodeCommand } from '../src/kv/command.js';
import { KvStateMachine, kvStateMachineDefaults } from '../src/kv/state-machine.js';
import { kvNodeDefaults } from '../src/node/config.js';
import { emptyConfiguration } from '../src/raft/membership.js';
import { logIndex, term, type Entry } from '../src/raft/types.js';
import { LogStore, snapshotSliceBytesDefault } from '../src/storage/log-store.js';
import { keyBytes, keyOf, valueBytes } from './workload.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    'write-rate': { type: 'string', default: '10000' },
    'no-compact': { type: 'boolean', default: false },
    'slice-bytes': { type: 'string', default: String(snapshotSliceBytesDefault) },
  },
});
const keyCount = Number(args.keys);
const writeRate = Number(args['write-rate']);
const writesPerTickMax = 64;
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

function memoryBytes(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  // `external` already includes `arrayBuffers` (the value and key bytes).
  return m.heapUsed + m.external;
}

const before = memoryBytes();
const sm = new KvStateMachine(kvStateMachineDefaults);
const value = new Uint8Array(valueBytes).fill(0x76);
let index = 0;
const keys = Array.from({ length: keyCount }, (_, i) => new TextEncoder().encode(keyOf(i)));
const keysBytes = memoryBytes() - before;
for (let i = 0; i < keyCount; i++) sm.apply(++index, encodeCommand({ op: 'put', key: keys[i]!, value, condition: { kind: 'none' }, tag: null }));
const used = memoryBytes() - before - keysBytes;
const raw = keyCount * (keyBytes + valueBytes);

/** GC pauses while `recording`: what of the delay is the collector's. */
const gcPausesMs: number[] = [];
let recording = false;
new PerformanceObserver((list) => {
  if (recording) for (const e of list.getEntries()) gcPausesMs.push(e.duration);
}).observe({ entryTypes: ['gc'] });

const ms = (ns: number): string => (ns / 1e6).toFixed(2);
const lag = (h: IntervalHistogram): string => `p50 ${ms(h.percentile(50))} ms, p99 ${ms(h.percentile(99))} ms, max ${ms(h.max)} ms (${h.count} samples)`;
const quantile = (xs: readonly number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0;
function gcSummary(): string {
  const total = gcPausesMs.reduce((a, b) => a + b, 0);
  return `GC ${gcPausesMs.length} pauses, ${total.toFixed(0)} ms in all, longest ${Math.max(0, ...gcPausesMs).toFixed(2)} ms`;
}

const dir = await mkdtemp(join(tmpdir(), 'kvstore-snapshot-lag-'));
try {
  const opened = await LogStore.open(dir, undefined, undefined, { snapshotSliceBytes: Number(args['slice-bytes']) });
  if (!opened.ok) throw new Error(opened.error);
  const store = opened.store;
  // The store holds the state up to here as a snapshot, as after a restart, so that the log goes on from index + 1.
  const base = { meta: { index: logIndex(index), term: term(1), config: emptyConfiguration }, chunks: [Uint8Array.of(0)] };
  await new Promise<void>((resolve) => store.write({ hardState: { term: term(1), votedFor: null, commit: logIndex(index) }, snapshot: base, entries: [], mustSync: true }, resolve));

  /** Milliseconds from each log append to its being durable. */
  const appendMs: number[] = [];
  let writes = 0;
  /** Writes due at `writeRate` but over the per-tick cap, so never made. */
  let dropped = 0;
  const writesFrom = performance.now();
  /**
   * The writes due by now at `writeRate`, at most `writesPerTickMax` (64 clients
   * have at most 64 writes in flight: after a stall, the rest are dropped, not
   * made in one burst): applied, and appended to the log as one write.
   */
  function writeDue(): void {
    const entries: Entry[] = [];
    const due = Math.floor(((performance.now() - writesFrom) * writeRate) / 1000) - dropped;
    if (due - writes > writesPerTickMax) dropped += due - writes - writesPerTickMax;
    for (const until = Math.min(due, writes + writesPerTickMax); writes < until; ) {
      const i = (writes++ * 7919) % keyCount;
      const data = encodeCommand({ op: 'put', key: keys[i]!, value, condition: { kind: 'none' }, tag: null });
      sm.apply(++index, data);
      entries.push({ index: logIndex(index), term: term(1), kind: 'command', data });
    }
    if (entries.length === 0) return;
    const at = performance.now();
    store.write({ hardState: { term: term(1), votedFor: null, commit: logIndex(index) }, snapshot: null, entries, mustSync: true }, () => appendMs.push(performance.now() - at));
  }
  const writer = setInterval(writeDue, 1);
  // The snapshot is at an index the log holds, after the base.
  while (index === base.meta.index) await turn();
  const whole = monitorEventLoopDelay({ resolution: 1 });
  const staging = monitorEventLoopDelay({ resolution: 1 });
  recording = true;
  whole.enable();
  staging.enable();
  const t0 = performance.now();
  const snapshotIndex = index;
  const writesBefore = writes;
  const reader = sm.snapshot();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  const turnMs: number[] = [];
  for (;;) {
    const s = performance.now();
    const c = reader.next(kvNodeDefaults.snapshotChunkBytes);
    if (c === null) break;
    chunks.push(c);
    bytes += c.length;
    turnMs.push(performance.now() - s);
    // Writes come in between chunks: copy-on-write of the shards not yet read.
    await turn();
  }
  const seconds = (performance.now() - t0) / 1000;
  staging.disable();
  const stagingWrites = writes - writesBefore;
  const stagingGc = gcSummary();
  const stagingAppends = appendMs.splice(0);

  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs, node ${process.version}`);
  console.log(
    `memory: ${keyCount} keys of ${keyBytes} B + ${valueBytes} B = ${(raw / 1e6).toFixed(1)} MB raw; the state machine holds ${(used / 1e6).toFixed(1)} MB ` +
      `(heap + external, after GC): ${(used / keyCount).toFixed(1)} B per key, ${(used / raw).toFixed(2)}× raw`,
  );
  console.log(
    `snapshot staging: ${chunks.length} chunks of <= ${kvNodeDefaults.snapshotChunkBytes} B (${(bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(2)} s, one per turn, ` +
      `${stagingWrites} writes applied and appended meanwhile; a turn's next() p50 ${quantile(turnMs, 0.5).toFixed(2)} ms, p99 ${quantile(turnMs, 0.99).toFixed(2)} ms, ` +
      `max ${quantile(turnMs, 1).toFixed(2)} ms; ${stagingGc}; appends durable p50 ${quantile(stagingAppends, 0.5).toFixed(1)} ms, p99 ${quantile(stagingAppends, 0.99).toFixed(1)} ms; ` +
      `event-loop delay ${lag(staging)}`,
  );

  if (!args['no-compact']) {
    // The node's next step: the log store makes the snapshot its durable base, while writes go on.
    gcPausesMs.length = 0;
    const compaction = monitorEventLoopDelay({ resolution: 1 });
    compaction.enable();
    const c0 = performance.now();
    const durable = new Promise<void>((resolve) => store.compact({ meta: { index: logIndex(snapshotIndex), term: term(1), config: emptyConfiguration }, chunks }, resolve));
    const callMs = performance.now() - c0;
    await durable;
    const compactSeconds = (performance.now() - c0) / 1000;
    compaction.disable();
    const compactAppends = appendMs.splice(0);
    console.log(
      `log store compaction onto the snapshot (src/storage, slices of <= ${args['slice-bytes']} B): durable in ${compactSeconds.toFixed(2)} s ` +
        `(${writes - writesBefore - stagingWrites} writes appended meanwhile), the compact() call itself ${callMs.toFixed(2)} ms; ${gcSummary()}; ` +
        `appends durable p50 ${quantile(compactAppends, 0.5).toFixed(1)} ms, p99 ${quantile(compactAppends, 0.99).toFixed(1)} ms, max ${quantile(compactAppends, 1).toFixed(1)} ms; event-loop delay ${lag(compaction)}`,
    );
  }
  whole.disable();
  recording = false;
  clearInterval(writer);
  console.log(
    `the whole snapshot (staging${args['no-compact'] ? '' : ' and compaction'}): ${((performance.now() - t0) / 1000).toFixed(2)} s, event-loop delay ${lag(whole)}; ` +
      `${dropped} writes dropped in all (more than ${writesPerTickMax} due in one tick)`,
  );
  await store.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
