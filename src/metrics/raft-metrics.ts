import { Counter, Gauge, Registry } from 'prom-client';
import type { KvNodeHooks, RaftView } from '../node/kv-node.js';
import type { RaftCounters } from '../raft/counters.js';
import type { PeerProgress } from '../raft/host/raft-node.js';
import type { Message, MessageType, Role } from '../raft/types.js';
import type { StorageMetrics } from '../storage/log-store.js';
import type { TransportMetrics } from '../transport/ws-transport.js';
import { batchSizeBuckets, latencyBucketsSeconds } from './buckets.js';
import { collectedCounter, collectedGauge } from './collected.js';
import { SeriesCounter, type CounterSeries } from './series-counter.js';
import { SeriesHistogram, type HistogramSeries } from './series-histogram.js';
import { Table } from './table.js';

const ROLE_CODES: Record<Role, number> = { follower: 0, preCandidate: 1, candidate: 2, leader: 3 };
const PEER_STATES = ['probe', 'replicate', 'snapshot'] as const;

/**
 * The metrics served on raft.metrics_addr (SPEC §6): the node's Raft state, the
 * core's event counts and each follower's progress (read from the core when
 * scraped), commit/apply/read/snapshot latencies (reported by the node), storage
 * (fsyncs and entries per fsync: the effect of group commit) and peer transport.
 *
 * Labels are bounded: `peer` is a configured member id, `type` a message type,
 * `reason` and `state` fixed sets. Every series carries `node`.
 */
export class RaftMetrics {
  readonly registry = new Registry();
  private view: RaftView | null = null;
  private leader: string | null = null;

  private readonly leaderChanges: Counter;
  private readonly commitSeconds: HistogramSeries;
  private readonly applySeconds: HistogramSeries;
  private readonly readSeconds: SeriesHistogram<'consistency'>;
  private readonly snapshots: Counter;
  private readonly snapshotsInstalled: Counter;
  private readonly snapshotBytes: Gauge;
  private readonly snapshotSeconds: HistogramSeries;
  /** Synced batches, copied into the exported counter when scraped. */
  private fsyncs = 0;
  /** Batches written without an fsync, likewise. */
  private unsyncedWrites = 0;
  private readonly fsyncSeconds: HistogramSeries;
  private readonly entriesPerFsync: HistogramSeries;
  private readonly entriesPerAppend: HistogramSeries;
  private readonly chunksSent: Counter;
  private readonly chunksReceived: Counter;
  // Counted on every frame: series found by the peer (and type) the caller holds, counted with a `+=`.
  private readonly sent: Map<string, PeerFrames>;
  private readonly received: Map<string, PeerFrames>;
  private readonly sentSeries: (peer: string) => PeerFrames;
  private readonly receivedSeries: (peer: string) => PeerFrames;
  private readonly malformed: Counter<'peer'>;
  private readonly rejected: Counter<'reason'>;
  private readonly connected: Gauge<'peer'>;
  private readonly dropped: Counter<'peer'>;

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    const registers = [this.registry];
    const counter = <L extends string = never>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> => new Counter({ name, help, labelNames, registers });
    // A histogram without labels: its one series exists from the start, as prom-client's does.
    const histogram = (name: string, help: string, buckets: number[]): HistogramSeries => new SeriesHistogram(name, help, [], buckets, this.registry).of('', () => ({}));

    // Read from the core when scraped.
    const view = (): RaftView | null => this.view;
    const status = (name: string, help: string, read: (v: RaftView) => number): void =>
      collectedGauge(this.registry, name, help, () => {
        const v = view();
        return v === null ? null : read(v);
      });
    status('kvstore_raft_term', 'Current Raft term', (v) => v.status().term);
    status('kvstore_raft_role', 'Role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader', (v) => ROLE_CODES[v.status().role]);
    status('kvstore_raft_is_leader', '1 if this node is the leader, else 0', (v) => (v.status().role === 'leader' ? 1 : 0));
    status('kvstore_raft_commit_index', 'Commit index', (v) => v.status().commitIndex);
    status('kvstore_raft_applied_index', 'Applied index', (v) => v.status().appliedIndex);
    status('kvstore_raft_last_log_index', 'Last log index', (v) => v.status().lastLogIndex);
    status('kvstore_raft_log_entries', 'Log entries held (after the last snapshot, plus the catch-up tail)', (v) => v.log.length());
    status('kvstore_raft_log_bytes', 'Payload bytes of the log entries held', (v) => v.log.payloadBytes());

