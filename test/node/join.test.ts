import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterMember, KvClient, MemberChangeResult, MembersResult } from '../../src/client/rest-client.js';
import { silentLogger } from '../../src/log.js';
import { Joiner } from '../../src/node/join.js';
import { nodeId } from '../../src/raft/types.js';

/** A cluster's answers, scripted: each call takes the next answer of its kind. */
function scripted(answers: { add: MemberChangeResult[]; list: MembersResult[]; promote: MemberChangeResult[] }) {
  const calls: string[] = [];
  const next = <T>(kind: string, q: T[]): T => {
    calls.push(kind);
    const a = q.shift();
    if (a === undefined) throw new Error(`no scripted answer left for ${kind}`);
    return a;
  };
  const client = {
    addMember: async () => next('add', answers.add),
    members: async () => next('list', answers.list),
    promoteMember: async () => next('promote', answers.promote),
  } as unknown as KvClient;
  return { client, calls };
}

const failed = (error: string): MemberChangeResult => ({ ok: false, kind: 'failed', status: 409, error, message: error });
const me: ClusterMember = { id: 'n4', role: 'learner', raft_addr: 'a:1', http_addr: 'a:2', grpc_addr: 'a:3' };
const list = (members: ClusterMember[]): MembersResult => ({ ok: true, leaderId: 'n1', configIndex: 9, committed: true, members });
const changed = (members: ClusterMember[]): MemberChangeResult => ({ ...(list(members) as { ok: true } & Exclude<MembersResult, { ok: false }>), index: 9 });

function joiner(client: KvClient, autoPromote: boolean, onMembers: (m: readonly ClusterMember[]) => void = () => undefined) {
  return new Joiner({ id: nodeId('n4'), addrs: { raftAddr: 'a:1', httpAddr: 'a:2', grpcAddr: 'a:3' }, client, autoPromote, retryMs: 1, onMembers, isVoter: () => false, logger: silentLogger() });
}

test('a joiner retries the add through elections, learns the members, and asks to be promoted until the leader agrees', async () => {
  const unavailable: MemberChangeResult = { ok: false, kind: 'failed', status: 503, error: 'no_leader', message: 'electing' };
  const { client, calls } = scripted({
    add: [unavailable, failed('change_in_flight'), changed([me])],
    list: [list([]), list([me])],
    promote: [failed('learner_behind'), failed('learner_behind'), changed([{ ...me, role: 'voter' }])],
  });
  let learned: readonly ClusterMember[] = [];
  await joiner(client, true, (m) => (learned = m)).run();
  assert.deepEqual(calls, ['add', 'add', 'add', 'list', 'list', 'promote', 'promote', 'promote']);
  assert.deepEqual(learned, [me]);
});

test('an add answered member_exists (a restart) goes on; without auto-promote the joiner stops as a learner', async () => {
  const { client, calls } = scripted({ add: [failed('member_exists')], list: [list([me])], promote: [] });
  await joiner(client, false).run();
  assert.deepEqual(calls, ['add', 'list']);
});

test('a refusal no retry can change ends the flow', async () => {
  const { client, calls } = scripted({ add: [{ ok: false, kind: 'failed', status: 403, error: 'permission_denied', message: 'no' }], list: [], promote: [] });
  await joiner(client, true).run();
  assert.deepEqual(calls, ['add']);
});

test('stop() ends a joiner that waits between attempts', async () => {
  const { client, calls } = scripted({ add: Array.from({ length: 1000 }, () => failed('change_in_flight')), list: [], promote: [] });
  const j = new Joiner({ id: nodeId('n4'), addrs: { raftAddr: 'a:1', httpAddr: 'a:2', grpcAddr: 'a:3' }, client, autoPromote: true, retryMs: 60_000, onMembers: () => undefined, isVoter: () => false, logger: silentLogger() });
  const running = j.run();
  j.stop();
  await running;
  assert.deepEqual(calls, ['add']);
});
