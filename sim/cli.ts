import { closeSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseSimArgs, simUsage } from './options.js';
import { describeSummary, runSimulation, SimFailure, type SimOptions, type SimSummary } from './run.js';

/** Lines are written to the trace file in batches of this many. */
const TRACE_LINES_PER_WRITE = 4096;

/** Runs with the trace written to `path`; the file is complete (and closed) when this returns or throws. */
function runTraced(options: SimOptions, path: string, args: readonly string[]): SimSummary {
  const fd = openSync(path, 'w');
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length > 0) writeSync(fd, pending.join('\n') + '\n');
    pending = [];
  };
  try {
    return runSimulation({
      ...options,
      traceArgs: args,
      traceSink: (line) => {
        pending.push(line);
        if (pending.length >= TRACE_LINES_PER_WRITE) flush();
      },
    });
  } finally {
    flush();
    closeSync(fd);
  }
}

/** npm run sim -- [options]: see `simUsage` (npm run sim -- --help). */
function main(): number {
  const argv = process.argv.slice(2);
  const parsed = parseSimArgs(argv);
  if ('help' in parsed) {
    console.log(simUsage);
    return 0;
  }
  if ('error' in parsed) {
    console.error(`sim: ${parsed.error}\n${simUsage}`);
    return 2;
  }
  const { checkDeterminism, trace } = parsed;
  const options = { ...parsed.options, traceCheckpoints: checkDeterminism };
  const started = performance.now();
  let summary: SimSummary;
  try {
    summary = trace === null ? runSimulation(options) : runTraced(options, trace, argv);
  } catch (e) {
    if (!(e instanceof SimFailure)) throw e;
    console.error(`VIOLATION ${e.violation.property} at step ${e.violation.step}, nodes ${e.violation.nodes.join(',') || '-'}: ${e.violation.detail}`);
    console.error(`replay: npm run sim -- ${argv.join(' ')}`);
    if (parsed.swarm !== null) console.error(parsed.swarm);
    console.error('trace before the violation:');
    for (const line of e.recentTrace) console.error(`  ${line}`);
    // The same seed fails the same way: run it again with a trace file, so the failure can be watched step by step.
    let view = trace;
    if (view === null) {
      view = join(tmpdir(), `kvstore-sim-seed-${options.seed}.jsonl`);
      try {
        runTraced(options, view, argv);
      } catch (again) {
        if (!(again instanceof SimFailure)) throw again;
      }
    }
    console.error(`watch it: npm run sim:view -- ${view}`);
    return 1;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${describeSummary(summary)} msgs_per_s=${Math.round(summary.messages / seconds)} wall_s=${seconds.toFixed(2)}`);
  if (trace !== null) console.log(`trace file: ${trace} (npm run sim:view -- ${trace})`);
  if (checkDeterminism) {
    const again = runSimulation(options);
    if (again.traceHash !== summary.traceHash) {
      const a = summary.checkpoints!;
      const b = again.checkpoints!;
      let k = 0;
      while (k < a.length && k < b.length && a[k] === b[k]) k++;
      console.error(`NONDETERMINISTIC: trace ${summary.traceHash} then ${again.traceHash}; the runs first differ at trace event ${k}`);
      return 1;
    }
    console.log(`deterministic: second run trace=${again.traceHash}`);
  }
  return 0;
}

process.exitCode = main();
