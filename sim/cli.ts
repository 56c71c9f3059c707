import { performance } from 'node:perf_hooks';
import { parseSimArgs, simUsage } from './options.js';
import { describeSummary, runSimulation, SimFailure, type SimSummary } from './run.js';

/** npm run sim -- [options]: see `simUsage` (npm run sim -- --help). */
function main(): number {
  const parsed = parseSimArgs(process.argv.slice(2));
  if ('help' in parsed) {
    console.log(simUsage);
    return 0;
  }
  if ('error' in parsed) {
    console.error(`sim: ${parsed.error}\n${simUsage}`);
    return 2;
  }
  const { checkDeterminism } = parsed;
  const options = { ...parsed.options, traceCheckpoints: checkDeterminism };
  const started = performance.now();
  let summary: SimSummary;
  try {
    summary = runSimulation(options);
  } catch (e) {
    if (!(e instanceof SimFailure)) throw e;
    console.error(`VIOLATION ${e.violation.property} at step ${e.violation.step}, nodes ${e.violation.nodes.join(',') || '-'}: ${e.violation.detail}`);
    console.error(`replay: npm run sim -- ${process.argv.slice(2).join(' ')}`);
    if (parsed.swarm !== null) console.error(parsed.swarm);
    console.error('trace before the violation:');
    for (const line of e.recentTrace) console.error(`  ${line}`);
    return 1;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${describeSummary(summary)} msgs_per_s=${Math.round(summary.messages / seconds)} wall_s=${seconds.toFixed(2)}`);
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
