import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { serveReplay } from '../src/ui/replay-server.js';

const usage = `usage: npm run sim:view -- TRACE.jsonl [--port P]

Serves the cluster page in replay mode over a trace file (written by
npm run sim -- --trace FILE or npm run sim:replay): a timeline to step forward
and back, each node's role, term, log and commit index at that moment, its role
machine with the current state, and the violation, if any, marked. Listens on
127.0.0.1, port P (default 7700; 0 picks a free one), until stopped (Ctrl-C).`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.length === 0) {
    console.log(usage);
    return argv.length === 0 ? 2 : 0;
  }
  let file: string | null = null;
  let port = 7700;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--port') {
      const p = Number(argv[++i]);
      if (!Number.isInteger(p) || p < 0 || p > 65535) {
        console.error(`sim:view: --port must be 0 to 65535\n${usage}`);
        return 2;
      }
      port = p;
    } else if (file === null && !a.startsWith('--')) file = a;
    else {
      console.error(`sim:view: unexpected argument ${a}\n${usage}`);
      return 2;
    }
  }
  let trace: string;
  try {
    trace = readFileSync(file!, 'utf8');
  } catch (e) {
    console.error(`sim:view: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const server = await serveReplay(trace, port);
  console.log(`replay of ${file}: http://127.0.0.1:${(server.address() as AddressInfo).port}/ui (Ctrl-C stops)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.close();
  return 0;
}

main().then((code) => (process.exitCode = code));
