import { performance } from 'node:perf_hooks';
import { parseSimArgs, soakUsage } from './options.js';
import { runSimulation, SimFailure } from './run.js';

/** npm run sim:soak -- [--runs R] [--first-seed S] [sim options]: see `soakUsage`. */
function main(): number {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(soakUsage);
    return 0;
  }
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
  let opsChecked = 0;
  let watchRevisions = 0;
  for (let k = 0; k < runs; k++) {
    const seed = firstSeed + k;
    const nodes = fixedNodes ? [] : ['--nodes', String(k % 2 === 0 ? 3 : 5)];
    const args = ['--seed', String(seed), '--duration-ms', '20000', ...nodes, ...argv];
    const parsed = parseSimArgs(args);
    if ('help' in parsed || 'error' in parsed) {
      console.error(`sim:soak: ${'error' in parsed ? parsed.error : '--help'}\n${soakUsage}`);
      return 2;
    }
    try {
      const s = runSimulation(parsed.options);
      messages += s.messages;
      opsChecked += s.opsChecked;
      watchRevisions += s.watchRevisions;
    } catch (e) {
      if (!(e instanceof SimFailure)) throw e;
      const seconds = (performance.now() - started) / 1000;
      console.error(`VIOLATION at seed ${seed}, after ${k} runs passed (${seconds.toFixed(1)} s): ${e.message}`);
      console.error(`replay: npm run sim -- ${args.join(' ')}`);
      if (parsed.swarm !== null) console.error(parsed.swarm);
      for (const line of e.recentTrace) console.error(`  ${line}`);
      return 1;
    }
    if ((k + 1) % 100 === 0) console.log(`${k + 1}/${runs} runs ok`);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${runs} runs ok, seeds ${firstSeed}..${firstSeed + runs - 1}, ${messages} messages, ${Math.round(messages / seconds)} msgs/s, ${seconds.toFixed(1)} s; ` +
      `every run passed the invariants after every step, liveness, acknowledged writes kept, linearizability (${opsChecked} ops checked) and watches (${watchRevisions} revisions checked)`,
  );
  return 0;
}

process.exitCode = main();
