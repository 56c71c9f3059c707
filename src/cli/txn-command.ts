// `kvstore txn [FILE]`: one transaction, written as the JSON body of POST /v1/txn.
import { readFile } from 'node:fs/promises';
import type { TxnCompareInput, TxnInput, TxnOpInput } from '../client/common.js';
import type { KvClient } from '../client/rest-client.js';
import { EXIT_FAILED, EXIT_OK, reportError, type CliIo } from './cli-io.js';

class TxnFormError extends Error {}

function objectAt(v: unknown, what: string, fields: readonly string[]): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TxnFormError(`${what} must be an object`);
  const o = v as Record<string, unknown>;
  for (const f of Object.keys(o)) if (!fields.includes(f)) throw new TxnFormError(`${what} has an unknown field ${JSON.stringify(f)}`);
  return o;
}

/** A key as REST takes it: `%XX` is that byte, anything else is UTF-8 text. */
function keyOf(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || v === '') throw new TxnFormError(`${what} must be a key (text, %XX for any byte)`);
  if (v.replace(/%[0-9A-Fa-f]{2}/g, '').includes('%')) throw new TxnFormError(`${what} has a % not followed by two hex digits`);
  const parts: Buffer[] = [];
  let at = 0;
  for (const m of v.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    parts.push(Buffer.from(v.slice(at, m.index), 'utf8'), Buffer.from([parseInt(m[1]!, 16)]));
    at = m.index + 3;
  }
  parts.push(Buffer.from(v.slice(at), 'utf8'));
  return Buffer.concat(parts);
}

/** A value as REST takes it: base64. */
function valueOf(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) throw new TxnFormError(`${what} must be base64 (the standard alphabet, padded)`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

function compareOf(v: unknown, i: number): TxnCompareInput {
  const what = `compare[${i}]`;
  const o = objectAt(v, what, ['key', 'target', 'operator', 'revision', 'value']);
  const key = keyOf(o['key'], `${what}.key`);
  const operator = o['operator'] ?? 'equal';
  if (operator !== 'equal' && operator !== 'not_equal' && operator !== 'less' && operator !== 'greater') throw new TxnFormError(`${what}.operator is equal, not_equal, less or greater`);
  if (o['target'] === 'revision' && o['value'] === undefined) {
    if (!Number.isSafeInteger(o['revision']) || (o['revision'] as number) < 0) throw new TxnFormError(`${what}.revision must be a non-negative integer`);
    return { key, target: 'revision', operator, revision: o['revision'] as number };
  }
  if (o['target'] === 'value' && o['revision'] === undefined) return { key, target: 'value', operator, value: valueOf(o['value'], `${what}.value`) };
  throw new TxnFormError(`${what}.target is revision (with revision) or value (with value)`);
}

function opOf(v: unknown, what: string): TxnOpInput {
  const o = objectAt(v, what, ['op', 'key', 'value', 'lease']);
  const key = keyOf(o['key'], `${what}.key`);
  if (o['op'] === 'put') {
    const lease = o['lease'] ?? 0;
    if (!Number.isSafeInteger(lease) || (lease as number) < 0) throw new TxnFormError(`${what}.lease must be a lease id`);
    return { op: 'put', key, value: valueOf(o['value'], `${what}.value`), ...(lease === 0 ? {} : { lease: lease as number }) };
  }
  if ((o['op'] === 'delete' || o['op'] === 'get') && o['value'] === undefined && o['lease'] === undefined) return { op: o['op'], key };
  throw new TxnFormError(`${what}.op is put (key, value, lease), delete or get (key)`);
}

function listOf(o: Record<string, unknown>, field: string): unknown[] {
  const v = o[field] ?? [];
  if (!Array.isArray(v)) throw new TxnFormError(`${field} must be an array`);
  return v;
}

/** The transaction a JSON text describes, or what is wrong with it. */
export function txnInputOf(text: string): TxnInput | { readonly error: string } {
  try {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new TxnFormError(`the transaction is not JSON: ${(e as Error).message}`);
    }
    const o = objectAt(parsed, 'the transaction', ['compare', 'success', 'failure']);
    return {
      compare: listOf(o, 'compare').map(compareOf),
      success: listOf(o, 'success').map((v, i) => opOf(v, `success[${i}]`)),
      failure: listOf(o, 'failure').map((v, i) => opOf(v, `failure[${i}]`)),
    };
  } catch (e) {
    if (e instanceof TxnFormError) return { error: e.message };
    throw e;
  }
}

/** `txn [FILE]` (stdin without FILE, or with -): prints SUCCESS or FAILURE, the revision, then one line per result. */
export async function txnCommand(client: KvClient, io: CliIo, source: string | undefined, idempotencyKey: string | undefined, readStdin: () => Promise<Uint8Array>, usageError: (m: string) => number): Promise<number> {
  let text: string;
  try {
    text = Buffer.from(source === undefined || source === '-' ? await readStdin() : await readFile(source)).toString('utf8');
  } catch (e) {
    io.stderr.write(`Error: cannot read ${source}: ${(e as Error).message}\n`);
    return EXIT_FAILED;
  }
  const input = txnInputOf(text);
  if ('error' in input) return usageError(input.error);
  const r = await client.txn(input, idempotencyKey === undefined ? {} : { idempotencyKey });
  if (!r.ok) return reportError(io, r);
  io.stdout.write(`${r.succeeded ? 'SUCCESS' : 'FAILURE'} revision ${r.revision}\n`);
  for (const o of r.results) {
    if (o.op === 'put') io.stdout.write('put\n');
    else if (o.op === 'delete') io.stdout.write(`delete ${o.deleted ? 'deleted' : 'not-found'}\n`);
    else if (!o.found) io.stdout.write('get not-found\n');
    else {
      io.stdout.write(`get ${o.revision}\t`);
      io.stdout.write(o.value);
      io.stdout.write('\n');
    }
  }
  return EXIT_OK;
}
