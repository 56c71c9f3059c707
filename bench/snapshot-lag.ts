// Tail-latency bench for the state machine's memory and snapshots at scale:
// 1,000,000 keys of 32 B with 256 B values (288 MB raw), the memory they take
// per key against the raw bytes, then a snapshot taken the way a node takes one
// (one chunk of raft.snapshot_chunk_bytes per turn of the event loop) while
// writes keep arriving, with the event loop's delay measured throughout.
//
//   npm run bench:snapshot [-- --keys N --writes-per-turn N]
import { availableParallelism, loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setImmediate as turn } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { encodeCommand } from '../src/kv/command.js';
import { KvStateMachine, kvStateMachineDefaults } from '../src/kv/state-machine.js';
import { kvNodeDefaults } from '../src/node/config.js';
import { keyBytes, keyOf, valueBytes } from './workload.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    'writes-per-turn': { type: 'string', default: '64' },
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

const delay = monitorEventLoopDelay({ resolution: 1 });
delay.enable();
const t0 = performance.now();
const reader = sm.snapshot();
let chunks = 0;
let bytes = 0;
let stepMsMax = 0;
let writes = 0;
for (;;) {
  const s = performance.now();
  const c = reader.next(kvNodeDefaults.snapshotChunkBytes);
  stepMsMax = Math.max(stepMsMax, performance.now() - s);
  if (c === null) break;
  chunks++;
  bytes += c.length;
  // Writes between chunks, as a loaded node applies them: copy-on-write of the shards not yet read.
  for (let k = 0; k < writesPerTurn; k++) {
    const i = (writes++ * 7919) % keyCount;
    sm.apply(++index, encodeCommand({ op: 'put', key: keys[i]!, value, condition: { kind: 'none' }, tag: null }));
  }
  await turn();
}
const seconds = (performance.now() - t0) / 1000;
delay.disable();
const ms = (ns: number): string => (ns / 1e6).toFixed(2);

console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs, node ${process.version}`);
console.log(
  `memory: ${keyCount} keys of ${keyBytes} B + ${valueBytes} B = ${(raw / 1e6).toFixed(1)} MB raw; the state machine holds ${(used / 1e6).toFixed(1)} MB ` +
    `(heap + external, after GC): ${(used / keyCount).toFixed(1)} B per key, ${(used / raw).toFixed(2)}× raw`,
);
console.log(
  `snapshot: ${chunks} chunks of <= ${kvNodeDefaults.snapshotChunkBytes} B (${(bytes / 1e6).toFixed(1)} MB) in ${seconds.toFixed(2)} s, one per turn, ` +
    `${writes} writes applied meanwhile; longest chunk ${stepMsMax.toFixed(2)} ms; ` +
    `event-loop delay p50 ${ms(delay.percentile(50))} ms, p99 ${ms(delay.percentile(99))} ms, max ${ms(delay.max)} ms`,
);
