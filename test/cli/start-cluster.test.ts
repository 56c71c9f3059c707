import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { ProcessCluster } from '../e2e/process-cluster.js';

const START = fileURLToPath(new URL('../../src/cli/start-cluster.js', import.meta.url));

let cluster: ProcessCluster;
const LAUNCH_ATTEMPTS_MAX = 3;
/** Generous: three nodes start and elect on a loaded 2-core machine. */
const LEADER_LINE_TIMEOUT_MS = 30_000;
before(async () => {
  cluster = await ProcessCluster.configure(3);
});
after(() => cluster?.stop());

/**
 * Runs the `npm start` launcher on the test's configs until a node logs that it
 * leads, then stops it with SIGTERM; returns every line it printed and its exit
 * code. The launcher and its nodes are one process group, killed if anything fails.
 */
async function runLauncherOnce(extraArgs: readonly string[], env: NodeJS.ProcessEnv): Promise<{ lines: string[]; code: number | null }> {
  const args = [START, ...extraArgs, ...cluster.nodes.flatMap((n) => ['--config', n.cfgPath])];
  // KV_LOG_LEVEL reaches every node: the configs say warn, and we want the info lines.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], detached: true, env: { ...process.env, KV_LOG_LEVEL: 'info', ...env } });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    // Settles when a node leads, or when the launcher exits first (a node could not start).
    const led = await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no leader line within ${LEADER_LINE_TIMEOUT_MS} ms:\n${lines.join('\n')}`)), LEADER_LINE_TIMEOUT_MS);
      void exited.then(() => {
        clearTimeout(timer);
        resolve(false);
      });
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        if (/"role":"leader"|role=leader/.test(line)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
    });
    if (led) child.kill('SIGTERM');
    const code = await exited;
    return { lines, code };
  } finally {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
}

/**
 * The ports `configure` probed free can be taken before the nodes bind them (other
 * test files and suites run beside us): then the run is repeated on fresh ports.
 */
async function runLauncher(extraArgs: readonly string[], env: NodeJS.ProcessEnv): Promise<{ lines: string[]; code: number | null }> {
  for (let attempt = 1; ; attempt++) {
    const run = await runLauncherOnce(extraArgs, env);
    if (attempt === LAUNCH_ATTEMPTS_MAX || !run.lines.some((l) => l.includes('EADDRINUSE'))) return run;
    await cluster.stop();
    cluster = await ProcessCluster.configure(3);
  }
}

test('npm start prints the nodes\' logs for people: time, node, level, message, fields; exits 0 on SIGTERM', async () => {
  const { lines, code } = await runLauncher([], {});
  assert.equal(code, 0);
  const leader = lines.find((l) => /role=leader/.test(l))!;
  assert.match(leader, /^\d\d:\d\d:\d\d\.\d{3} n[123] INFO {2}role changed role=leader term=\d+ leader=n[123] from=candidate input=\d+ event="[^"]+"$/);
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
