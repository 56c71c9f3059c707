// npm run bench -- [options]: load a fresh local kvstore cluster (3 nodes unless
// --nodes; or --endpoints) and, with --vs-etcd, an etcd of as many members side by
// side. See BENCHMARKS.md.
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { RateSearch, thresholdMiss } from './find-max.js';
import type { LoadModel, Progress } from './load.js';
import { median, modelText, ratios, ratioTable, runTable } from './report.js';
import { runOnce, stopLiveClusters, type RunResult, type RunSpec, type System } from './run.js';
import { parseMix } from './workload.js';

const USAGE = `usage: npm run bench -- [options]

  --model open|closed     open: constant arrival rate (default); closed: clients back to back
  --rate N                open model: arrivals per second (default 2000; --find-max starts here)
  --inflight-max N        open model: operations in flight at most; later arrivals are dropped (default 512)
  --clients N             closed model: clients (default 64)
  --duration S            measured seconds (default 10)
  --warmup S              seconds of load before measuring (default 15: V8 needs ~10 s of load to
                          optimise a follower's code, see BENCHMARKS.md "Warm-up")
  --key-space N           distinct 32-byte keys (default 10000)
  --prefill               PUT every key once before the warm-up
  --mix P/G/D             PUT/GET/DELETE percentages (default 50/45/5)
  --consistency C         GET consistency: linearizable (default), lease, stale
  --protocol rest|grpc    how the bench reaches kvstore (default rest; etcd is always gRPC)
  --connections N         REST: keep-alive connections per node (default 64)
  --leader-aware          send every request to the leader; else spread over all nodes
  --system kvstore|etcd   what to measure without --vs-etcd (default kvstore)
  --nodes N               cluster size for the clusters the bench starts: 1, 3 or 5 (default 3)
  --vs-etcd               the same runs against an etcd of as many members, interleaved with ours
  --repeat N              repetitions (default 1; 3 with --vs-etcd)
  --find-max              search the highest open-model rate meeting the k6 thresholds
  --find-max-steps N      rates per search at most (default 10)
  --find-max-runs N       runs per rate, an odd number: a rate is met when most of them meet the
                          thresholds, and is run again until most agree (default 3; 1 is one run per rate)
  --node-config K=V       a kvstore config key for every node, e.g. http.forward_writes=true (repeatable)
  --cpu-prof DIR          kvstore nodes run with node --cpu-prof, profiles written to DIR
  --node-arg FLAG         a Node.js flag for every kvstore node, e.g. --node-arg=--single-threaded-gc (repeatable)
  --node-main FILE        start kvstore nodes from FILE (another build's dist/src/main.js) instead of this build's
  --endpoints A,B,C       a running kvstore cluster (REST URLs, or host:port for gRPC) instead of a fresh one
  --seed N                workload seed (default 1)
  --json FILE             write the results as JSON to FILE (default: print them after the tables)
  --quiet                 no progress line`;

const options = {
  model: { type: 'string', default: 'open' },
  rate: { type: 'string', default: '2000' },
  'inflight-max': { type: 'string', default: '512' },
  clients: { type: 'string', default: '64' },
  duration: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '15' },
  'key-space': { type: 'string', default: '10000' },
  prefill: { type: 'boolean', default: false },
  mix: { type: 'string', default: '50/45/5' },
  consistency: { type: 'string', default: 'linearizable' },
  protocol: { type: 'string', default: 'rest' },
  connections: { type: 'string', default: '64' },
  'leader-aware': { type: 'boolean', default: false },
  system: { type: 'string', default: 'kvstore' },
  nodes: { type: 'string', default: '3' },
  'vs-etcd': { type: 'boolean', default: false },
  repeat: { type: 'string' },
  'find-max': { type: 'boolean', default: false },
  'find-max-steps': { type: 'string', default: '10' },
  'find-max-runs': { type: 'string', default: '3' },
  'node-config': { type: 'string', multiple: true },
  'cpu-prof': { type: 'string' },
  'node-arg': { type: 'string', multiple: true },
  'node-main': { type: 'string' },
  endpoints: { type: 'string' },
  seed: { type: 'string', default: '1' },
  json: { type: 'string' },
  quiet: { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} satisfies ParseArgsConfig['options'];

class UsageError extends Error {}

