// Point-operation speed of the key-value state machine: applying pre-encoded
// puts of new keys, overwrites, deletes, and point reads, with 32-byte keys and
// 256-byte values (SPEC §8's shape), in batches as a node applies them. Run by hand, before and after a change to
// the state machine's data structures (the ordered index, for one):
//
//   npm run bench:kv [-- --keys N --rounds R]
//
// Each phase is run `rounds` times on a fresh state machine and the best rate
// is reported (the machine is shared with other work; the best run is the
// least disturbed one). Rates per CPU-second of the process are printed beside
// the wall-clock ones: on a shared machine they move much less.

import { availableParallelism, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { encodeCommand } from '../src/kv/command.js';
import { KvStateMachine, kvStateMachineDefaults } from '../src/kv/state-machine.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '5' },
  },
});
const keyCount = Number(args.keys);
const rounds = Number(args.rounds);
const keyBytes = 32;
const valueBytes = 256;

/** A 32-byte key spread by a multiplicative hash, so keys arrive in no particular order. */
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
  k[0] = i & 0xff;
  return k;
}

const keys = Array.from({ length: keyCount }, (_, i) => key(i));
const value = new Uint8Array(valueBytes).fill(7);
const puts = keys.map((k) => encodeCommand({ op: 'put', key: k, value, condition: { kind: 'none' }, tag: null }));
const deletes = keys.map((k) => encodeCommand({ op: 'delete', key: k, condition: { kind: 'none' }, tag: null }));

/**
 * A node applies committed entries in batches and, between events, gives the
 * state machine a budget of deferred work (`reclaimStep`: shard rebuilds). So
 * does this bench, and the rate counts both.
 */
const batchEntries = 64;
const reclaimStepEntries = 10_000;

/** Operations per second of wall time and per second of the process's CPU time (less disturbed by a loaded machine). */
interface Rate {
  readonly wall: number;
  readonly cpu: number;
}

function timed(count: number, work: () => void): Rate {
  const t = performance.now();
  const cpu = process.cpuUsage();
  work();
  const used = process.cpuUsage(cpu);
  return { wall: count / ((performance.now() - t) / 1000), cpu: count / ((used.user + used.system) / 1e6) };
}

function applyAll(sm: KvStateMachine, entries: readonly Uint8Array[], nextIndex: () => number): Rate {
  return timed(entries.length, () => {
    for (let i = 0; i < entries.length; i += batchEntries) {
      const end = Math.min(entries.length, i + batchEntries);
      for (let k = i; k < end; k++) sm.apply(nextIndex(), entries[k]!);
      sm.reclaimStep(reclaimStepEntries);
    }
    while (sm.reclaimStep(reclaimStepEntries));
  });
}

const phases = ['put (new key)', 'put (overwrite)', 'get', 'get and read the value', 'delete'] as const;
const best = new Map<(typeof phases)[number], Rate>(phases.map((p) => [p, { wall: 0, cpu: 0 }]));
function keep(phase: (typeof phases)[number], r: Rate): void {
  const b = best.get(phase)!;
  best.set(phase, { wall: Math.max(b.wall, r.wall), cpu: Math.max(b.cpu, r.cpu) });
}

for (let r = 0; r < rounds; r++) {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  let index = 0;
  const next = (): number => ++index;
  keep('put (new key)', applyAll(sm, puts, next));
  keep('put (overwrite)', applyAll(sm, puts, next));
  let found = 0;
  keep(
    'get',
    timed(keyCount, () => {
      for (const k of keys) if (sm.get(k) !== undefined) found++;
    }),
  );
  if (found !== keyCount) throw new Error(`found ${found} of ${keyCount} keys`);
  // A GET's answer reads the value too (a view of the stored bytes).
  let sum = 0;
  keep(
    'get and read the value',
    timed(keyCount, () => {
      for (const k of keys) sum += sm.get(k)!.value[valueBytes - 1]!;
    }),
  );
  if (sum !== keyCount * 7) throw new Error(`read ${sum} from the last bytes of ${keyCount} values`);
  keep('delete', applyAll(sm, deletes, next));
  if (sm.size() !== 0) throw new Error(`${sm.size()} keys left after deleting all`);
}

console.log(
  `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs; ` +
    `${keyCount} keys of ${keyBytes} B, values of ${valueBytes} B, best of ${rounds} rounds, node ${process.version}`,
);
const rate = (n: number): string => Math.round(n).toLocaleString('en-US');
console.log(phases.map((p) => `${p} ${rate(best.get(p)!.wall)} /s (${rate(best.get(p)!.cpu)} per CPU-second)`).join('; '));
