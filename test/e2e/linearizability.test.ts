import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { createKvClient } from '../../src/grpc/proto.js';
import type { KVClient } from '../../src/grpc/generated/kvstore/v1/KV.js';
import { checkLinearizable, type HistoryOp, type HistoryOperation, type HistoryOutput, type KvOperation, type ListedEntry, type Outcome, type TxnOp, type TxnOpOutput } from '../../sim/linearizability.js';
import type { TxnOpResult__Output } from '../../src/grpc/generated/kvstore/v1/TxnOpResult.js';
import { Prng } from '../../sim/prng.js';
import { ProcessCluster } from './process-cluster.js';

const ELECTION_MS = 500;
const KEYS = ['a', 'b', 'c'];
const CLIENTS = 6;
/** The clients run at least this long (the faults happen inside it), then until the history is rich enough to check. */
const RUN_MS = 12_000;
/** ...but never longer: a cluster that cannot reach the floors in this time fails them. */
const RUN_MAX_MS = 90_000;
const ATTEMPT_TIMEOUT_MS = 2_000;
const OP_DEADLINE_MS = 8_000;

/** Logical time: call and return events of all clients, in the order this process saw them. */
let clock = 0;

/** One HTTP attempt at a node, following a redirect to the leader once. */
async function send(url: string, init: RequestInit): Promise<Response> {
  const r = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
  if (r.status !== 307) return r;
  await r.arrayBuffer();
  return fetch(r.headers.get('location')!, { ...init, redirect: 'manual', signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS) });
}

const fromJsonKey = (k: string): string => Buffer.from(k.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const unb64 = (s: string): string => Buffer.from(s, 'base64').toString();

function txnOutputOf(succeeded: boolean, revision: number, results: readonly TxnOpOutput[]): HistoryOutput {
  return { kind: 'txn', succeeded, revision, results };
}

/** One REST attempt at a transaction or a listing page. */
async function restMultiKey(c: ProcessCluster, target: string, input: Exclude<HistoryOperation, KvOperation>, idempotencyKey: string): Promise<HistoryOutput | null> {
  if (input.kind === 'list') {
    const q = new URLSearchParams({ limit: String(input.limit), consistency: 'linearizable' });
    if (input.after !== null) q.set('page_token', Buffer.from(input.after).toString('base64url'));
    const r = await send(c.url(target, `/v1/kv/${encodeURIComponent(input.prefix)}?list&${q}`), { method: 'GET' });
    if (r.status !== 200) return r.arrayBuffer().then(() => null);
    const j = (await r.json()) as { revision: number; entries: { key: string; value: string; revision: number }[]; next_page_token: string | null };
    const entries: ListedEntry[] = j.entries.map((e) => ({ key: fromJsonKey(e.key), value: unb64(e.value), revision: e.revision }));
    return { kind: 'list', revision: j.revision, entries, more: j.next_page_token !== null };
  }
  const op = (o: TxnOp): object => (o.op === 'put' ? { op: 'put', key: o.key, value: b64(o.value) } : { op: o.op, key: o.key });
  const body = { compare: input.compare.map((k) => ({ key: k.key, target: k.target, operator: k.operator, ...(k.target === 'revision' ? { revision: k.revision } : { value: b64(k.value ?? '') }) })), success: input.success.map(op), failure: input.failure.map(op) };
  const r = await send(c.url(target, '/v1/txn'), { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey }, body: JSON.stringify(body) });
  if (r.status !== 200) return r.arrayBuffer().then(() => null);
  const j = (await r.json()) as { succeeded: boolean; revision: number; results: { op: 'put' | 'delete' | 'get'; deleted?: boolean; found?: boolean; value?: string; revision?: number }[] };
  return txnOutputOf(j.succeeded, j.revision, j.results.map((x): TxnOpOutput => (x.op === 'put' ? { op: 'put' } : x.op === 'delete' ? { op: 'delete', deleted: x.deleted! } : x.found ? { op: 'get', found: true, value: unb64(x.value!), revision: x.revision! } : { op: 'get', found: false })));
}