function positive(name: string, text: string, integer = true): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`);
  return n;
}

function oddPositive(name: string, text: string): number {
  const n = positive(name, text);
  if (n % 2 === 0) throw new UsageError(`--${name} must be odd (a majority decides), got ${n}`);
  return n;
}

function oneOf<T extends string>(name: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`--${name} is one of ${allowed.join(', ')}; got ${JSON.stringify(text)}`);
  return text as T;
}

/** `http.forward_writes=true` → { http: ['forward_writes: true'] }. */
function nodeConfigOf(pairs: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const p of pairs) {
    const m = /^([a-z]+)\.([a-z_]+)=(.*)$/.exec(p);
    if (m === null) throw new UsageError(`--node-config is section.key=value, like http.forward_writes=true; got ${JSON.stringify(p)}`);
    (out[m[1]!] ??= []).push(`${m[2]!}: ${m[3]!}`);
  }
  return out;
}

interface Plan {
  readonly base: RunSpec;
  readonly systems: readonly System[];
  readonly repeat: number;
  readonly findMax: boolean;
  readonly findMaxSteps: number;
  readonly findMaxRuns: number;
  readonly json: string | null;
  readonly quiet: boolean;
}

function planOf(argv: readonly string[]): Plan | 'help' {
  const { values: v } = parseArgs({ args: [...argv], options, allowPositionals: false });
  if (v.help) return 'help';
  const mix = parseMix(v.mix);
  if (typeof mix === 'string') throw new UsageError(mix);
  const kind = oneOf('model', v.model, ['open', 'closed'] as const);
  const findMax = v['find-max'];
  const model: LoadModel =
    kind === 'open' || findMax ? { kind: 'open', ratePerS: positive('rate', v.rate), inflightMax: positive('inflight-max', v['inflight-max']) } : { kind: 'closed', clients: positive('clients', v.clients) };
  const vsEtcd = v['vs-etcd'];
  const system = oneOf('system', v.system, ['kvstore', 'etcd'] as const);
  const endpoints = v.endpoints === undefined ? null : v.endpoints.split(',').filter((e) => e !== '');
  if (endpoints !== null && (vsEtcd || system === 'etcd')) throw new UsageError('--endpoints names a running kvstore cluster; --vs-etcd and --system etcd start their own');
  const nodes = Number(oneOf('nodes', v.nodes, ['1', '3', '5'] as const));
  const cpuProf = v['cpu-prof'];
  const nodeMain = v['node-main'] === undefined ? null : resolve(v['node-main']);
  if (nodeMain !== null && !existsSync(nodeMain)) throw new UsageError(`--node-main names no file: ${nodeMain}`);
  const base: RunSpec = {
    system,
    protocol: oneOf('protocol', v.protocol, ['rest', 'grpc'] as const),
    model,
    seconds: positive('duration', v.duration, false),
    warmupSeconds: v.warmup === '0' ? 0 : positive('warmup', v.warmup, false),
    keySpace: positive('key-space', v['key-space']),
    prefill: v.prefill,
    mix,
    consistency: oneOf('consistency', v.consistency, ['linearizable', 'lease', 'stale'] as const),
    leaderAware: v['leader-aware'],
    connectionsPerNode: positive('connections', v.connections),
    seed: positive('seed', v.seed),
    nodeConfig: nodeConfigOf(v['node-config'] ?? []),
    nodeArgs: [...(v['node-arg'] ?? []), ...(cpuProf === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProf])],
    nodeMain,
    endpoints,
    nodes,
  };
  return {
    base,
    systems: vsEtcd ? ['kvstore', 'etcd'] : [system],
    repeat: v.repeat === undefined ? (vsEtcd && !findMax ? 3 : 1) : positive('repeat', v.repeat),
    findMax,
    findMaxSteps: positive('find-max-steps', v['find-max-steps']),
    findMaxRuns: oddPositive('find-max-runs', v['find-max-runs']),
    json: v.json ?? null,
    quiet: v.quiet,
  };
}

function progressFor(quiet: boolean, seconds: number): (label: string) => Progress | null {
  if (quiet) return () => null;
  const tty = process.stderr.isTTY;
  return (label) => (elapsedS, completed, failed, dropped) => {
    const line = `[${label}] ${elapsedS.toFixed(0)}/${seconds} s · ${Math.round(completed / Math.max(elapsedS, 1e-3))}/s · errors ${failed} · dropped ${dropped}`;
    process.stderr.write(tty ? `\r${line.padEnd(79)}` : `${line}\n`);
  };
}

function machine(): Record<string, unknown> {
  return { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, loadAverage: loadavg().map((x) => Math.round(x * 100) / 100) };
}

async function measure(plan: Plan): Promise<Record<string, unknown>> {
  const progress = progressFor(plan.quiet, plan.base.seconds);
  const say = (text: string): void => {
    if (process.stderr.isTTY && !plan.quiet) process.stderr.write('\r'.padEnd(80) + '\r');
    process.stdout.write(`${text}\n`);
  };
  if (plan.findMax) {
    const searches = plan.systems.map((system) => ({ system, search: new RateSearch(plan.base.model.kind === 'open' ? plan.base.model.ratePerS : 1000, 0.1, plan.findMaxSteps, plan.findMaxRuns) }));
    for (let active = true; active; ) {
      active = false;
      // The systems' searches advance in turn, so both see the machine in the same state.
      for (const { system, search } of searches) {
        const rate = search.next();
        if (rate === null) continue;
        active = true;
        const model: LoadModel = { kind: 'open', ratePerS: rate, inflightMax: plan.base.model.kind === 'open' ? plan.base.model.inflightMax : 512 };
        const r = await runOnce({ ...plan.base, system, model }, progress);
        search.report(rate, r);
        const miss = thresholdMiss(r);
        say(`${runTable(r)}\n   thresholds: ${miss === null ? 'met' : `missed (${miss})`}\n`);
      }
    }
    const found = searches.map(({ system, search }) => {
      const b = search.best();
      return { system, maxRatePerS: b?.rate ?? null, p99Ms: b?.run.latency.all.p99Ms ?? null, p999Ms: b?.run.latency.all.p999Ms ?? null, steps: search.steps.map((s) => ({ rate: s.rate, miss: s.miss, result: s.run })) };
    });
    say('== --find-max (k6 thresholds: failed+dropped < 1%, p99 GET < 10 ms, p99 PUT/DELETE < 50 ms)');
    for (const f of found) say(`   ${f.system}: ${f.maxRatePerS === null ? 'no rate met the thresholds' : `${f.maxRatePerS}/s · p99 ${f.p99Ms} ms · p99.9 ${f.p999Ms} ms (p99.9/p99 ${((f.p999Ms ?? 0) / (f.p99Ms ?? 1)).toFixed(2)})`}`);
    const ours = found.find((f) => f.system === 'kvstore')?.maxRatePerS;
    const etcd = found.find((f) => f.system === 'etcd')?.maxRatePerS;
    if (ours !== undefined && ours !== null && etcd !== undefined && etcd !== null) say(`   ours / etcd: ${(ours / etcd).toFixed(2)}`);
    return { findMax: found };
  }
  const runs: RunResult[] = [];
  const pairs: { ours: RunResult; etcd: RunResult }[] = [];
  for (let rep = 0; rep < plan.repeat; rep++) {
    // Alternate which system goes first, so a drift in the machine's load favours neither.
    const order = rep % 2 === 0 ? plan.systems : [...plan.systems].reverse();
    const byRep = new Map<System, RunResult>();
    for (const system of order) {
      const r = await runOnce({ ...plan.base, system }, progress);
      runs.push(r);
      byRep.set(system, r);
      say(`${runTable(r)}\n`);
    }
    if (byRep.has('kvstore') && byRep.has('etcd')) pairs.push({ ours: byRep.get('kvstore')!, etcd: byRep.get('etcd')! });
  }
  const out: Record<string, unknown> = { runs };
  if (pairs.length > 0) {
    const rs = ratios(pairs);
    say(`== ours / etcd over ${pairs.length} repetition(s), ${modelText(pairs[0]!.ours)}\n${ratioTable(rs)}`);
    out['ratios'] = rs.map((r) => ({ ...r, median: median(r.perRepetition) }));
  }
  return out;
}

async function main(): Promise<number> {
  let plan: Plan | 'help';
  try {
    plan = planOf(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError) && !(e instanceof TypeError)) throw e;
    process.stderr.write(`${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (plan === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const startedAt = new Date().toISOString();
  const machineBefore = machine();
  const results = await measure(plan);
  const doc = { startedAt, machine: machineBefore, loadAverageAfter: loadavg().map((x) => Math.round(x * 100) / 100), argv: process.argv.slice(2), ...results };
  const text = JSON.stringify(doc, null, 2);
  if (plan.json === null) process.stdout.write(`${text}\n`);
  else writeFileSync(plan.json, `${text}\n`);
  return 0;
}

// Interrupted: the nodes it started go with it (a child process outlives a parent that Node's default handler ends).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench: ${signal}, stopping the clusters it started\n`);
    void stopLiveClusters().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
