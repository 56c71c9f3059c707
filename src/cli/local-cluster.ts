import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { loadConfig, type NodeConfig } from '../config/config.js';
import { NODE_PROCESS_FLAGS } from '../node/process-flags.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
/** How long a node may take to stop cleanly before it is killed. */
const STOP_GRACE_MS = 10_000;

/** The configs `npm start` and `npm run observe` run unless given `--config FILE`s. */
export const LOCAL_CLUSTER_CONFIGS = ['config/n1.yml', 'config/n2.yml', 'config/n3.yml'];

/**
 * The launchers' command line: `--help` prints the usage (exit 0), a bad flag
 * prints it on stderr (exit 2); otherwise the parsed values.
 */
export function parseLauncherArgs<O extends NonNullable<ParseArgsConfig['options']>>(usage: string, options: O): { ok: true; values: ReturnType<typeof parseArgs<{ options: O }>>['values'] } | { ok: false; code: number } {
  let parsed;
  try {
    parsed = parseArgs({ options: { ...options, help: { type: 'boolean', default: false } } });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${usage}\n`);
    return { ok: false, code: 2 };
  }
  if ((parsed.values as Record<string, unknown>)['help'] === true) {
    process.stdout.write(`${usage}\n`);
    return { ok: false, code: 0 };
  }
  return { ok: true, values: parsed.values as ReturnType<typeof parseArgs<{ options: O }>>['values'] };
}

/** A node of a local cluster: its checked config, and the file it came from. */
export interface LocalNode {
  readonly config: NodeConfig;
  readonly path: string;
}

/**
 * Reads and checks the configs of a local cluster before anything starts, so a
 * typo stops the launcher with the node's own message instead of one dead node.
 */
export function loadLocalNodes(paths: readonly string[]): { ok: true; nodes: LocalNode[] } | { ok: false; error: string } {
  const nodes: LocalNode[] = [];
  for (const path of paths) {
    const loaded = loadConfig(['--cfg_path', path], process.env);
    if (!loaded.ok) return { ok: false, error: `${path}:\n${loaded.error}` };
    nodes.push({ config: loaded.config, path });
  }
  return { ok: true, nodes };
}

/**
 * The node processes of a local cluster, each started as `node NODE_PROCESS_FLAGS
 * dist/src/main.js --cfg_path FILE`; every line a node prints goes to `onLine`. If one node exits,
 * the others are stopped too. `stop()` sends SIGTERM (a clean shutdown) to all and
 * SIGKILL to those still running after a grace period; `exited` resolves once every
 * node has exited.
 */
export class LocalCluster {
  readonly exited: Promise<void>;
  private readonly children = new Map<string, ChildProcess>();
  private stopping = false;

  constructor(nodes: readonly LocalNode[], onLine: (nodeId: string, line: string) => void, onExit: (nodeId: string, how: string) => void) {
    const exits: Promise<void>[] = [];
    for (const n of nodes) {
      const id = n.config.node.id;
      // KV_* variables of the launcher's shell reach every node, as they would one node started by hand.
      const child = spawn(process.execPath, [...NODE_PROCESS_FLAGS, MAIN, '--cfg_path', n.path], { stdio: ['ignore', 'pipe', 'pipe'] });
      this.children.set(id, child);
      for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on('line', (line) => onLine(id, line));
      exits.push(
        new Promise((resolve) =>
          child.once('exit', (code, signal) => {
            onExit(id, signal ?? String(code));
            this.children.delete(id);
            void this.stop();
            resolve();
          }),
        ),
      );
    }
    this.exited = Promise.all(exits).then(() => undefined);
  }

  stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      for (const c of this.children.values()) c.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const c of this.children.values()) c.kill('SIGKILL');
      }, STOP_GRACE_MS);
      void this.exited.then(() => clearTimeout(timer));
    }
    return this.exited;
  }
}
