import type { PeerConfig } from '../config/checks.js';
import { formatHostPort, parseHostPort } from '../config/host-port.js';
import { configuration, type Configuration } from '../raft/membership.js';
import type { NodeId } from '../raft/types.js';

/**
 * Where each member is reached from this node. Members are named by id; this
 * node's own config (raft.peers) has the last word on an id's addresses (a proxy,
 * NAT or container network in between, SPEC §2), and for a member it does not
 * list, the addresses the configuration in the log carries are used: that is how
 * a member added while this node runs becomes reachable without a restart.
 */
export class MemberDirectory {
  private readonly configured: ReadonlyMap<NodeId, PeerConfig>;
  private current = new Map<NodeId, PeerConfig>();

  constructor(configured: readonly PeerConfig[]) {
    this.configured = new Map(configured.map((p) => [p.id, p]));
    this.current = new Map(this.configured);
  }

  /**
   * Takes the configuration in effect; answers which members came and went (so
   * the transport can dial or drop them). A member with an unparseable address in
   * the log (a restored backup carries none) is known only through raft.peers.
   */
  follow(c: Configuration): { readonly added: readonly PeerConfig[]; readonly removed: readonly NodeId[] } {
    const next = new Map<NodeId, PeerConfig>();
    for (const m of c.members) {
      const own = this.configured.get(m.id);
      if (own !== undefined) {
        next.set(m.id, own);
        continue;
      }
      const raftAddr = parseHostPort(m.addrs.raftAddr);
      const httpAddr = parseHostPort(m.addrs.httpAddr);
      const grpcAddr = parseHostPort(m.addrs.grpcAddr);
      if (raftAddr !== null && httpAddr !== null && grpcAddr !== null) next.set(m.id, { id: m.id, raftAddr, httpAddr, grpcAddr });
    }
    // An empty configuration (a node waiting to join) has not replaced raft.peers yet.
    if (c.members.length === 0) return { added: [], removed: [] };
    const added = [...next.values()].filter((p) => !this.current.has(p.id) || !samePeer(this.current.get(p.id)!, p));
    const removed = [...this.current.keys()].filter((id) => !next.has(id));
    this.current = next;
    return { added, removed };
  }

  has(id: NodeId): boolean {
    return this.current.has(id);
  }

  /** The addresses of member `id`, if this node knows them. */
  get(id: NodeId): PeerConfig | undefined {
    return this.current.get(id);
  }

  /** Adds addresses learned outside the log (a joining node's answer from the cluster), unless raft.peers names the id. */
  learn(p: PeerConfig): boolean {
    if (this.configured.has(p.id)) return false;
    const known = this.current.get(p.id);
    if (known !== undefined && samePeer(known, p)) return false;
    this.current.set(p.id, p);
    return true;
  }
}

function samePeer(a: PeerConfig, b: PeerConfig): boolean {
  const same = (x: PeerConfig['raftAddr'], y: PeerConfig['raftAddr']): boolean => x.host === y.host && x.port === y.port;
  return same(a.raftAddr, b.raftAddr) && same(a.httpAddr, b.httpAddr) && same(a.grpcAddr, b.grpcAddr);
}

/** The configuration a new cluster starts from: every entry of raft.peers, as a voter. */
export function bootstrapConfiguration(peers: readonly PeerConfig[]): Configuration {
  return configuration(peers.map((p) => ({ id: p.id, role: 'voter', addrs: { raftAddr: formatHostPort(p.raftAddr), httpAddr: formatHostPort(p.httpAddr), grpcAddr: formatHostPort(p.grpcAddr) } })));
}
