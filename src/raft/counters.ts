/**
 * Counts of core events that the host cannot see from a node's status: elections,
 * pre-votes, CheckQuorum step-downs, proposals, reads. Plain numbers, incremented
 * only by the core (the role machine's named actions and RaftNode), never reset;
 * the host reads them when it is scraped. No I/O and no clock, so a simulated
 * run counts the same on every replay.
 *
 * Invariants: every field only grows; electionsWon + electionsLost <= electionsStarted
 * and preVotesRefused <= preVotesStarted (a campaign in progress has no outcome yet).
 */
export class RaftCounters {
  /** Candidacies started (this node incremented its term and asked for votes). */
  electionsStarted = 0;
  electionsWon = 0;
  /** Candidacies that ended without winning: refused, timed out, or another leader appeared. */
  electionsLost = 0;
  /** Pre-vote campaigns started (asked "would you vote for me?" without changing term). */
  preVotesStarted = 0;
  /** Pre-vote campaigns that ended without a majority of grants. */
  preVotesRefused = 0;
  /** Times this node stopped leading because it had not heard from a majority for an election timeout. */
  checkQuorumStepDowns = 0;
  /** Commands appended to the log by this node as leader (forwarded ones included). */
  proposalsAccepted = 0;
  /** Commands this node, as follower, forwarded to its leader. */
  proposalsForwarded = 0;
  /** Commands refused because this node does not lead. */
  proposalsRefusedNotLeader = 0;
  /** Commands refused because too many entries are uncommitted. */
  proposalsRefusedOverloaded = 0;
  /** ReadIndex rounds that released reads: one majority acknowledgement serving every read waiting on it. */
  readIndexRounds = 0;
  /** Reads released by those rounds (readIndexReads / readIndexRounds = reads per round). */
  readIndexReads = 0;
  /** Followers' reads answered without a round: the leader and the asking follower make a majority. */
  readsConfirmedByRequester = 0;
  /** Reads served from the leader lease, without a round (a follower's included). */
  leaseReads = 0;
  /** Reads this node, as follower, forwarded to its leader for a read index (follower ReadIndex). */
  readsForwarded = 0;
  /** Configuration entries this node appended as leader (membership changes). */
  membershipChanges = 0;
  /** Leadership transfers this node started as leader. */
  transfersStarted = 0;
  /** Transfers that did not complete within an election timeout (this node led on). */
  transfersAborted = 0;
  /** Candidacies started at once on the leader's TimeoutNow (a transfer's target). */
  transferCampaigns = 0;
  /** Times this node stopped leading because its own removal was committed. */
  removalStepDowns = 0;
}

/** The counter fields a machine action may increment by name. */
export type RaftCounterName = { [K in keyof RaftCounters]: RaftCounters[K] extends number ? K : never }[keyof RaftCounters];
