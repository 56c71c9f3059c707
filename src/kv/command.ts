// The commands Raft replicates for the key-value store, the results applying them
// yields, and their binary encodings. Keys and values are raw bytes end to end;
// only the request tag's ids are text (UTF-8).
//
// Command layout (varint = canonical unsigned LEB128, at most 2^53 - 1;
// key = varint length + 1..keyBytesMax bytes; value = varint length + bytes):
//
//   u8 op, u8 flags, then by op:
//   1 put           flags: bits 0-1 condition (0 none, 1 revision, 2 absent),
//                   bit 2 tag, bit 3 lease
//                   [varint revision] [tag] [varint lease] key value
//   2 delete        flags: bits 0-1 condition (none or revision), bit 2 tag
//                   [varint revision] [tag] key
//   3 txn           flags: bit 2 tag
//                   [tag] varint n, n x compare, varint n, n x op (success),
//                   varint n, n x op (failure)
//                   compare: u8 target << 2 | operator (target 0 revision,
//                   1 value; operator 0 =, 1 !=, 2 <, 3 >), key, varint
//                   revision or value
//                   op: u8 kind (1 put, 2 delete, 3 get, 4 put with lease), key,
//                   put: value [varint lease]
//   4 lease grant   flags: bit 2 tag       [tag] varint ttlSeconds
//   5 lease revoke  flags: bit 2 tag       [tag] varint lease
//   6 lease expire  flags: 0               varint n, n x varint lease (increasing)
//
// tag = varint+utf8 clientId, varint+utf8 requestId. Nothing may follow. Every
// command has exactly one encoding, and a decoded command passes
// `commandProblem`. A new layout takes a new op code, so entries already in logs
// keep decoding.

import type { ByteSource } from './bytes.js';
import {
  idempotencyKeyBytesMax,
  keyBytesMax,
  leaseExpireBatchMax,
  leaseTtlSecondsMax,
  txnComparesMax,
  txnOpsMax,
} from './limits.js';
import { ByteReader, ByteWriter, CorruptBytes, bytesToBinary, isWellFormed, readUtf8, readVarint, utf8Bytes } from './bytes.js';

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

/** A lease's id: the log index of the command that granted it. */
export type LeaseId = number;

export interface PutCommand {
  readonly op: 'put';
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly condition: Condition;
  readonly tag: RequestTag | null;
  /** Attaches the key to this lease (it is deleted when the lease ends); absent: no lease. */
  readonly lease?: LeaseId;
}

export interface DeleteCommand {
  readonly op: 'delete';
  readonly key: Uint8Array;
  readonly condition: Exclude<Condition, { kind: 'absent' }>;
  readonly tag: RequestTag | null;
}

export type CompareOperator = 'equal' | 'not_equal' | 'less' | 'greater';

/**
 * One comparison of a transaction. An absent key has revision 0; a comparison of
 * the value of an absent key is false whatever the operator (etcd's rule). Values
 * compare as bytes.
 */
export type TxnCompare =
  | { readonly target: 'revision'; readonly key: Uint8Array; readonly operator: CompareOperator; readonly revision: number }
  | { readonly target: 'value'; readonly key: Uint8Array; readonly operator: CompareOperator; readonly value: Uint8Array };

/** One operation of a transaction branch; they run in order, each seeing the earlier ones' writes. */
export type TxnOp =
  | { readonly op: 'put'; readonly key: Uint8Array; readonly value: Uint8Array; readonly lease?: LeaseId }
  | { readonly op: 'delete'; readonly key: Uint8Array }
  | { readonly op: 'get'; readonly key: Uint8Array };

/** etcd's Txn: if every comparison holds, run `success`, else `failure`, as one atomic write. */
export interface TxnCommand {
  readonly op: 'txn';
  readonly compare: readonly TxnCompare[];
  readonly success: readonly TxnOp[];
  readonly failure: readonly TxnOp[];
  readonly tag: RequestTag | null;
}

export interface LeaseGrantCommand {
  readonly op: 'lease_grant';
  readonly ttlSeconds: number;
  readonly tag: RequestTag | null;
}

