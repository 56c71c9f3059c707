import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryAfterSeconds } from '../../src/http/server.js';

test('Retry-After is about one election timeout, in whole seconds, at least 1', () => {
  assert.equal(retryAfterSeconds(1000), 1);
  assert.equal(retryAfterSeconds(10), 1);
  assert.equal(retryAfterSeconds(2500), 3);
  assert.equal(retryAfterSeconds(10_000), 10);
});
