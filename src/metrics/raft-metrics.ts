import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { StorageMetrics } from '../storage/log-store.js';
import type { TransportMetrics } from '../transport/ws-transport.js';
import type { RaftStatus } from '../raft/node.js';

const ROLE_CODES: Record<string, number> = { follower: 0, preCandidate: 1, candidate: 2, leader: 3 };

/**
 * The metrics served on raft.metrics_addr (SPEC §6): the node's Raft state, storage
 * (fsyncs and entries per fsync: the effect of group commit) and peer transport.
 */
export class RaftMetrics {
  readonly registry = new Registry();
  private readonly term = new Gauge({ name: 'kvstore_raft_term', help: 'Current Raft term', registers: [this.registry] });
  private readonly role = new Gauge({ name: 'kvstore_raft_role', help: 'Role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader', registers: [this.registry] });
  private readonly commitIndex = new Gauge({ name: 'kvstore_raft_commit_index', help: 'Commit index', registers: [this.registry] });
  private readonly appliedIndex = new Gauge({ name: 'kvstore_raft_applied_index', help: 'Applied index', registers: [this.registry] });
  private readonly lastLogIndex = new Gauge({ name: 'kvstore_raft_last_log_index', help: 'Last log index', registers: [this.registry] });
  private readonly leaderChanges = new Counter({ name: 'kvstore_raft_leader_changes_total', help: 'Times this node saw the leader change', registers: [this.registry] });
  private readonly snapshots = new Counter({ name: 'kvstore_raft_snapshots_total', help: 'Snapshots taken by this node', registers: [this.registry] });
  private readonly fsyncs = new Counter({ name: 'kvstore_storage_fsyncs_total', help: 'Synced LevelDB batches', registers: [this.registry] });
  private readonly fsyncSeconds = new Histogram({
    name: 'kvstore_storage_fsync_duration_seconds',
    help: 'Latency of synced LevelDB batches',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  private readonly entriesPerFsync = new Histogram({
    name: 'kvstore_storage_entries_per_fsync',
    help: 'Log entries made durable by one fsync (group commit)',
    buckets: [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 1024],
    registers: [this.registry],
  });
  private readonly malformed = new Counter({ name: 'kvstore_transport_frames_malformed_total', help: 'Peer frames that failed to decode', labelNames: ['peer'], registers: [this.registry] });
  private readonly rejected = new Counter({ name: 'kvstore_transport_handshakes_rejected_total', help: 'Peer handshakes refused', labelNames: ['reason'], registers: [this.registry] });
  private readonly connected = new Gauge({ name: 'kvstore_transport_peer_connected', help: 'Outbound connection to the peer is up', labelNames: ['peer'], registers: [this.registry] });
  private readonly dropped = new Counter({ name: 'kvstore_transport_messages_dropped_total', help: 'Messages dropped by full peer queues', labelNames: ['peer'], registers: [this.registry] });
  private readonly frames = new Counter({ name: 'kvstore_transport_frames_sent_total', help: 'Frames sent to peers', labelNames: ['peer'], registers: [this.registry] });
  private leader: string | null = null;

  readonly storage: StorageMetrics = {
    onSync: (entries, seconds) => {
      this.fsyncs.inc();
      this.fsyncSeconds.observe(seconds);
      this.entriesPerFsync.observe(entries);
    },
  };

  readonly transport: TransportMetrics = {
    framesMalformed: (peer) => this.malformed.inc({ peer }),
    handshakeRejected: (reason) => this.rejected.inc({ reason }),
    peerConnected: (peer, up) => this.connected.set({ peer }, up ? 1 : 0),
    messagesDropped: (peer, n) => this.dropped.inc({ peer }, n),
    framesSent: (peer) => this.frames.inc({ peer }),
  };

  observe(s: RaftStatus): void {
    this.term.set(s.term);
    this.role.set(ROLE_CODES[s.role] ?? -1);
    this.commitIndex.set(s.commitIndex);
    this.appliedIndex.set(s.appliedIndex);
    this.lastLogIndex.set(s.lastLogIndex);
    if (s.leaderId !== this.leader) {
      this.leader = s.leaderId;
      if (s.leaderId !== null) this.leaderChanges.inc();
    }
  }

  snapshotTaken(): void {
    this.snapshots.inc();
  }
}
