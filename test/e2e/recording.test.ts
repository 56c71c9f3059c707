import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { decodeRecording } from '../../src/debug/recording-codec.js';
import { replayRecording } from '../../sim/replay.js';
import { ProcessCluster } from './process-cluster.js';

const run = promisify(execFile);
const REPLAY_CLI = fileURLToPath(new URL('../../sim/replay-cli.js', import.meta.url));

interface Logged {
  readonly from: string;
  readonly to: string;
  readonly term: number;
  readonly input: number;
  readonly event: string;
}

/** The transitions a node logged ("role changed", with the core input that caused each), in order. */
function loggedTransitions(output: readonly string[]): Logged[] {
  const out: Logged[] = [];
  for (const line of output.join('').split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as Record<string, unknown>;
    if (j['msg'] !== 'role changed') continue;
    out.push({ from: String(j['from']), to: String(j['role']), term: Number(j['term']), input: Number(j['input']), event: String(j['event']) });
  }
  return out;
}

test('each node of a real cluster records its core through a leader kill, and its recording replays to exactly the transitions it logged', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvstore-recording-'));
  const cluster = await ProcessCluster.start(3, 400, { prepare: (n) => (n.env = { KV_LOG_LEVEL: 'info' }) });
  try {
    const first = await cluster.waitForLeader(20_000);
    for (let k = 0; k < 20; k++) assert.equal((await cluster.put(first, `before/${k}`, `v${k}`)).status, 200);
    await cluster.kill(first);
    const survivors = cluster.nodes.filter((n) => n.id !== first).map((n) => n.id);
    const second = await cluster.waitForLeader(20_000, survivors);
    for (let k = 0; k < 20; k++) assert.equal((await cluster.put(second, `after/${k}`, `v${k}`)).status, 200);
    cluster.restart(first);
    await cluster.waitForValue(first, 'after/19', 'v19', 20_000);

    const files: string[] = [];
    let compared = 0;
    for (const n of cluster.nodes) {
      const r = await fetch(cluster.url(n.id, '/v1/debug/recording'));
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-disposition') ?? '', new RegExp(`kvstore-${n.id}-recording\\.json`));
      const text = await r.text();
      const file = join(dir, `${n.id}.json`);
      writeFileSync(file, text);
      files.push(file);
      const rec = decodeRecording(JSON.parse(text));
      if ('error' in rec) throw new Error(rec.error);
      assert.equal(rec.node, n.id);
      const replayed = replayRecording(rec);
      const logged = loggedTransitions(n.output).filter((t) => t.input > rec.start.seq);
      compared += logged.length;
      assert.deepEqual(
        replayed.transitions.map((t) => ({ from: t.from, to: t.to, term: t.term, input: t.input, event: t.event })),
        logged,
        `${n.id}: the replay makes the transitions the node logged`,
      );
    }
    // A node that never changed role has none to compare. What the protocol guarantees is the
    // survivor's election after the kill (follower -> pre_candidate -> candidate -> leader); the
    // others' timeouts (a survivor that also ran, the first election's losers) depend on timing.
    assert.ok(compared >= 3, `transitions compared: ${compared}`);
    // The survivor that took over led after the kill: its replay shows it winning the election.
    const secondRec = decodeRecording(JSON.parse(readFileSync(join(dir, `${second}.json`), 'utf8')));
    if ('error' in secondRec) throw new Error(secondRec.error);
    assert.ok(replayRecording(secondRec).transitions.some((t) => t.to === 'leader' && t.term > 1));

    // npm run sim:replay checks the same, and writes the trace file npm run sim:view shows.
    const traceFile = join(dir, 'cluster.trace.jsonl');
    const { stdout } = await run(process.execPath, [REPLAY_CLI, ...files, '--trace', traceFile]);
    for (const n of cluster.nodes) assert.match(stdout, new RegExp(`^${n.id}: replayed \\d+ inputs .* the same as the node made`, 'm'));
    const records = readFileSync(traceFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; node?: string; to?: string });
    assert.equal(records[0]!.type, 'meta');
    assert.ok(records.some((r) => r.type === 'transition' && r.node === second && r.to === 'leader'));
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with debug.recorder: false a node records nothing and says so', { timeout: 60_000 }, async () => {
  // A one-node cluster is enough: these are the route's rules, not Raft's.
  const cluster = await ProcessCluster.start(1, 300, { prepare: (n) => (n.env = { KV_DEBUG_RECORDER: 'false' }) });
  try {
    await cluster.waitForLeader(20_000);
    const r = await fetch(cluster.url('n1', '/v1/debug/recording'));
    assert.equal(r.status, 404);
    assert.match(((await r.json()) as { message: string }).message, /debug\.recorder: false/);
  } finally {
    await cluster.stop();
  }
});
