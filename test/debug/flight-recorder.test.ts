import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlightRecorder } from '../../src/debug/flight-recorder.js';
import { RaftLog } from '../../src/raft/log.js';
import { Outbox } from '../../src/raft/outbox.js';
import type { CoreCheckpoint } from '../../src/raft/host/core-checkpoint.js';
import { logIndex, nodeId, term } from '../../src/raft/types.js';

/** A core stand-in that counts its checkpoints: the recorder's ring logic, without Raft. */
function fakeCore(log: RaftLog = new RaftLog([], logIndex(0))): { seq: number; checkpoint(): CoreCheckpoint } {
  const core = {
    seq: 0,
    checkpoint: (): CoreCheckpoint => ({ seq: core.seq, atMs: 0, role: 'follower', value: 'follower', context: {}, log, outbox: new Outbox(), hardState: { term: term(0), votedFor: null, commit: logIndex(0) } }),
  };
  return core;
}

const heartbeat = { type: 'heartbeat', from: nodeId('n2'), to: nodeId('n1'), term: term(1), commit: logIndex(0), seq: 1 } as const;

test('the ring keeps at most inputs_max inputs, drops whole segments, and always starts at a checkpoint', () => {
  const r = new FlightRecorder({ inputsMax: 100, bytesMax: 1 << 30 });
  const core = fakeCore();
  r.attached(core);
  for (let k = 1; k <= 1000; k++) {
    r.input(k, k, { kind: 'message', message: heartbeat });
    r.reading({ kind: 'now', ms: k });
    core.seq = k;
  }
  const rec = r.recording()!;
  const inputs = rec.items.filter((it) => 'seq' in it);
  assert.ok(inputs.length <= 100 && inputs.length >= 75, `kept ${inputs.length}`);
  assert.equal(r.inputs(), inputs.length);
  assert.equal(r.inputsDropped + inputs.length, 1000);
  // The first input kept is the one right after the starting checkpoint.
  assert.equal((inputs[0] as { seq: number }).seq, rec.start.seq + 1);
  assert.equal((inputs.at(-1) as { seq: number }).seq, 1000);
});

test('payload bytes bound the ring too: big appends push old segments out', () => {
  const r = new FlightRecorder({ inputsMax: 1_000_000, bytesMax: 4 * 10_000 });
  const core = fakeCore();
  r.attached(core);
  const data = new Uint8Array(1000);
  for (let k = 1; k <= 500; k++) {
    const append = { type: 'appendEntries', from: nodeId('n2'), to: nodeId('n1'), term: term(1), prevLogIndex: logIndex(k - 1), prevLogTerm: term(1), entries: [{ index: logIndex(k), term: term(1), kind: 'command', data }], leaderCommit: logIndex(0) } as const;
    r.input(k, k, { kind: 'message', message: append });
    core.seq = k;
  }
  assert.ok(r.bytes() <= 4 * 10_000 + 1064, `holds ${r.bytes()} bytes`);
  assert.ok(r.inputsDropped > 400);
});

test('a log window larger than a segment does not make every input open a segment: segments fill by their inputs', () => {
  // 40 entries of 1000 bytes against a 4 x 10,000-byte ring: the window alone is past a segment's share (and the ring's).
  const data = new Uint8Array(1000);
  const log = new RaftLog(Array.from({ length: 40 }, (_, k) => ({ index: logIndex(k + 1), term: term(1), kind: 'command' as const, data })), logIndex(0));
  const r = new FlightRecorder({ inputsMax: 400, bytesMax: 4 * 10_000 });
  const core = fakeCore(log);
  r.attached(core);
  for (let k = 1; k <= 1000; k++) {
    r.input(k, k, { kind: 'message', message: heartbeat });
    core.seq = k;
  }
  // One checkpoint when attached, then one per 100 inputs (inputsMax / 4): not one per input.
  assert.equal(r.checkpoints, 10);
  // The ring still counts the window it holds against its byte bound: it keeps only the newest segment.
  const rec = r.recording()!;
  assert.equal(rec.start.seq, 900);
  assert.equal(r.inputs(), 100);
  assert.equal(r.bytes(), 40_000 + 100 * 32);
});
