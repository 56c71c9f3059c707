// `kvstore snapshot restore`: a fresh data directory from a backup file, so a new
// cluster starts from it. Every member is restored from the same file with the
// same member list; each starts with the backup as its Raft snapshot (at the
// backup's index, so revisions go on from there) and an empty log after it.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { KvStateMachine, kvStateMachineDefaults } from '../kv/state-machine.js';
import { kvNodeDefaults } from '../node/config.js';
import { prepareDataDir } from '../node/data-dir.js';
import { configuration } from '../raft/membership.js';
import { logIndex, nodeId, term, type Snapshot } from '../raft/types.js';
import { LogStore } from '../storage/log-store.js';
import { parseBackup } from './backup-file.js';

/**
 * The term the restored snapshot and hard state carry. Any term works as long as
 * every member of the new cluster has the same one (log matching at the snapshot
 * index); its first election is at term 2.
 */
const RESTORED_TERM = term(1);

export type RestoreResult =
  | { readonly ok: true; readonly index: number; readonly keys: number; readonly leases: number; readonly sha256: string }
  | { readonly ok: false; readonly error: string };

/** Builds `<dataDir>/raft` for member `id` of `peers` from a whole backup file. */
export async function restoreDataDir(file: Uint8Array, dataDir: string, id: string, peers: readonly string[]): Promise<RestoreResult> {
  if (!peers.includes(id)) return { ok: false, error: `--id ${id} is not one of --peers ${peers.join(',')}` };
  if (new Set(peers).size !== peers.length) return { ok: false, error: `--peers lists a member twice: ${peers.join(',')}` };
  const backup = parseBackup(file);
  if ('error' in backup) return { ok: false, error: backup.error };
  // Restoring checks every record and the state's consistency; a snapshot that does not restore is refused here, not at the node's start.
  const sm = KvStateMachine.restore(kvStateMachineDefaults, [backup.snapshot]);
  if ('error' in sm) return { ok: false, error: `the backup's state does not restore: ${sm.error}` };
  if (sm.appliedIndex() !== backup.index) return { ok: false, error: `the backup says index ${backup.index} but its state is at ${sm.appliedIndex()}` };
  const raftDir = join(dataDir, 'raft');
  if (existsSync(raftDir) && readdirSync(raftDir).length > 0) return { ok: false, error: `${raftDir} is not empty: restore into a fresh data directory` };
  const prepared = prepareDataDir(dataDir);
  if (!prepared.ok) return { ok: false, error: prepared.error };
  const opened = await LogStore.open(raftDir);
  if (!opened.ok) return { ok: false, error: opened.error };
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < backup.snapshot.length; at += kvNodeDefaults.snapshotChunkBytes) chunks.push(backup.snapshot.slice(at, at + kvNodeDefaults.snapshotChunkBytes));
  // The restored cluster's voters, by id: their addresses come from each node's raft.peers.
  const config = configuration(peers.map((id) => ({ id: nodeId(id), role: 'voter' as const, addrs: { raftAddr: '', httpAddr: '', grpcAddr: '' } })));
  const snapshot: Snapshot = { meta: { index: logIndex(backup.index), term: RESTORED_TERM, config }, chunks };
  try {
    await new Promise<void>((resolve) => opened.store.write({ hardState: { term: RESTORED_TERM, votedFor: null, commit: logIndex(backup.index) }, snapshot, entries: [], mustSync: true }, resolve));
  } finally {
    await opened.store.close();
  }
  return { ok: true, index: backup.index, keys: sm.size(), leases: sm.leaseCount(), sha256: backup.sha256 };
}
