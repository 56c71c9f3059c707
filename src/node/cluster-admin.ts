import { isValidId } from '../config/checks.js';
import { formatHostPort, parseHostPort } from '../config/host-port.js';
import type { ErrorCode, RequestError } from '../errors.js';
import { codeOfRequestError } from '../errors.js';
import type { TransferRefusal } from '../raft/leadership-transfer.js';
import type { ChangeRefusal, ConfigChange, Member } from '../raft/membership.js';
import type { LogIndex, NodeId, Term } from '../raft/types.js';
import { nodeId } from '../raft/types.js';

/**
 * What the membership and leadership-transfer APIs (REST, gRPC, CLI) ask of a
 * node, and how each refusal maps to the error catalog. A change or a transfer is
 * answered once it has taken effect: a change when its configuration entry is
 * committed, a transfer when the target leads.
 */

export interface MembersView {
  readonly leaderId: NodeId | null;
  /** The log index of the configuration entry in effect (0: the bootstrap configuration). */
  readonly configIndex: LogIndex;
  /** Is that configuration committed? (A change is in flight while it is not.) */
  readonly committed: boolean;
  readonly members: readonly Member[];
}

export type AdminError =
  | RequestError
  | { readonly kind: 'change_refused'; readonly refusal: ChangeRefusal }
  | { readonly kind: 'transfer_refused'; readonly refusal: TransferRefusal }
  /** The target did not take over within an election timeout; this node leads on. */
  | { readonly kind: 'transfer_timed_out'; readonly to: NodeId };

export type AdminOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: AdminError };

export interface ClusterAdmin {
  /** This node's view: the configuration in effect in its log. */
  members(): MembersView;
  /** Proposes one single-server change (leader only) and answers once it is committed. */
  changeMembers(change: ConfigChange): Promise<AdminOutcome<{ readonly index: LogIndex; readonly view: MembersView }>>;
  /** Hands leadership to `to` (or the most up-to-date voter) and answers once it leads. */
  transferLeadership(to: NodeId | null): Promise<AdminOutcome<{ readonly leaderId: NodeId; readonly term: Term }>>;
}

/** The catalog code and the human text of a refusal. */
export function describeAdminError(e: AdminError): { readonly code: ErrorCode; readonly message: string } {
  switch (e.kind) {
    case 'change_refused':
      return describeChangeRefusal(e.refusal);
    case 'transfer_refused':
      return describeTransferRefusal(e.refusal);
    case 'transfer_timed_out':
      return { code: 'transfer_timed_out', message: `${e.to} did not take over within an election timeout; this node still leads` };
    default:
      return { code: codeOfRequestError(e), message: 'no leader can take the request now; retry' };
  }
}

function describeChangeRefusal(r: ChangeRefusal): { readonly code: ErrorCode; readonly message: string } {
  switch (r.reason) {
    case 'change_in_flight':
      return { code: 'change_in_flight', message: `the membership change at index ${r.pendingIndex} is not committed yet; one change at a time` };
    case 'leader_not_settled':
      return { code: 'change_in_flight', message: 'the leader has not committed an entry of its term yet; retry shortly' };
    case 'member_exists':
      return { code: 'member_exists', message: `${r.id} is already a member` };
    case 'member_not_found':
      return { code: 'member_not_found', message: `${r.id} is not a member` };
    case 'not_learner':
      return { code: 'not_learner', message: `${r.id} is a voter already; only a learner can be promoted` };
    case 'last_voter':
      return { code: 'last_voter', message: `${r.id} is the last voter; add another voter before removing it` };
    case 'learner_behind':
      return { code: 'learner_behind', message: `${r.id} holds the log up to ${r.match}, the leader's ends at ${r.lastIndex}: more than ${r.distanceMax} entries behind` };
  }
}

function describeTransferRefusal(r: TransferRefusal): { readonly code: ErrorCode; readonly message: string } {
  switch (r.reason) {
    case 'member_not_found':
      return { code: 'member_not_found', message: `${r.id} is not a member` };
    case 'not_voter':
      return { code: 'not_voter', message: `${r.id} is a learner; only a voter can lead` };
    case 'already_leader':
      return { code: 'bad_request', message: `${r.id} leads already` };
    case 'no_other_voter':
      return { code: 'not_voter', message: 'no other voter to hand leadership to' };
  }
}

/** A new member as the APIs receive it, before checking. */
export interface MemberRequest {
  readonly id: unknown;
  readonly raftAddr: unknown;
  readonly httpAddr: unknown;
  readonly grpcAddr: unknown;
  readonly learner: unknown;
}

/** The change that adds the requested member, or what is wrong with the request. */
export function additionOf(r: MemberRequest): { readonly ok: true; readonly change: ConfigChange } | { readonly ok: false; readonly problem: string } {
  if (typeof r.id !== 'string' || !isValidId(r.id)) return { ok: false, problem: 'id must be 1 to 64 characters from A-Z a-z 0-9 _ . -' };
  const addrs: string[] = [];
  for (const [field, v] of [['raft_addr', r.raftAddr], ['http_addr', r.httpAddr], ['grpc_addr', r.grpcAddr]] as const) {
    const hp = typeof v === 'string' ? parseHostPort(v) : null;
    if (hp === null) return { ok: false, problem: `${field} must be host:port with a port from 1 to 65535 (an IPv6 host in brackets)` };
    addrs.push(formatHostPort(hp));
  }
  if (r.learner !== undefined && typeof r.learner !== 'boolean') return { ok: false, problem: 'learner must be true or false' };
  const [raftAddr, httpAddr, grpcAddr] = addrs as [string, string, string];
  return { ok: true, change: { kind: r.learner === true ? 'addLearner' : 'addVoter', id: nodeId(r.id), addrs: { raftAddr, httpAddr, grpcAddr } } };
}

/** A member id named in a path or a request, checked. */
export function memberIdOf(v: unknown): NodeId | null {
  return typeof v === 'string' && isValidId(v) ? nodeId(v) : null;
}
