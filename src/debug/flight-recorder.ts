import type { CoreCheckpoint } from '../raft/host/core-checkpoint.js';
import type { CheckpointSource, CoreInput, CoreTap, CoreTransition, EnvReading } from '../raft/host/core-tap.js';
import type { Message, Snapshot } from '../raft/types.js';

/** One input as recorded: its number since the core was built and when it arrived, by the node's monotonic clock. */
export interface RecordedInput {
  readonly seq: number;
  readonly atMs: number;
  readonly input: CoreInput;
}

/** Inputs and the readings made while handling them, in order. */
export type RecordedItem = RecordedInput | EnvReading;

/** What a download holds: the core at the start of the ring, then everything it took since. */
export interface FlightRecording {
  readonly start: CoreCheckpoint;
  readonly items: readonly RecordedItem[];
  /** The role changes the node saw since `start`. */
  readonly transitions: readonly CoreTransition[];
  /** Inputs that fell off the ring since the node started (older segments dropped). */
  readonly inputsDropped: number;
}

export interface FlightRecorderLimits {
  /** The most inputs kept; the oldest segment goes when a new one would pass it. */
  readonly inputsMax: number;
  /** The most payload bytes the kept inputs (and the log windows of their checkpoints) may hold on to. */
  readonly bytesMax: number;
}

/** The ring is cut in this many segments, each opened by a checkpoint: dropping the oldest keeps at least 1 − 1/N of it. */
const SEGMENTS = 4;
/** What an input costs besides its payload: its slots in the segment's arrays. */
const INPUT_OVERHEAD_BYTES = 32;

/** An item's kind, as stored: the input kinds, then the two readings. */
const CODES = ['message', 'persisted', 'propose', 'readIndex', 'readIndexLease', 'snapshotTaken', 'timer', 'ready', 'now', 'random', 'changeMembers', 'transferLeadership'] as const;
const CODE = Object.fromEntries(CODES.map((c, k) => [c, k])) as Record<(typeof CODES)[number], number>;

/**
 * One segment: its checkpoint and its items in parallel arrays (numbers are
 * stored unboxed, and only the payload itself is referenced), so recording an
 * input allocates nothing the collector must keep apart from what the node
 * already had: the message, the commands.
 */
interface Segment {
  readonly checkpoint: CoreCheckpoint;
  readonly codes: number[];
  /** Inputs: the time; readings: the value read. */
  readonly a: number[];
  /** Inputs: the sequence number; random readings: the bound. */
  readonly b: number[];
  /** Inputs: the payload (message, commands, snapshot, timer event, request id). */
  readonly refs: unknown[];
  inputs: number;
  /** The payload bytes of its inputs: what fills it. */
  inputBytes: number;
  /** The payload bytes of its checkpoint's log window: held while it is kept, counted against the ring's bound, but no reason to open another. */
  readonly windowBytes: number;
}

/**
 * The flight recorder: a bounded ring of every input a node's Raft core took,
 * kept as references to the messages and requests themselves (nothing is copied
 * or encoded while the node runs), in segments that each start with a checkpoint
 * of the core (copied, sharing the immutable entries). When the ring is full the
 * oldest segment is dropped, so a download always starts at a checkpoint.
 * Payload bytes are held, not recorded: a recording keeps their sizes only
 * (src/debug/recording-codec.ts), which is all the core reads of them.
 */
export class FlightRecorder implements CoreTap {
  private readonly segments: Segment[] = [];
  private readonly transitions: CoreTransition[] = [];
  private core: CheckpointSource | null = null;
  private readonly segmentInputs: number;
  private readonly segmentBytes: number;
  private inputsKept = 0;
  private bytesKept = 0;
  private cur: Segment | null = null;
  inputsDropped = 0;
  checkpoints = 0;

  constructor(limits: FlightRecorderLimits) {
    this.segmentInputs = Math.max(1, Math.floor(limits.inputsMax / SEGMENTS));
    this.segmentBytes = Math.max(1, Math.floor(limits.bytesMax / SEGMENTS));
  }

  attached(core: CheckpointSource): void {
    this.core = core;
    this.openSegment();
  }

