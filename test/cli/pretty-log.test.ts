import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { prettyLogLine } from '../../src/cli/pretty-log.js';
import type { Logger } from '../../src/log.js';

/** What a node's logger writes, captured. */
function logged(write: (log: Logger) => void): string[] {
  const lines: string[] = [];
  const log = pino({ level: 'trace', base: { node: 'n2' } }, { write: (s: string) => lines.push(s.trimEnd()) });
  write(log);
  return lines;
}

test('a pino line becomes time, node, level, message and fields', () => {
  const [line] = logged((log) => log.info({ role: 'leader', term: 3, leader: 'n2', http: { host: '127.0.0.1', port: 8081 }, note: 'two words' }, 'role changed'));
  const out = prettyLogLine(line!, 'n2', false);
  assert.match(out, /^\d\d:\d\d:\d\d\.\d{3} n2 INFO {2}role changed role=leader term=3 leader=n2 http=\{"host":"127.0.0.1","port":8081\} note="two words"$/);
});

test('levels are named, coloured only when asked; an error shows its message and stack', () => {
  const [warn, fatal] = logged((log) => {
    log.warn('careful');
    log.fatal({ err: new Error('disk gone') }, 'storage failed');
  });
  assert.match(prettyLogLine(warn!, 'n2', false), / n2 WARN {2}careful$/);
  assert.ok(prettyLogLine(warn!, 'n2', true).endsWith(' n2 \u001b[33mWARN \u001b[0m careful'), 'WARN in yellow');
  const f = prettyLogLine(fatal!, 'n2', false).split('\n');
  assert.match(f[0]!, / n2 FATAL storage failed err="disk gone"$/);
  assert.match(f[1]!, /^ {4}Error: disk gone$/);
  assert.match(f[2]!, /^ {8}at /);
});

test('a line that is not a pino record is kept as is, after the node id', () => {
  assert.equal(prettyLogLine('config error: node.id: missing', 'n1', false), 'n1 | config error: node.id: missing');
  assert.equal(prettyLogLine('{"not":"pino"}', 'n1', false), 'n1 | {"not":"pino"}');
  assert.equal(prettyLogLine('[1,2]', 'n1', false), 'n1 | [1,2]');
});