export interface LeaseRevokeCommand {
  readonly op: 'lease_revoke';
  readonly lease: LeaseId;
  readonly tag: RequestTag | null;
}

/** The leader's decision that these leases ran out on its clock; leases already gone are skipped. */
export interface LeaseExpireCommand {
  readonly op: 'lease_expire';
  /** Strictly increasing, 1..leaseExpireBatchMax of them. */
  readonly leases: readonly LeaseId[];
}

export type KvCommand = PutCommand | DeleteCommand | TxnCommand | LeaseGrantCommand | LeaseRevokeCommand | LeaseExpireCommand;

export type TxnOpResult =
  | { readonly op: 'put' }
  | { readonly op: 'delete'; readonly deleted: boolean }
  | { readonly op: 'get'; readonly found: false }
  | { readonly op: 'get'; readonly found: true; readonly value: Uint8Array; readonly revision: number };

export type KvResult =
  | { readonly op: 'put'; readonly ok: true; readonly revision: number }
  | { readonly op: 'delete'; readonly ok: true; readonly deleted: boolean; readonly revision: number }
  | { readonly op: 'put'; readonly ok: false; readonly error: 'revision_mismatch'; readonly currentRevision: number | null }
  | { readonly op: 'delete'; readonly ok: false; readonly error: 'revision_mismatch'; readonly currentRevision: number | null }
  | { readonly op: 'put'; readonly ok: false; readonly error: 'lease_not_found'; readonly lease: LeaseId }
  | { readonly op: 'txn'; readonly ok: true; readonly succeeded: boolean; readonly revision: number; readonly results: readonly TxnOpResult[] }
  | { readonly op: 'txn'; readonly ok: false; readonly error: 'lease_not_found'; readonly lease: LeaseId }
  | { readonly op: 'txn'; readonly ok: false; readonly error: 'txn_reads_too_large' }
  | { readonly op: 'lease_grant'; readonly ok: true; readonly lease: LeaseId; readonly ttlSeconds: number }
  | { readonly op: 'lease_grant'; readonly ok: false; readonly error: 'too_many_leases' }
  | { readonly op: 'lease_revoke'; readonly ok: true; readonly revision: number }
  | { readonly op: 'lease_revoke'; readonly ok: false; readonly error: 'lease_not_found'; readonly lease: LeaseId }
  | { readonly op: 'lease_expire'; readonly ok: true; readonly revision: number; readonly expired: number };

/** The results a command of type C can have. */
export type ResultOf<C extends KvCommand> = Extract<KvResult, { readonly op: C['op'] }>;

/**
 * `r` as the result of `c`, or the kind of command `r` answers when it is
 * another's: a tagged command is answered with the first result its tag got, and
 * a client may reuse a request id for a request of another kind.
 */
export function resultOf<C extends KvCommand>(c: C, r: KvResult): { readonly ok: true; readonly result: ResultOf<C> } | { readonly ok: false; readonly firstOp: KvResult['op'] } {
  return r.op === c.op ? { ok: true, result: r as ResultOf<C> } : { ok: false, firstOp: r.op };
}

const opPut = 1;
const opDelete = 2;
const opTxn = 3;
const opLeaseGrant = 4;
const opLeaseRevoke = 5;
const opLeaseExpire = 6;
const conditionNone = 0;
const conditionRevision = 1;
const conditionAbsent = 2;
const flagConditionMask = 0b0011;
const flagTag = 0b0100;
const flagLease = 0b1000;
const txnOpPut = 1;
const txnOpDelete = 2;
const txnOpGet = 3;
const txnOpPutLeased = 4;
const compareTargets = ['revision', 'value'] as const;
const compareOperators: readonly CompareOperator[] = ['equal', 'not_equal', 'less', 'greater'];

const positiveId = (n: number): boolean => Number.isSafeInteger(n) && n >= 1;

function keyProblem(key: Uint8Array): string | null {
  return key.length < 1 || key.length > keyBytesMax ? `key is ${key.length} bytes, not 1..${keyBytesMax}` : null;
}

