import { test } from 'node:test';
import type { NodeId } from '../../src/raft/types.js';
import type { ClusterOptions } from '../../sim/cluster.js';
import { InvariantViolation } from '../../sim/invariants.js';
import { Prng } from '../../sim/prng.js';
import { LabHarness } from './harness.js';

/**
 * The MIT 6.5840 lab's vocabulary, shared by the ported suites: one test on a fresh
 * harness (with its own random stream `suite/name`), and the lab's helpers.
 */
export function labTest(
  suite: string,
  name: string,
  nodes: number,
  seed: number,
  options: Partial<ClusterOptions>,
  body: (h: LabHarness, rng: Prng) => void,
): void {
  test(name, () => {
    const h = new LabHarness(nodes, { seed, traceLines: 80, ...options });
    try {
      body(h, new Prng(seed, `${suite}/${name}`));
    } catch (e) {
      // Reproducible failures: say which seed, and show the trace leading up to it.
      const what = e instanceof InvariantViolation ? `INVARIANT VIOLATION ${e.message}` : e instanceof Error ? e.message : String(e);
      const trace = h.cluster.trace.recent().join('\n  ');
      throw new Error(`${what}\n[seed ${seed}, simulated ${h.now()} ms] recent trace:\n  ${trace}`, { cause: e });
    }
  });
}

/** The lab's (i + k) % servers, on node ids. */
export function peer(h: LabHarness, id: NodeId, k: number): NodeId {
  const n = h.ids.length;
  return h.ids[(h.ids.indexOf(id) + k) % n]!;
}

export function running(h: LabHarness, id: NodeId): boolean {
  return h.cluster.node(id) !== null;
}

/** The lab's crash1: the server is cut off and its process dies; unsynced writes are lost. */
export function crash1(h: LabHarness, id: NodeId): void {
  h.disconnect(id);
  h.crash(id);
}

/** The lab's start1: (re)starts the server from its disk, still disconnected. */
export function start1(h: LabHarness, id: NodeId): void {
  crash1(h, id);
  h.restart(id);
}

