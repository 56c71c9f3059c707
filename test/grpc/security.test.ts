// gRPC authentication, roles, TLS and the listener's limits, on a real socket in
// this process (the node behind is a stand-in: these answers never reach Raft).
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { tokenHash } from '../../src/auth/tokens.js';
import { KvGrpcClient } from '../../src/client/index.js';
import type { NodeConfig } from '../../src/config/config.js';
import { RETRY_AFTER_METADATA } from '../../src/grpc/guards.js';
import { createKvClient, loadKvProto } from '../../src/grpc/proto.js';
import { startGrpcServer, type GrpcServerHandle } from '../../src/grpc/server.js';
import { createLogger } from '../../src/log.js';
import { ApiMetrics } from '../../src/metrics/api-metrics.js';
import type { KvNode } from '../../src/node/kv-node.js';
import { readTlsMaterial } from '../../src/tls/tls-material.js';
import { configWith, fakeNode } from '../http/app-harness.js';
import { createPki, type Pki } from '../pki.js';
import { grpcFrame, rawGrpcCall, rawSession } from './raw-http2.js';

const READ = 'read-token-0123456789abcdef';
const WRITE = 'write-token-0123456789abcdef';
const tokens = [
  { name: 'reader', role: 'read', sha256: tokenHash(READ) },
  { name: 'writer', role: 'write', sha256: tokenHash(WRITE) },
];

let pki: Pki;
let otherPki: Pki;
before(() => {
  pki = createPki();
  otherPki = createPki('another-ca');
});
const servers: GrpcServerHandle[] = [];
const channels: grpc.Client[] = [];
const sockets: Socket[] = [];
after(async () => {
  for (const s of sockets) s.destroy();
  for (const c of channels) c.close();
  await Promise.all(servers.map((s) => s.close()));
  pki.remove();
  otherPki.remove();
});

/** Writes and linearizable reads answered as by a stopping node; `hold` keeps reads waiting until released. */
function standIn(): { node: KvNode; held: (() => void)[]; hold: { on: boolean } } {
  const held: (() => void)[] = [];
  const hold = { on: false };
  const stopped = { ok: false, error: { kind: 'stopped' } };
  const node = {
    ...fakeNode,
    propose: (_command: unknown, done: (o: typeof stopped) => void) => done(stopped),
    // Stale reads are served locally (nothing found); the others wait for a Raft that is stopping.
    read: (consistency: string, view: (state: unknown) => unknown, done: (o: unknown) => void) =>
      consistency === 'stale' ? fakeNode.read('stale', view, done) : hold.on ? void held.push(() => done(stopped)) : done(stopped),
  } as unknown as KvNode;
  return { node, held, hold };
}

async function serve(config: NodeConfig, node: KvNode): Promise<{ handle: GrpcServerHandle; address: string; api: ApiMetrics }> {
  const api = new ApiMetrics('n1', () => ({ keys: 0, bytes: 0, sessions: 0, shardRebuilds: 0 }));
  const files = config.grpc.tlsCertFile === null ? null : readTlsMaterial({ certFile: config.grpc.tlsCertFile, keyFile: config.grpc.tlsKeyFile!, caFile: config.grpc.tlsCaFile });
  if (files !== null && !files.ok) throw new Error(files.error);
  const handle = await startGrpcServer({ ...config, grpc: { ...config.grpc, addr: { host: '127.0.0.1', port: 0 } } }, node, createLogger('n1', 'fatal'), api, files?.material ?? null);
  servers.push(handle);
  return { handle, address: `127.0.0.1:${handle.port}`, api };
}

