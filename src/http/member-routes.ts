// The membership and leadership-transfer routes (admin): GET/POST /v1/members,
// POST /v1/members/{id}/promote, DELETE /v1/members/{id}, POST /v1/leader/transfer.
import type Koa from 'koa';
import type { AdminError, ClusterAdmin, MembersView } from '../node/cluster-admin.js';
import { additionOf, describeAdminError, memberIdOf } from '../node/cluster-admin.js';
import type { Member } from '../raft/membership.js';
import { answerJson } from './answer.js';
import type { Gateway } from './gateway.js';
import { HttpError } from './http-error.js';
import { objectFromJson, onlyFields } from './kv-json.js';
import { readBody } from './request.js';

/** A member request is a few short strings: anything larger is not one. */
const MEMBER_BODY_BYTES_MAX = 4096;

export const V1_MEMBERS_PREFIX = '/v1/members/';

export function memberToJson(m: Member): Record<string, unknown> {
  return { id: m.id, role: m.role, raft_addr: m.addrs.raftAddr, http_addr: m.addrs.httpAddr, grpc_addr: m.addrs.grpcAddr };
}

export function membersToJson(v: MembersView): Record<string, unknown> {
  return { leader_id: v.leaderId, config_index: v.configIndex, committed: v.committed, members: v.members.map(memberToJson) };
}

function refuse(ctx: Koa.Context, gateway: Gateway, e: AdminError): never {
  if (e.kind === 'not_leader' || e.kind === 'overloaded' || e.kind === 'outcome_unknown' || e.kind === 'stopped') return gateway.refuse(ctx, e);
  const { code, message } = describeAdminError(e);
  throw new HttpError(code, message);
}

/** The leader's view of the configuration (a follower redirects; `?consistency=stale` answers from here). */
export function listMembers(ctx: Koa.Context, gateway: Gateway, admin: ClusterAdmin, stale: boolean): void {
  const view = admin.members();
  if (!stale) {
    gateway.redirectIfFollower(ctx);
    // Not the leader's view, and no leader to ask: say so rather than answer with this node's.
    if (view.leaderId === null) throw new HttpError('no_leader', 'no leader is known now; retry, or ask with ?consistency=stale');
  }
  answerJson(ctx, 200, membersToJson(view));
}

export async function addMember(ctx: Koa.Context, gateway: Gateway, admin: ClusterAdmin): Promise<void> {
  gateway.redirectIfFollower(ctx);
  const o = objectFromJson(await readBody(ctx, MEMBER_BODY_BYTES_MAX), 'the body');
  onlyFields(o, ['id', 'raft_addr', 'http_addr', 'grpc_addr', 'learner'], 'the body');
  const a = additionOf({ id: o['id'], raftAddr: o['raft_addr'], httpAddr: o['http_addr'], grpcAddr: o['grpc_addr'], learner: o['learner'] });
  if (!a.ok) throw new HttpError('bad_request', a.problem);
  const r = await admin.changeMembers(a.change);
  if (!r.ok) return refuse(ctx, gateway, r.error);
  answerJson(ctx, 200, { index: r.value.index, ...membersToJson(r.value.view) });
}

/** POST /v1/members/{id}/promote and DELETE /v1/members/{id}. */
export async function changeMember(ctx: Koa.Context, gateway: Gateway, admin: ClusterAdmin, rawId: string, kind: 'promote' | 'remove'): Promise<void> {
  gateway.redirectIfFollower(ctx);
  const id = memberIdOf(decodeURIComponentOrNull(rawId));
  if (id === null) throw new HttpError('bad_request', 'the member id must be 1 to 64 characters from A-Z a-z 0-9 _ . -');
  const r = await admin.changeMembers({ kind, id });
  if (!r.ok) return refuse(ctx, gateway, r.error);
  answerJson(ctx, 200, { index: r.value.index, ...membersToJson(r.value.view) });
}

export async function transferLeader(ctx: Koa.Context, gateway: Gateway, admin: ClusterAdmin): Promise<void> {
  gateway.redirectIfFollower(ctx);
  const body = await readBody(ctx, MEMBER_BODY_BYTES_MAX);
  const o = body.length === 0 ? {} : objectFromJson(body, 'the body');
  onlyFields(o, ['to'], 'the body');
  const to = o['to'] === undefined || o['to'] === null ? null : memberIdOf(o['to']);
  if (to === null && o['to'] !== undefined && o['to'] !== null) throw new HttpError('bad_request', 'to must be a member id');
  const r = await admin.transferLeadership(to);
  if (!r.ok) return refuse(ctx, gateway, r.error);
  answerJson(ctx, 200, { leader_id: r.value.leaderId, term: r.value.term });
}

function decodeURIComponentOrNull(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}
