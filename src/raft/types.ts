// The vocabulary of the Raft core: identifiers, log entries, hard state and the
// peer messages. Branded number/string types keep terms, indexes and node ids
// from being mixed up; they cost nothing at run time.

import type { Configuration } from './membership.js';

export type NodeId = string & { readonly __brand: 'NodeId' };
export type Term = number & { readonly __brand: 'Term' };
export type LogIndex = number & { readonly __brand: 'LogIndex' };

export const nodeId = (s: string): NodeId => s as NodeId;
export const term = (n: number): Term => n as Term;
export const logIndex = (n: number): LogIndex => n as LogIndex;

/** A configuration entry's data is a cluster configuration (src/raft/configuration-codec.ts); it takes effect when appended. */
export type EntryKind = 'noop' | 'command' | 'config';

export interface Entry {
  readonly index: LogIndex;
  readonly term: Term;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** What must survive a crash before a vote or an append acknowledgement is sent. */
export interface HardState {
  readonly term: Term;
  readonly votedFor: NodeId | null;
  readonly commit: LogIndex;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/**
 * A conflict hint from a follower that rejected an append (Raft paper §5.3, the
 * "fast backup" optimisation): the term of its entry at the rejected index and the
 * first index it holds of that term, or, when its log is too short, only the index
 * after its last entry. The leader then skips a whole term per round trip.
 */
export interface ConflictHint {
  readonly index: LogIndex;
  readonly term: Term | null;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

export interface RequestVote extends MessageBase {
  readonly type: 'requestVote';
  /** A pre-vote asks "would you vote for me at `term`?" without anyone changing term. */
  readonly preVote: boolean;
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /**
   * Sent by a leadership-transfer target (after TimeoutNow): the old leader wants
   * it, so voters that still hear from that leader take the request anyway.
   */
  readonly transfer: boolean;
}

export interface RequestVoteResponse extends MessageBase {
  readonly type: 'requestVoteResponse';
  readonly preVote: boolean;
  readonly granted: boolean;
}

export interface AppendEntries extends MessageBase {
  readonly type: 'appendEntries';
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  readonly leaderCommit: LogIndex;
}

export type AppendEntriesResponse = MessageBase & {
  readonly type: 'appendEntriesResponse';
} & (
    | { readonly success: true; readonly matchIndex: LogIndex }
    | {
        readonly success: false;
        /** The prevLogIndex of the rejected append, so stale rejections can be recognised. */
        readonly rejectedIndex: LogIndex;
        readonly hint: ConflictHint;
      }
  );

/** Keeps followers from campaigning and carries the commit index to them. */
export interface Heartbeat extends MessageBase {
  readonly type: 'heartbeat';
  /** min(follower's match, leader's commit): never ahead of what the follower holds. */
  readonly commit: LogIndex;
  /** The broadcast's sequence number, echoed back: acknowledgements of it confirm leadership for reads. */
  readonly seq: number;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeatResponse';
  readonly seq: number;
  /**
   * Set when the follower's log ends before the heartbeat's commit index, which the
   * leader only sends up to what the follower acknowledged: the follower lost its log
   * (it restarted from an empty data directory) and must be repaired from here.
   */
  readonly logEnd: LogIndex | null;
}

/** Where a snapshot stands in the log, and the configuration in effect there. */
export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  readonly config: Configuration;
}

/**
 * A state machine snapshot: immutable chunks produced by the host when it compacted
 * the log at `meta.index`, sent to lagging followers chunk by chunk.
 */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly chunks: readonly Uint8Array[];
}

/** One chunk of a snapshot (chunks are numbered; the follower asks for the next one it needs). */
export interface InstallSnapshot extends MessageBase {
  readonly type: 'installSnapshot';
  readonly meta: SnapshotMeta;
  readonly chunk: number;
  readonly chunkCount: number;
  readonly data: Uint8Array;
}

export interface InstallSnapshotResponse extends MessageBase {
  readonly type: 'installSnapshotResponse';
  readonly snapshotIndex: LogIndex;
  /** Installed (durably), or else the next chunk the follower needs. */
  readonly done: boolean;
  readonly nextChunk: number;
}

/**
 * A follower's linearizable read, forwarded to the leader (etcd's follower
 * ReadIndex): "tell me an index I may serve read `requestId` at".
 */
export interface ReadIndexRequest extends MessageBase {
  readonly type: 'readIndexRequest';
  /** The follower's own id of the read, echoed back. */
  readonly requestId: number;
  /** The leader may answer from its lease instead of a heartbeat round. */
  readonly lease: boolean;
}

/**
 * The leader's answer: its commit index when the request arrived, confirmed by a
 * majority since. The follower serves the read once it has applied `index`.
 */
export interface ReadIndexResponse extends MessageBase {
  readonly type: 'readIndexResponse';
  readonly requestId: number;
  readonly index: LogIndex;
}

/**
 * Commands a follower forwards to its leader (etcd's MsgProp), so that a client
 * of any node can write without a redirect.
 */
export interface ProposeRequest extends MessageBase {
  readonly type: 'proposeRequest';
  /** The follower's id of the batch, echoed back. */
  readonly batchId: number;
  readonly commands: readonly Uint8Array[];
}

/**
 * The leader's answer: the commands were appended from `firstIndex` on at the
 * message's term (the follower answers each once it has applied that entry, if
 * the entry there still has that term), or refused (not appended: safe to retry).
 */
export interface ProposeResponse extends MessageBase {
  readonly type: 'proposeResponse';
  readonly batchId: number;
  readonly result: { readonly accepted: true; readonly firstIndex: LogIndex } | { readonly accepted: false; readonly reason: 'not_leader' | 'overloaded' };
}

/** Leadership transfer: the leader tells its caught-up target to campaign now (Raft dissertation §3.10). */
export interface TimeoutNow extends MessageBase {
  readonly type: 'timeoutNow';
}

export type Message =
  | TimeoutNow
  | RequestVote
  | RequestVoteResponse
  | AppendEntries
  | AppendEntriesResponse
  | Heartbeat
  | HeartbeatResponse
  | InstallSnapshot
  | InstallSnapshotResponse
  | ReadIndexRequest
  | ReadIndexResponse
  | ProposeRequest
  | ProposeResponse;

export type MessageType = Message['type'];
