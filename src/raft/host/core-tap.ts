import { describeMessage } from '../describe.js';
import { describeChange, type ConfigChange } from '../membership.js';
import type { Message, NodeId, Role, Snapshot, Term } from '../types.js';
import type { CoreCheckpoint } from './core-checkpoint.js';

/**
 * Everything that enters a Raft core, in the order it enters: with a checkpoint of
 * the core taken before the first of them, these are enough to rebuild every state
 * the core went through (see the flight recorder, src/debug/, and the replayer,
 * sim/replay.ts). A message the node sent itself and got back once its write was
 * durable (a vote for itself, its own append acknowledgement) is a storage
 * completion, `persisted`; `ready` is the host draining the core's effects (it moves
 * the log's persist and apply cursors, so it is an input too).
 */
export type CoreInput =
  | { readonly kind: 'message'; readonly message: Message }
  | { readonly kind: 'persisted'; readonly message: Message }
  | { readonly kind: 'propose'; readonly commands: readonly Uint8Array[]; readonly forwardBatchId: number | null }
  | { readonly kind: 'readIndex'; readonly requestId: number; readonly lease: boolean }
  | { readonly kind: 'snapshotTaken'; readonly snapshot: Snapshot }
  | { readonly kind: 'changeMembers'; readonly change: ConfigChange }
  | { readonly kind: 'transferLeadership'; readonly to: NodeId | null }
  /** A delayed event of the machine fired; `event` is its XState type (`xstate.after.heartbeatInterval.raft.leader.ticking`). */
  | { readonly kind: 'timer'; readonly event: string }
  | { readonly kind: 'ready' };

export type CoreInputKind = CoreInput['kind'];

/** What the core read from its environment while it handled an input, in order. */
export type EnvReading = { readonly kind: 'now'; readonly ms: number } | { readonly kind: 'random'; readonly bound: number; readonly value: number };

/** The core changed role: `input` is the sequence number of the input that caused it (counted from 1 since the core was built). */
export interface CoreTransition {
  readonly input: number;
  readonly from: Role;
  readonly to: Role;
  readonly term: Term;
  /** The triggering event, in one line (describeCause). */
  readonly event: string;
}

/**
 * Sees every input a core takes and every reading it makes of its clock and random
 * source (the flight recorder; the simulator's trace). A core built without one
 * spends nothing on it.
 */
export interface CoreTap {
  /** The core is built (from its persisted state, or resumed from a checkpoint): it can be checkpointed from now on. */
  attached?(core: CheckpointSource): void;
  /** Input number `seq` is about to be handled, at `atMs` by the host's clock; `core.checkpoint()` now gives the state before it. */
  input(seq: number, atMs: number, input: CoreInput): void;
  reading(r: EnvReading): void;
  transition?(t: CoreTransition): void;
}

/** A core as a tap may read it between inputs. */
export interface CheckpointSource {
  checkpoint(): CoreCheckpoint;
}

/** A delayed event's type without XState's prefix and state path: `heartbeatInterval`. */
export function timerName(event: string): string {
  const m = /^xstate\.after\.([^.]+)\./.exec(event);
  return m === null ? event : m[1]!;
}

/** One line for the input that caused a transition. */
export function describeCause(input: CoreInput): string {
  switch (input.kind) {
    case 'message':
      return describeMessage(input.message);
    case 'persisted':
      return `durable: ${describeMessage(input.message)}`;
    case 'propose':
      return `propose ${input.commands.length} command${input.commands.length === 1 ? '' : 's'}${input.forwardBatchId === null ? '' : ` (forward as #${input.forwardBatchId})`}`;
    case 'readIndex':
      return `readIndex #${input.requestId}${input.lease ? ' lease' : ''}`;
    case 'snapshotTaken':
      return `snapshot taken at ${input.snapshot.meta.index}`;
    case 'changeMembers':
      return `change members: ${describeChange(input.change)}`;
    case 'transferLeadership':
      return `transfer leadership to ${input.to ?? 'the most up-to-date voter'}`;
    case 'timer':
      return `timer ${timerName(input.event)}`;
    case 'ready':
      return 'ready drained';
  }
}
