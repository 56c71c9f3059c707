import { readFileSync } from 'node:fs';
import { messageTypes, raftMachine } from '../../machines/raft.machine.js';
import { machineGraph, type MachineGraph } from '../debug/machine-graph.js';

/** The cluster page's files, from the package's ui/ folder (beside dist/). */
const UI_DIR = new URL('../../../ui/', import.meta.url);

export type UiMode = 'live' | 'replay';

export interface UiAsset {
  readonly type: string;
  readonly body: string;
}

/** The role machine as the page draws it: read from the machine's definition. */
export function roleMachineGraph(): MachineGraph {
  return machineGraph(raftMachine, { events: messageTypes, name: 'any message' });
}

/**
 * The page and everything it loads, read once: the page is self-contained (no
 * CDN, no external font or script), so it works on a network with no way out.
 */
export function loadUiAssets(mode: UiMode): { readonly page: UiAsset; readonly assets: ReadonlyMap<string, UiAsset> } {
  const read = (name: string): string => readFileSync(new URL(name, UI_DIR), 'utf8');
  const page = read('index.html').replaceAll('{{MODE}}', mode).replaceAll('{{BASE}}', '/ui');
  return {
    page: { type: 'text/html; charset=utf-8', body: page },
    assets: new Map([
      ['app.js', { type: 'text/javascript; charset=utf-8', body: read('app.js') }],
      ['app.css', { type: 'text/css; charset=utf-8', body: read('app.css') }],
      ['machine.json', { type: 'application/json', body: JSON.stringify(roleMachineGraph()) }],
    ]),
  };
}
