import type { CoreTransition } from '../raft/host/core-tap.js';
import type { PeerProgress, RaftStatus } from '../raft/host/raft-node.js';
import type { NodeId } from '../raft/types.js';

/** One node's state as the cluster page shows it (snake case, as in GET /v1/status). */
export interface NodeState {
  readonly id: string;
  readonly role: string;
  readonly term: number;
  readonly leader_id: string | null;
  readonly commit_index: number;
  readonly applied_index: number;
  readonly last_log_index: number;
  /** Client requests (proposals and reads) this node has taken since it started. */
  readonly requests_total: number;
  /** The peers this node's transport is connected to now. */
  readonly connected_peers: readonly string[];
  /** Leader only: how far each follower's log is known to match ours. */
  readonly match_index: Readonly<Record<string, number>>;
}

export interface TransitionRecord {
  readonly from: string;
  readonly to: string;
  readonly term: number;
  readonly input: number;
  readonly event: string;
  /** Wall-clock time, ms since the epoch. */
  readonly at_ms: number;
}

export type NodeEvent = { readonly kind: 'status'; readonly data: NodeState } | { readonly kind: 'transition'; readonly data: TransitionRecord };

/** What a subscriber is sent: an event with its id, or the whole picture to start from. */
export type Delivery =
  | { readonly id: number; readonly event: NodeEvent }
  | { readonly id: number; readonly hello: { readonly status: NodeState; readonly transitions: readonly TransitionRecord[]; readonly reset: boolean } };

export interface NodeEventsSource {
  status(): RaftStatus;
  peerProgress(): readonly PeerProgress[];
  connectedPeers(): readonly NodeId[];
  /** Wall-clock milliseconds. */
  nowMs(): number;
}

/** Events kept for subscribers that reconnect with Last-Event-ID. */
export const EVENTS_KEPT = 1024;
/** Transitions kept for the page's "last N transitions" (and sent in each hello). */
export const TRANSITIONS_KEPT = 50;

/**
 * One node's live events for the cluster page (GET /v1/events): its changes of
 * role as the core made them, and its status whenever it changed (sampled by the
 * caller's timer, only while someone subscribes). Events are numbered; the last
 * EVENTS_KEPT are kept so that a subscriber that lost its connection picks up
 * where it stopped (Last-Event-ID), or is told to start over when it was gone too
 * long. Nothing here can slow the node: the core's transitions are appended to a
 * bounded ring, and writing to subscribers is the HTTP layer's business.
 */
export class NodeEvents {
  private readonly ring: { id: number; event: NodeEvent }[] = [];
  private readonly transitions: TransitionRecord[] = [];
  private readonly subscribers = new Set<(d: Delivery) => void>();
  private nextId = 1;
  private requests = 0;
  private lastStatus: string | null = null;

  constructor(private readonly source: NodeEventsSource) {}

  /** KvNode hook: a change of role. */
  transition(t: CoreTransition): void {
    const r: TransitionRecord = { from: t.from, to: t.to, term: t.term, input: t.input, event: t.event, at_ms: this.source.nowMs() };
    this.transitions.push(r);
    if (this.transitions.length > TRANSITIONS_KEPT) this.transitions.shift();
    this.publish({ kind: 'transition', data: r });
  }

  /** KvNode hook: a client request reached the node. */
  request(): void {
    this.requests++;
  }

  subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Publishes the status if it changed since the last one published (call it periodically while subscribed). */
  sample(): void {
    const s = this.state();
    const key = JSON.stringify(s);
    if (key === this.lastStatus) return;
    this.lastStatus = key;
    this.publish({ kind: 'status', data: s });
  }

  state(): NodeState {
    const s = this.source.status();
    const match: Record<string, number> = {};
    for (const p of this.source.peerProgress()) match[p.peer] = p.match;
    return {
      id: s.id,
      role: s.role === 'preCandidate' ? 'pre_candidate' : s.role,
      term: s.term,
      leader_id: s.leaderId,
      commit_index: s.commitIndex,
      applied_index: s.appliedIndex,
      last_log_index: s.lastLogIndex,
      requests_total: this.requests,
      connected_peers: [...this.source.connectedPeers()].sort(),
      match_index: match,
    };
  }

  /**
   * Subscribes `send`; first delivers what the subscriber missed after
   * `lastEventId` if the ring still holds it all, else a hello with the status and
   * recent transitions (`reset` when it asked for events that are gone). Returns
   * the unsubscribe function.
   */
  subscribe(lastEventId: number | null, send: (d: Delivery) => void): () => void {
    const oldest = this.ring[0]?.id ?? this.nextId;
    if (lastEventId !== null && lastEventId >= oldest - 1 && lastEventId < this.nextId) {
      for (const e of this.ring) if (e.id > lastEventId) send(e);
    } else {
      send({ id: this.nextId - 1, hello: { status: this.state(), transitions: [...this.transitions], reset: lastEventId !== null } });
    }
    this.subscribers.add(send);
    return () => this.subscribers.delete(send);
  }

  private publish(event: NodeEvent): void {
    const e = { id: this.nextId++, event };
    this.ring.push(e);
    if (this.ring.length > EVENTS_KEPT) this.ring.shift();
    for (const s of this.subscribers) s(e);
  }
}
