// kvstore.v1.KV: Put, Get, Delete, Range and Txn.
import type { Condition, CompareOperator, KvResult, RequestTag, TxnCommand, TxnCompare, TxnOp } from '../kv/command.js';
import { idempotencyTag } from '../kv/command.js';
import { keyBytesMax, rangeLimitDefault, rangeLimitMax, txnComparesMax, txnOpsMax } from '../kv/limits.js';
import type { KVHandlers } from './generated/kvstore/v1/KV.js';
import type { KVDefinition } from './generated/kvstore/v1/KV.js';
import type { TxnOp__Output } from './generated/kvstore/v1/TxnOp.js';
import type { TxnOpResult } from './generated/kvstore/v1/TxnOpResult.js';
import type { NodeCalls } from './node-calls.js';
import { fail, ok, type Answer, type UnaryRunner } from './unary.js';

/** Trailer with the key's current revision on FAILED_PRECONDITION (absent when the key is absent). */
export const REVISION_METADATA = 'x-kvstore-revision';

const OPERATORS: Readonly<Record<string, CompareOperator>> = { EQUAL: 'equal', NOT_EQUAL: 'not_equal', LESS: 'less', GREATER: 'greater' };

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

export const keyProblem = (key: Buffer): string | null => (key.length < 1 || key.length > keyBytesMax ? `keys are 1 to ${keyBytesMax} bytes, got ${key.length}` : null);

export const tagOf = (requestId: string): RequestTag | null => (requestId === '' ? null : idempotencyTag(requestId));

const revisionOf = (present: boolean, revision: number | undefined): { ok: true; revision: number | null } | { ok: false } => {
  if (!present || revision === undefined) return { ok: true, revision: null };
  return Number.isSafeInteger(revision) && revision >= 0 ? { ok: true, revision } : { ok: false };
};

/** The answer to a refused key write, or null if it was written. */
function writeRefused(r: Extract<KvResult, { op: 'put' | 'delete' }>): Answer<never> | null {
  if (r.ok) return null;
  if (r.error === 'lease_not_found') return fail('lease_not_found', `lease ${r.lease} does not exist; nothing was written`);
  const trailers: Record<string, string> = r.currentRevision === null ? {} : { [REVISION_METADATA]: String(r.currentRevision) };
  return fail('revision_mismatch', `the key's revision is ${r.currentRevision ?? 'none (absent)'}`, trailers);
}

function txnOpOf(o: TxnOp__Output, what: string): TxnOp | string {
  if (o.op === 'put' && o.put) return o.put.lease === 0 ? { op: 'put', key: o.put.key, value: o.put.value } : { op: 'put', key: o.put.key, value: o.put.value, lease: o.put.lease };
  if (o.op === 'delete' && o.delete) return { op: 'delete', key: o.delete.key };
  if (o.op === 'get' && o.get) return { op: 'get', key: o.get.key };
  return `${what} sets none of put, delete, get`;
}