    const core = (name: string, help: string, read: (c: Readonly<RaftCounters>) => number): void =>
      collectedCounter(this.registry, name, help, () => {
        const v = view();
        return v === null ? null : read(v.counters);
      });
    core('kvstore_raft_elections_started_total', 'Elections this node started as candidate (after winning a pre-vote)', (c) => c.electionsStarted);
    core('kvstore_raft_elections_won_total', 'Elections this node won', (c) => c.electionsWon);
    core('kvstore_raft_elections_lost_total', 'Elections this node started and did not win (refused, timed out, or another leader appeared)', (c) => c.electionsLost);
    core('kvstore_raft_prevotes_started_total', 'Pre-vote campaigns this node started', (c) => c.preVotesStarted);
    core('kvstore_raft_prevotes_refused_total', 'Pre-vote campaigns that ended without a majority', (c) => c.preVotesRefused);
    core('kvstore_raft_check_quorum_step_downs_total', 'Times this node stopped leading because a majority was silent for an election timeout', (c) => c.checkQuorumStepDowns);
    core('kvstore_raft_proposals_accepted_total', 'Commands appended to the log by this node as leader', (c) => c.proposalsAccepted);
    core('kvstore_raft_read_index_rounds_total', 'ReadIndex rounds that released reads (one majority acknowledgement each)', (c) => c.readIndexRounds);
    core('kvstore_raft_read_index_reads_total', 'Reads released by ReadIndex rounds (divide by rounds for reads per round)', (c) => c.readIndexReads);
    core('kvstore_raft_lease_reads_total', 'Reads served from the leader lease, without a round', (c) => c.leaseReads);
    core('kvstore_raft_reads_forwarded_total', 'Linearizable reads this follower asked its leader a read index for (follower ReadIndex)', (c) => c.readsForwarded);
    core('kvstore_raft_reads_confirmed_by_requester_total', "Followers' read index requests this leader answered at once, the asking voter and itself being a majority (3 voters): no round", (c) => c.readsConfirmedByRequester);
    core('kvstore_raft_membership_changes_total', 'Configuration entries (membership changes) this node appended as leader', (c) => c.membershipChanges);
    core('kvstore_raft_transfers_started_total', 'Leadership transfers this node started as leader', (c) => c.transfersStarted);
    core('kvstore_raft_transfers_aborted_total', 'Leadership transfers whose target did not take over within an election timeout', (c) => c.transfersAborted);
    core('kvstore_raft_transfer_campaigns_total', "Elections this node started at once on its leader's TimeoutNow (a transfer's target)", (c) => c.transferCampaigns);
    core('kvstore_raft_removal_step_downs_total', 'Times this node stopped leading because its own removal was committed', (c) => c.removalStepDowns);
    new Counter({
      name: 'kvstore_raft_proposals_refused_total',
      help: 'Commands refused, by reason: not_leader, overloaded (too many uncommitted entries)',
      labelNames: ['reason'],
      registers,
      collect() {
        const v = view();
        this.reset();
        this.inc({ reason: 'not_leader' }, v?.counters.proposalsRefusedNotLeader ?? 0);
        this.inc({ reason: 'overloaded' }, v?.counters.proposalsRefusedOverloaded ?? 0);
      },
    });

