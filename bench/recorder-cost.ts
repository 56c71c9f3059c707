// What the flight recorder costs a node: the same simulated cluster run (the
// production KvNode and Raft core on simulated disk and network, a client load
// and faults) with and without a flight recorder on every node, alternated, and
// the best of each reported. The simulator is CPU-bound and runs the whole
// cluster in one thread, so the difference is the recorder's CPU cost per core
// input, in CPU time (it records every message, timer, proposal, storage completion and
// drain), plus its checkpoints. Run by hand:
//
//   npm run bench:recorder [-- --rounds R --seed S --duration-ms D --inputs-max N]

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { FlightRecorder } from '../src/debug/flight-recorder.js';
import { parseSimArgs } from '../sim/options.js';
import { runSimulation } from '../sim/run.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    seed: { type: 'string', default: '7' },
    'duration-ms': { type: 'string', default: '30000' },
    'inputs-max': { type: 'string', default: '50000' },
  },
});
const parsed = parseSimArgs(['--seed', args.seed, '--duration-ms', args['duration-ms'], '--faults', 'none', '--swarm', 'off']);
if (!('options' in parsed)) throw new Error('bad simulator options');
const options = parsed.options;

function once(record: boolean): { ms: number; inputs: number; checkpoints: number; messages: number } {
  const recorders: FlightRecorder[] = [];
  // CPU time, not wall time: on a machine shared with other work it counts only this process's running.
  const started = process.cpuUsage();
  const summary = runSimulation({
    ...options,
    ...(record
      ? {
          tapFor: () => {
            // By default the ring a node runs with (debug.recorder_inputs_max, debug.recorder_bytes_max).
            const r = new FlightRecorder({ inputsMax: Number(args['inputs-max']), bytesMax: 64 * 2 ** 20 });
            recorders.push(r);
            return r;
          },
        }
      : {}),
  });
  const used = process.cpuUsage(started);
  const ms = (used.user + used.system) / 1000;
  const inputs = recorders.reduce((n, r) => n + r.inputs() + r.inputsDropped, 0);
  return { ms, inputs, checkpoints: recorders.reduce((n, r) => n + r.checkpoints, 0), messages: summary.messages };
}

once(false);
once(true);
let bestOff = Infinity;
let bestOn = Infinity;
let last = { ms: 0, inputs: 0, checkpoints: 0, messages: 0 };
for (let k = 0; k < Number(args.rounds); k++) {
  bestOff = Math.min(bestOff, once(false).ms);
  last = once(true);
  bestOn = Math.min(bestOn, last.ms);
}
const perInputNs = ((bestOn - bestOff) * 1e6) / last.inputs;
console.log(
  `recorder off: ${bestOff.toFixed(0)} ms CPU, on: ${bestOn.toFixed(0)} ms CPU (best of ${args.rounds}); ` +
    `overhead ${(((bestOn - bestOff) / bestOff) * 100).toFixed(1)}% of the whole simulated cluster's CPU; ` +
    `${last.inputs} core inputs recorded (${last.messages} messages), ${last.checkpoints} checkpoints; ` +
    `${perInputNs.toFixed(0)} ns per recorded input; load average ${loadavg()[0]!.toFixed(1)}`,
);
