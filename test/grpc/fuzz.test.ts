// gRPC requests fuzzed against a live node: well-formed messages with random
// fields, mutated encodings and random bytes over a raw HTTP/2 stream, odd paths,
// headers and framing. Every answer must carry a status the README documents for
// client input (never INTERNAL or UNKNOWN), and the node must keep serving, print
// only JSON and keep its memory bounded.
import assert from 'node:assert/strict';
import type { ClientHttp2Session } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { loadKvProto } from '../../src/grpc/proto.js';
import { ProcessCluster } from '../e2e/process-cluster.js';
import { fuzzRuns, fuzzTimeoutMs } from '../fuzz-budget.js';
import { grpcFrame, rawGrpcCall, rawSession } from './raw-http2.js';

const ELECTION_MS = 500;
const RSS_GROWTH_MAX_BYTES = 256 * 1024 * 1024;

/** What client input may be answered with: the catalog's codes, UNIMPLEMENTED for an unknown method or encoding. */
const DOCUMENTED: ReadonlySet<number> = new Set([
  grpc.status.OK,
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.UNIMPLEMENTED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
]);

/**
 * grpc-js answers two kinds of bad client input INTERNAL itself, before any
 * interceptor or handler of ours sees the call (README "Security"): a malformed
 * grpc-timeout header, and a compressed body that does not inflate.
 */
const GRPC_JS_INTERNAL = /^(Invalid grpc-timeout value|Failed to decompress message)/;

function documented(status: number, message: string): boolean {
  return DOCUMENTED.has(status) || (status === grpc.status.INTERNAL && GRPC_JS_INTERNAL.test(message));
}

type Method = 'Put' | 'Get' | 'Delete';
const service = (): grpc.ServiceDefinition => {
  const pkg = loadKvProto().definition['kvstore.v1.KV'] as unknown as grpc.ServiceDefinition;
  return pkg;
};

// Mostly valid (so that the property reaches the handlers' success paths too), sometimes at or past a limit.
const keyArb = fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 16 }) }, { weight: 1, arbitrary: fc.constantFrom(new Uint8Array(0), new Uint8Array(4096).fill(97), new Uint8Array(4097).fill(98)) });
const revisionArb = fc.option(fc.oneof(fc.nat(100), fc.constant(Number.MAX_SAFE_INTEGER)), { nil: undefined, freq: 2 });
const requestIdArb = fc.oneof({ weight: 3, arbitrary: fc.constant('') }, { weight: 2, arbitrary: fc.string({ maxLength: 40 }) }, { weight: 1, arbitrary: fc.constant('x'.repeat(300)) });

/** A request as an object for the method's serializer: random but well-typed fields. */
const messageArb: fc.Arbitrary<{ method: Method; message: Record<string, unknown> }> = fc.oneof(
  fc.record({ key: keyArb, value: fc.uint8Array({ maxLength: 64 }), expected_revision: revisionArb, create_only: fc.boolean(), request_id: requestIdArb }).map((m) => ({ method: 'Put' as const, message: m })),
  fc.record({ key: keyArb, consistency: fc.constantFrom('LINEARIZABLE', 'LEASE', 'STALE') }).map((m) => ({ method: 'Get' as const, message: m })),
  fc.record({ key: keyArb, expected_revision: revisionArb, request_id: requestIdArb }).map((m) => ({ method: 'Delete' as const, message: m })),
);

const mutationArb = fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), op: fc.constantFrom('flip', 'drop', 'insert') }), { minLength: 1, maxLength: 4 });

function mutate(bytes: Uint8Array, mutations: readonly { at: number; byte: number; op: string }[]): Uint8Array {
  const out = [...bytes];
  for (const m of mutations) {
    const i = out.length === 0 ? 0 : m.at % out.length;
    if (m.op === 'insert' || out.length === 0) out.splice(i, 0, m.byte);
    else if (m.op === 'drop') out.splice(i, 1);
    else out[i] = out[i]! ^ (m.byte | 1);
  }
  return Uint8Array.from(out);
}

