import type { Registry } from 'prom-client';
import { collectedCounter, collectedGauge } from './collected.js';

/** What the debugging features report, read when scraped (API port). */
export interface DebugStats {
  /** The flight recorder, when on. */
  readonly recorder: { inputs(): number; bytes(): number; readonly inputsDropped: number; readonly checkpoints: number } | null;
  readonly eventStreams: () => number;
  readonly eventSubscribersCut: () => number;
  /** The Stately inspector, when attached. */
  readonly inspector: { readonly dropped: number; readonly sent: number } | null;
}

export function registerDebugMetrics(r: Registry, s: DebugStats): void {
  collectedGauge(r, 'kvstore_recorder_inputs', 'Raft core inputs held by the flight recorder', () => s.recorder?.inputs() ?? 0);
  collectedGauge(r, 'kvstore_recorder_bytes', 'Payload bytes the flight recorder holds on to (inputs and its checkpoints\' log windows)', () => s.recorder?.bytes() ?? 0);
  collectedCounter(r, 'kvstore_recorder_inputs_dropped_total', 'Inputs that fell off the flight recorder\'s ring (its oldest segment dropped)', () => s.recorder?.inputsDropped ?? 0);
  collectedCounter(r, 'kvstore_recorder_checkpoints_total', 'Checkpoints of the Raft core the flight recorder took (one opens each segment)', () => s.recorder?.checkpoints ?? 0);
  collectedGauge(r, 'kvstore_events_streams', 'GET /v1/events streams open', () => s.eventStreams());
  collectedCounter(r, 'kvstore_events_subscribers_cut_total', 'Event streams closed because the client fell too far behind (it resumes with Last-Event-ID)', () => s.eventSubscribersCut());
  collectedCounter(r, 'kvstore_inspect_events_dropped_total', 'Inspection events not sent to the Stately inspector: over debug.inspect_events_per_second or a full queue', () => s.inspector?.dropped ?? 0);
  collectedCounter(r, 'kvstore_inspect_events_sent_total', 'Inspection events sent to the Stately inspector', () => s.inspector?.sent ?? 0);
}
