import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { missingProcessFlags, NODE_PROCESS_FLAGS } from '../../src/node/process-flags.js';

test('missingProcessFlags names each launch flag a process was started without', () => {
  assert.ok(NODE_PROCESS_FLAGS.includes('--single-threaded-gc'));
  assert.deepEqual(missingProcessFlags([...NODE_PROCESS_FLAGS, '--inspect']), []);
  assert.deepEqual(missingProcessFlags(['--inspect']), [...NODE_PROCESS_FLAGS]);
  assert.deepEqual(missingProcessFlags([]), [...NODE_PROCESS_FLAGS]);
});

test('the kvstore bin starts node with the launch flags (its shebang)', () => {
  const main = readFileSync(fileURLToPath(new URL('../../src/main.js', import.meta.url)), 'utf8');
  assert.equal(main.split('\n')[0], `#!/usr/bin/env -S node ${NODE_PROCESS_FLAGS.join(' ')}`);
});
