import { faultClasses, randomFaultSchedule, type FaultClass, type FaultKind } from './faults.js';
import { Prng } from './prng.js';
import type { SimOptions } from './run.js';
import { describeSwarm, drawSwarm } from './swarm.js';

export const simUsage = `usage: npm run sim -- [options]

Runs one simulated cluster: a faulty phase, then a liveness phase; checks every
Raft invariant after every step, then liveness, that no acknowledged write was
lost, and the linearizability of the clients' history. Prints one summary line;
on a violation prints the property, the nodes and the trace before it, exits 1.

  --seed S              the run's seed (default 1): same seed, same trace
  --nodes N             cluster size (default 3)
  --steps T             most events in the faulty phase (default 200000)
  --ops K               client operations, at most (default 1000000)
  --clients C           simulated clients (default 5)
  --duration-ms D       simulated length of the faulty phase (default 60000)
  --faults LIST         none, all, or classes among ${Object.keys(faultClasses).join(', ')} (default all:
                        every class but members); members: membership changes (add a
                        learner, promote, remove, the leader included) and leadership
                        transfers asked of the leader, every node a voter again in the
                        liveness phase; it runs only when named (members,all)
  --swarm on|off        on (default): the seed also draws which of those faults run and
                        how hard, the timing, the clocks' drift (within the lease bound),
                        flow control, snapshot interval, client routing and read modes;
                        off: every fault kind at fixed intensities, default settings
  --snapshot-every E    snapshot every E applied entries (default: the swarm's, or 500)
  --trace FILE          write the run to FILE as JSON lines: each node's inputs, transitions
                        and states with simulated times (npm run sim:view -- FILE shows it);
                        the run is the same with or without it (same trace hash)
  --check-determinism   run twice and report the first trace event where the runs differ
  --check-stale-reads   check stale reads for linearizability too: they are not linearizable
                        (and are then read from the node that has applied least), so a run
                        with faults fails (to see the checker and the viewer at work)
  --help                this text`;

export const soakUsage = `usage: npm run sim:soak -- [--runs R] [--first-seed S] [sim options]

Runs seeds S, S+1, ... (R of them, default 2000 from 1), alternating 3- and 5-node
clusters unless --nodes is given, 20 s of simulated time each unless --duration-ms
is given, and stops at the first violation, printing how to replay it. Every other
option is passed to each run (see npm run sim -- --help).`;

export type ParsedSimArgs =
  | { readonly options: SimOptions; readonly checkDeterminism: boolean; readonly swarm: string | null; readonly trace: string | null }
  | { readonly help: true }
  | { readonly error: string };

/** Parses the simulator's command line into run options, or returns an error message naming the flag. */
export function parseSimArgs(argv: readonly string[]): ParsedSimArgs {
  const flags = new Map<string, string>();
  let checkDeterminism = false;
  let checkStaleReads = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return { help: true };
    if (a === '--check-determinism') {
      checkDeterminism = true;
      continue;
    }
    if (a === '--check-stale-reads') {
      checkStaleReads = true;
      continue;
    }
    if (!a.startsWith('--')) return { error: `unexpected argument ${a}` };
    const v = argv[i + 1];
    if (v === undefined) return { error: `${a} needs a value` };
    flags.set(a.slice(2), v);
    i++;
  }
  const known = new Set(['seed', 'nodes', 'steps', 'ops', 'faults', 'clients', 'duration-ms', 'snapshot-every', 'swarm', 'trace']);
  const trace = flags.get('trace') ?? null;
  for (const k of flags.keys()) if (!known.has(k)) return { error: `unknown flag --${k} (known: ${[...known].map((x) => `--${x}`).join(' ')} --check-determinism --check-stale-reads --help)` };
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
  const swarmFlag = flags.get('swarm') ?? 'on';
  if (swarmFlag !== 'on' && swarmFlag !== 'off') return { error: `--swarm is on or off, got ${swarmFlag}` };
  const classes = (flags.get('faults') ?? 'all').split(',').filter((s) => s !== '');
  const kinds: FaultKind[] = [];
  for (const c of classes) {
    if (c === 'none') continue;
    // Membership faults change the cluster's shape: they run when named, not with `all`.
    if (c === 'all') kinds.push(...Object.entries(faultClasses).flatMap(([name, ks]) => (name === 'members' ? [] : ks)));
    else if (c in faultClasses) kinds.push(...faultClasses[c as FaultClass]);
    else return { error: `--faults: unknown class ${c} (use none, all or a list of ${Object.keys(faultClasses).join(', ')})` };
  }
  const duration = durationMs as number;
  const base = {
    seed: seed as number,
    nodes: nodes as number,
    steps: steps as number,
    ops: ops as number,
    clients: clients as number,
    durationMs: duration,
    ...(checkStaleReads ? { checkStaleReads } : {}),
  };
  if (swarmFlag === 'off') {
    const faults = randomFaultSchedule(new Prng(seed as number, 'faults'), kinds, duration, Math.ceil(duration / 1000));
    return { options: { ...base, faults, snapshotEveryEntries: snapshotEvery as number }, checkDeterminism, swarm: null, trace };
  }
  const swarm = drawSwarm(new Prng(seed as number, 'swarm'), { allowed: kinds, durationMs: duration, nodes: nodes as number, clients: clients as number });
  return {
    options: {
      ...base,
      faults: swarm.faults,
      network: swarm.network,
      raft: swarm.raft,
      routing: swarm.routing,
      readModes: swarm.readModes,
      clockDriftPpm: swarm.clockDriftPpm,
      snapshotEveryEntries: flags.has('snapshot-every') ? (snapshotEvery as number) : swarm.snapshotEveryEntries,
    },
    checkDeterminism,
    swarm: describeSwarm(swarm),
    trace,
  };
}
