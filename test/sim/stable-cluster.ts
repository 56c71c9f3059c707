import assert from 'node:assert/strict';
import type { Message, NodeId } from '../../src/raft/types.js';
import { SimCluster, type ClusterOptions } from '../../sim/cluster.js';

/** A 3-node simulated cluster with a leader elected and settled for 500 ms. */
export function stableCluster(seed: number, opts: Omit<ClusterOptions, 'seed' | 'nodes'> = {}): { c: SimCluster; leader: NodeId; followers: NodeId[] } {
  const c = new SimCluster({ seed, nodes: 3, ...opts });
  assert.ok(c.runUntil(() => c.leader() !== null, 10_000), 'no leader');
  c.runFor(500);
  const leader = c.leader()!;
  return { c, leader, followers: c.ids.filter((id) => id !== leader) };
}

/** Drops the messages `drop` picks, from now on, until the returned function is called. */
export function dropWhere(c: SimCluster, drop: (m: Message) => boolean): () => void {
  const send = c.network.send.bind(c.network);
  c.network.send = (m) => {
    if (!drop(m)) send(m);
  };
  return () => {
    c.network.send = send;
  };
}
