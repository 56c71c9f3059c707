import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorCatalog } from '../../src/errors.js';
import { additionOf, describeAdminError, memberIdOf, type AdminError } from '../../src/node/cluster-admin.js';
import { logIndex, nodeId } from '../../src/raft/types.js';

const good = { id: 'n4', raftAddr: '127.0.0.1:7084', httpAddr: '127.0.0.1:8084', grpcAddr: '[::1]:9084', learner: undefined };

test('additionOf takes a well-formed member, a voter unless learner is true', () => {
  assert.deepEqual(additionOf(good), { ok: true, change: { kind: 'addVoter', id: 'n4', addrs: { raftAddr: '127.0.0.1:7084', httpAddr: '127.0.0.1:8084', grpcAddr: '[::1]:9084' } } });
  const learner = additionOf({ ...good, learner: true });
  assert.ok(learner.ok && learner.change.kind === 'addLearner');
  const voter = additionOf({ ...good, learner: false });
  assert.ok(voter.ok && voter.change.kind === 'addVoter');
});

test('additionOf names what is wrong with a bad member', () => {
  const problem = (r: Partial<typeof good> & Record<string, unknown>): string => {
    const a = additionOf({ ...good, ...r });
    assert.ok(!a.ok, `accepted ${JSON.stringify(r)}`);
    return a.problem;
  };
  assert.match(problem({ id: '' }), /^id /);
  assert.match(problem({ id: 'a b' }), /^id /);
  assert.match(problem({ id: 'x'.repeat(65) }), /^id /);
  assert.match(problem({ id: 7 as unknown as string }), /^id /);
  assert.match(problem({ raftAddr: 'nowhere' }), /^raft_addr /);
  assert.match(problem({ httpAddr: '127.0.0.1:0' }), /^http_addr /);
  assert.match(problem({ grpcAddr: undefined as unknown as string }), /^grpc_addr /);
  assert.match(problem({ learner: 'yes' as unknown as undefined }), /^learner /);
});

test('memberIdOf accepts exactly the ids a config may hold', () => {
  assert.equal(memberIdOf('kvstore-3'), 'kvstore-3');
  for (const bad of ['', 'a/b', 'x'.repeat(65), 3, null]) assert.equal(memberIdOf(bad), null, JSON.stringify(bad));
});

test('every refusal maps to a catalog code with the status the API promises', () => {
  const cases: [AdminError, string, number][] = [
    [{ kind: 'change_refused', refusal: { reason: 'change_in_flight', pendingIndex: logIndex(9) } }, 'change_in_flight', 409],
    [{ kind: 'change_refused', refusal: { reason: 'leader_not_settled' } }, 'change_in_flight', 409],
    [{ kind: 'change_refused', refusal: { reason: 'member_exists', id: nodeId('a') } }, 'member_exists', 409],
    [{ kind: 'change_refused', refusal: { reason: 'member_not_found', id: nodeId('a') } }, 'member_not_found', 404],
    [{ kind: 'change_refused', refusal: { reason: 'not_learner', id: nodeId('a') } }, 'not_learner', 409],
    [{ kind: 'change_refused', refusal: { reason: 'last_voter', id: nodeId('a') } }, 'last_voter', 400],
    [{ kind: 'change_refused', refusal: { reason: 'learner_behind', id: nodeId('a'), match: logIndex(1), lastIndex: logIndex(5000), distanceMax: 1000 } }, 'learner_behind', 409],
    [{ kind: 'transfer_refused', refusal: { reason: 'not_voter', id: nodeId('l') } }, 'not_voter', 400],
    [{ kind: 'transfer_refused', refusal: { reason: 'member_not_found', id: nodeId('z') } }, 'member_not_found', 404],
    [{ kind: 'transfer_refused', refusal: { reason: 'no_other_voter' } }, 'not_voter', 400],
    [{ kind: 'transfer_timed_out', to: nodeId('b') }, 'transfer_timed_out', 503],
    [{ kind: 'not_leader', leaderId: null }, 'no_leader', 503],
    [{ kind: 'outcome_unknown' }, 'outcome_unknown', 504],
  ];
  for (const [e, code, status] of cases) {
    const d = describeAdminError(e);
    assert.equal(d.code, code, JSON.stringify(e));
    assert.equal(errorCatalog[d.code].http, status, code);
    assert.ok(d.message.length > 0);
  }
});
