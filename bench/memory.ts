// Memory bench for the key-value state machine: write a million keys through
// `apply`, delete 90% of them, and measure the heap before and after the sharded
// map's incremental reclamation (`reclaimStep`), plus the longest single step.
//
//   npm run bench:memory [-- --keys N --step N]

import { availableParallelism, loadavg } from 'node:os';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { encodeCommand } from '../src/kv/command.js';
import { KvStateMachine, kvStateMachineDefaults } from '../src/kv/state-machine.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    step: { type: 'string', default: '10000' },
  },
});
const keyCount = Number(args.keys);
const stepEntries = Number(args.step);
const keyBytes = 32;
const valueBytes = 256;
const snapshotChunkBytes = 1 << 20;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error('run with node --expose-gc');
  process.exit(2);
}

interface Row {
  readonly phase: string;
  readonly keys: number;
  readonly heapUsedMiB: number;
  readonly externalMiB: number;
  readonly rssMiB: number;
  readonly seconds: number;
}

const rows: Row[] = [];
const mib = (n: number): number => Math.round((n / (1 << 20)) * 10) / 10;

/** Heap + external after GC (`external` includes the ArrayBuffers: the value bytes). */
function measure(phase: string, sm: KvStateMachine, seconds: number): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  rows.push({ phase, keys: sm.size(), heapUsedMiB: mib(m.heapUsed), externalMiB: mib(m.external), rssMiB: mib(m.rss), seconds: Math.round(seconds * 100) / 100 });
  return m.heapUsed + m.external;
}

/** A 32-byte key: the index, spread by a multiplicative hash so keys do not share prefixes. */
function key(i: number): Uint8Array {
  const k = new Uint8Array(keyBytes);
  let h = Math.imul(i + 1, 0x9e3779b1) >>> 0;
  for (let j = 0; j < keyBytes; j += 4) {
    k[j] = h & 0xff;
    k[j + 1] = (h >>> 8) & 0xff;
    k[j + 2] = (h >>> 16) & 0xff;
    k[j + 3] = h >>> 24;
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  }
  k[0] = i & 0xff; // the hash is a bijection on 32 bits; this keeps keys distinct beyond it too
  return k;
}

const sm = new KvStateMachine(kvStateMachineDefaults);
const emptyBytes = measure('empty', sm, 0);

const value = new Uint8Array(valueBytes);
let index = 0;
let t = performance.now();
for (let i = 0; i < keyCount; i++) {
  value.fill(i & 0xff);
  sm.apply(++index, encodeCommand({ op: 'put', key: key(i), value, condition: { kind: 'none' }, tag: null }));
}
const writeSeconds = (performance.now() - t) / 1000;
const fullBytes = measure(`after ${keyCount} puts`, sm, writeSeconds);

t = performance.now();
for (let i = 0; i < keyCount; i++) {
  if (i % 10 !== 0) sm.apply(++index, encodeCommand({ op: 'delete', key: key(i), condition: { kind: 'none' }, tag: null }));
}
measure('after deleting 90%', sm, (performance.now() - t) / 1000);

// GC pauses during the reclaim steps, to tell the steps' own cost from the
// collector's (which also frees the deleted values' buffers late).
const gcPausesMs: number[] = [];
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPausesMs.push(entry.duration);
});
gcObserver.observe({ entryTypes: ['gc'] });
t = performance.now();
const stepMs: number[] = [];
const stepCpuMs: number[] = [];
for (let more = true; more; ) {
  const s = performance.now();
  const cpu = process.cpuUsage();
  more = sm.reclaimStep(stepEntries);
  const used = process.cpuUsage(cpu);
  stepMs.push(performance.now() - s);
  stepCpuMs.push((used.user + used.system) / 1000);
}
const reclaimSeconds = (performance.now() - t) / 1000;
const stepMsInOrder = stepMs.map((ms, i) => `${ms.toFixed(1)}/${stepCpuMs[i]!.toFixed(1)}`).join(' ');
await sleep(100); // GC entries are delivered asynchronously
gcObserver.disconnect();
stepMs.sort((x, y) => x - y);
measure('after reclaimStep to completion', sm, reclaimSeconds);

// Snapshot and restore of what is left, for scale: the longest single next() call.
t = performance.now();
const reader = sm.snapshot();
const chunks: Uint8Array[] = [];
const nextMs: number[] = [];
let nextCpuMsMax = 0;
let snapshotBytes = 0;
for (;;) {
  const s = performance.now();
  const cpu = process.cpuUsage();
  const chunk = reader.next(snapshotChunkBytes);
  const used = process.cpuUsage(cpu);
  nextMs.push(performance.now() - s);
  nextCpuMsMax = Math.max(nextCpuMsMax, (used.user + used.system) / 1000);
  if (chunk === null) break;
  chunks.push(chunk);
  snapshotBytes += chunk.length;
}
nextMs.sort((x, y) => x - y);
const snapshotSeconds = (performance.now() - t) / 1000;
t = performance.now();
const restored = KvStateMachine.restore(kvStateMachineDefaults, chunks);
const restoreSeconds = (performance.now() - t) / 1000;
if (!(restored instanceof KvStateMachine) || restored.size() !== sm.size()) throw new Error('restore failed');

// Apply alone, without encoding: overwrite the surviving keys from pre-encoded entries.
const preEncoded: Uint8Array[] = [];
for (let i = 0; i < keyCount; i += 10) preEncoded.push(encodeCommand({ op: 'put', key: key(i), value, condition: { kind: 'none' }, tag: null }));
t = performance.now();
for (const entry of preEncoded) sm.apply(++index, entry);
const applyOnlySeconds = (performance.now() - t) / 1000;

console.log(
  `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs; ` +
    `kv memory bench: ${keyCount} keys of ${keyBytes} B, values of ${valueBytes} B, ${kvStateMachineDefaults.shardCount} shards, node ${process.version}`,
);
console.log(
  `puts: ${Math.round(keyCount / writeSeconds)} /s encoding + applying new keys; ` +
    `${Math.round(preEncoded.length / applyOnlySeconds)} /s applying ${preEncoded.length} pre-encoded overwrites`,
);
console.table(rows);
const perKey = (fullBytes - emptyBytes) / keyCount;
console.log(
  `memory after the puts: ${perKey.toFixed(1)} B per key (heap + external over the empty state machine's) for ${keyBytes + valueBytes} B of ` +
    `key and value: ${(perKey / (keyBytes + valueBytes)).toFixed(2)}× raw`,
);
console.log(
  `reclaim: ${stepMs.length} steps of <= ${stepEntries} entries in ${reclaimSeconds.toFixed(2)} s; step median ${stepMs[stepMs.length >> 1]!.toFixed(2)} ms, ` +
    `longest ${stepMs[stepMs.length - 1]!.toFixed(2)} ms; GC meanwhile: ${gcPausesMs.length} pauses, longest ${Math.max(0, ...gcPausesMs).toFixed(2)} ms`,
);
console.log(`reclaim steps in order, wall/CPU ms (CPU counts all of the process's threads): ${stepMsInOrder}`);
console.log(
  `snapshot of ${sm.size()} keys: ${mib(snapshotBytes)} MiB in ${chunks.length} chunks of <= 1 MiB, ${snapshotSeconds.toFixed(2)} s, ` +
    `next() median ${nextMs[nextMs.length >> 1]!.toFixed(2)} ms, longest ${nextMs[nextMs.length - 1]!.toFixed(2)} ms (CPU ${nextCpuMsMax.toFixed(2)} ms); restore ${restoreSeconds.toFixed(2)} s`,
);
