import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activityBetween, parseExposition } from '../../bench/server-counters.js';

const exposition = (fsyncs: number, fsyncSeconds: number, entries: number, appends: number, appended: number): string =>
  [
    '# HELP kvstore_storage_fsync_duration_seconds Latency of synced LevelDB batches',
    '# TYPE kvstore_storage_fsync_duration_seconds histogram',
    `kvstore_storage_fsync_duration_seconds_bucket{le="0.001"} ${fsyncs}`,
    `kvstore_storage_fsync_duration_seconds_sum ${fsyncSeconds}`,
    `kvstore_storage_fsync_duration_seconds_count ${fsyncs}`,
    `kvstore_storage_entries_per_fsync_sum ${entries}`,
    `kvstore_storage_entries_per_fsync_count ${fsyncs}`,
    `kvstore_raft_append_entries_per_message_sum{peer="n2"} ${appended / 2}`,
    `kvstore_raft_append_entries_per_message_sum{peer="n3"} ${appended / 2}`,
    `kvstore_raft_append_entries_per_message_count ${appends}`,
    '',
  ].join('\n');

test('an exposition is read as sample sums per metric name, over its label sets', () => {
  const m = parseExposition(exposition(10, 0.02, 40, 8, 30));
  assert.equal(m.get('kvstore_storage_fsync_duration_seconds_count'), 10);
  assert.equal(m.get('kvstore_raft_append_entries_per_message_sum'), 30);
  assert.equal(m.get('kvstore_storage_fsync_duration_seconds_bucket'), 10);
  assert.equal(m.has('# HELP'), false);
});

test('a window\'s activity is the difference of two readings: rates per second, batch sizes and fsync time as means', () => {
  const before = { switches: { voluntary: 100, involuntary: 10 }, samples: parseExposition(exposition(10, 0.02, 40, 8, 30)) };
  const after = { switches: { voluntary: 300, involuntary: 50 }, samples: parseExposition(exposition(30, 0.06, 240, 28, 130)) };
  const { fsyncMs, ...a } = activityBetween('kvstore', before, after, 2);
  assert.deepEqual(a, { wakeupsPerS: 100, preemptionsPerS: 20, fsyncsPerS: 10, entriesPerFsync: 10, entriesPerAppend: 5 });
  assert.ok(fsyncMs !== null && Math.abs(fsyncMs - 2) < 1e-9, `fsync mean ${fsyncMs} ms`);
  const unread = activityBetween('kvstore', { switches: null, samples: null }, after, 2);
  assert.deepEqual(unread, { wakeupsPerS: null, preemptionsPerS: null, fsyncsPerS: null, fsyncMs: null, entriesPerFsync: null, entriesPerAppend: null });
});
