import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LabHarness } from './harness.js';

test('harness: a 3-node cluster elects a leader and agrees on a command', () => {
  const h = new LabHarness(3);
  const leader = h.checkOneLeader();
  assert.ok(h.ids.includes(leader));
  const index = h.one('x', 3, false);
  assert.ok(index >= 2);
});
