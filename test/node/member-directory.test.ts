import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseHostPort } from '../../src/config/host-port.js';
import type { PeerConfig } from '../../src/config/checks.js';
import { MemberDirectory } from '../../src/node/member-directory.js';
import { configuration, emptyConfiguration, type Member } from '../../src/raft/membership.js';
import { nodeId } from '../../src/raft/types.js';

const hp = (s: string) => parseHostPort(s)!;
const peer = (id: string, base: number): PeerConfig => ({ id: nodeId(id), raftAddr: hp(`10.0.0.1:${base}`), httpAddr: hp(`10.0.0.1:${base + 1}`), grpcAddr: hp(`10.0.0.1:${base + 2}`) });
const member = (id: string, base: number, host = '192.168.0.9'): Member => ({ id: nodeId(id), role: 'voter', addrs: { raftAddr: `${host}:${base}`, httpAddr: `${host}:${base + 1}`, grpcAddr: `${host}:${base + 2}` } });

test('raft.peers wins for the ids it names; the log gives the others; removed members are dropped', () => {
  const d = new MemberDirectory([peer('a', 100), peer('b', 200)]);
  assert.equal(d.get(nodeId('a'))!.httpAddr.port, 101);
  const first = d.follow(configuration([member('a', 900), member('b', 900), member('c', 300)]));
  assert.deepEqual(first.added.map((p) => p.id), ['c']);
  assert.deepEqual(first.removed, []);
  assert.equal(d.get(nodeId('a'))!.raftAddr.host, '10.0.0.1', "this node's own config wins");
  assert.equal(d.get(nodeId('c'))!.raftAddr.host, '192.168.0.9');
  const second = d.follow(configuration([member('a', 900), member('c', 400)]));
  assert.deepEqual(second.added.map((p) => p.id), ['c'], 'a member whose address changed is handed out again');
  assert.deepEqual(second.removed, ['b']);
  assert.equal(d.get(nodeId('b')), undefined);
});

test('an unparseable address in the log leaves the member unknown; an empty configuration changes nothing', () => {
  const d = new MemberDirectory([peer('a', 100)]);
  assert.deepEqual(d.follow(emptyConfiguration), { added: [], removed: [] });
  assert.ok(d.get(nodeId('a')) !== undefined);
  const r = d.follow(configuration([member('a', 100), { ...member('z', 1), addrs: { raftAddr: '', httpAddr: '', grpcAddr: '' } }]));
  assert.deepEqual(r.added, []);
  assert.equal(d.get(nodeId('z')), undefined);
});

test('learn() adds what a joining node was told, unless raft.peers names the id', () => {
  const d = new MemberDirectory([peer('a', 100)]);
  assert.equal(d.learn(peer('a', 500)), false);
  assert.equal(d.learn(peer('b', 200)), true);
  assert.equal(d.learn(peer('b', 200)), false);
  assert.equal(d.get(nodeId('b'))!.grpcAddr.port, 202);
});
