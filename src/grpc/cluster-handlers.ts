// kvstore.v1.Cluster: MemberList, MemberAdd, MemberPromote, MemberRemove, LeaderTransfer.
import type * as grpc from '@grpc/grpc-js';
import type { AdminError, ClusterAdmin, MembersView } from '../node/cluster-admin.js';
import { additionOf, describeAdminError, memberIdOf } from '../node/cluster-admin.js';
import type { ConfigChange } from '../raft/membership.js';
import type { NodeId } from '../raft/types.js';
import type { ClusterDefinition, ClusterHandlers } from './generated/kvstore/v1/Cluster.js';
import type { MemberChangeResponse } from './generated/kvstore/v1/MemberChangeResponse.js';
import type { MemberListResponse } from './generated/kvstore/v1/MemberListResponse.js';
import { consistencyOf } from './node-calls.js';
import { fail, ok, type Answer, type UnaryRunner } from './unary.js';

function listOf(v: MembersView): MemberListResponse {
  return {
    leader_id: v.leaderId ?? '',
    config_index: v.configIndex,
    committed: v.committed,
    members: v.members.map((m) => ({ id: m.id, role: m.role === 'voter' ? 'VOTER' : 'LEARNER', raft_addr: m.addrs.raftAddr, http_addr: m.addrs.httpAddr, grpc_addr: m.addrs.grpcAddr })),
  };
}

function refused<T>(runner: UnaryRunner, call: grpc.ServerUnaryCall<unknown, unknown>, e: AdminError): Answer<T> {
  if (e.kind === 'not_leader' || e.kind === 'overloaded' || e.kind === 'outcome_unknown' || e.kind === 'stopped') return runner.refused(e, call);
  const { code, message } = describeAdminError(e);
  return fail(code, message);
}

export function clusterHandlers(def: ClusterDefinition, runner: UnaryRunner, admin: ClusterAdmin & { readonly id: NodeId; status(): { readonly leaderId: NodeId | null } }): ClusterHandlers {
  const change = async (call: grpc.ServerUnaryCall<unknown, unknown>, c: ConfigChange): Promise<Answer<MemberChangeResponse>> => {
    const r = await admin.changeMembers(c);
    if (!r.ok) return refused(runner, call, r.error);
    return ok({ index: r.value.index, members: listOf(r.value.view) });
  };
  /** A change that names one member: promote or remove. */
  const changeOf = (call: grpc.ServerUnaryCall<unknown, unknown>, kind: 'promote' | 'remove', rawId: string | undefined): Promise<Answer<MemberChangeResponse>> => {
    const id = memberIdOf(rawId);
    return id === null ? Promise.resolve(fail('bad_request', 'id must be a member id')) : change(call, { kind, id });
  };
  return {
    MemberList: runner.unary(
      def.MemberList,
      () => false,
      (req, call) => {
        const c = consistencyOf(req.consistency);
        if (c === null) return Promise.resolve(fail('bad_request', 'consistency is LINEARIZABLE, LEASE or STALE'));
        const leaderId = admin.status().leaderId;
        if (c !== 'stale' && leaderId !== admin.id) return Promise.resolve(runner.refused({ kind: 'not_leader', leaderId }, call));
        return Promise.resolve(ok(listOf(admin.members())));
      },
    ),
    MemberAdd: runner.unary(
      def.MemberAdd,
      () => true,
      (req, call) => {
        const a = additionOf({ id: req.id, raftAddr: req.raft_addr, httpAddr: req.http_addr, grpcAddr: req.grpc_addr, learner: req.learner });
        return a.ok ? change(call, a.change) : Promise.resolve(fail('bad_request', a.problem));
      },
    ),
    MemberPromote: runner.unary(def.MemberPromote, () => true, (req, call) => changeOf(call, 'promote', req.id)),
    MemberRemove: runner.unary(def.MemberRemove, () => true, (req, call) => changeOf(call, 'remove', req.id)),
    LeaderTransfer: runner.unary(
      def.LeaderTransfer,
      () => true,
      async (req, call) => {
        const to = req.to === '' ? null : memberIdOf(req.to);
        if (to === null && req.to !== '') return fail('bad_request', 'to must be a member id, or empty for the most up-to-date voter');
        const r = await admin.transferLeadership(to);
        if (!r.ok) return refused(runner, call, r.error);
        return ok({ leader_id: r.value.leaderId, term: r.value.term });
      },
    ),
  };
}