    // Each follower's progress, as the leader sees it (no series on other nodes).
    const peerGauge = (name: string, help: string, read: (p: PeerProgress) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['peer'],
        registers,
        collect() {
          this.reset();
          for (const p of view()?.peerProgress() ?? []) this.set({ peer: p.peer }, read(p));
        },
      });
    };
    peerGauge('kvstore_raft_peer_match_index', "Leader only: the highest index known to be in the peer's log", (p) => p.match);
    peerGauge('kvstore_raft_peer_next_index', 'Leader only: the next index to send the peer', (p) => p.next);
    peerGauge('kvstore_raft_peer_inflight_appends', 'Leader only: appends sent to the peer and not yet acknowledged', (p) => p.inflightAppends);
    new Gauge({
      name: 'kvstore_raft_peer_state',
      help: 'Leader only: 1 for the replication state the peer is in (probe, replicate, snapshot), else 0',
      labelNames: ['peer', 'state'],
      registers,
      collect() {
        this.reset();
        for (const p of view()?.peerProgress() ?? []) for (const s of PEER_STATES) this.set({ peer: p.peer, state: s }, p.state === s ? 1 : 0);
      },
    });

    this.leaderChanges = counter('kvstore_raft_leader_changes_total', 'Times this node saw the leader change');
    this.commitSeconds = histogram('kvstore_raft_commit_duration_seconds', 'Leader: from proposing a command to knowing it committed (replication to a majority, fsyncs included)', latencyBucketsSeconds);
    this.applySeconds = histogram('kvstore_raft_apply_duration_seconds', 'Applying one batch of committed entries to the state machine', latencyBucketsSeconds);
    this.readSeconds = new SeriesHistogram('kvstore_raft_read_index_duration_seconds', 'Leader: from a linearizable read arriving to its read index being confirmed, by requested consistency', ['consistency'], latencyBucketsSeconds, this.registry);
    this.snapshots = counter('kvstore_raft_snapshots_total', 'Snapshots taken by this node');
    this.snapshotsInstalled = counter('kvstore_raft_snapshots_installed_total', 'Snapshots received from the leader and installed');
    this.snapshotBytes = new Gauge({ name: 'kvstore_raft_snapshot_bytes', help: 'Size of the last snapshot this node took', registers });
    this.snapshotSeconds = histogram('kvstore_raft_snapshot_duration_seconds', 'Taking a snapshot: serialising the state machine and making it durable', latencyBucketsSeconds);
    collectedCounter(this.registry, 'kvstore_storage_fsyncs_total', 'Synced LevelDB batches', () => this.fsyncs);
    collectedCounter(this.registry, 'kvstore_storage_unsynced_writes_total', 'Batches that only moved the commit index: not synced nor written by themselves, they go to disk with the next batch (a crash may lose them)', () => this.unsyncedWrites);
    this.fsyncSeconds = histogram('kvstore_storage_fsync_duration_seconds', 'Latency of synced LevelDB batches', latencyBucketsSeconds);
    this.entriesPerFsync = histogram('kvstore_storage_entries_per_fsync', 'Log entries made durable by one fsync (group commit)', batchSizeBuckets);
    this.entriesPerAppend = histogram('kvstore_raft_append_entries_per_message', 'Entries carried by each AppendEntries message sent (0: a probe)', batchSizeBuckets);
    this.chunksSent = counter('kvstore_raft_snapshot_chunks_sent_total', 'InstallSnapshot chunks sent to followers');
    this.chunksReceived = counter('kvstore_raft_snapshot_chunks_received_total', 'InstallSnapshot chunks received from the leader');
    const bytesSent = new SeriesCounter('kvstore_transport_bytes_sent_total', 'Frame bytes sent to the peer', ['peer'], this.registry);
    const bytesReceived = new SeriesCounter('kvstore_transport_bytes_received_total', 'Frame bytes received from the peer', ['peer'], this.registry);
    const messagesSent = new SeriesCounter('kvstore_transport_messages_sent_total', 'Raft messages sent to the peer, by type', ['peer', 'type'], this.registry);
    const messagesReceived = new SeriesCounter('kvstore_transport_messages_received_total', 'Raft messages received from the peer, by type', ['peer', 'type'], this.registry);
    const framesSent = new SeriesCounter('kvstore_transport_frames_sent_total', 'Frames sent to peers', ['peer'], this.registry);
    const messages = (counter: SeriesCounter<'peer' | 'type'>) => new Table<string, MessageType, CounterSeries>((peer, type) => counter.of(`${peer} ${type}`, () => ({ peer, type })));
    const sentByType = messages(messagesSent);
    const receivedByType = messages(messagesReceived);
    this.sent = new Map();
    this.received = new Map();
    // A series appears with the first frame counted into it, as prom-client's do on their first inc.
    this.sentSeries = (peer) => ({ frames: framesSent.of(peer, () => ({ peer })), bytes: bytesSent.of(peer, () => ({ peer })), byType: sentByType });
    this.receivedSeries = (peer) => ({ frames: null, bytes: bytesReceived.of(peer, () => ({ peer })), byType: receivedByType });
    this.malformed = counter('kvstore_transport_frames_malformed_total', 'Peer frames that failed to decode', ['peer']);
    this.rejected = counter('kvstore_transport_handshakes_rejected_total', 'Peer handshakes refused', ['reason']);
    this.connected = new Gauge({ name: 'kvstore_transport_peer_connected', help: 'Outbound connection to the peer is up', labelNames: ['peer'], registers });
    this.dropped = counter('kvstore_transport_messages_dropped_total', 'Messages dropped by full peer queues', ['peer']);
  }

  /** The node whose core the scrape-time metrics read (it is created after storage and transport). */
  bind(view: RaftView): void {
    this.view = view;
  }

  readonly storage: StorageMetrics = {
    onSync: (entries, seconds) => {
      this.fsyncs++;
      this.fsyncSeconds.observe(seconds);
      this.entriesPerFsync.observe(entries);
    },
    onUnsyncedWrite: () => {
      this.unsyncedWrites++;
    },
  };

  readonly transport: TransportMetrics = {
    framesMalformed: (peer) => this.malformed.inc({ peer }),
    handshakeRejected: (reason) => this.rejected.inc({ reason }),
    peerConnected: (peer, up) => this.connected.set({ peer }, up ? 1 : 0),
    messagesDropped: (peer, n) => this.dropped.inc({ peer }, n),
    frameSent: (peer, bytes, messages) => {
      countFrame(this.sent, this.sentSeries, peer, bytes, messages);
      for (const m of messages) {
        if (m.type === 'appendEntries') this.entriesPerAppend.observe(m.entries.length);
        else if (m.type === 'installSnapshot') this.chunksSent.inc();
      }
    },
    frameReceived: (peer, bytes, messages) => {
      countFrame(this.received, this.receivedSeries, peer, bytes, messages);
      for (const m of messages) if (m.type === 'installSnapshot') this.chunksReceived.inc();
    },
  };

  /** What the node reports as it runs. */
  readonly nodeHooks: KvNodeHooks = {
    onRoleChange: () => this.noteLeader(),
    onApplied: (_count, seconds) => {
      this.applySeconds.observe(seconds);
      this.noteLeader();
    },
    onCommitted: (seconds) => this.commitSeconds.observe(seconds),
    onReadConfirmed: (lease, seconds) => {
      const consistency = lease ? 'lease' : 'linearizable';
      this.readSeconds.of(consistency, () => ({ consistency })).observe(seconds);
    },
    onSnapshot: (_index, _chunks, bytes, seconds) => {
      this.snapshots.inc();
      this.snapshotBytes.set(bytes);
      this.snapshotSeconds.observe(seconds);
    },
    onSnapshotInstalled: () => this.snapshotsInstalled.inc(),
  };

  /** Counts a leader change when the known leader differs from the last one seen (not when it is lost). */
  private noteLeader(): void {
    const leaderId = this.view?.status().leaderId ?? null;
    if (leaderId === this.leader) return;
    this.leader = leaderId;
    if (leaderId !== null) this.leaderChanges.inc();
  }
}

/** The transport series of frames one way with one peer. */
interface PeerFrames {
  /** Null where frames are not counted (received ones). */
  readonly frames: CounterSeries | null;
  readonly bytes: CounterSeries;
  readonly byType: Table<string, MessageType, CounterSeries>;
}

/** Counts a frame (and its messages by type) into `peer`'s series, made by `make` the first time. */
function countFrame(series: Map<string, PeerFrames>, make: (peer: string) => PeerFrames, peer: string, bytes: number, messages: readonly Message[]): void {
  let s = series.get(peer);
  if (s === undefined) {
    s = make(peer);
    series.set(peer, s);
  }
  s.frames?.inc();
  s.bytes.inc(bytes);
  for (const m of messages) s.byType.get(peer, m.type).inc();
}