type Unary = (req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void;

function call(address: string, method: 'Get' | 'Put' | 'Delete', token?: string, credentials = grpc.credentials.createInsecure(), consistency = 'STALE'): Promise<grpc.ServiceError | null> {
  const client = createKvClient(address, credentials);
  channels.push(client);
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  const req = method === 'Put' ? { key: Buffer.from('k'), value: Buffer.from('v') } : { key: Buffer.from('k'), consistency };
  return new Promise((resolve) => (client[method] as unknown as Unary).call(client, req, md, { deadline: Date.now() + 5_000 }, (err) => resolve(err)));
}

function healthCheck(address: string): Promise<grpc.ServiceError | null> {
  const pkg = grpc.loadPackageDefinition(loadKvProto().definition) as unknown as { grpc: { health: { v1: { Health: typeof grpc.Client } } } };
  const h = new pkg.grpc.health.v1.Health(address, grpc.credentials.createInsecure()) as grpc.Client & { Check(req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void): void };
  channels.push(h);
  return new Promise((resolve) => h.Check({ service: '' }, { deadline: Date.now() + 5_000 }, (err) => resolve(err)));
}

describe('gRPC bearer tokens and roles', () => {
  test('health stays open; Get needs read, Put and Delete need write', async () => {
    const { address } = await serve(configWith({ auth: { tokens } }), standIn().node);
    assert.equal(await healthCheck(address), null);
    assert.equal((await call(address, 'Get'))?.code, grpc.status.UNAUTHENTICATED);
    assert.equal((await call(address, 'Get', 'nobody-knows-this-token'))?.code, grpc.status.UNAUTHENTICATED);
    assert.equal((await call(address, 'Get', READ))?.code, grpc.status.NOT_FOUND);
    assert.equal((await call(address, 'Put', READ))?.code, grpc.status.PERMISSION_DENIED);
    assert.equal((await call(address, 'Delete', READ))?.code, grpc.status.PERMISSION_DENIED);
    // Past the guards: the stand-in answers as a stopping node.
    assert.equal((await call(address, 'Put', WRITE))?.code, grpc.status.UNAVAILABLE);
  });

  test('KvGrpcClient sends its token and reports the refusals by catalog code', async () => {
    const { address } = await serve(configWith({ auth: { tokens } }), standIn().node);
    const none = new KvGrpcClient({ endpoints: [address], maxAttempts: 1 });
    const reader = new KvGrpcClient({ endpoints: [address], token: READ, maxAttempts: 1 });
    try {
      const r1 = await none.get('k', { consistency: 'stale' });
      assert.ok(!r1.ok && r1.status === 401 && r1.error === 'unauthenticated', JSON.stringify(r1));
      const r2 = await reader.get('k', { consistency: 'stale' });
      assert.ok(!r2.ok && r2.error === 'key_not_found', JSON.stringify(r2));
      const r3 = await reader.put('k', 'v');
      assert.ok(!r3.ok && r3.kind === 'failed' && r3.status === 403 && r3.error === 'permission_denied', JSON.stringify(r3));
    } finally {
      none.close();
      reader.close();
    }
  });
});

describe('gRPC listener limits', () => {
  test('calls beyond grpc.requests_max get RESOURCE_EXHAUSTED with retry-after, and the client retries them', async () => {
    const s = standIn();
    s.hold.on = true;
    const { address } = await serve(configWith({ grpc: { requests_max: 1 } }), s.node);
    const first = call(address, 'Get', undefined, grpc.credentials.createInsecure(), 'LINEARIZABLE');
    for (let deadline = Date.now() + 5_000; s.held.length < 1; await new Promise((r) => setTimeout(r, 5))) assert.ok(Date.now() < deadline, 'the first call never arrived');
    const client = createKvClient(address);
    channels.push(client);
    const trailer = await new Promise<{ code: number; retryAfter: unknown }>((resolve) =>
      (client.Get as unknown as Unary).call(client, { key: Buffer.from('k'), consistency: 'LINEARIZABLE' }, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err) =>
        resolve({ code: err?.code ?? 0, retryAfter: err?.metadata.get(RETRY_AFTER_METADATA)[0] }),
      ),
    );
    assert.deepEqual(trailer, { code: grpc.status.RESOURCE_EXHAUSTED, retryAfter: '1' });
    // The library retries it: released meanwhile, the retry gets the stand-in's answer.
    const lib = new KvGrpcClient({ endpoints: [address], backoffBaseMs: 100 });
    const retried = lib.get('k');
    setTimeout(() => {
      s.hold.on = false;
      for (const release of s.held) release();
    }, 50);
    const r = await retried;
    lib.close();
    assert.ok(!r.ok && r.error === 'no_leader', `expected the stand-in's UNAVAILABLE after a retry, got ${JSON.stringify(r)}`);
    assert.equal((await first)?.code, grpc.status.UNAVAILABLE);
  });

  test('a call whose request message never comes is cut at grpc.body_timeout_ms', async () => {
    const { address } = await serve(configWith({ grpc: { body_timeout_ms: 300 } }), standIn().node);
    const session = await rawSession(Number(address.split(':')[1]));
    try {
      const started = Date.now();
      // Headers, then a frame header announcing 100 bytes of which none arrive.
      const a = await rawGrpcCall(session, '/kvstore.v1.KV/Put', grpcFrame(new Uint8Array(0), 100).subarray(0, 5), {}, 5_000, false);
      assert.equal(a.grpcStatus, grpc.status.DEADLINE_EXCEEDED, a.grpcMessage);
      assert.ok(Date.now() - started >= 250);
    } finally {
      session.close();
    }
  });

  test('sockets beyond grpc.connections_max are dropped; a socket that says nothing is closed at grpc.header_timeout_ms', async () => {
    const { address, api } = await serve(configWith({ grpc: { connections_max: 2, header_timeout_ms: 300 } }), standIn().node);
    const port = Number(address.split(':')[1]);
    const open = (): Promise<{ closedAfterMs: number }> =>
      new Promise((resolve) => {
        const started = Date.now();
        const sock = connect(port, '127.0.0.1');
        sockets.push(sock);
        sock.on('error', () => {});
        sock.resume();
        sock.on('close', () => resolve({ closedAfterMs: Date.now() - started }));
      });
    const silent = [open(), open()];
    await new Promise((r) => setTimeout(r, 50));
    const third = await open();
    assert.ok(third.closedAfterMs < 250, `the third socket was held ${third.closedAfterMs} ms`);
    for (const s of await Promise.all(silent)) assert.ok(s.closedAfterMs >= 250 && s.closedAfterMs < 5_000, `a silent socket closed after ${s.closedAfterMs} ms`);
    const text = await api.registry.metrics();
    assert.match(text, /kvstore_api_connections_refused_total\{api="grpc",reason="too_many_connections",node="n1"\} 1/);
    assert.match(text, /kvstore_api_connections_refused_total\{api="grpc",reason="timeout",node="n1"\} 2/);
  });
});

describe('gRPC over TLS', () => {
  test('TLS with required client certificates: a client without one, or with another CA\'s, is refused', async () => {
    const server = pki.issue('localhost', { dns: ['localhost'], ip: ['127.0.0.1'] });
    const config = configWith({ grpc: { tls_cert_file: server.certFile, tls_key_file: server.keyFile, tls_ca_file: pki.caFile, tls_client_certs: 'required' } });
    const { address } = await serve(config, standIn().node);
    const client = pki.issue('a-client');
    const stranger = otherPki.issue('a-stranger');
    assert.equal((await call(address, 'Get', undefined, grpc.credentials.createSsl(pki.ca, client.key, client.cert)))?.code, grpc.status.NOT_FOUND);
    assert.equal((await call(address, 'Get', undefined, grpc.credentials.createSsl(pki.ca)))?.code, grpc.status.UNAVAILABLE, 'no client certificate');
    assert.equal((await call(address, 'Get', undefined, grpc.credentials.createSsl(pki.ca, stranger.key, stranger.cert)))?.code, grpc.status.UNAVAILABLE, "another CA's certificate");
    assert.equal((await call(address, 'Get'))?.code, grpc.status.UNAVAILABLE, 'plaintext to a TLS port');
  });
});
