import { faultClasses, randomFaultSchedule, type FaultClass, type FaultKind } from './faults.js';
import { Prng } from './prng.js';
import type { SimOptions } from './run.js';

/** Parses the simulator's command line into run options, or returns an error message naming the flag. */
export function parseSimArgs(argv: readonly string[]): { options: SimOptions; checkDeterminism: boolean } | { error: string } {
  const flags = new Map<string, string>();
  let checkDeterminism = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--check-determinism') {
      checkDeterminism = true;
      continue;
    }
    if (!a.startsWith('--')) return { error: `unexpected argument ${a}` };
    const v = argv[i + 1];
    if (v === undefined) return { error: `${a} needs a value` };
    flags.set(a.slice(2), v);
    i++;
  }
  const known = new Set(['seed', 'nodes', 'steps', 'ops', 'faults', 'clients', 'duration-ms', 'snapshot-every']);
  for (const k of flags.keys()) if (!known.has(k)) return { error: `unknown flag --${k} (known: ${[...known].map((x) => `--${x}`).join(' ')})` };
  const int = (k: string, dflt: number, min: number): number | string => {
    const v = flags.get(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    return Number.isSafeInteger(n) && n >= min ? n : `--${k} must be an integer >= ${min}, got ${v}`;
  };
  const seed = int('seed', 1, 0);
  const nodes = int('nodes', 3, 1);
  const steps = int('steps', 200_000, 1);
  const ops = int('ops', 1_000_000, 1);
  const clients = int('clients', 5, 0);
  const durationMs = int('duration-ms', 60_000, 1);
  const snapshotEvery = int('snapshot-every', 500, 1);
  for (const v of [seed, nodes, steps, ops, clients, durationMs, snapshotEvery]) if (typeof v === 'string') return { error: v };
  const classes = (flags.get('faults') ?? 'all').split(',').filter((s) => s !== '');
  const kinds: FaultKind[] = [];
  for (const c of classes) {
    if (c === 'none') continue;
    if (c === 'all') kinds.push(...Object.values(faultClasses).flat());
    else if (c in faultClasses) kinds.push(...faultClasses[c as FaultClass]);
    else return { error: `--faults: unknown class ${c} (use none, all or a list of ${Object.keys(faultClasses).join(', ')})` };
  }
  const duration = durationMs as number;
  const schedule = randomFaultSchedule(new Prng(seed as number, 'faults'), kinds, duration, Math.ceil(duration / 1000));
  return {
    options: {
      seed: seed as number,
      nodes: nodes as number,
      steps: steps as number,
      ops: ops as number,
      clients: clients as number,
      durationMs: duration,
      faults: schedule,
      snapshotEveryEntries: snapshotEvery as number,
    },
    checkDeterminism,
  };
}