/** One REST attempt: an answer, or null to retry (503 not applied, 504 maybe applied). */
async function restAttempt(c: ProcessCluster, target: string, input: HistoryOperation, idempotencyKey: string): Promise<HistoryOutput | null> {
  if (input.kind === 'txn' || input.kind === 'list') return restMultiKey(c, target, input, idempotencyKey);
  const path = `/v1/kv/${encodeURIComponent(input.key)}`;
  let r: Response;
  if (input.kind === 'get') {
    r = await send(c.url(target, `${path}?consistency=linearizable`), { method: 'GET' });
  } else {
    const headers: Record<string, string> = { 'Idempotency-Key': idempotencyKey };
    if (input.ifRevision !== undefined) headers['If-Match'] = `"${input.ifRevision}"`;
    if (input.kind === 'put' && input.ifAbsent) headers['If-None-Match'] = '*';
    r = await send(c.url(target, path), { method: input.kind === 'put' ? 'PUT' : 'DELETE', headers, ...(input.kind === 'put' ? { body: input.value } : {}) });
  }
  const text = await r.text();
  if (input.kind === 'get') {
    if (r.status === 200) return { kind: 'get', found: true, value: text, revision: Number(/"(\d+)"/.exec(r.headers.get('etag')!)![1]) };
    if (r.status === 404) return { kind: 'get', found: false };
    return null;
  }
  if (r.status === 200) {
    const body = JSON.parse(text) as { revision: number; deleted?: boolean };
    return input.kind === 'put' ? { kind: 'put', revision: body.revision } : { kind: 'delete', deleted: body.deleted!, revision: body.revision };
  }
  if (r.status === 412) {
    const etag = r.headers.get('etag');
    return { kind: 'precondition_failed', currentRevision: etag === null ? null : Number(/"(\d+)"/.exec(etag)![1]) };
  }
  return null;
}

/** One gRPC attempt (any node: followers forward to the leader): an answer, or null to retry. */
function grpcAttempt(client: KVClient, input: HistoryOperation, requestId: string): Promise<HistoryOutput | null> {
  const options = { deadline: Date.now() + ATTEMPT_TIMEOUT_MS };
  if (input.kind === 'list') {
    return new Promise((resolve) =>
      client.Range({ prefix: Buffer.from(input.prefix), limit: input.limit, page_token: input.after === null ? Buffer.alloc(0) : Buffer.from(input.after), consistency: 'LINEARIZABLE' }, options, (e, r) =>
        resolve(e ? null : { kind: 'list', revision: Number(r!.revision), entries: r!.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), revision: Number(kv.revision) })), more: r!.next_page_token.length > 0 }),
      ),
    );
  }
  if (input.kind === 'txn') {
    const op = (o: TxnOp) => (o.op === 'put' ? { put: { key: Buffer.from(o.key), value: Buffer.from(o.value) } } : o.op === 'delete' ? { delete: { key: Buffer.from(o.key) } } : { get: { key: Buffer.from(o.key) } });
    const compare = input.compare.map((k) => ({ key: Buffer.from(k.key), target: k.target === 'revision' ? ('REVISION' as const) : ('VALUE' as const), operator: k.operator.toUpperCase() as 'EQUAL', revision: k.revision ?? 0, value: Buffer.from(k.value ?? '') }));
    const resultOf = (x: TxnOpResult__Output): TxnOpOutput => (x.put ? { op: 'put' } : x.delete ? { op: 'delete', deleted: x.delete.deleted } : x.get!.found ? { op: 'get', found: true, value: x.get!.value.toString(), revision: Number(x.get!.revision) } : { op: 'get', found: false });
    return new Promise((resolve) =>
      client.Txn({ compare, success: input.success.map(op), failure: input.failure.map(op), request_id: requestId }, options, (e, r) => resolve(e ? null : txnOutputOf(r!.succeeded, Number(r!.revision), r!.results.map(resultOf)))),
    );
  }
  const key = Buffer.from(input.key);
  return new Promise((resolve) => {
    const failed = (e: grpc.ServiceError): void => {
      if (e.code === grpc.status.NOT_FOUND && input.kind === 'get') return resolve({ kind: 'get', found: false });
      if (e.code === grpc.status.FAILED_PRECONDITION) {
        const rev = e.metadata.get('x-kvstore-revision')[0];
        return resolve({ kind: 'precondition_failed', currentRevision: rev === undefined ? null : Number(rev) });
      }
      // UNAVAILABLE: not applied; DEADLINE_EXCEEDED / UNKNOWN: maybe applied. Both are retried.
      resolve(null);
    };
    if (input.kind === 'get') {
      client.Get({ key, consistency: 'LINEARIZABLE' }, options, (e, r) => (e ? failed(e) : resolve({ kind: 'get', found: true, value: Buffer.from(r!.value).toString(), revision: Number(r!.revision) })));
    } else if (input.kind === 'put') {
      const req = { key, value: Buffer.from(input.value), create_only: input.ifAbsent === true, request_id: requestId, ...(input.ifRevision === undefined ? {} : { expected_revision: input.ifRevision }) };
      client.Put(req, options, (e, r) => (e ? failed(e) : resolve({ kind: 'put', revision: Number(r!.revision) })));
    } else {
      const req = { key, request_id: requestId, ...(input.ifRevision === undefined ? {} : { expected_revision: input.ifRevision }) };
      client.Delete(req, options, (e, r) => (e ? failed(e) : resolve({ kind: 'delete', deleted: r!.deleted, revision: Number(r!.revision) })));
    }
  });
}

