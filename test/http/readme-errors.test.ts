import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { errorCatalog } from '../../src/errors.js';

// Compiled to dist/test/http/, so the README is three folders up.
const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

test('the README "Errors" table lists exactly the catalog, with its HTTP status and gRPC code', () => {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('\n## Errors\n');
  assert.ok(start >= 0, 'README has an "## Errors" section');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, { http: number; grpc: string }>();
  for (const m of section.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|\s*`([A-Z_]+)`\s*\|/gm)) {
    assert.ok(!rows.has(m[1]!), `${m[1]} appears twice`);
    rows.set(m[1]!, { http: Number(m[2]), grpc: m[3]! });
  }
  const catalog = new Map(Object.entries(errorCatalog).map(([code, e]) => [code, { http: e.http, grpc: e.grpc }]));
  assert.deepEqual(rows, catalog);
});
