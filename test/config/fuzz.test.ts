// Config files and KV_* variables fuzzed: mutations of a valid config, random YAML
// text, random environments, and a few real node processes started on broken
// files. The loader must never throw; every problem is a `config error:` line
// naming a key; secrets are never echoed; a node refuses to start with exit code 2.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { configKeys, parseConfig, type ConfigResult } from '../../src/config/config.js';
import { fuzzRuns } from '../fuzz-budget.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kvstore-config-fuzz-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Tree = Record<string, Record<string, unknown>>;

const valid = (): Tree => ({
  node: { id: 'n1', data_dir: join(dir, 'data') },
  raft: {
    metrics_addr: '127.0.0.1:2112',
    peers: [1, 2, 3].map((i) => ({ id: `n${i}`, raft_addr: `127.0.0.1:708${i}`, http_addr: `127.0.0.1:808${i}`, grpc_addr: `127.0.0.1:908${i}` })),
  },
});

/** Values of every kind, some close to valid ones. */
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom('', '127.0.0.1:0', '[::1]:7081', 'none', 'required', 'true', '-1', join(dir, 'missing.pem'), '0.0.0.0:8081'),
  fc.integer({ min: -5, max: 100_000 }),
  fc.constantFrom(0, 2 ** 31, Number.MAX_SAFE_INTEGER, 1.5),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.record({ name: fc.string({ maxLength: 6 }), role: fc.string({ maxLength: 6 }) })), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 2 }),
);

type Mutation =
  | { kind: 'set'; path: string; value: unknown }
  | { kind: 'delete'; path: string }
  | { kind: 'peer'; index: number; field: string; value: unknown }
  | { kind: 'unknown'; section: string; key: string; value: unknown };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), path: fc.constantFrom(...configKeys.map((k) => k.path)), value: valueArb }),
  fc.record({ kind: fc.constant('delete' as const), path: fc.constantFrom('node.id', 'node.data_dir', 'raft.metrics_addr', 'raft.peers') }),
  fc.record({ kind: fc.constant('peer' as const), index: fc.nat(2), field: fc.constantFrom('id', 'raft_addr', 'http_addr', 'grpc_addr', 'extra'), value: valueArb }),
  fc.record({ kind: fc.constant('unknown' as const), section: fc.constantFrom('node', 'http', 'grpc', 'raft', 'auth', 'log', 'tls', 'misc'), key: fc.string({ minLength: 1, maxLength: 10 }), value: valueArb }),
);

function apply(tree: Tree, m: Mutation): Tree {
  const t = structuredClone(tree);
  switch (m.kind) {
    case 'set': {
      const [section, key] = m.path.split('.') as [string, string];
      (t[section] ??= {})[key] = m.value;
      return t;
    }
    case 'delete': {
      const [section, key] = m.path.split('.') as [string, string];
      delete t[section]?.[key];
      return t;
    }
    case 'peer': {
      // An earlier mutation may have replaced or removed the list: then there is no entry to change.
      const peers: unknown = t['raft']?.['peers'];
      const entry: unknown = Array.isArray(peers) ? peers[m.index] : undefined;
      if (typeof entry === 'object' && entry !== null) (entry as Record<string, unknown>)[m.field] = m.value;
      return t;
    }
    case 'unknown':
      (t[m.section] ??= {})[m.key] = m.value;
      return t;
  }
}

function describeMutation(m: Mutation): string {
  return JSON.stringify(m);
}

function assertWellFormed(r: ConfigResult, what: string): void {
  if (r.ok) return;
  const lines = r.error.split('\n');
  assert.ok(lines.length > 0);
  for (const line of lines) assert.match(line, /^config error: \S/, `${what}: ${line}`);
}

test('mutated config files: the loader never throws, and every problem is a config error line naming a key', () => {
  fc.assert(
    fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (mutations) => {
      const tree = mutations.reduce((t, m) => apply(t, m), valid());
      const r = parseConfig(stringify(tree), {}, 'fuzz.yml');
      const what = mutations.map(describeMutation).join(' ');
      assertWellFormed(r, what);
      if (r.ok) {
        assert.ok(Object.isFrozen(r.config) && Object.isFrozen(r.config.raft));
        return;
      }
      // A secret is never echoed by the lines about it. (Short values could be words of the message itself, like "none".)
      for (const m of mutations) {
        if (m.kind !== 'set' || m.path !== 'raft.secret' || typeof m.value !== 'string' || m.value.length < 4) continue;
        const secret = m.value;
        for (const line of r.error.split('\n').filter((l) => l.startsWith('config error: raft.secret'))) assert.ok(!line.includes(secret) || 'expected a string of at least 16 characters (or null for none)'.includes(secret), `the secret appears in: ${line}`);
      }
      // One mutation alone that breaks the config is named by the error.
      const [only] = mutations;
      if (mutations.length === 1 && only !== undefined) {
        const named = only.kind === 'peer' ? 'raft.peers' : only.kind === 'unknown' ? only.section : only.path.split('.')[0]!;
        assert.ok(r.error.includes(named), `${what} → ${r.error}`);
      }
    }),
    { numRuns: fuzzRuns(300) },
  );
});

test('random text as a config file, and random KV_* variables: never a throw, only config error lines', () => {
  const envArb = fc.dictionary(fc.oneof(fc.constantFrom(...configKeys.map((k) => k.env)), fc.constantFrom('KV_', 'KV_NOPE', 'KV_RAFT_SHARED_SECRET')), fc.string({ maxLength: 30 }), { maxKeys: 4 });
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom('{', ': :', '- a\n- b', 'node: [', '&a [*a, *a]', 'a: !!binary x', '%YAML 9.9\n---\nx')), envArb, (text, env) => {
      assertWellFormed(parseConfig(text, env, 'random.yml'), JSON.stringify(text));
      assertWellFormed(parseConfig(stringify(valid()), env, 'valid.yml'), JSON.stringify(env));
    }),
    { numRuns: fuzzRuns(300) },
  );
});

test('a node started on a broken file exits 2, printing only config error lines', async () => {
  const samples = fc.sample(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), { numRuns: 60, seed: 13 });
  const broken = samples
    .map((ms) => stringify(ms.reduce((t, m) => apply(t, m), valid())))
    .filter((text) => !parseConfig(text, {}, 'x').ok)
    .slice(0, fuzzRuns(3));
  assert.ok(broken.length > 0);
  for (const [i, text] of broken.entries()) {
    const file = join(dir, `broken-${i}.yml`);
    writeFileSync(file, text);
    const { code, stderr, stdout } = await new Promise<{ code: number | null; stderr: string; stdout: string }>((resolve) => {
      // No KV_* from the test's own environment.
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KV_')));
      const p = spawn(process.execPath, [MAIN, '-cfg_path', file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      let out = '';
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', (c) => resolve({ code: c, stderr: err, stdout: out }));
    });
    assert.equal(code, 2, `${text}\n${stderr}${stdout}`);
    assert.equal(stdout, '');
    for (const line of stderr.trimEnd().split('\n')) assert.match(line, /^config error: /, `${text}\n→ ${stderr}`);
  }
});
