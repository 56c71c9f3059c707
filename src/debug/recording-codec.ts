import type { RaftConfig } from '../raft/config.js';
import { coreClassName, coreStateClasses, type CoreCheckpoint } from '../raft/host/core-checkpoint.js';
import type { CoreInput, CoreTransition } from '../raft/host/core-tap.js';
import type { NodeId } from '../raft/types.js';
import type { FlightRecording, RecordedItem } from './flight-recorder.js';

/**
 * The flight recording as a JSON document (GET /v1/debug/recording, npm run
 * sim:replay). Values the JSON has no form for are tagged objects: `{"$bytes": n}`
 * for a byte array (only its length is kept: the core never reads payload bytes,
 * so a recording holds no key, value or snapshot content, and a replay uses
 * zeroes), `{"$map": [[k, v], ...]}`, `{"$f64": [...]}`, `{"$num": "-Infinity"}`
 * and `{"$class": "Progress", "fields": {...}}` for the core's own classes.
 */
export const RECORDING_FORMAT = 'kvstore-flight-recording';
export const RECORDING_VERSION = 1;

export interface RecordingHeader {
  readonly node: NodeId;
  readonly voters: readonly NodeId[];
  readonly raft: RaftConfig;
  /** The node's monotonic clock and the wall clock read together, to place the recorded times in real time. */
  readonly clock: { readonly monotonicMs: number; readonly wallMs: number };
}

export interface DecodedRecording extends RecordingHeader, FlightRecording {}

/** How many items go in one chunk of the encoding: the caller yields to the event loop between chunks. */
export const ITEMS_PER_CHUNK = 500;

/** The recording as JSON text, in chunks (the items are encoded a chunk at a time, so a node can serve it between events). */
export function* encodeRecording(header: RecordingHeader, rec: FlightRecording): Generator<string> {
  const head = {
    format: RECORDING_FORMAT,
    version: RECORDING_VERSION,
    node: header.node,
    voters: header.voters,
    raft: header.raft,
    clock: header.clock,
    inputsDropped: rec.inputsDropped,
    transitions: rec.transitions,
    start: encodeValue(rec.start),
  };
  const text = JSON.stringify(head);
  yield `${text.slice(0, -1)},"items":[`;
  for (let k = 0; k < rec.items.length; k += ITEMS_PER_CHUNK) {
    const part = rec.items.slice(k, k + ITEMS_PER_CHUNK).map((it) => JSON.stringify(encodeItem(it)));
    yield (k === 0 ? '' : ',') + part.join(',');
  }
  yield ']}';
}

function encodeItem(it: RecordedItem): unknown {
  if ('seq' in it) return { seq: it.seq, at: it.atMs, input: encodeValue(it.input) };
  return it.kind === 'now' ? { now: it.ms } : { random: [it.bound, it.value] };
}

export function encodeValue(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $num: String(v) };
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(encodeValue);
  if (v instanceof Uint8Array) return { $bytes: v.length };
  if (v instanceof Float64Array) return { $f64: [...v].map(encodeValue) };
  if (v instanceof Map) return { $map: [...v].map(([k, x]) => [encodeValue(k), encodeValue(x)]) };
  const name = coreClassName(v);
  const fields: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) fields[k] = encodeValue(x);
  return name === null ? fields : { $class: name, fields };
}

export function decodeValue(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(decodeValue);
  const o = v as Record<string, unknown>;
  if ('$num' in o) return Number(o['$num']);
  if ('$bytes' in o) return new Uint8Array(Number(o['$bytes']));
  if ('$f64' in o) return Float64Array.from((o['$f64'] as unknown[]).map((x) => decodeValue(x) as number));
  if ('$map' in o) return new Map((o['$map'] as [unknown, unknown][]).map(([k, x]) => [decodeValue(k), decodeValue(x)]));
  if ('$class' in o) {
    const c = coreStateClasses.get(String(o['$class']));
    if (c === undefined) throw new Error(`unknown class ${String(o['$class'])}`);
    const out = Object.create(c.prototype) as Record<string, unknown>;
    for (const [k, x] of Object.entries(o['fields'] as Record<string, unknown>)) out[k] = decodeValue(x);
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) out[k] = decodeValue(x);
  return out;
}

function decodeItem(it: unknown): RecordedItem {
  const o = it as Record<string, unknown>;
  if ('now' in o) return { kind: 'now', ms: Number(o['now']) };
  if ('random' in o) {
    const [bound, value] = o['random'] as [number, number];
    return { kind: 'random', bound, value };
  }
  return { seq: Number(o['seq']), atMs: Number(o['at']), input: decodeValue(o['input']) as CoreInput };
}

/** A recording read back from its JSON, or why it is not one. */
export function decodeRecording(json: unknown): DecodedRecording | { readonly error: string } {
  if (json === null || typeof json !== 'object') return { error: 'not a JSON object' };
  const o = json as Record<string, unknown>;
  if (o['format'] !== RECORDING_FORMAT) return { error: `not a flight recording (format is ${JSON.stringify(o['format'])}, expected ${RECORDING_FORMAT})` };
  if (o['version'] !== RECORDING_VERSION) return { error: `recording version ${JSON.stringify(o['version'])}; this build reads version ${RECORDING_VERSION}` };
  for (const k of ['node', 'voters', 'raft', 'clock', 'start', 'items', 'transitions']) if (!(k in o)) return { error: `the recording has no ${k}` };
  if (!Array.isArray(o['items'])) return { error: 'items is not a list' };
  try {
    return {
      node: o['node'] as NodeId,
      voters: o['voters'] as NodeId[],
      raft: o['raft'] as RaftConfig,
      clock: o['clock'] as RecordingHeader['clock'],
      inputsDropped: Number(o['inputsDropped'] ?? 0),
      transitions: o['transitions'] as CoreTransition[],
      start: decodeValue(o['start']) as CoreCheckpoint,
      items: (o['items'] as unknown[]).map(decodeItem),
    };
  } catch (e) {
    return { error: `the recording does not decode: ${e instanceof Error ? e.message : String(e)}` };
  }
}
