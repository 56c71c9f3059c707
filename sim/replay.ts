import type { DecodedRecording } from '../src/debug/recording-codec.js';
import { describeCause, type CoreInput, type CoreTransition } from '../src/raft/host/core-tap.js';
import { emptyPersistedState, RaftNode, type Clock } from '../src/raft/host/raft-node.js';
import { emptyConfiguration } from '../src/raft/membership.js';
import type { RaftEnv } from '../src/raft/env.js';
import type { TraceRecord } from './trace-file.js';

/** The core after one replayed input. */
export interface ReplayStep {
  readonly seq: number;
  readonly atMs: number;
  readonly kind: CoreInput['kind'];
  readonly event: string;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commit: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
}

export interface ReplayResult {
  readonly node: string;
  readonly transitions: readonly CoreTransition[];
  readonly steps: readonly ReplayStep[];
}

/** The replay and the recording part: the replayed core asked for something the recorded one did not, or the other way round. */
export class ReplayDivergence extends Error {}

/** A clock that never fires: the recording says when each timer fired. */
const inertClock: Clock = { setTimeout: () => null, clearTimeout: () => undefined };

/**
 * Feeds a flight recording through the same Raft core (RaftNode and its machine),
 * resumed from the recording's starting checkpoint: each input in order, each
 * clock and random reading answered from the recording, each timer fired when it
 * fired. Deterministic: the same recording gives the same steps and transitions,
 * which must be the ones the node made.
 */
export function replayRecording(rec: DecodedRecording): ReplayResult {
  const items = rec.items;
  let k = 0;
  const next = (what: string): DecodedRecording['items'][number] => {
    const it = items[k];
    if (it === undefined) throw new ReplayDivergence(`the replayed core made a ${what} reading after the recording ended`);
    k++;
    return it;
  };
  const env: RaftEnv = {
    nowMs: () => {
      const it = next('clock');
      if ('seq' in it || it.kind !== 'now') throw new ReplayDivergence(`the replayed core read the clock where the recorded one had ${'seq' in it ? `input ${it.seq}` : 'a random reading'}`);
      return it.ms;
    },
    randomInt: (bound) => {
      const it = next('random');
      if ('seq' in it || it.kind !== 'random' || it.bound !== bound) throw new ReplayDivergence(`the replayed core drew a random number below ${bound} where the recording has something else`);
      return it.value;
    },
  };
  const transitions: CoreTransition[] = [];
  const core = new RaftNode({
    id: rec.node,
    // Resumed from the recording's checkpoint: its context holds the configuration.
    bootstrap: emptyConfiguration,
    config: rec.raft,
    env,
    clock: inertClock,
    persisted: emptyPersistedState,
    resume: rec.start,
    onReady: () => undefined,
    onTransition: (t) => transitions.push(t),
  });
  const steps: ReplayStep[] = [];
  while (k < items.length) {
    const it = items[k++]!;
    if (!('seq' in it)) throw new ReplayDivergence(`the recording has a ${it.kind} reading the replayed core did not make (before input ${core.inputsTaken() + 1})`);
    if (it.seq !== core.inputsTaken() + 1) throw new ReplayDivergence(`the recording has input ${it.seq} where the replay is at ${core.inputsTaken() + 1}`);
    feed(core, it.input);
    const s = core.status();
    steps.push({
      seq: it.seq,
      atMs: it.atMs,
      kind: it.input.kind,
      event: describeCause(it.input),
      role: s.role,
      term: s.term,
      leader: s.leaderId,
      commit: s.commitIndex,
      lastIndex: s.lastLogIndex,
      lastTerm: s.lastLogTerm,
    });
  }
  core.stop();
  return { node: rec.node, transitions, steps };
}

function feed(core: RaftNode, input: CoreInput): void {
  switch (input.kind) {
    case 'message':
    case 'persisted':
      return core.step(input.message);
    case 'propose':
      return void core.propose(input.commands, input.forwardBatchId);
    case 'readIndex':
      return void core.readIndex(input.requestId, input.lease);
    case 'snapshotTaken':
      return core.snapshotTaken(input.snapshot);
    case 'changeMembers':
      return void core.changeMembers(input.change);
    case 'transferLeadership':
      return void core.transferLeadership(input.to);
    case 'timer':
      return core.fireTimer(input.event);
    case 'ready':
      return void core.takeReady();
  }
}

/**
 * Replays as trace records (sim/trace-file.ts) for the cluster page's replay
 * mode: every node's inputs, transitions and changed states, merged in wall-clock
 * order (each recording carries its node's clock anchor), `t` in milliseconds
 * since the first of them. Drains of effects (`ready`) are left out.
 */
export function replayTrace(replays: readonly { readonly rec: DecodedRecording; readonly result: ReplayResult }[]): TraceRecord[] {
  const timed: { wall: number; order: number; r: (t: number) => TraceRecord }[] = [];
  let order = 0;
  for (const { rec, result } of replays) {
    const wall = (atMs: number): number => rec.clock.wallMs - (rec.clock.monotonicMs - atMs);
    const node = result.node;
    const transitionsAt = new Map<number, CoreTransition[]>();
    for (const t of result.transitions) transitionsAt.set(t.input, [...(transitionsAt.get(t.input) ?? []), t]);
    let prev = '';
    for (const s of result.steps) {
      if (s.kind === 'ready') continue;
      const w = wall(s.atMs);
      timed.push({ wall: w, order: order++, r: (t) => ({ type: 'input', t, node, seq: s.seq, kind: s.kind, event: s.event }) });
      for (const tr of transitionsAt.get(s.seq) ?? []) {
        timed.push({ wall: w, order: order++, r: (t) => ({ type: 'transition', t, node, from: tr.from, to: tr.to, term: tr.term, input: tr.input, event: tr.event }) });
      }
      const key = `${s.role} ${s.term} ${s.leader} ${s.commit} ${s.lastIndex} ${s.lastTerm}`;
      if (key !== prev) {
        prev = key;
        timed.push({
          wall: w,
          order: order++,
          r: (t) => ({ type: 'state', t, node, up: true, role: s.role, term: s.term, leader: s.leader, commit: s.commit, applied: s.commit, last: s.lastIndex, lastTerm: s.lastTerm }),
        });
      }
    }
  }
  timed.sort((a, b) => a.wall - b.wall || a.order - b.order);
  const t0 = timed[0]?.wall ?? 0;
  const meta: TraceRecord = { type: 'meta', source: 'recording', nodes: replays.map((x) => x.result.node), args: [] };
  return [meta, ...timed.map((x) => x.r(Math.round((x.wall - t0) * 1000) / 1000))];
}
