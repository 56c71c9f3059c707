import { Departures } from '../departures.js';
import { Inflights } from '../inflights.js';
import { LeaderContact } from '../leader-contact.js';
import { QuorumCheck } from '../check-quorum.js';
import { RaftLog } from '../log.js';
import { Outbox } from '../outbox.js';
import { Progress } from '../progress.js';
import { ForwardedReads, ReadIndexTracker } from '../read-index.js';
import { LatestSnapshot } from '../snapshot-store.js';
import { Membership } from '../membership-log.js';
import { ConfigHistory } from '../membership.js';
import { SnapshotReceiver } from '../snapshot-receiver.js';
import type { HardState, Role } from '../types.js';

/**
 * A Raft core's whole state between two inputs, enough to build the same core
 * again (RaftNodeOptions.resume) with no disk: the machine's state value and
 * context (less what the host injects: config, clock, random source, counters),
 * the in-memory log with its cursors, the effects not yet drained, and the hard
 * state last handed to storage. Timers pending at the checkpoint are not in it: a
 * replay fires each delayed event when the recording says it fired.
 */
export interface CoreCheckpoint {
  /** Inputs the core had taken when the checkpoint was made. */
  readonly seq: number;
  readonly atMs: number;
  readonly role: Role;
  /** The machine's state value (a string, or the leader's `{ ticking }`). */
  readonly value: unknown;
  readonly context: Readonly<Record<string, unknown>>;
  readonly log: RaftLog;
  readonly outbox: Outbox;
  readonly hardState: HardState;
}

/** Context fields the host provides again when it builds a core: never part of a checkpoint. */
export const injectedContextFields: ReadonlySet<string> = new Set(['config', 'env', 'log', 'outbox', 'counters']);

/**
 * The classes a core's state is made of, by name. Their fields are data (numbers,
 * arrays, maps, typed arrays, immutable plain objects, other registered classes),
 * so an instance is copied by copying its fields into an object of the same
 * prototype. A class missing here makes a checkpoint throw, loudly.
 */
export const coreStateClasses: ReadonlyMap<string, { readonly prototype: object }> = new Map<string, { readonly prototype: object }>([
  ['RaftLog', RaftLog],
  ['Outbox', Outbox],
  ['Progress', Progress],
  ['Inflights', Inflights],
  ['ReadIndexTracker', ReadIndexTracker],
  ['ForwardedReads', ForwardedReads],
  ['LatestSnapshot', LatestSnapshot],
  ['SnapshotReceiver', SnapshotReceiver],
  ['Membership', Membership],
  ['ConfigHistory', ConfigHistory],
  ['Departures', Departures],
  ['LeaderContact', LeaderContact],
  ['QuorumCheck', QuorumCheck],
]);

const classOfPrototype = new Map<object, string>([...coreStateClasses].map(([name, c]) => [c.prototype, name]));

/** The registered class name of `v`'s prototype, or null for a plain object; throws for any other class. */
export function coreClassName(v: object): string | null {
  const proto = Object.getPrototypeOf(v) as object | null;
  if (proto === Object.prototype || proto === null) return null;
  const name = classOfPrototype.get(proto);
  if (name === undefined) throw new Error(`core checkpoint: an instance of ${(proto as { constructor?: { name?: string } }).constructor?.name ?? 'an unknown class'} is not in coreStateClasses`);
  return name;
}

/**
 * A copy of `v` that shares nothing mutable with it: class instances, arrays, maps
 * and Float64Arrays are copied; plain objects (entries, messages, snapshots, read
 * states: immutable values by the core's convention) and byte arrays are shared,
 * which keeps a checkpoint cheap: a log window is copied as an array of references.
 */
export function copyCoreState<T>(v: T): T {
  return copy(v) as T;
}

function copy(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(copy);
  if (v instanceof Map) return new Map([...v].map(([k, x]) => [k, copy(x)]));
  if (v instanceof Float64Array) return v.slice();
  if (v instanceof Uint8Array) return v;
  // The log's window can be long: its own copy is one array copy, not a walk over every entry.
  if (v instanceof RaftLog) return v.copy();
  if (coreClassName(v) === null) return v;
  const out = Object.create(Object.getPrototypeOf(v) as object) as Record<string, unknown>;
  for (const [k, x] of Object.entries(v)) out[k] = copy(x);
  return out;
}
