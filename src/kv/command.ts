// The commands Raft replicates for the key-value store, the results applying them
// yields, and their binary encodings. Keys and values are raw bytes end to end;
// only the request tag's ids are text (UTF-8).
//
// Command layout (varint = canonical unsigned LEB128, at most 2^53 - 1):
//
//   u8      op          1 = put, 2 = delete. A future layout takes a new op code,
//                       so entries already in logs keep decoding.
//   u8      flags       bits 0-1 condition (0 none, 1 revision, 2 absent),
//                       bit 2 tag present, other bits zero
//   varint  revision    if condition = revision
//   varint+utf8 clientId, varint+utf8 requestId    if tag present
//   varint+bytes key    1..keyBytesMax bytes
//   varint+bytes value  put only
//
// Nothing may follow. Every command has exactly one encoding.

import type { ByteSource } from './bytes.js';
import { idempotencyKeyBytesMax, keyBytesMax } from './limits.js';
import { ByteReader, ByteWriter, CorruptBytes, isWellFormed, readUtf8, readVarint, utf8Bytes, varintLength } from './bytes.js';

export type Condition =
  | { readonly kind: 'none' }
  | { readonly kind: 'revision'; readonly revision: number }
  | { readonly kind: 'absent' };

/** Exactly-once identity of a request: SPEC's Idempotency-Key, scoped by client. */
export interface RequestTag {
  readonly clientId: string;
  readonly requestId: string;
}

/**
 * The tag for an API idempotency key (REST `Idempotency-Key`, gRPC `request_id`).
 * Each key is its own session with a single request: the session table then
 * remembers the most recent `sessionClientsMax` keys (least recently seen evicted,
 * and for at most `sessionExpiryEntries` log entries). Sharing one session among all
 * API clients would remember only its last few results, and a retry arriving after
 * a few other writes would be applied twice. Both APIs use the same namespace, so a
 * key retried over the other protocol is still applied once.
 */
export function idempotencyTag(key: string): RequestTag {
  return { clientId: key, requestId: 'once' };
}

export type KvCommand =
  | {
      readonly op: 'put';
      readonly key: Uint8Array;
      readonly value: Uint8Array;
      readonly condition: Condition;
      readonly tag: RequestTag | null;
    }
  | {
      readonly op: 'delete';
      readonly key: Uint8Array;
      readonly condition: Exclude<Condition, { kind: 'absent' }>;
      readonly tag: RequestTag | null;
    };

export type KvResult =
  | { readonly op: 'put'; readonly ok: true; readonly revision: number }
  | { readonly op: 'delete'; readonly ok: true; readonly deleted: boolean; readonly revision: number }
  | {
      readonly op: 'put' | 'delete';
      readonly ok: false;
      readonly error: 'revision_mismatch';
      readonly currentRevision: number | null;
    };


const opPut = 1;
const opDelete = 2;
const conditionNone = 0;
const conditionRevision = 1;
const conditionAbsent = 2;
const flagConditionMask = 0b011;
const flagTag = 0b100;

/**
 * Why `c` cannot be encoded, or null. The edges validate requests before they
 * build commands, so `encodeCommand` treats a non-null answer as a programmer error.
 * Values carry no bound here: the edge enforces the configured maximum, and the
 * state machine must not depend on a per-node setting.
 */
export function commandProblem(c: KvCommand): string | null {
  if (c.key.length < 1 || c.key.length > keyBytesMax) return `key is ${c.key.length} bytes, not 1..${keyBytesMax}`;
  if (c.condition.kind === 'revision' && !(Number.isSafeInteger(c.condition.revision) && c.condition.revision >= 0)) {
    return `condition revision ${c.condition.revision} is not a non-negative safe integer`;
  }
  if (c.tag !== null) {
    for (const [what, id] of [['clientId', c.tag.clientId], ['requestId', c.tag.requestId]] as const) {
      if (!isWellFormed(id)) return `${what} has a lone surrogate`;
      const len = Buffer.byteLength(id, 'utf8');
      if (len < 1 || len > idempotencyKeyBytesMax) return `${what} is ${len} bytes, not 1..${idempotencyKeyBytesMax}`;
    }
  }
  return null;
}

export function encodeCommand(c: KvCommand): Uint8Array {
  const problem = commandProblem(c);
  if (problem !== null) throw new Error(`encodeCommand: ${problem}`);
  const clientId = c.tag === null ? null : utf8Bytes(c.tag.clientId);
  const requestId = c.tag === null ? null : utf8Bytes(c.tag.requestId);
  let size = 2 + varintLength(c.key.length) + c.key.length;
  if (c.condition.kind === 'revision') size += varintLength(c.condition.revision);
  if (clientId !== null && requestId !== null) {
    size += varintLength(clientId.length) + clientId.length + varintLength(requestId.length) + requestId.length;
  }
  if (c.op === 'put') size += varintLength(c.value.length) + c.value.length;

  const w = new ByteWriter(size);
  w.u8(c.op === 'put' ? opPut : opDelete);
  const condition = c.condition.kind === 'none' ? conditionNone : c.condition.kind === 'revision' ? conditionRevision : conditionAbsent;
  w.u8(condition | (c.tag === null ? 0 : flagTag));
  if (c.condition.kind === 'revision') w.varint(c.condition.revision);
  if (clientId !== null && requestId !== null) {
    w.varint(clientId.length);
    w.bytes(clientId);
    w.varint(requestId.length);
    w.bytes(requestId);
  }
  w.varint(c.key.length);
  w.bytes(c.key);
  if (c.op === 'put') {
    w.varint(c.value.length);
    w.bytes(c.value);
  }
  if (w.length !== size) throw new Error(`encodeCommand: wrote ${w.length} bytes, sized ${size}`);
  return w.view();
}