export function kvHandlers(def: KVDefinition, runner: UnaryRunner, calls: NodeCalls, valueBytesMax: number): KVHandlers {
  return {
    Put: runner.unary(
      def.Put,
      () => true,
      async (req, call) => {
        const bad = keyProblem(req.key);
        if (bad !== null) return fail('bad_key', bad);
        if (req.value.length > valueBytesMax) return fail('value_too_large', `value is ${req.value.length} bytes; the limit is ${valueBytesMax}`);
        const expected = revisionOf(req._expected_revision === 'expected_revision', req.expected_revision);
        if (!expected.ok) return fail('bad_precondition', 'expected_revision is not a safe integer');
        if (expected.revision !== null && req.create_only) return fail('bad_precondition', 'use expected_revision or create_only, not both');
        const condition: Condition = req.create_only ? { kind: 'absent' } : expected.revision !== null ? { kind: 'revision', revision: expected.revision } : { kind: 'none' };
        const tag = tagOf(req.request_id);
        const got = await calls.propose(call, 'put', req.lease === 0 ? { op: 'put', key: req.key, value: req.value, condition, tag } : { op: 'put', key: req.key, value: req.value, condition, tag, lease: req.lease });
        if (!got.ok) return got.answer;
        return writeRefused(got.value) ?? ok({ revision: got.value.ok ? got.value.revision : 0 });
      },
    ),
    Delete: runner.unary(
      def.Delete,
      () => true,
      async (req, call) => {
        const bad = keyProblem(req.key);
        if (bad !== null) return fail('bad_key', bad);
        const expected = revisionOf(req._expected_revision === 'expected_revision', req.expected_revision);
        if (!expected.ok) return fail('bad_precondition', 'expected_revision is not a safe integer');
        const condition: Exclude<Condition, { kind: 'absent' }> = expected.revision !== null ? { kind: 'revision', revision: expected.revision } : { kind: 'none' };
        const got = await calls.propose(call, 'delete', { op: 'delete', key: req.key, condition, tag: tagOf(req.request_id) });
        if (!got.ok) return got.answer;
        const r = got.value;
        return writeRefused(r) ?? ok(r.ok ? { deleted: r.deleted, revision: r.revision } : { deleted: false, revision: 0 });
      },
    ),
    Get: runner.unary(
      def.Get,
      () => false,
      async (req, call) => {
        const bad = keyProblem(req.key);
        if (bad !== null) return fail('bad_key', bad);
        const got = await calls.read(call, 'get', req.consistency, (state) => state.get(req.key));
        if (!got.ok) return got.answer;
        if (got.value === undefined) return fail('key_not_found', 'no such key');
        return ok({ value: toBuffer(got.value.value), revision: got.value.revision });
      },
    ),
    Range: runner.unary(
      def.Range,
      () => false,
      async (req, call) => {
        if (req.prefix.length > keyBytesMax) return fail('bad_key', `a prefix is at most ${keyBytesMax} bytes`);
        if (req.limit > rangeLimitMax) return fail('bad_request', `limit is at most ${rangeLimitMax}`);
        if (req.page_token.length > keyBytesMax) return fail('bad_request', 'page_token is not one this API gave out');
        const limit = req.limit === 0 ? rangeLimitDefault : req.limit;
        const after = req.page_token.length === 0 ? null : req.page_token;
        const got = await calls.read(call, 'list', req.consistency, (state) => {
          const page = state.range({ prefix: req.prefix, after, limit, keysOnly: req.keys_only });
          const last = page.entries[page.entries.length - 1];
          return {
            kvs: page.entries.map(({ key, entry }) => ({
              key: Buffer.from(key, 'latin1'),
              value: req.keys_only ? Buffer.alloc(0) : toBuffer(entry.value),
              revision: entry.revision,
              lease: entry.lease,
            })),
            revision: state.appliedIndex(),
            next_page_token: page.more && last !== undefined ? Buffer.from(last.key, 'latin1') : Buffer.alloc(0),
          };
        });
        return got.ok ? ok(got.value) : got.answer;
      },
    ),
    Txn: runner.unary(
      def.Txn,
      () => true,
      async (req, call) => {
        if (req.compare.length > txnComparesMax) return fail('bad_request', `${req.compare.length} comparisons, more than ${txnComparesMax}`);
        if (req.success.length > txnOpsMax || req.failure.length > txnOpsMax) return fail('bad_request', `a branch has more than ${txnOpsMax} operations`);
        const compare: TxnCompare[] = [];
        for (const k of req.compare) {
          const bad = keyProblem(k.key);
          if (bad !== null) return fail('bad_key', `compare: ${bad}`);
          const operator = OPERATORS[k.operator];
          if (operator === undefined) return fail('bad_request', 'operator is EQUAL, NOT_EQUAL, LESS or GREATER');
          if (k.target === 'REVISION') compare.push({ target: 'revision', key: k.key, operator, revision: k.revision });
          else if (k.target === 'VALUE') compare.push({ target: 'value', key: k.key, operator, value: k.value });
          else return fail('bad_request', 'target is REVISION or VALUE');
        }
        const branches: TxnOp[][] = [];
        for (const [name, ops] of [['success', req.success], ['failure', req.failure]] as const) {
          const branch: TxnOp[] = [];
          for (const [i, o] of ops.entries()) {
            const op = txnOpOf(o, `${name}[${i}]`);
            if (typeof op === 'string') return fail('bad_request', op);
            const bad = keyProblem(Buffer.from(op.key));
            if (bad !== null) return fail('bad_key', `${name}[${i}]: ${bad}`);
            branch.push(op);
          }
          branches.push(branch);
        }
        const txn: TxnCommand = { op: 'txn', compare, success: branches[0]!, failure: branches[1]!, tag: tagOf(req.request_id) };
        let bytes = 0;
        for (const k of compare) if (k.target === 'value') bytes += k.value.length;
        for (const o of [...txn.success, ...txn.failure]) if (o.op === 'put') bytes += o.value.length;
        if (bytes > valueBytesMax) return fail('value_too_large', `the transaction's values are ${bytes} bytes together; the limit is ${valueBytesMax}`);
        const got = await calls.propose(call, 'txn', txn);
        if (!got.ok) return got.answer;
        const r = got.value;
        if (!r.ok) {
          if (r.error === 'lease_not_found') return fail('lease_not_found', `lease ${r.lease} does not exist; nothing was applied`);
          return fail('txn_reads_too_large', 'the gets of this transaction would return too many bytes; nothing was applied');
        }
        const results = r.results.map((o): TxnOpResult => {
          if (o.op === 'put') return { put: { revision: r.revision } };
          if (o.op === 'delete') return { delete: { deleted: o.deleted } };
          return { get: o.found ? { found: true, value: toBuffer(o.value), revision: o.revision } : { found: false } };
        });
        return ok({ succeeded: r.succeeded, revision: r.revision, results });
      },
    ),
  };
}
