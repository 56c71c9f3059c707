import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { ProcessCluster } from '../e2e/process-cluster.js';

const START = fileURLToPath(new URL('../../src/cli/start-cluster.js', import.meta.url));

let cluster: ProcessCluster;
before(async () => {
  cluster = await ProcessCluster.configure(3);
});
after(() => cluster?.stop());

/**
 * Runs the `npm start` launcher on the test's configs until a node logs that it
 * leads, then stops it with SIGTERM; returns every line it printed and its exit
 * code. The launcher and its nodes are one process group, killed if anything fails.
 */
async function runLauncher(extraArgs: readonly string[], env: NodeJS.ProcessEnv): Promise<{ lines: string[]; code: number | null }> {
  const args = [START, ...extraArgs, ...cluster.nodes.flatMap((n) => ['--config', n.cfgPath])];
  // KV_LOG_LEVEL reaches every node: the configs say warn, and we want the info lines.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true, env: { ...process.env, KV_LOG_LEVEL: 'info', ...env } });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no leader line within 15 s:\n${lines.join('\n')}`)), 15_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        if (/"role":"leader"|role=leader/.test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGTERM');
    const code = await exited;
    return { lines, code };
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
}

test('npm start prints the nodes\' logs for people: time, node, level, message, fields; exits 0 on SIGTERM', async () => {
  const { lines, code } = await runLauncher([], {});
  assert.equal(code, 0);
  const leader = lines.find((l) => /role=leader/.test(l))!;
  assert.match(leader, /^\d\d:\d\d:\d\d\.\d{3} n[123] INFO {2}role changed role=leader term=\d+ leader=n[123]$/);
  assert.ok(lines.some((l) => / n[123] INFO {2}node started /.test(l)), 'each node says it started');
  for (const id of ['n1', 'n2', 'n3']) assert.ok(lines.some((l) => new RegExp(` ${id} WARN  exited \\(0\\)$`).test(l)), `${id} exited cleanly`);
  assert.ok(!lines.some((l) => l.startsWith('{')), 'no raw JSON line');
});

test('npm start -- --json (or KVSTORE_LOG_FORMAT=json) prints the raw JSON lines', async () => {
  for (const [args, env] of [[['--json'], {}], [[], { KVSTORE_LOG_FORMAT: 'json' }]] as const) {
    const { lines, code } = await runLauncher(args, env);
    assert.equal(code, 0);
    for (const l of lines) {
      const record = JSON.parse(l) as Record<string, unknown>;
      assert.equal(typeof record['level'], 'number', l);
      assert.match(String(record['node']), /^n[123]$/);
    }
    assert.ok(lines.some((l) => (JSON.parse(l) as Record<string, unknown>)['role'] === 'leader'));
  }
});