/** A whole raw request: path, body (framed or not), headers. */
const rawArb = fc.record({
  path: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('/kvstore.v1.KV/Put', '/kvstore.v1.KV/Get', '/kvstore.v1.KV/Delete') },
    { weight: 1, arbitrary: fc.constantFrom('/kvstore.v1.KV/Nope', '/grpc.health.v1.Health/Check', '/nope', '/', '/kvstore.v1.KV/') },
  ),
  body: fc.oneof(
    { weight: 3, arbitrary: fc.tuple(messageArb, mutationArb).map(([m, mu]) => grpcFrame(mutate(service()[m.method]!.requestSerialize(m.message), mu))) },
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => grpcFrame(b)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 1, arbitrary: fc.tuple(fc.uint8Array({ maxLength: 16 }), fc.nat(1 << 24)).map(([b, n]) => grpcFrame(b, n)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.concat([Buffer.from([1]), grpcFrame(b).subarray(1)])) },
  ),
  headers: fc.record(
    {
      'content-type': fc.constantFrom('application/grpc', 'application/grpc+proto', 'application/json', 'text/plain'),
      'grpc-encoding': fc.constantFrom('identity', 'gzip', 'snappy'),
      'grpc-timeout': fc.constantFrom('1S', '100m', '0n', 'xyz'),
      authorization: fc.constantFrom('Bearer x', 'garbage'),
    },
    { requiredKeys: [] },
  ),
});

describe('gRPC fuzzing against a live node', { concurrency: false, timeout: fuzzTimeoutMs(120_000) }, () => {
  let c: ProcessCluster;
  let session: ClientHttp2Session;
  let rssBefore: number;
  before(async () => {
    c = await ProcessCluster.start(1, ELECTION_MS);
    await c.waitForLeader(20 * ELECTION_MS);
    session = await rawSession(c.node('n1').grpcPort);
    rssBefore = await c.residentBytes('n1');
  });
  after(async () => {
    session?.close();
    await c?.stop();
  });

  test('well-formed messages with random fields are answered with documented statuses', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(messageArb, async ({ method, message }) => {
        const a = await rawGrpcCall(session, `/kvstore.v1.KV/${method}`, grpcFrame(service()[method]!.requestSerialize(message)));
        assert.ok(a.grpcStatus !== null && DOCUMENTED.has(a.grpcStatus), `${method} ${JSON.stringify(message)} → ${a.grpcStatus} ${a.grpcMessage}`);
        seen.add(a.grpcStatus);
      }),
      { numRuns: fuzzRuns(60) },
    );
    assert.ok(seen.has(grpc.status.OK) && seen.has(grpc.status.INVALID_ARGUMENT), `statuses seen: ${[...seen].join(',')}`);
  });

  test('mutated encodings, random bytes, broken framing, odd paths and headers over raw HTTP/2: documented statuses only', async () => {
    await fc.assert(
      fc.asyncProperty(rawArb, async (r) => {
        const a = await rawGrpcCall(session, r.path, r.body, r.headers);
        // A non-gRPC content type is refused at the HTTP level (415), as gRPC specifies.
        if (a.grpcStatus === null) assert.ok(a.httpStatus === 415 || a.httpStatus === 404, `${JSON.stringify(r.path)} → HTTP ${a.httpStatus} without grpc-status`);
        else assert.ok(documented(a.grpcStatus, a.grpcMessage), `${r.path} ${Buffer.from(r.body).toString('hex')} ${JSON.stringify(r.headers)} → ${a.grpcStatus} ${a.grpcMessage}`);
      }),
      { numRuns: fuzzRuns(60) },
    );
  });

  test('afterwards the node serves, printed only JSON, and its memory is bounded', async () => {
    assert.equal((await fetch(c.url('n1', '/healthz'))).status, 200);
    const w = await c.put('n1', 'after-grpc-fuzz', 'ok');
    assert.equal(w.status, 200);
    assert.deepEqual(c.nonJsonLines('n1'), []);
    const rss = await c.residentBytes('n1');
    assert.ok(rss - rssBefore < RSS_GROWTH_MAX_BYTES, `RSS grew from ${rssBefore} to ${rss}`);
  });
});