  input(seq: number, atMs: number, input: CoreInput): void {
    let cur = this.cur;
    if (cur === null) return;
    if (cur.inputs >= this.segmentInputs || cur.inputBytes >= this.segmentBytes) cur = this.openSegment();
    let code: number;
    let ref: unknown;
    switch (input.kind) {
      case 'message':
      case 'persisted':
        code = CODE[input.kind];
        ref = input.message;
        break;
      case 'propose':
      case 'changeMembers':
      case 'transferLeadership':
        code = CODE[input.kind];
        ref = input;
        break;
      case 'readIndex':
        code = input.lease ? CODE.readIndexLease : CODE.readIndex;
        ref = input.requestId;
        break;
      case 'snapshotTaken':
        code = CODE.snapshotTaken;
        ref = input.snapshot;
        break;
      case 'timer':
        code = CODE.timer;
        ref = input.event;
        break;
      case 'ready':
        code = CODE.ready;
        ref = null;
        break;
    }
    cur.codes.push(code);
    cur.a.push(atMs);
    cur.b.push(seq);
    cur.refs.push(ref);
    const bytes = INPUT_OVERHEAD_BYTES + payloadBytes(input);
    cur.inputs++;
    cur.inputBytes += bytes;
    this.inputsKept++;
    this.bytesKept += bytes;
  }

  reading(r: EnvReading): void {
    // Readings before the first checkpoint (while the core is built) are part of that checkpoint.
    const cur = this.cur;
    if (cur === null) return;
    cur.codes.push(r.kind === 'now' ? CODE.now : CODE.random);
    cur.a.push(r.kind === 'now' ? r.ms : r.value);
    cur.b.push(r.kind === 'now' ? 0 : r.bound);
    cur.refs.push(null);
  }

  transition(t: CoreTransition): void {
    this.transitions.push(t);
  }

  /** Inputs held now. */
  inputs(): number {
    return this.inputsKept;
  }

  bytes(): number {
    return this.bytesKept;
  }

  /** The ring as it is now, as items (built now: the node goes on recording while they are encoded). */
  recording(): FlightRecording | null {
    const first = this.segments[0];
    if (first === undefined) return null;
    const items: RecordedItem[] = [];
    for (const s of this.segments) for (let k = 0; k < s.codes.length; k++) items.push(itemOf(s, k));
    return { start: first.checkpoint, items, transitions: this.transitions.filter((t) => t.input > first.checkpoint.seq), inputsDropped: this.inputsDropped };
  }

  private openSegment(): Segment {
    const checkpoint = this.core!.checkpoint();
    this.checkpoints++;
    const windowBytes = checkpoint.log.payloadBytes();
    const s: Segment = { checkpoint, codes: [], a: [], b: [], refs: [], inputs: 0, inputBytes: 0, windowBytes };
    this.segments.push(s);
    this.cur = s;
    this.bytesKept += windowBytes;
    const cap = SEGMENTS * this.segmentInputs;
    const capBytes = SEGMENTS * this.segmentBytes;
    // Room for the new segment to fill: whole old segments go until it fits within both bounds.
    while (this.segments.length > 1 && (this.inputsKept > cap - this.segmentInputs || this.bytesKept > capBytes - this.segmentBytes)) {
      const old = this.segments.shift()!;
      this.inputsKept -= old.inputs;
      this.bytesKept -= old.inputBytes + old.windowBytes;
      this.inputsDropped += old.inputs;
    }
    const startSeq = this.segments[0]!.checkpoint.seq;
    let k = 0;
    while (k < this.transitions.length && this.transitions[k]!.input <= startSeq) k++;
    if (k > 0) this.transitions.splice(0, k);
    return s;
  }
}

function itemOf(s: Segment, k: number): RecordedItem {
  const code = CODES[s.codes[k]!]!;
  const a = s.a[k]!;
  const b = s.b[k]!;
  const ref = s.refs[k];
  const at = (input: CoreInput): RecordedInput => ({ seq: b, atMs: a, input });
  switch (code) {
    case 'now':
      return { kind: 'now', ms: a };
    case 'random':
      return { kind: 'random', bound: b, value: a };
    case 'message':
    case 'persisted':
      return at({ kind: code, message: ref as Message });
    case 'propose':
    case 'changeMembers':
    case 'transferLeadership':
      return at(ref as CoreInput);
    case 'readIndex':
    case 'readIndexLease':
      return at({ kind: 'readIndex', requestId: ref as number, lease: code === 'readIndexLease' });
    case 'snapshotTaken':
      return at({ kind: 'snapshotTaken', snapshot: ref as Snapshot });
    case 'timer':
      return at({ kind: 'timer', event: ref as string });
    case 'ready':
      return at({ kind: 'ready' });
  }
}

function payloadBytes(input: CoreInput): number {
  switch (input.kind) {
    case 'message': {
      const m = input.message;
      if (m.type === 'appendEntries') {
        let b = 0;
        for (const e of m.entries) b += e.data.length;
        return b;
      }
      return m.type === 'installSnapshot' ? m.data.length : 0;
    }
    case 'propose': {
      let b = 0;
      for (const c of input.commands) b += c.length;
      return b;
    }
    default:
      // A snapshot the node took is held by the core as its latest anyway.
      return 0;
  }
}
