import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvResult } from '../../src/kv/command.js';
import { Sessions } from '../../src/kv/sessions.js';

const ok = (revision: number): KvResult => ({ op: 'put', ok: true, revision });
const tag = (clientId: string, requestId: string) => ({ clientId, requestId });
const config = { resultsPerClient: 2, clientsMax: 2, expiryEntries: 5 };

test('Sessions: lookup finds a recorded result by client and request id', () => {
  const s = new Sessions(config);
  assert.equal(s.lookup(tag('c', 'r')), undefined);
  s.record(tag('c', 'r'), 1, ok(1));
  assert.deepEqual(s.lookup(tag('c', 'r')), ok(1));
  assert.equal(s.lookup(tag('c', 'x')), undefined);
  assert.equal(s.lookup(tag('d', 'r')), undefined);
  assert.throws(() => s.record(tag('c', 'r'), 2, ok(2)), /already has a result/);
});

test('Sessions: indexes must increase; bounds must be positive integers', () => {
  const s = new Sessions(config);
  s.record(tag('c', 'r'), 3, ok(3));
  assert.throws(() => s.record(tag('c', 's'), 3, ok(3)), /index 3 is not after 3/);
  assert.throws(() => s.touch('c', 2), /not after/);
  assert.throws(() => new Sessions({ ...config, clientsMax: 0 }), /clientsMax 0/);
  assert.throws(() => new Sessions({ ...config, expiryEntries: 1.5 }), /expiryEntries 1.5/);
});

test('Sessions: expiry looks only at log indexes; touch keeps a session alive', () => {
  const s = new Sessions(config);
  s.record(tag('a', 'r'), 1, ok(1));
  s.record(tag('b', 'r'), 2, ok(2));
  s.touch('a', 4);
  s.expire(6);
  assert.deepEqual(s.capture().map(([id]) => id), ['b', 'a'], 'b seen at 2: 4 entries ago; kept');
  s.expire(7);
  assert.deepEqual(s.capture().map(([id]) => id), ['a'], 'b: 5 entries ago, expired');
  s.expire(9);
  assert.equal(s.size(), 0);
});

test('Sessions: the least recently seen client is evicted beyond clientsMax; results are FIFO per client', () => {
  const s = new Sessions(config);
  s.record(tag('a', 'r1'), 1, ok(1));
  s.record(tag('b', 'r1'), 2, ok(2));
  s.record(tag('a', 'r2'), 3, ok(3));
  s.record(tag('a', 'r3'), 4, ok(4));
  assert.equal(s.lookup(tag('a', 'r1')), undefined, 'a keeps 2 results');
  assert.deepEqual(s.lookup(tag('a', 'r2')), ok(3));
  s.record(tag('c', 'r1'), 5, ok(5));
  assert.deepEqual(s.capture().map(([id]) => id), ['a', 'c'], 'b was least recently seen');
});

test('Sessions: restore rejects inconsistent sessions and keeps its own bounds', () => {
  const s = new Sessions(config);
  const results = [
    { requestId: 'r1', result: ok(1) },
    { requestId: 'r2', result: ok(2) },
    { requestId: 'r3', result: ok(3) },
  ];
  assert.equal(s.restore('a', { lastSeenIndex: 3, results }), null);
  assert.deepEqual(s.capture()[0]![1].results.map((r) => r.requestId), ['r2', 'r3']);
  assert.match(s.restore('a', { lastSeenIndex: 4, results }) ?? '', /appears twice/);
  assert.match(s.restore('b', { lastSeenIndex: 3, results }) ?? '', /out of last-seen order/);
  assert.match(s.restore('b', { lastSeenIndex: 5, results: [] }) ?? '', /no results/);
  assert.match(s.restore('b', { lastSeenIndex: 5, results: [results[0]!, results[0]!] }) ?? '', /repeats a request id/);
  assert.equal(s.restore('b', { lastSeenIndex: 5, results }), null);
  assert.equal(s.restore('c', { lastSeenIndex: 6, results }), null);
  assert.deepEqual(s.capture().map(([id]) => id), ['b', 'c']);
});