function tagProblem(tag: RequestTag | null): string | null {
  if (tag === null) return null;
  for (const [what, id] of [['clientId', tag.clientId], ['requestId', tag.requestId]] as const) {
    if (!isWellFormed(id)) return `${what} has a lone surrogate`;
    const len = Buffer.byteLength(id, 'utf8');
    if (len < 1 || len > idempotencyKeyBytesMax) return `${what} is ${len} bytes, not 1..${idempotencyKeyBytesMax}`;
  }
  return null;
}

function branchProblem(name: string, ops: readonly TxnOp[]): string | null {
  if (ops.length > txnOpsMax) return `${name} has ${ops.length} operations, more than ${txnOpsMax}`;
  // etcd refuses a key written twice in one transaction: the outcome would depend on order.
  const written = new Set<string>();
  for (const o of ops) {
    const bad = keyProblem(o.key) ?? (o.op === 'put' && o.lease !== undefined && !positiveId(o.lease) ? `lease ${o.lease} is not a positive safe integer` : null);
    if (bad !== null) return `${name}: ${bad}`;
    if (o.op === 'get') continue;
    const k = bytesToBinary(o.key);
    if (written.has(k)) return `${name} writes a key twice`;
    written.add(k);
  }
  return null;
}

/**
 * Why `c` cannot be encoded, or null. The edges validate requests before they
 * build commands, so `encodeCommand` treats a non-null answer as a programmer error.
 * Values carry no bound here: the edge enforces the configured maximum, and the
 * state machine must not depend on a per-node setting.
 */
export function commandProblem(c: KvCommand): string | null {
  switch (c.op) {
    case 'put':
    case 'delete': {
      const bad = keyProblem(c.key) ?? tagProblem(c.tag);
      if (bad !== null) return bad;
      if (c.condition.kind === 'revision' && !(Number.isSafeInteger(c.condition.revision) && c.condition.revision >= 0)) {
        return `condition revision ${c.condition.revision} is not a non-negative safe integer`;
      }
      if (c.op === 'put' && c.lease !== undefined && !positiveId(c.lease)) return `lease ${c.lease} is not a positive safe integer`;
      return null;
    }
    case 'txn': {
      const bad = tagProblem(c.tag);
      if (bad !== null) return bad;
      if (c.compare.length > txnComparesMax) return `${c.compare.length} comparisons, more than ${txnComparesMax}`;
      for (const k of c.compare) {
        const problem = keyProblem(k.key);
        if (problem !== null) return `compare: ${problem}`;
        if (k.target === 'revision' && !(Number.isSafeInteger(k.revision) && k.revision >= 0)) return `compare revision ${k.revision} is not a non-negative safe integer`;
      }
      return branchProblem('success', c.success) ?? branchProblem('failure', c.failure);
    }
    case 'lease_grant':
      if (!Number.isSafeInteger(c.ttlSeconds) || c.ttlSeconds < 1 || c.ttlSeconds > leaseTtlSecondsMax) return `ttl ${c.ttlSeconds} s is not 1..${leaseTtlSecondsMax}`;
      return tagProblem(c.tag);
    case 'lease_revoke':
      return positiveId(c.lease) ? tagProblem(c.tag) : `lease ${c.lease} is not a positive safe integer`;
    case 'lease_expire': {
      if (c.leases.length < 1 || c.leases.length > leaseExpireBatchMax) return `${c.leases.length} leases to expire, not 1..${leaseExpireBatchMax}`;
      for (let i = 0; i < c.leases.length; i++) {
        if (!positiveId(c.leases[i]!)) return `lease ${c.leases[i]} is not a positive safe integer`;
        if (i > 0 && c.leases[i]! <= c.leases[i - 1]!) return 'leases to expire are not strictly increasing';
      }
      return null;
    }
  }
}

/**
 * `c` as the log stores it. Written into `into` when given (cleared first), and
 * then the result is a view of that writer's buffer, valid until it is written
 * again: a caller that encodes many commands reuses one writer and copies each
 * out (the node, into ByteBlocks), instead of a buffer per command.
 */