/**
 * Decodes a command. The key and value are views into `b`: copy them before
 * keeping them beyond `b`'s lifetime. Malformed bytes yield `{ error }`, never a throw.
 */
export function decodeCommand(b: Uint8Array): KvCommand | { readonly error: string } {
  try {
    return readCommand(new ByteReader(b));
  } catch (e) {
    if (e instanceof CorruptBytes) return { error: `command: ${e.message}` };
    throw e;
  }
}

function readCommand(r: ByteReader): KvCommand {
  const op = r.u8();
  if (op !== opPut && op !== opDelete) throw new CorruptBytes(`unknown op ${op}`);
  const flags = r.u8();
  if ((flags & ~(flagConditionMask | flagTag)) !== 0) throw new CorruptBytes(`unknown flags 0x${flags.toString(16)}`);
  let condition: Condition;
  switch (flags & flagConditionMask) {
    case conditionNone:
      condition = { kind: 'none' };
      break;
    case conditionRevision:
      condition = { kind: 'revision', revision: readVarint(r) };
      break;
    case conditionAbsent:
      if (op === opDelete) throw new CorruptBytes('delete with condition absent');
      condition = { kind: 'absent' };
      break;
    default:
      throw new CorruptBytes('unknown condition 3');
  }
  const tag = (flags & flagTag) === 0 ? null : readTag(r);
  const key = readKey(r);
  if (op === opDelete) {
    if (r.remaining !== 0) throw new CorruptBytes(`${r.remaining} trailing bytes`);
    // The switch above rejected 'absent' for deletes.
    return { op: 'delete', key, condition: condition as Exclude<Condition, { kind: 'absent' }>, tag };
  }
  const value = r.bytes(readVarint(r));
  if (r.remaining !== 0) throw new CorruptBytes(`${r.remaining} trailing bytes`);
  return { op: 'put', key, value, condition, tag };
}

function readTag(r: ByteSource): RequestTag {
  const clientId = readUtf8(r, idempotencyKeyBytesMax, 'clientId');
  const requestId = readUtf8(r, idempotencyKeyBytesMax, 'requestId');
  if (clientId.length === 0 || requestId.length === 0) throw new CorruptBytes('empty tag id');
  return { clientId, requestId };
}

function readKey(r: ByteSource): Uint8Array {
  const len = readVarint(r);
  if (len < 1 || len > keyBytesMax) throw new CorruptBytes(`key is ${len} bytes, not 1..${keyBytesMax}`);
  return r.bytes(len);
}

// Result layout: u8 kind, then varint revision unless the kind says there is none.
const resultPut = 1;
const resultDeleted = 2;
const resultNotDeleted = 3;
const resultPutMismatchAbsent = 4;
const resultPutMismatch = 5;
const resultDeleteMismatchAbsent = 6;
const resultDeleteMismatch = 7;

export function writeResult(w: ByteWriter, r: KvResult): void {
  if (r.ok) {
    w.u8(r.op === 'put' ? resultPut : r.deleted ? resultDeleted : resultNotDeleted);
    w.varint(r.revision);
  } else if (r.currentRevision === null) {
    w.u8(r.op === 'put' ? resultPutMismatchAbsent : resultDeleteMismatchAbsent);
  } else {
    w.u8(r.op === 'put' ? resultPutMismatch : resultDeleteMismatch);
    w.varint(r.currentRevision);
  }
}

export function readResult(r: ByteSource): KvResult {
  const kind = r.u8();
  switch (kind) {
    case resultPut:
      return { op: 'put', ok: true, revision: readVarint(r) };
    case resultDeleted:
    case resultNotDeleted:
      return { op: 'delete', ok: true, deleted: kind === resultDeleted, revision: readVarint(r) };
    case resultPutMismatchAbsent:
    case resultDeleteMismatchAbsent:
      return { op: kind === resultPutMismatchAbsent ? 'put' : 'delete', ok: false, error: 'revision_mismatch', currentRevision: null };
    case resultPutMismatch:
    case resultDeleteMismatch:
      return { op: kind === resultPutMismatch ? 'put' : 'delete', ok: false, error: 'revision_mismatch', currentRevision: readVarint(r) };
    default:
      throw new CorruptBytes(`unknown result kind ${kind}`);
  }
}

export function encodeResult(r: KvResult): Uint8Array {
  const w = new ByteWriter(16);
  writeResult(w, r);
  return w.view();
}

export function decodeResult(b: Uint8Array): KvResult | { readonly error: string } {
  try {
    const r = new ByteReader(b);
    const result = readResult(r);
    if (r.remaining !== 0) throw new CorruptBytes(`${r.remaining} trailing bytes`);
    return result;
  } catch (e) {
    if (e instanceof CorruptBytes) return { error: `result: ${e.message}` };
    throw e;
  }
}
