import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { decodeRecording, type DecodedRecording } from '../src/debug/recording-codec.js';
import { serveReplay } from '../src/ui/replay-server.js';
import { replayRecording, replayTrace, ReplayDivergence, type ReplayResult } from './replay.js';

const usage = `usage: npm run sim:replay -- RECORDING.json [MORE.json ...] [--trace OUT.jsonl] [--view] [--port P]

Feeds each flight recording (GET /v1/debug/recording of a node) through the
same Raft core, from the checkpoint it starts with, and checks that the replay
makes exactly the transitions the node made (exit 1 if not). Writes the replays
as one trace file (default: the first recording's name with .trace.jsonl) for
npm run sim:view; with --view, serves it at once (port P, default 7700).`;

function main(): Promise<number> | number {
  const argv = process.argv.slice(2);
  if (argv.length === 0 || argv.includes('--help')) {
    console.log(usage);
    return argv.length === 0 ? 2 : 0;
  }
  const files: string[] = [];
  let out: string | null = null;
  let view = false;
  let port = 7700;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--trace') out = argv[++i] ?? null;
    else if (a === '--view') view = true;
    else if (a === '--port') port = Number(argv[++i]);
    else if (a.startsWith('--')) {
      console.error(`sim:replay: unknown flag ${a}\n${usage}`);
      return 2;
    } else files.push(a);
  }
  if (files.length === 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`sim:replay: give at least one recording (and --port 0 to 65535)\n${usage}`);
    return 2;
  }
  const replays: { rec: DecodedRecording; result: ReplayResult }[] = [];
  let same = true;
  for (const file of files) {
    let rec: DecodedRecording | { error: string };
    try {
      rec = decodeRecording(JSON.parse(readFileSync(file, 'utf8')));
    } catch (e) {
      rec = { error: e instanceof Error ? e.message : String(e) };
    }
    if ('error' in rec) {
      console.error(`sim:replay: ${file}: ${rec.error}`);
      return 1;
    }
    let result: ReplayResult;
    try {
      result = replayRecording(rec);
    } catch (e) {
      if (!(e instanceof ReplayDivergence)) throw e;
      console.error(`sim:replay: ${file}: DIVERGED: ${e.message}`);
      return 1;
    }
    const matches = JSON.stringify(result.transitions) === JSON.stringify(rec.transitions);
    same &&= matches;
    console.log(
      `${rec.node}: replayed ${result.steps.length} inputs from input ${rec.start.seq + 1} (${rec.start.role}, term ${String(rec.start.context['term'])}); ` +
        `${result.transitions.length} transitions, ${matches ? 'the same as the node made' : 'NOT the ones the node made'}` +
        (rec.inputsDropped > 0 ? ` (${rec.inputsDropped} older inputs had left the ring)` : ''),
    );
    for (const t of result.transitions) console.log(`  input ${t.input}: ${t.from} -> ${t.to} term ${t.term} on ${t.event}`);
    replays.push({ rec, result });
  }
  const trace = replayTrace(replays).map((r) => JSON.stringify(r)).join('\n') + '\n';
  const path = out ?? files[0]!.replace(/\.json$/, '') + '.trace.jsonl';
  writeFileSync(path, trace);
  console.log(`trace file: ${path} (npm run sim:view -- ${path})`);
  if (!same) return 1;
  if (!view) return 0;
  return serveReplay(trace, port).then(async (server) => {
    console.log(`replay: http://127.0.0.1:${(server.address() as AddressInfo).port}/ui (Ctrl-C stops)`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    server.close();
    return 0;
  });
}

Promise.resolve(main()).then((code) => (process.exitCode = code));