export function encodeCommand(c: KvCommand, into?: ByteWriter): Uint8Array {
  const problem = commandProblem(c);
  if (problem !== null) throw new Error(`encodeCommand: ${problem}`);
  const w = into ?? new ByteWriter(64 + (c.op === 'put' ? c.key.length + c.value.length : c.op === 'delete' ? c.key.length : 0));
  w.clear();
  const tagFlag = 'tag' in c && c.tag !== null ? flagTag : 0;
  switch (c.op) {
    case 'put':
    case 'delete': {
      w.u8(c.op === 'put' ? opPut : opDelete);
      const condition = c.condition.kind === 'none' ? conditionNone : c.condition.kind === 'revision' ? conditionRevision : conditionAbsent;
      const leased = c.op === 'put' && c.lease !== undefined;
      w.u8(condition | tagFlag | (leased ? flagLease : 0));
      if (c.condition.kind === 'revision') w.varint(c.condition.revision);
      writeTag(w, c.tag);
      if (c.op === 'put' && c.lease !== undefined) w.varint(c.lease);
      writeBytes(w, c.key);
      if (c.op === 'put') writeBytes(w, c.value);
      break;
    }
    case 'txn':
      w.u8(opTxn);
      w.u8(tagFlag);
      writeTag(w, c.tag);
      w.varint(c.compare.length);
      for (const k of c.compare) {
        w.u8((compareTargets.indexOf(k.target) << 2) | compareOperators.indexOf(k.operator));
        writeBytes(w, k.key);
        if (k.target === 'revision') w.varint(k.revision);
        else writeBytes(w, k.value);
      }
      for (const branch of [c.success, c.failure]) {
        w.varint(branch.length);
        for (const o of branch) writeTxnOp(w, o);
      }
      break;
    case 'lease_grant':
    case 'lease_revoke':
      w.u8(c.op === 'lease_grant' ? opLeaseGrant : opLeaseRevoke);
      w.u8(tagFlag);
      writeTag(w, c.tag);
      w.varint(c.op === 'lease_grant' ? c.ttlSeconds : c.lease);
      break;
    case 'lease_expire':
      w.u8(opLeaseExpire);
      w.u8(0);
      w.varint(c.leases.length);
      for (const id of c.leases) w.varint(id);
      break;
  }
  return w.view();
}

function writeBytes(w: ByteWriter, b: Uint8Array): void {
  w.varint(b.length);
  w.bytes(b);
}

function writeTag(w: ByteWriter, tag: RequestTag | null): void {
  if (tag === null) return;
  writeBytes(w, utf8Bytes(tag.clientId));
  writeBytes(w, utf8Bytes(tag.requestId));
}

function writeTxnOp(w: ByteWriter, o: TxnOp): void {
  switch (o.op) {
    case 'put':
      w.u8(o.lease === undefined ? txnOpPut : txnOpPutLeased);
      writeBytes(w, o.key);
      writeBytes(w, o.value);
      if (o.lease !== undefined) w.varint(o.lease);
      return;
    case 'delete':
      w.u8(txnOpDelete);
      writeBytes(w, o.key);
      return;
    case 'get':
      w.u8(txnOpGet);
      writeBytes(w, o.key);
  }
}

/**
 * Decodes a command. Keys and values are views into `b`: copy them before
 * keeping them beyond `b`'s lifetime. Malformed bytes yield `{ error }`, never a throw.
 */
export function decodeCommand(b: Uint8Array): KvCommand | { readonly error: string } {
  try {
    const r = new ByteReader(b);
    const c = readCommand(r);
    if (r.remaining !== 0) throw new CorruptBytes(`${r.remaining} trailing bytes`);
    const problem = commandProblem(c);
    if (problem !== null) throw new CorruptBytes(problem);
    return c;
  } catch (e) {
    if (e instanceof CorruptBytes) return { error: `command: ${e.message}` };
    throw e;
  }
}

