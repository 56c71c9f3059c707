import { createWebSocketInspector } from '@statelyai/inspect';
import type { InspectionEvent, Subscription } from 'xstate';
import { raftMachine } from '../../machines/raft.machine.js';
import type { Logger } from '../log.js';

/** How often queued inspection events go out, and so how finely the rate limit is cut. */
const DRAIN_MS = 100;
/** Events waiting to go out: beyond this, new ones are dropped (and counted). */
const QUEUE_MAX = 2_000;

/** What the Stately inspector is shown of the core's context: the Raft state, not the log, outbox or progress objects. */
export interface InspectedContext {
  readonly id: string;
  readonly term: number;
  readonly votedFor: string | null;
  readonly leaderId: string | null;
  readonly commitIndex: number;
  readonly lastIndex: number;
}

interface Queued {
  readonly kind: 'event' | 'snapshot';
  readonly event: Record<string, unknown>;
  readonly value?: unknown;
  readonly context?: InspectedContext;
}

/** A message or request as the inspector shows it: its scalar fields, and the number of entries it carries (never their bytes). */
function sanitizeEvent(e: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (v === null || typeof v !== 'object') out[k] = v;
    else if (Array.isArray(v)) out[k] = `${v.length} items`;
    else if (v instanceof Uint8Array) out[k] = `${v.length} bytes`;
  }
  return out;
}

interface ContextLike {
  readonly id: string;
  readonly term: number;
  readonly votedFor: string | null;
  readonly leaderId: string | null;
  readonly log: { committed(): number; lastIndex(): number };
}

/**
 * Shows a node's role machine in the Stately inspector (@statelyai/inspect, over
 * its WebSocket bridge), without slowing Raft: XState hands each inspection event
 * to `observe`, which only queues a small summary of it (a few field reads, no
 * serialisation); a timer sends the queue every 100 ms, at most
 * `eventsPerSecond` a second. Snapshots whose state value changed (a change of
 * role) jump the limit; every other event beyond it, or beyond a full queue, is
 * dropped and counted (kvstore_inspect_events_dropped_total). Off by default.
 */
export class CoreInspector {
  private readonly queue: Queued[] = [];
  private readonly changes: Queued[] = [];
  private lastValue = '';
  private timer: NodeJS.Timeout | null = null;
  private subscription: Subscription | null = null;
  private readonly inspector: ReturnType<typeof createWebSocketInspector>;
  dropped = 0;
  sent = 0;

  constructor(
    private readonly node: string,
    private readonly url: string,
    private readonly eventsPerSecond: number,
    private readonly log: Logger,
  ) {
    this.inspector = createWebSocketInspector({ url, autoStart: false });
  }

  /** Starts inspecting through `attach` (the actor system's `inspect`). */
  start(attach: (observer: (e: InspectionEvent) => void) => Subscription): void {
    this.inspector.start();
    // The inspector reads the definition from the actor's logic (it draws the machine from it); the node id names the session.
    const actorLike = { sessionId: this.node, id: this.node, logic: raftMachine } as unknown as Parameters<typeof this.inspector.actor>[0];
    this.inspector.actor(actorLike, { status: 'active', value: 'follower' });
    this.subscription = attach((e) => this.observe(e));
    this.timer = setInterval(() => this.drain(), DRAIN_MS);
    this.timer.unref();
    this.log.info({ url: this.url, events_per_second: this.eventsPerSecond }, 'Stately inspector attached');
  }

  stop(): void {
    this.subscription?.unsubscribe();
    if (this.timer !== null) clearInterval(this.timer);
    this.inspector.stop();
  }

  private observe(e: InspectionEvent): void {
    if (e.type === '@xstate.event') {
      this.enqueue({ kind: 'event', event: sanitizeEvent(e.event as Record<string, unknown>) });
    } else if (e.type === '@xstate.snapshot') {
      const snap = e.snapshot as { value?: unknown; context?: ContextLike };
      const c = snap.context;
      const context = c === undefined ? undefined : { id: c.id, term: c.term, votedFor: c.votedFor, leaderId: c.leaderId, commitIndex: c.log.committed(), lastIndex: c.log.lastIndex() };
      const q: Queued = { kind: 'snapshot', event: sanitizeEvent(e.event as Record<string, unknown>), value: snap.value, ...(context ? { context } : {}) };
      const value = typeof snap.value === 'string' ? snap.value : JSON.stringify(snap.value);
      if (value !== this.lastValue) {
        this.lastValue = value;
        if (this.changes.length < QUEUE_MAX) this.changes.push(q);
        else this.dropped++;
      } else this.enqueue(q);
    }
  }

  private enqueue(q: Queued): void {
    if (this.queue.length < QUEUE_MAX) this.queue.push(q);
    else this.dropped++;
  }

  /** Sends every change of role, then queued events up to this tick's share of the rate; drops the rest. */
  private drain(): void {
    for (const q of this.changes.splice(0)) this.send(q);
    const share = Math.max(1, Math.round((this.eventsPerSecond * DRAIN_MS) / 1000));
    for (const q of this.queue.splice(0, share)) this.send(q);
    this.dropped += this.queue.length;
    this.queue.length = 0;
  }

  private send(q: Queued): void {
    this.sent++;
    const event = { type: String(q.event['type'] ?? 'event'), ...q.event };
    if (q.kind === 'event') this.inspector.event(this.node, event);
    else this.inspector.snapshot(this.node, { status: 'active', value: q.value, ...(q.context ? { context: q.context } : {}) }, { event });
  }
}
