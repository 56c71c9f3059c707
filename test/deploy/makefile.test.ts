import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TARGETS = ['help', 'build', 'test', 'lint', 'typecheck', 'start', 'observe', 'sim', 'soak', 'bench', 'bench-memory', 'fuzz', 'docker-build', 'compose-up', 'compose-down'];

function make(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('make', ['--no-print-directory', '-C', ROOT, ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('make help (the default goal) lists every target with what it does', () => {
  for (const out of [make('help').stdout, make().stdout]) {
    const listed = out.trimEnd().split('\n').map((l) => /^ {2}([a-z-]+) +(\S.*)$/.exec(l));
    assert.ok(listed.every((m) => m !== null), out);
    assert.deepEqual(listed.map((m) => m![1]), TARGETS);
  }
});

test('every target is one call of an npm script that exists, or of docker with compose/', () => {
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  for (const target of TARGETS.filter((t) => t !== 'help')) {
    const r = make('-n', target, 'ARGS=--x 1');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1, `${target}: ${r.stdout}`);
    const cmd = lines[0]!;
    const npm = /^npm (?:run (\S+)|(test|start))(?: -- --x 1)?$/.exec(cmd);
    if (npm !== null) {
      const script = npm[1] ?? npm[2]!;
      assert.ok(script in scripts, `${target}: npm script ${script} exists`);
      if (['start', 'observe', 'sim', 'soak', 'bench-memory'].includes(target)) assert.ok(cmd.endsWith(' -- --x 1'), `${target} passes ARGS`);
      continue;
    }
    assert.match(cmd, /^docker (build -f compose\/Dockerfile -t \S+ \.|compose -f compose\/docker-compose\.yml (up -d --build|down))$/, `${target}: ${cmd}`);
  }
});
