// How a node process is started: the Node.js flags every launcher passes before
// dist/src/main.js (`npm start`, the bench, the end-to-end tests, compose/Dockerfile,
// the `kvstore` bin's shebang).

/**
 * `--single-threaded-gc`: V8 otherwise runs its scavenges in parallel and its marking
 * concurrently on helper threads, which take every core for a few milliseconds. The
 * nodes of a cluster, and usually their clients, share a small host, so one node's
 * GC then stalls the others too, and every stalled node stalls the requests that need
 * its answer. Measured on 2 shared cores (BENCHMARKS.md, eighth session): an open-model
 * 1500 ops/s, p99 GET 12–17 ms → 5–9 ms in most runs, at the same server CPU per op;
 * closed-loop PUT, 9 interleaved pairs: no throughput difference beyond the spread, 2–3%
 * more CPU per op (the saturated leader's GC now runs on its own thread). The V8 flag
 * has to be given at start: set later it crashes the heap (it changes concurrent marking).
 */
export const NODE_PROCESS_FLAGS: readonly string[] = ['--single-threaded-gc'];

/** The launch flags this process was started without (none when started as documented). */
export function missingProcessFlags(execArgv: readonly string[]): string[] {
  return NODE_PROCESS_FLAGS.filter((f) => !execArgv.includes(f));
}
