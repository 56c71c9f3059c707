// Where a node's CPU time went: reads a V8 .cpuprofile (node --cpu-prof, as
// `npm run bench -- --cpu-prof DIR` writes one per node) and prints the self time
// by area (our modules by folder, each dependency, Node.js internals, GC, idle)
// and the functions with the most self time.
//
//   node dist/bench/profile-summary.js FILE.cpuprofile [--top N]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** The area a function belongs to: `src/raft`, `xstate`, `node:internal`, `(garbage collector)`, … */
export function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dep !== null) return dep[1]!;
  if (url.startsWith('node:')) return 'node:internal';
  const ours = /\/dist\/((?:src|machines|sim|bench)\/(?:[^/]+\/)?)/.exec(url);
  if (ours !== null) return ours[1]!.replace(/\/$/, '').replace(/\/[^/]+\.js$/, '');
  return url;
}

export function summarize(profile: CpuProfile, top: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const totalUs = profile.endTime - profile.startTime;
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const area = areaOf(f.url, f.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const file = f.url.replace(/^.*\/(dist|node_modules)\//, '');
    const name = `${f.functionName || '(anonymous)'} ${file}${file === '' ? '' : `:${f.lineNumber + 1}`}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
  }
  const busyUs = totalUs - (areas.get('(idle)') ?? 0);
  const pct = (us: number, of: number): string => `${((100 * us) / of).toFixed(1).padStart(5)}%`;
  const lines = [`profile ${(totalUs / 1e6).toFixed(1)} s, busy ${(busyUs / 1e6).toFixed(1)} s (${pct(busyUs, totalUs).trim()}); shares of busy time:`];
  lines.push('  by area (self time):');
  for (const [a, us] of [...areas].filter(([a]) => a !== '(idle)').sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`    ${pct(us, busyUs)}  ${a}`);
  lines.push('  by function (self time):');
  for (const [f, us] of [...functions].filter(([f]) => !f.startsWith('(idle)')).sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`    ${pct(us, busyUs)}  ${f}`);
  return lines.join('\n');
}

function main(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  if (positionals.length === 0) {
    process.stderr.write('usage: node dist/bench/profile-summary.js FILE.cpuprofile... [--top N]\n');
    process.exit(2);
  }
  for (const file of positionals) process.stdout.write(`${file}\n${summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(values.top))}\n\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