function readCommand(r: ByteReader): KvCommand {
  const op = r.u8();
  const flags = r.u8();
  if (op < opPut || op > opLeaseExpire) throw new CorruptBytes(`unknown op ${op}`);
  const allowed = op === opPut ? flagConditionMask | flagTag | flagLease : op === opDelete ? flagConditionMask | flagTag : op === opLeaseExpire ? 0 : flagTag;
  if ((flags & ~allowed) !== 0) throw new CorruptBytes(`unknown flags 0x${flags.toString(16)} for op ${op}`);
  if (op === opPut || op === opDelete) {
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
    const tag = readTagIf(r, flags);
    if (op === opDelete) {
      // The switch above rejected 'absent' for deletes.
      return { op: 'delete', key: readKey(r), condition: condition as Exclude<Condition, { kind: 'absent' }>, tag };
    }
    const lease = (flags & flagLease) === 0 ? undefined : readVarint(r);
    const key = readKey(r);
    const value = r.bytes(readVarint(r));
    return lease === undefined ? { op: 'put', key, value, condition, tag } : { op: 'put', key, value, condition, tag, lease };
  }
  if (op === opLeaseExpire) {
    const n = readCount(r, leaseExpireBatchMax, 'leases to expire');
    const leases: LeaseId[] = [];
    for (let i = 0; i < n; i++) leases.push(readVarint(r));
    return { op: 'lease_expire', leases };
  }
  const tag = readTagIf(r, flags);
  if (op === opLeaseGrant) return { op: 'lease_grant', ttlSeconds: readVarint(r), tag };
  if (op === opLeaseRevoke) return { op: 'lease_revoke', lease: readVarint(r), tag };
  const compare: TxnCompare[] = [];
  for (let i = readCount(r, txnComparesMax, 'comparisons'); i > 0; i--) compare.push(readCompare(r));
  const success = readBranch(r);
  const failure = readBranch(r);
  return { op: 'txn', compare, success, failure, tag };
}

/** A count read before its items, bounded so a corrupt one cannot make the decoder loop long. */
function readCount(r: ByteSource, max: number, what: string): number {
  const n = readVarint(r);
  if (n > max) throw new CorruptBytes(`${n} ${what}, more than ${max}`);
  return n;
}

function readCompare(r: ByteSource): TxnCompare {
  const packed = r.u8();
  const target = compareTargets[packed >> 2];
  const operator = compareOperators[packed & 3]!;
  if (target === undefined) throw new CorruptBytes(`unknown comparison 0x${packed.toString(16)}`);
  const key = readKey(r);
  return target === 'revision' ? { target, key, operator, revision: readVarint(r) } : { target, key, operator, value: r.bytes(readVarint(r)) };
}

function readBranch(r: ByteSource): TxnOp[] {
  const ops: TxnOp[] = [];
  for (let i = readCount(r, txnOpsMax, 'operations'); i > 0; i--) {
    const kind = r.u8();
    const key = readKey(r);
    switch (kind) {
      case txnOpPut:
        ops.push({ op: 'put', key, value: r.bytes(readVarint(r)) });
        break;
      case txnOpPutLeased:
        ops.push({ op: 'put', key, value: r.bytes(readVarint(r)), lease: readVarint(r) });
        break;
      case txnOpDelete:
        ops.push({ op: 'delete', key });
        break;
      case txnOpGet:
        ops.push({ op: 'get', key });
        break;
      default:
        throw new CorruptBytes(`unknown transaction operation ${kind}`);
    }
  }
  return ops;
}