/**
 * Runs one operation to an outcome the checker understands: ok with the answer;
 * failed when no attempt can have been applied (refused, 503, 4xx before the log);
 * indeterminate when the client gave up after an attempt that may have been applied.
 * Writes are retried with the same Idempotency-Key, so a retry never applies twice.
 */
async function run(c: ProcessCluster, home: string, input: HistoryOperation, idempotencyKey: string, viaGrpc: Map<string, KVClient> | null): Promise<Outcome> {
  const started = Date.now();
  let reached = false;
  let target = home;
  const ids = c.nodes.map((n) => n.id);
  while (Date.now() - started < OP_DEADLINE_MS) {
    const read = input.kind === 'get' || input.kind === 'list';
    if (!read) reached = true;
    try {
      const output = viaGrpc === null ? await restAttempt(c, target, input, idempotencyKey) : await grpcAttempt(viaGrpc.get(target)!, input, idempotencyKey);
      if (output !== null) return { status: 'ok', output, returnAt: clock++ };
    } catch {
      // Connection refused, reset or timed out: the node may be down or paused.
    }
    target = ids[(ids.indexOf(target) + 1) % ids.length]!;
    await delay(50);
  }
  return input.kind !== 'get' && input.kind !== 'list' && reached ? { status: 'indeterminate' } : { status: 'failed' };
}

/**
 * A put of a fresh key on a 1-second lease nobody keeps alive (REST): the leader
 * expires it. ok with the answer; failed when the lease had already expired (404,
 * nothing written) or no attempt can have reached a log; indeterminate otherwise.
 */
async function leasePut(c: ProcessCluster, home: string, key: string, value: string, lease: number): Promise<Outcome> {
  const started = Date.now();
  let reached = false;
  const ids = c.nodes.map((n) => n.id);
  let target = home;
  while (Date.now() - started < OP_DEADLINE_MS) {
    reached = true;
    try {
      const r = await send(c.url(target, `/v1/kv/${encodeURIComponent(key)}?lease=${lease}`), { method: 'PUT', headers: { 'Idempotency-Key': `e2e-${value}` }, body: value });
      const body = (await r.json()) as { revision?: number; error?: string };
      if (r.status === 200) return { status: 'ok', output: { kind: 'put', revision: body.revision! }, returnAt: clock++ };
      if (r.status === 404 && body.error === 'lease_not_found') return { status: 'failed' };
    } catch {
      // Down or paused: try another node.
    }
    target = ids[(ids.indexOf(target) + 1) % ids.length]!;
    await delay(50);
  }
  return reached ? { status: 'indeterminate' } : { status: 'failed' };
}

