import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { parseSimArgs } from '../../sim/options.js';
import { runSimulation, SimFailure, type SimOptions } from '../../sim/run.js';
import type { TraceRecord } from '../../sim/trace-file.js';

function options(args: string[]): SimOptions {
  const parsed = parseSimArgs(args);
  if (!('options' in parsed)) throw new Error('bad args');
  return parsed.options;
}

function traced(opts: SimOptions): { lines: string[]; hash: string | null } {
  const lines: string[] = [];
  try {
    return { lines, hash: runSimulation({ ...opts, traceSink: (l) => lines.push(l) }).traceHash };
  } catch (e) {
    if (e instanceof SimFailure) return { lines, hash: null };
    throw e;
  }
}

test('a trace file does not change the run: same trace hash with or without it, and the same file twice', () => {
  const opts = options(['--seed', '21', '--duration-ms', '6000', '--faults', 'all']);
  const plain = runSimulation(opts).traceHash;
  const a = traced(opts);
  const b = traced(opts);
  assert.equal(a.hash, plain);
  assert.equal(createHash('sha256').update(a.lines.join('\n')).digest('hex'), createHash('sha256').update(b.lines.join('\n')).digest('hex'));
  const records = a.lines.map((l) => JSON.parse(l) as TraceRecord);
  assert.equal(records[0]!.type, 'meta');
  assert.equal(records.at(-1)!.type, 'end');
  const transitions = records.filter((r): r is Extract<TraceRecord, { type: 'transition' }> => r.type === 'transition');
  assert.ok(transitions.some((t) => t.to === 'leader'), 'an election is in the trace');
  assert.ok(records.some((r) => r.type === 'state' && r.role === 'leader'));
  assert.ok(records.some((r) => r.type === 'input' && r.kind === 'timer'));
  assert.ok(records.some((r) => r.type === 'note' && r.text.startsWith('FAULT')));
  // Simulated time never goes back.
  let t = 0;
  for (const r of records) {
    if (!('t' in r)) continue;
    assert.ok(r.t >= t, `time went back at ${JSON.stringify(r)}`);
    t = r.t;
  }
});

test('a failing run ends its trace with the violation', () => {
  const { lines, hash } = traced(options(['--seed', '2', '--duration-ms', '8000', '--check-stale-reads']));
  assert.equal(hash, null, 'the run failed');
  const last = JSON.parse(lines.at(-1)!) as TraceRecord;
  assert.equal(last.type, 'violation');
  assert.equal((last as { property: string }).property, 'linearizability');
});
