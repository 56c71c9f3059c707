import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/**
 * `npm start`: runs the local 3-node cluster of config/n1.yml … n3.yml (HTTP on
 * 8081–8083, data under ./data/), prefixing each node's log lines with its id.
 * Ctrl-C (or SIGTERM) stops all three cleanly; if one node dies, the others are
 * stopped too.
 */
const main = fileURLToPath(new URL('../main.js', import.meta.url));
const ids = ['n1', 'n2', 'n3'];
const children = new Map<string, ChildProcess>();
let stopping = false;

function stopAll(): void {
  if (stopping) return;
  stopping = true;
  for (const c of children.values()) c.kill('SIGTERM');
}

for (const id of ids) {
  const child = spawn(process.execPath, [main, '--cfg_path', `config/${id}.yml`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.set(id, child);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`[${id}] ${line}\n`));
  }
  child.on('exit', (code, signal) => {
    process.stdout.write(`[${id}] exited (${signal ?? code})\n`);
    children.delete(id);
    stopAll();
    if (children.size === 0) process.exit(0);
  });
}

process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
