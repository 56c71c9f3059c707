import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FlightRecorder } from '../../src/debug/flight-recorder.js';
import { decodeRecording, encodeRecording, type DecodedRecording } from '../../src/debug/recording-codec.js';
import type { CoreTransition } from '../../src/raft/host/core-tap.js';
import { defaultRaftConfig } from '../../src/raft/config.js';
import type { NodeId } from '../../src/raft/types.js';
import { parseSimArgs } from '../../sim/options.js';
import { replayRecording } from '../../sim/replay.js';
import { runSimulation, type SimOptions } from '../../sim/run.js';

interface Recorded {
  readonly id: NodeId;
  readonly recorder: FlightRecorder;
  /** Every transition the node made in this life, as its KvNode saw them. */
  readonly transitions: CoreTransition[];
}

/** A simulator run with a flight recorder on every node's every life. */
function recordRun(options: SimOptions, inputsMax: number): Recorded[] {
  const lives: Recorded[] = [];
  runSimulation({
    ...options,
    tapFor: (id) => {
      const recorder = new FlightRecorder({ inputsMax, bytesMax: 1 << 30 });
      const life: Recorded = { id, recorder, transitions: [] };
      lives.push(life);
      // The recorder's own transition list drops those before its ring; keep them all here to compare.
      const seen = recorder.transition.bind(recorder);
      recorder.transition = (t) => {
        life.transitions.push(t);
        seen(t);
      };
      return recorder;
    },
  });
  return lives;
}

/** Through JSON and back, as a download and npm run sim:replay see it. */
function roundTrip(life: Recorded): DecodedRecording {
  const text = [...encodeRecording({ node: life.id, voters: [], raft: defaultRaftConfig, clock: { monotonicMs: 0, wallMs: 0 } }, life.recorder.recording()!)].join('');
  const decoded = decodeRecording(JSON.parse(text));
  if ('error' in decoded) throw new Error(decoded.error);
  return decoded;
}

function simOptions(seed: number): SimOptions {
  const parsed = parseSimArgs(['--seed', String(seed), '--duration-ms', '8000', '--faults', 'all']);
  if (!('options' in parsed)) throw new Error('bad sim args');
  return parsed.options;
}

test('a flight recording replayed through the same core makes exactly the transitions the node made, from a checkpoint in mid-run', () => {
  const roles = new Set<string>();
  for (const seed of [2, 4]) {
    const options = simOptions(seed);
    // A small ring: the oldest segments fall off, so the replays start from checkpoints taken while nodes led, followed or campaigned.
    const lives = recordRun(options, 1000);
    let resumedMidRun = 0;
    let compared = 0;
    for (const life of lives) {
      const rec = roundTrip(life);
      const voters = [...new Set(lives.map((l) => l.id))];
      const replayed = replayRecording({ ...rec, voters, raft: { ...defaultRaftConfig, ...options.raft } });
      if (rec.start.seq > 0) resumedMidRun++;
      roles.add(rec.start.role);
      const expected = life.transitions.filter((t) => t.input > rec.start.seq);
      assert.deepEqual(replayed.transitions, expected, `seed ${seed}: ${life.id} from input ${rec.start.seq}`);
      assert.equal(replayed.steps.length, rec.items.filter((it) => 'seq' in it).length);
      compared += expected.length;
    }
    console.log(`seed ${seed}: ${lives.length} lives, ${resumedMidRun} resumed mid-run, ${compared} transitions compared, checkpoint roles so far ${[...roles].join(',')}`);
    assert.ok(resumedMidRun > 0, 'some replays start from a checkpoint after the node started');
    assert.ok(compared > 3, `transitions were compared (${compared})`);
  }
  assert.ok(roles.size >= 2, `checkpoints in several roles: ${[...roles].join(',')}`);
});

test('a recording whose inputs were tampered with does not replay: the replay names where it parts from the recording', () => {
  const lives = recordRun(simOptions(3), 1_000_000);
  const life = lives.find((l) => l.transitions.some((t) => t.to === 'leader'))!;
  const rec = roundTrip(life);
  const voters = [...new Set(lives.map((l) => l.id))];
  const options = simOptions(3);
  const replay = (items: DecodedRecording['items']): unknown => replayRecording({ ...rec, items, voters, raft: { ...defaultRaftConfig, ...options.raft } });
  // Dropping one clock reading makes the replayed core ask for one the recording does not have there.
  const k = rec.items.findIndex((it) => !('seq' in it) && it.kind === 'now');
  assert.ok(k > 0);
  assert.throws(() => replay([...rec.items.slice(0, k), ...rec.items.slice(k + 1)]), /reading|input/);
});
