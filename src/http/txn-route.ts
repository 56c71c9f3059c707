// POST /v1/txn: etcd's Txn over JSON.
import type Koa from 'koa';
import { commandProblem, type CompareOperator, type KvResult, type RequestTag, type TxnCommand, type TxnCompare, type TxnOp } from '../kv/command.js';
import { txnComparesMax, txnOpsMax } from '../kv/limits.js';
import { answerJson } from './answer.js';
import type { Gateway } from './gateway.js';
import { HttpError } from './http-error.js';
import { keyFromJson, objectFromJson, onlyFields, valueFromJson, valueToJson } from './kv-json.js';
import { readBody, tagOf } from './request.js';

const OPERATORS: readonly CompareOperator[] = ['equal', 'not_equal', 'less', 'greater'];

function arrayOf(o: Record<string, unknown>, field: string, max: number): unknown[] {
  const v = o[field];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new HttpError('bad_request', `${field} must be an array`);
  if (v.length > max) throw new HttpError('bad_request', `${field} has ${v.length} items, more than ${max}`);
  return v;
}

function objectAt(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError('bad_request', `${what} must be an object`);
  return v as Record<string, unknown>;
}

function revisionOf(v: unknown, what: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new HttpError('bad_request', `${what} must be a non-negative integer`);
  return v as number;
}

function leaseOf(v: unknown, what: string): number | undefined {
  if (v === undefined || v === 0) return undefined;
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new HttpError('bad_request', `${what} must be a lease id`);
  return v as number;
}

function compareOf(v: unknown, i: number): TxnCompare {
  const what = `compare[${i}]`;
  const o = objectAt(v, what);
  const key = keyFromJson(o['key'], `${what}.key`);
  const operator = o['operator'] ?? 'equal';
  if (!OPERATORS.includes(operator as CompareOperator)) throw new HttpError('bad_request', `${what}.operator is one of ${OPERATORS.join(', ')}`);
  if (o['target'] === 'revision') {
    onlyFields(o, ['key', 'target', 'operator', 'revision'], what);
    return { target: 'revision', key, operator: operator as CompareOperator, revision: revisionOf(o['revision'], `${what}.revision`) };
  }
  if (o['target'] === 'value') {
    onlyFields(o, ['key', 'target', 'operator', 'value'], what);
    return { target: 'value', key, operator: operator as CompareOperator, value: valueFromJson(o['value'], `${what}.value`) };
  }
  throw new HttpError('bad_request', `${what}.target is revision or value`);
}

function opOf(v: unknown, what: string): TxnOp {
  const o = objectAt(v, what);
  const key = keyFromJson(o['key'], `${what}.key`);
  switch (o['op']) {
    case 'put': {
      onlyFields(o, ['op', 'key', 'value', 'lease'], what);
      const value = valueFromJson(o['value'], `${what}.value`);
      const lease = leaseOf(o['lease'], `${what}.lease`);
      return lease === undefined ? { op: 'put', key, value } : { op: 'put', key, value, lease };
    }
    case 'delete':
    case 'get':
      onlyFields(o, ['op', 'key'], what);
      return { op: o['op'], key };
    default:
      throw new HttpError('bad_request', `${what}.op is put, delete or get`);
  }
}

/** A transaction from its JSON body; the values together are at most `valueBytesMax`. */
export function txnOf(body: Record<string, unknown>, tag: RequestTag | null, valueBytesMax: number): TxnCommand {
  onlyFields(body, ['compare', 'success', 'failure'], 'the transaction');
  const compare = arrayOf(body, 'compare', txnComparesMax).map(compareOf);
  const success = arrayOf(body, 'success', txnOpsMax).map((v, i) => opOf(v, `success[${i}]`));
  const failure = arrayOf(body, 'failure', txnOpsMax).map((v, i) => opOf(v, `failure[${i}]`));
  const txn: TxnCommand = { op: 'txn', compare, success, failure, tag };
  const problem = commandProblem(txn);
  if (problem !== null) throw new HttpError('bad_request', problem);
  let bytes = 0;
  for (const k of compare) if (k.target === 'value') bytes += k.value.length;
  for (const o of [...success, ...failure]) if (o.op === 'put') bytes += o.value.length;
  if (bytes > valueBytesMax) throw new HttpError('value_too_large', `the transaction's values are ${bytes} bytes together; the limit is ${valueBytesMax} (http.value_bytes_max)`);
  return txn;
}

/** The answer of an applied transaction; a refused one is an error. */
export function txnAnswer(r: Extract<KvResult, { op: 'txn' }>): object {
  if (!r.ok) {
    if (r.error === 'lease_not_found') throw new HttpError('lease_not_found', `lease ${r.lease} does not exist; nothing was applied`);
    throw new HttpError('txn_reads_too_large', 'the gets of this transaction would return too many bytes; nothing was applied');
  }
  return {
    succeeded: r.succeeded,
    revision: r.revision,
    results: r.results.map((o) => {
      if (o.op === 'put') return { op: 'put' };
      if (o.op === 'delete') return { op: 'delete', deleted: o.deleted };
      return o.found ? { op: 'get', found: true, value: valueToJson(o.value), revision: o.revision } : { op: 'get', found: false };
    }),
  };
}

export async function postTxn(ctx: Koa.Context, gateway: Gateway, valueBytesMax: number): Promise<void> {
  const type = ctx.get('Content-Type');
  if (type !== '' && !/^application\/json\s*(;|$)/i.test(type)) throw new HttpError('unsupported_media_type', 'a transaction is application/json');
  const tag = tagOf(ctx);
  gateway.redirectWriteIfFollower(ctx);
  // Base64 takes 4 bytes for every 3, and keys and field names come besides.
  const body = await readBody(ctx, Math.ceil((valueBytesMax * 4) / 3) + 8 * 1024 * 1024);
  const txn = txnOf(objectFromJson(body, 'the transaction'), tag, valueBytesMax);
  answerJson(ctx, 200, txnAnswer(await gateway.propose(ctx, 'txn', txn)));
}
