// npm run machines:export: each machine's definition (JSON), its graph and a Mermaid state diagram, into dist/machines/.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { raftMachine } from '../../machines/raft.machine.js';
import { toMermaid } from '../debug/machine-graph.js';
import { roleMachineGraph } from '../ui/assets.js';

const OUT = fileURLToPath(new URL('../../machines/', import.meta.url));

/** The machine's config as JSON (what the Stately visualizer imports): functions stand as their names. */
export function machineDefinitionJson(): string {
  return JSON.stringify(raftMachine.config, (_k, v: unknown) => (typeof v === 'function' ? { type: (v as { name: string }).name || 'inline' } : v), 2) + '\n';
}

function main(): void {
  mkdirSync(OUT, { recursive: true });
  const graph = roleMachineGraph();
  const files: [string, string][] = [
    [`${raftMachine.id}.machine.json`, machineDefinitionJson()],
    [`${raftMachine.id}.graph.json`, JSON.stringify(graph, null, 2) + '\n'],
    [`${raftMachine.id}.mmd`, toMermaid(graph)],
  ];
  for (const [name, text] of files) {
    writeFileSync(join(OUT, name), text);
    console.log(`wrote ${join(OUT, name)}`);
  }
}

main();