function readTagIf(r: ByteSource, flags: number): RequestTag | null {
  if ((flags & flagTag) === 0) return null;
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

// Result layout: u8 kind, then the kind's fields (varints unless said otherwise).
const resultPut = 1; //                 revision
const resultDeleted = 2; //             revision
const resultNotDeleted = 3; //          revision
const resultPutMismatchAbsent = 4;
const resultPutMismatch = 5; //         current revision
const resultDeleteMismatchAbsent = 6;
const resultDeleteMismatch = 7; //      current revision
const resultPutNoLease = 8; //          lease
const resultTxn = 9; //                 u8 succeeded, revision, n, n x op result
const resultTxnNoLease = 10; //         lease
const resultTxnReadsTooLarge = 11;
const resultLeaseGranted = 12; //       lease, ttlSeconds
const resultTooManyLeases = 13;
const resultLeaseRevoked = 14; //       revision
const resultRevokeNoLease = 15; //      lease
const resultLeasesExpired = 16; //      revision, expired
// Transaction op results: 1 put, 2 deleted, 3 not deleted, 4 get absent, 5 get found (revision, value).

export function writeResult(w: ByteWriter, r: KvResult): void {
  if (!r.ok) {
    switch (r.error) {
      case 'revision_mismatch':
        if (r.currentRevision === null) w.u8(r.op === 'put' ? resultPutMismatchAbsent : resultDeleteMismatchAbsent);
        else {
          w.u8(r.op === 'put' ? resultPutMismatch : resultDeleteMismatch);
          w.varint(r.currentRevision);
        }
        return;
      case 'lease_not_found':
        w.u8(r.op === 'put' ? resultPutNoLease : r.op === 'txn' ? resultTxnNoLease : resultRevokeNoLease);
        w.varint(r.lease);
        return;
      case 'txn_reads_too_large':
        w.u8(resultTxnReadsTooLarge);
        return;
      case 'too_many_leases':
        w.u8(resultTooManyLeases);
        return;
    }
  }
  switch (r.op) {
    case 'put':
      w.u8(resultPut);
      w.varint(r.revision);
      return;
    case 'delete':
      w.u8(r.deleted ? resultDeleted : resultNotDeleted);
      w.varint(r.revision);
      return;
    case 'txn':
      w.u8(resultTxn);
      w.u8(r.succeeded ? 1 : 0);
      w.varint(r.revision);
      w.varint(r.results.length);
      for (const o of r.results) writeTxnOpResult(w, o);
      return;
    case 'lease_grant':
      w.u8(resultLeaseGranted);
      w.varint(r.lease);
      w.varint(r.ttlSeconds);
      return;
    case 'lease_revoke':
      w.u8(resultLeaseRevoked);
      w.varint(r.revision);
      return;
    case 'lease_expire':
      w.u8(resultLeasesExpired);
      w.varint(r.revision);
      w.varint(r.expired);
  }
}

function writeTxnOpResult(w: ByteWriter, o: TxnOpResult): void {
  if (o.op === 'put') w.u8(1);
  else if (o.op === 'delete') w.u8(o.deleted ? 2 : 3);
  else if (!o.found) w.u8(4);
  else {
    w.u8(5);
    w.varint(o.revision);
    writeBytes(w, o.value);
  }
}

/** Reads a result; a found get's value is a copy only if `src.bytes` copies (the snapshot's reader does). */
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
    case resultPutNoLease:
    case resultTxnNoLease:
    case resultRevokeNoLease:
      return { op: kind === resultPutNoLease ? 'put' : kind === resultTxnNoLease ? 'txn' : 'lease_revoke', ok: false, error: 'lease_not_found', lease: readVarint(r) };
    case resultTxn: {
      const flag = r.u8();
      if (flag > 1) throw new CorruptBytes(`transaction outcome ${flag}`);
      const revision = readVarint(r);
      const results: TxnOpResult[] = [];
      for (let i = readCount(r, txnOpsMax, 'operation results'); i > 0; i--) results.push(readTxnOpResult(r));
      return { op: 'txn', ok: true, succeeded: flag === 1, revision, results };
    }
    case resultTxnReadsTooLarge:
      return { op: 'txn', ok: false, error: 'txn_reads_too_large' };
    case resultLeaseGranted:
      return { op: 'lease_grant', ok: true, lease: readVarint(r), ttlSeconds: readVarint(r) };
    case resultTooManyLeases:
      return { op: 'lease_grant', ok: false, error: 'too_many_leases' };
    case resultLeaseRevoked:
      return { op: 'lease_revoke', ok: true, revision: readVarint(r) };
    case resultLeasesExpired:
      return { op: 'lease_expire', ok: true, revision: readVarint(r), expired: readVarint(r) };
    default:
      throw new CorruptBytes(`unknown result kind ${kind}`);
  }
}

function readTxnOpResult(r: ByteSource): TxnOpResult {
  const kind = r.u8();
  switch (kind) {
    case 1:
      return { op: 'put' };
    case 2:
    case 3:
      return { op: 'delete', deleted: kind === 2 };
    case 4:
      return { op: 'get', found: false };
    case 5: {
      const revision = readVarint(r);
      return { op: 'get', found: true, revision, value: r.bytes(readVarint(r)) };
    }
    default:
      throw new CorruptBytes(`unknown transaction operation result ${kind}`);
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
