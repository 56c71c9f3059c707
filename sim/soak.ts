import { performance } from 'node:perf_hooks';
import { parseSimArgs } from './options.js';
import { runSimulation, SimFailure } from './run.js';

/**
 * npm run sim:soak -- [--runs R] [--first-seed S] [--nodes N] [--faults ...] [--duration-ms D]
 * Runs many seeds (alternating 3 and 5 nodes unless --nodes is given) and stops at
 * the first violation, printing how to replay it.
 */
function main(): number {
  const argv = process.argv.slice(2);
  const take = (flag: string, dflt: number): number => {
    const k = argv.indexOf(flag);
    if (k === -1) return dflt;
    const v = Number(argv[k + 1]);
    argv.splice(k, 2);
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`${flag} must be a non-negative integer`);
    return v;
  };
  const runs = take('--runs', 2000);
  const firstSeed = take('--first-seed', 1);
  const fixedNodes = argv.includes('--nodes');
  const started = performance.now();
  let messages = 0;
  for (let k = 0; k < runs; k++) {
    const seed = firstSeed + k;
    const nodes = fixedNodes ? [] : ['--nodes', String(k % 2 === 0 ? 3 : 5)];
    const args = ['--seed', String(seed), '--duration-ms', '20000', ...nodes, ...argv];
    const parsed = parseSimArgs(args);
    if ('error' in parsed) {
      console.error(`sim:soak: ${parsed.error}`);
      return 2;
    }
    try {
      messages += runSimulation(parsed.options).messages;
    } catch (e) {
      if (!(e instanceof SimFailure)) throw e;
      console.error(`VIOLATION after ${k} runs: ${e.message}`);
      console.error(`replay: npm run sim -- ${args.join(' ')}`);
      for (const line of e.recentTrace) console.error(`  ${line}`);
      return 1;
    }
    if ((k + 1) % 100 === 0) console.log(`${k + 1}/${runs} runs ok`);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`${runs} runs ok, seeds ${firstSeed}..${firstSeed + runs - 1}, ${messages} messages, ${Math.round(messages / seconds)} msgs/s, ${seconds.toFixed(1)} s`);
  return 0;
}

process.exitCode = main();
