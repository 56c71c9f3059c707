import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../bench/cli.js', import.meta.url));

function runBench(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

// Asserts only that the bench runs and reports: its numbers are measured by hand, never by a test.
test('npm run bench starts a fresh 3-node cluster, loads it in the open model, and reports rates, latencies and each node\'s CPU and memory', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  try {
    const json = join(dir, 'out.json');
    const r = await runBench(['--duration', '1.5', '--warmup', '0.5', '--rate', '100', '--key-space', '50', '--prefill', '--json', json]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /== kvstore .* open 100\/s/);
    assert.match(r.stdout, /server CPU [\d.]+ µs\/op/);
    assert.match(r.stdout, /n1 main thread woke \d+\/s, preempted \d+\/s · fsyncs \d+\/s of [\d.]+ ms/);
    assert.match(r.stderr, /\[kvstore\] \d+\/1.5 s · \d+\/s · errors \d+ · dropped \d+/, 'a progress line');
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { runs: { completed: number; latency: { all: { count: number; p999Ms: number } }; nodes: { cpuSeconds: number; peakRssMiB: number; fsyncsPerS: number | null }[] }[] };
    assert.equal(doc.runs.length, 1);
    const run = doc.runs[0]!;
    assert.ok(run.completed > 0);
    assert.ok(run.latency.all.count > 0);
    assert.equal(run.nodes.length, 3);
    for (const n of run.nodes) assert.ok(n.peakRssMiB > 0 && n.cpuSeconds >= 0 && n.fsyncsPerS !== null && n.fsyncsPerS > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('npm run bench refuses a bad flag with the usage and exit code 2, and prints it for --help', async () => {
  const bad = await runBench(['--mix', '50/50/50']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /add up to 100/);
  assert.match(bad.stderr, /usage: npm run bench/);
  const noMain = await runBench(['--node-main', '/nonexistent/dist/src/main.js']);
  assert.equal(noMain.code, 2);
  assert.match(noMain.stderr, /--node-main names no file: \/nonexistent\/dist\/src\/main\.js/);
  const evenNodes = await runBench(['--nodes', '2']);
  assert.equal(evenNodes.code, 2);
  assert.match(evenNodes.stderr, /--nodes is one of 1, 3, 5; got "2"/);
  const help = await runBench(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--vs-etcd/);
  assert.match(help.stdout, /--node-main FILE/);
  assert.match(help.stdout, /--nodes N/);
});

test('npm run bench --nodes 1 starts a one-node cluster and reports that node alone', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
  try {
    const json = join(dir, 'out.json');
    const r = await runBench(['--nodes', '1', '--model', 'closed', '--clients', '4', '--duration', '1', '--warmup', '0.3', '--key-space', '20', '--mix', '100/0/0', '--quiet', '--json', json]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(readFileSync(json, 'utf8')) as { runs: { completed: number; nodes: { name: string }[] }[] };
    assert.ok(doc.runs[0]!.completed > 0);
    assert.deepEqual(doc.runs[0]!.nodes.map((n) => n.name), ['n1']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
