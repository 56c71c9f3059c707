import { describeMessage } from '../src/raft/describe.js';
import type { Message } from '../src/raft/types.js';

/**
 * The run's trace: a running 64-bit hash (two FNV-1a lanes) of every event, and a
 * ring of the most recent events, rendered to lines only when a failure prints
 * them. Only simulated time and the events' canonical contents go in, so the same
 * seed gives the same hash, byte for byte.
 */
type TraceEvent = string | Message;

export class Trace {
  private h1 = 0x811c9dc5;
  private h2 = 0xcbf29ce4;
  private readonly times: Float64Array;
  private readonly events: TraceEvent[];
  private next = 0;
  /** With --check-determinism: the hash after every event, to find where two runs part. */
  readonly checkpoints: number[] | null;
  /** Also sees every note (the trace file); it cannot change the hash. */
  onNote: ((timeMs: number, line: string) => void) | null = null;

  constructor(
    private readonly capacity: number,
    keepCheckpoints = false,
  ) {
    this.checkpoints = keepCheckpoints ? [] : null;
    this.times = new Float64Array(capacity);
    this.events = new Array<TraceEvent>(capacity);
  }

  private mix(x: number): void {
    this.h1 = Math.imul(this.h1 ^ (x | 0), 0x01000193);
    this.h2 = Math.imul(this.h2 ^ ((x / 0x100000000) | 0) ^ (x | 0), 0x000001b3);
  }

  private mixString(s: string): void {
    for (let i = 0; i < s.length; i++) this.mix(s.charCodeAt(i));
  }

  /** A node, fault or harness event, described by a short line. */
  note(timeMs: number, line: string): void {
    this.mix(timeMs);
    this.mixString(line);
    this.remember(timeMs, line);
    this.onNote?.(timeMs, line);
  }

  /** A message delivered: hashed field by field, rendered only if printed. */
  message(timeMs: number, m: Message): void {
    this.mix(timeMs);
    this.mixString(m.type);
    this.mixString(m.from);
    this.mixString(m.to);
    this.mix(m.term);
    switch (m.type) {
      case 'requestVote':
        this.mix(m.preVote ? 1 : 0);
        this.mix(m.lastLogIndex);
        this.mix(m.lastLogTerm);
        break;
      case 'requestVoteResponse':
        this.mix((m.preVote ? 2 : 0) + (m.granted ? 1 : 0));
        break;
      case 'appendEntries':
        this.mix(m.prevLogIndex);
        this.mix(m.prevLogTerm);
        this.mix(m.entries.length);
        this.mix(m.leaderCommit);
        break;
      case 'appendEntriesResponse':
        if (m.success) this.mix(m.matchIndex);
        else {
          this.mix(-m.rejectedIndex);
          this.mix(m.hint.index);
          this.mix(m.hint.term ?? -1);
        }
        break;
      case 'heartbeat':
        this.mix(m.commit);
        this.mix(m.seq);
        break;
      case 'heartbeatResponse':
        this.mix(m.seq);
        this.mix(m.logEnd ?? -1);
        break;
      case 'installSnapshot':
        this.mix(m.meta.index);
        this.mix(m.chunk);
        this.mix(m.chunkCount);
        break;
      case 'installSnapshotResponse':
        this.mix(m.snapshotIndex);
        this.mix(m.done ? -1 : m.nextChunk);
        break;
      case 'readIndexRequest':
        this.mix(m.requestId);
        this.mix(m.lease ? 1 : 0);
        break;
      case 'readIndexResponse':
        this.mix(m.requestId);
        this.mix(m.index);
        break;
      case 'proposeRequest':
        this.mix(m.batchId);
        this.mix(m.commands.length);
        break;
      case 'proposeResponse':
        this.mix(m.batchId);
        this.mix(m.result.accepted ? m.result.firstIndex : m.result.reason === 'overloaded' ? -2 : -1);
        break;
    }
    this.remember(timeMs, m);
  }

  private remember(timeMs: number, e: TraceEvent): void {
    const k = this.next % this.capacity;
    this.times[k] = timeMs;
    this.events[k] = e;
    this.next++;
    if (this.checkpoints !== null) this.checkpoints.push(this.h1 >>> 0);
  }

  hash(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }

  /** The most recent events, oldest first, as canonical lines. */
  recent(): string[] {
    const out: string[] = [];
    for (let i = Math.max(0, this.next - this.capacity); i < this.next; i++) {
      const e = this.events[i % this.capacity]!;
      out.push(`${this.times[i % this.capacity]} ${typeof e === 'string' ? e : describeMessage(e)}`);
    }
    return out;
  }
}