/** A 1-second lease, or null if none could be granted now. */
async function grantLease(c: ProcessCluster, home: string): Promise<number | null> {
  try {
    const r = await send(c.url(home, '/v1/leases'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ttl: 1 }) });
    return r.status === 200 ? ((await r.json()) as { id: number }).id : (await r.arrayBuffer(), null);
  } catch {
    return null;
  }
}

let cluster: ProcessCluster | null = null;
const grpcClients = new Map<string, KVClient>();
after(async () => {
  for (const g of grpcClients.values()) g.close();
  await cluster?.stop();
});

test('linearizability on a real cluster: REST and gRPC clients on every node, with listings, transactions and lease expiry, while the leader is killed and a follower paused', async (t) => {
  const c = await ProcessCluster.start(3, ELECTION_MS);
  cluster = c;
  for (const n of c.nodes) grpcClients.set(n.id, createKvClient(`127.0.0.1:${n.grpcPort}`));
  await c.waitForLeader(20 * ELECTION_MS);
  const rng = new Prng(20261125, 'e2e-linearizability');
  const history: HistoryOp[] = [];
  const seenRevision = new Map<string, number>();
  let nextId = 0;
  const expiries: HistoryOp[] = [];
  const ok = (): HistoryOp[] => history.filter((h) => h.outcome.status === 'ok');
  const done = (kind: string): number => ok().filter((h) => h.input.kind === kind).length;
  // Lease keys that went from a listing: expired on the leader's clock, as one of the writes the checker places.
  const listedLeaseKeys = (): Set<string> =>
    new Set(ok().flatMap((h) => (h.outcome.status === 'ok' && h.outcome.output.kind === 'list' ? h.outcome.output.entries.map((e) => e.key).filter((key) => key.startsWith('l-')) : [])));
  /** The floors that make the check meaningful: enough answered operations of every kind, over both APIs. */
  const floors = (): string | null => {
    if (ok().length <= 200) return `only ${ok().length} operations succeeded`;
    if (done('list') <= 20 || done('txn') <= 20) return `listings ${done('list')}, transactions ${done('txn')}`;
    if (ok().filter((h) => h.client % 2 === 1).length <= 100) return 'too few gRPC operations succeeded';
    if (expiries.length <= 5 || listedLeaseKeys().size <= 5) return `only ${expiries.length} lease keys, ${listedLeaseKeys().size} listed`;
    return null;
  };
  const startedAt = Date.now();
  let faultsDone = false;
  let floorsCheckedAt = -1;
  let floorsMissed: string | null = 'not checked yet';
  const running = (): boolean => {
    const elapsed = Date.now() - startedAt;
    if (elapsed < RUN_MS || !faultsDone) return elapsed < RUN_MAX_MS;
    if (floorsCheckedAt !== history.length) {
      floorsCheckedAt = history.length;
      floorsMissed = floors();
    }
    return floorsMissed !== null && elapsed < RUN_MAX_MS;
  };
  const client = async (k: number): Promise<void> => {
    const home = c.nodes[k % c.nodes.length]!.id;
    let seq = 0;
    while (running()) {
      const key = KEYS[rng.int(KEYS.length)]!;
      const value = `c${k}-${seq++}`;
      const roll = rng.int(100);
      if (roll < 4) {
        // A fresh key on a lease nobody keeps alive; its expiry may delete it any time after the put.
        const lease = await grantLease(c, home);
        if (lease === null) continue;
        const leaseKey = `l-${value}`;
        const callAt = clock++;
        const outcome = await leasePut(c, home, leaseKey, value, lease);
        history.push({ id: nextId++, client: k, input: { kind: 'put', key: leaseKey, value }, callAt, outcome });
        if (outcome.status !== 'failed') expiries.push({ id: -1 - expiries.length, client: -1, input: { kind: 'delete', key: leaseKey }, callAt, outcome: { status: 'indeterminate' } });
        continue;
      }
      const seen = seenRevision.get(key);
      const other = KEYS[(KEYS.indexOf(key) + 1 + rng.int(KEYS.length - 1)) % KEYS.length]!;
      // The transaction shape the checker knows exactly even unanswered: one CAS comparison, a two-key write, reads if it fails.
      const txn: HistoryOperation = {
        kind: 'txn',
        compare: [{ key, target: 'revision', operator: 'equal', revision: seen ?? 0 }],
        success: [{ op: 'put', key, value }, { op: 'put', key: other, value: `${value}+` }],
        failure: [{ op: 'get', key }, { op: 'get', key: other }],
      };
      const input: HistoryOperation =
        roll < 28
          ? { kind: 'get', key }
          : roll < 36
            ? { kind: 'list', prefix: '', after: null, limit: 10 }
            : roll < 40
              ? { kind: 'list', prefix: '', after: KEYS[rng.int(KEYS.length)]!, limit: 1 }
              : roll < 62
                ? { kind: 'put', key, value }
                : roll < 72
                  ? txn
                  : roll < 82 && seen !== undefined
                    ? { kind: 'put', key, value, ifRevision: seen }
                    : roll < 90
                      ? { kind: 'put', key, value, ifAbsent: true }
                      : { kind: 'delete', key };
      const callAt = clock++;
      // Even clients speak REST, odd ones gRPC.
      const outcome = await run(c, home, input, `e2e-${value}`, k % 2 === 0 ? null : grpcClients);
      history.push({ id: nextId++, client: k, input, callAt, outcome });
      if (outcome.status === 'ok') {
        const o = outcome.output;
        if (o.kind === 'get' && o.found) seenRevision.set(key, o.revision);
        if (o.kind === 'put') seenRevision.set(key, o.revision);
        if (o.kind === 'txn' && o.succeeded) seenRevision.set(key, o.revision);
        if (o.kind === 'list') for (const e of o.entries) seenRevision.set(e.key, e.revision);
      }
    }
  };

  const faults = async (): Promise<void> => {
    await delay(2_000);
    const leader = await c.waitForLeader(20 * ELECTION_MS);
    await c.kill(leader);
    await delay(2_500);
    c.restart(leader);
    await delay(2_000);
    const now = await c.waitForLeader(20 * ELECTION_MS);
    const follower = c.nodes.map((n) => n.id).find((id) => id !== now)!;
    c.pause(follower);
    await delay(2_000);
    c.resume(follower);
    faultsDone = true;
  };

  await Promise.all([...Array.from({ length: CLIENTS }, (_, k) => client(k)), faults()]);

  assert.equal(floors(), null);
  t.diagnostic(`${ok().length} operations answered in ${((Date.now() - startedAt) / 1000).toFixed(1)} s (${done('list')} listing pages, ${done('txn')} transactions), ${history.length - ok().length} failed or unanswered`);
  t.diagnostic(`${expiries.length} lease keys written, ${listedLeaseKeys().size} of them seen in listings`);
  // Their leases were never kept alive: a few TTLs later a listing of everything shows none of them.
  const leader = await c.waitForLeader(20 * ELECTION_MS);
  await c.waitFor('every lease key to expire', 20 * ELECTION_MS, async () => {
    const r = (await (await fetch(c.url(leader, '/v1/kv/l-?list&keys_only&limit=10000'))).json()) as { entries: unknown[] };
    return r.entries.length === 0 ? true : undefined;
  });
  const result = checkLinearizable([...history, ...expiries]);
  assert.ok(result.ok, result.ok ? '' : result.explanation);

  // Exactly-once: a value is written by one put only, so every read of it must show
  // one revision; a retried put applied twice would show two.
  const revisionsOf = new Map<string, Set<number>>();
  for (const h of history) {
    if (h.outcome.status !== 'ok' || h.outcome.output.kind !== 'get' || !h.outcome.output.found) continue;
    const set = revisionsOf.get(h.outcome.output.value) ?? new Set<number>();
    set.add(h.outcome.output.revision);
    revisionsOf.set(h.outcome.output.value, set);
  }
  for (const [value, revs] of revisionsOf) assert.equal(revs.size, 1, `value ${value} was read at revisions ${[...revs].join(', ')}: applied twice`);
});
