import { describeCause, type CoreInput, type CoreTap, type CoreTransition } from '../src/raft/host/core-tap.js';
import type { RaftStatus } from '../src/raft/host/raft-node.js';

/**
 * The records of a trace file (`npm run sim -- --trace out.jsonl`, `npm run
 * sim:replay`), one JSON object a line, in the order they happened; `t` is
 * simulated milliseconds (or, for a replayed recording, the wall clock's). The
 * cluster page's replay mode (`npm run sim:view`) reads exactly these.
 */
export type TraceRecord =
  | { readonly type: 'meta'; readonly source: 'sim' | 'recording'; readonly nodes: readonly string[]; readonly args: readonly string[] }
  | { readonly type: 'input'; readonly t: number; readonly node: string; readonly seq: number; readonly kind: CoreInput['kind']; readonly event: string }
  | { readonly type: 'transition'; readonly t: number; readonly node: string; readonly from: string; readonly to: string; readonly term: number; readonly input: number; readonly event: string }
  | {
      readonly type: 'state';
      readonly t: number;
      readonly node: string;
      readonly up: boolean;
      readonly role: string;
      readonly term: number;
      readonly leader: string | null;
      readonly commit: number;
      readonly applied: number;
      readonly last: number;
      readonly lastTerm: number;
    }
  | { readonly type: 'note'; readonly t: number; readonly text: string }
  | { readonly type: 'violation'; readonly t: number; readonly step: number; readonly property: string; readonly nodes: readonly string[]; readonly detail: string }
  | { readonly type: 'end'; readonly t: number; readonly summary: string };

type StateRecord = Extract<TraceRecord, { type: 'state' }>;

/**
 * Writes a run as trace records to `sink`, one line each. It only observes: it
 * reads the nodes' states and the simulated clock, and nothing it does feeds back
 * into the run, so a run with a trace file has the trace hash of one without.
 * Drains of the core's effects (`ready`) are left out: they change no state a
 * person looks at.
 */
export class TraceFile {
  private readonly last = new Map<string, StateRecord>();

  constructor(
    private readonly sink: (line: string) => void,
    private readonly now: () => number,
  ) {}

  write(r: TraceRecord): void {
    this.sink(JSON.stringify(r));
  }

  /** The tap for node `node`'s core (a new one each time it starts). */
  tapFor(node: string): CoreTap {
    return {
      input: (seq, _atMs, input) => {
        if (input.kind !== 'ready') this.write({ type: 'input', t: this.now(), node, seq, kind: input.kind, event: describeCause(input) });
      },
      reading: () => undefined,
      transition: (t: CoreTransition) => this.write({ type: 'transition', t: this.now(), node, from: t.from, to: t.to, term: t.term, input: t.input, event: t.event }),
    };
  }

  /** Records the node's state if it changed since its last record. */
  state(node: string, s: RaftStatus | null, applied: number): void {
    const prev = this.last.get(node);
    const r: StateRecord = {
      type: 'state',
      t: this.now(),
      node,
      up: s !== null,
      role: s?.role ?? prev?.role ?? 'follower',
      term: s?.term ?? prev?.term ?? 0,
      leader: s === null ? null : s.leaderId,
      commit: s?.commitIndex ?? prev?.commit ?? 0,
      applied,
      last: s?.lastLogIndex ?? prev?.last ?? 0,
      lastTerm: s?.lastLogTerm ?? prev?.lastTerm ?? 0,
    };
    if (prev !== undefined && sameState(prev, r)) return;
    this.last.set(node, r);
    this.write(r);
  }
}

function sameState(a: StateRecord, b: StateRecord): boolean {
  return a.up === b.up && a.role === b.role && a.term === b.term && a.leader === b.leader && a.commit === b.commit && a.applied === b.applied && a.last === b.last && a.lastTerm === b.lastTerm;
}
