import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Departures } from '../../src/raft/departures.js';
import { configuration, type Member } from '../../src/raft/membership.js';
import { logIndex, nodeId } from '../../src/raft/types.js';

const member = (id: string, role: Member['role'] = 'voter'): Member => ({ id: nodeId(id), role, addrs: { raftAddr: `${id}:1`, httpAddr: `${id}:2`, grpcAddr: `${id}:3` } });
const cfg = (...ids: string[]) => configuration(ids.map((id) => member(id)));

test('a departing member is done once its log holds the entry that removed it, not before', () => {
  const d = new Departures(5);
  d.add(nodeId('c'), logIndex(10));
  assert.equal(d.reached(nodeId('c'), logIndex(9)), false);
  assert.ok(d.has(nodeId('c')));
  assert.equal(d.reached(nodeId('c'), logIndex(10)), true);
  assert.equal(d.has(nodeId('c')), false);
  assert.equal(d.reached(nodeId('c'), logIndex(11)), false, 'done once');
});

test('a departing member is given up after its rounds, and re-adding it ends its departure', () => {
  const d = new Departures(2);
  d.add(nodeId('c'), logIndex(10));
  d.add(nodeId('e'), logIndex(12));
  assert.deepEqual(d.age(), []);
  d.follow(cfg('a', 'b', 'e'));
  assert.deepEqual([...d.ids()], ['c']);
  assert.deepEqual(d.age(), ['c']);
  assert.deepEqual([...d.ids()], []);
});
