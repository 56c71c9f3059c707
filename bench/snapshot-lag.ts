// Tail-latency bench for the state machine's memory and snapshots at scale:
// 1,000,000 keys of 32 B with 256 B values (288 MB raw), the memory they take
// per key against the raw bytes, then a snapshot taken the way a node takes one
// (one chunk of raft.snapshot_chunk_bytes per turn of the event loop, the chunks
// kept until the end) while writes keep arriving, with the event loop's delay
// measured throughout; then, separately, the log store's compaction onto those
// chunks (`LogStore.compact`, what the node does next), in a temporary directory.
//
//   npm run bench:snapshot [-- --keys N --writes-per-turn N --no-compact]
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
import { logIndex, term } from '../src/raft/types.js';
import { LogStore } from '../src/storage/log-store.js';
import { keyBytes, keyOf, valueBytes } from './workload.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    'writes-per-turn': { type: 'string', default: '64' },
    'no-compact': { type: 'boolean', default: false },
  },
});
const keyCount = Number(args.keys);
const writesPerTurn = Number(args['writes-per-turn']);
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

const delay = monitorEventLoopDelay({ resolution: 1 });
recording = true;
delay.enable();
const t0 = performance.now();
const reader = sm.snapshot();
const chunks: Uint8Array[] = [];
let bytes = 0;
const turnMs: number[] = [];
let writes = 0;
for (;;) {
  const s = performance.now();
  const c = reader.next(kvNodeDefaults.snapshotChunkBytes);
  if (c === null) break;
  chunks.push(c);
  bytes += c.length;
  // Writes between chunks, as a loaded node applies them: copy-on-write of the shards not yet read.
  for (let k = 0; k < writesPerTurn; k++) {
    const i = (writes++ * 7919) % keyCount;
    sm.apply(++index, encodeCommand({ op: 'put', key: keys[i]!, value, condition: { kind: 'none' }, tag: null }));
  }
  turnMs.push(performance.now() - s);
  await turn();
}
const seconds = (performance.now() - t0) / 1000;
delay.disable();
recording = false;
const stagingGc = gcSummary();

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs, node ${process.version}`);
console.log(
  `memory: ${keyCount} keys of ${keyBytes} B + ${valueBytes} B = ${(raw / 1e6).toFixed(1)} MB raw; the state machine holds ${(used / 1e6).toFixed(1)} MB ` +
    `(heap + external, after GC): ${(used / keyCount).toFixed(1)} B per key, ${(used / raw).toFixed(2)}× raw`,
);
console.log(
  `snapshot: ${chunks.length} chunks of <= ${kvNodeDefaults.snapshotChunkBytes} B (${(bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(2)} s, one per turn, ` +
    `${writes} writes applied meanwhile; a turn's own work (next + writes) p50 ${quantile(turnMs, 0.5).toFixed(2)} ms, p99 ${quantile(turnMs, 0.99).toFixed(2)} ms, ` +
    `max ${quantile(turnMs, 1).toFixed(2)} ms; ${stagingGc}; event-loop delay ${lag(delay)}`,
);

if (!args['no-compact']) {
  // The node's next step, in src/storage: one synced batch of every chunk.
  const dir = await mkdtemp(join(tmpdir(), 'kvstore-snapshot-lag-'));
  try {
    const opened = await LogStore.open(dir);
    if (!opened.ok) throw new Error(opened.error);
    const snapshot = { meta: { index: logIndex(index), term: term(1), config: emptyConfiguration }, chunks };
    gcPausesMs.length = 0;
    const compactDelay = monitorEventLoopDelay({ resolution: 1 });
    recording = true;
    compactDelay.enable();
    const c0 = performance.now();
    const durable = new Promise<void>((resolve) => opened.store.compact(snapshot, resolve));
    const callMs = performance.now() - c0;
    await durable;
    const compactSeconds = (performance.now() - c0) / 1000;
    compactDelay.disable();
    recording = false;
    await opened.store.close();
    console.log(
      `log store compaction onto the snapshot (src/storage): durable in ${compactSeconds.toFixed(2)} s, the compact() call itself ${callMs.toFixed(2)} ms; ` +
        `${gcSummary()}; event-loop delay ${lag(compactDelay)}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
