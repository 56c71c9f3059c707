// Point-operation speed of the key-value state machine: applying pre-encoded
// puts of new keys, overwrites, deletes, and point reads, with 32-byte keys and
// 256-byte values (SPEC §8's shape), in batches as a node applies them. Run by hand, before and after a change to
// the state machine's data structures (the ordered index, for one):
//
//   npm run bench:kv [-- --keys N --rounds R]
//
// Each phase is run `rounds` times on a fresh state machine and the best rate
// is reported (the machine is shared with other work; the best run is the
// least disturbed one).

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

function rateOf(sm: KvStateMachine, entries: readonly Uint8Array[], nextIndex: () => number): number {
  const t = performance.now();
  for (let i = 0; i < entries.length; i += batchEntries) {
    const end = Math.min(entries.length, i + batchEntries);
    for (let k = i; k < end; k++) sm.apply(nextIndex(), entries[k]!);
    sm.reclaimStep(reclaimStepEntries);
  }
  while (sm.reclaimStep(reclaimStepEntries));
  return entries.length / ((performance.now() - t) / 1000);
}

const best = { insert: 0, overwrite: 0, get: 0, delete: 0 };
for (let r = 0; r < rounds; r++) {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  let index = 0;
  const next = (): number => ++index;
  best.insert = Math.max(best.insert, rateOf(sm, puts, next));
  best.overwrite = Math.max(best.overwrite, rateOf(sm, puts, next));
  const t = performance.now();
  let found = 0;
  for (const k of keys) if (sm.get(k) !== undefined) found++;
  best.get = Math.max(best.get, keyCount / ((performance.now() - t) / 1000));
  if (found !== keyCount) throw new Error(`found ${found} of ${keyCount} keys`);
  best.delete = Math.max(best.delete, rateOf(sm, deletes, next));
  if (sm.size() !== 0) throw new Error(`${sm.size()} keys left after deleting all`);
}

console.log(
  `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs; ` +
    `${keyCount} keys of ${keyBytes} B, values of ${valueBytes} B, best of ${rounds} rounds, node ${process.version}`,
);
const rate = (n: number): string => `${Math.round(n).toLocaleString('en-US')} /s`;
console.log(`put (new key) ${rate(best.insert)}; put (overwrite) ${rate(best.overwrite)}; get ${rate(best.get)}; delete ${rate(best.delete)}`);
