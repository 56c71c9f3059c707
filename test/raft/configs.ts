import { configuration, type Configuration } from '../../src/raft/membership.js';
import { nodeId } from '../../src/raft/types.js';

/** A configuration of these voters, each reached at an address that is its id (tests need no real one). */
export function votersConfig(ids: readonly string[]): Configuration {
  return configuration(ids.map((id) => ({ id: nodeId(id), role: 'voter', addrs: { raftAddr: id, httpAddr: id, grpcAddr: id } })));
}
