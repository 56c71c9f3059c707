// A 3-node cluster of real processes with every security feature on: the peer
// secret from a file, mutual TLS between peers, HTTPS for REST, TLS with required
// client certificates for gRPC, bearer tokens with roles; the CLI and the gRPC
// client used as users would; TLS files reloaded on SIGHUP.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { tokenHash } from '../../src/auth/tokens.js';
import { KvGrpcClient } from '../../src/client/index.js';
import { createPki, type Issued, type Pki } from '../pki.js';
import { ProcessCluster } from './process-cluster.js';

const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));
const ELECTION_MS = 500;
const ELECT_WITHIN_MS = 30 * ELECTION_MS;
const READ = 'e2e-read-token-0123456789abcdef';
const WRITE = 'e2e-write-token-0123456789abcdef';

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

describe('a cluster with peer mTLS, a secret file, HTTPS, gRPC TLS with client certificates and tokens', { concurrency: false }, () => {
  let pki: Pki;
  let c: ProcessCluster;
  const certs = new Map<string, Issued>();
  let client: Issued;
  const grpcClients: KvGrpcClient[] = [];

  const https = (id: string, method: string, path: string, token?: string, body?: string): Promise<Answer> =>
    new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: c.node(id).httpPort, method, path, ca: pki.ca, headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, agent: false },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        },
      );
      req.on('error', reject);
      req.setTimeout(3_000, () => req.destroy(new Error('timeout')));
      req.end(body);
    });

  const cli = (args: readonly string[], token?: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const endpoints = c.nodes.map((n) => `https://127.0.0.1:${n.httpPort}`).join(',');
      const env = { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile, ...(token === undefined ? {} : { KVSTORE_TOKEN: token }) };
      const p = spawn(process.execPath, [MAIN, '--endpoints', endpoints, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('exit', (code) => resolve({ code, stdout, stderr }));
    });

  const leader = (): Promise<string> =>
    c.waitFor('one leader over HTTPS', ELECT_WITHIN_MS, async () => {
      const ids: string[] = [];
      for (const n of c.nodes) {
        if (n.proc === null) continue;
        const r = await https(n.id, 'GET', '/v1/status', READ).catch(() => null);
        if (r === null || r.status !== 200) return undefined;
        ids.push((JSON.parse(r.body) as { leader_id: string | null }).leader_id ?? '');
      }
      return ids.length > 0 && ids.every((id) => id !== '' && id === ids[0]) ? ids[0] : undefined;
    });

  before(async () => {
    pki = createPki();
    client = pki.issue('a-client');
    const secretFile = join(pki.dir, 'raft-secret');
    writeFileSync(secretFile, 'a cluster secret of 32 characters\n');
    const tokens = `[{name: reader, role: read, sha256: "${tokenHash(READ)}"}, {name: writer, role: write, sha256: "${tokenHash(WRITE)}"}]`;
    c = await ProcessCluster.start(3, ELECTION_MS, {
      prepare: (n) => {
        // One certificate per node: its id for the peers, 127.0.0.1 for clients.
        const cert = pki.issue(n.id, { dns: [n.id, 'localhost'], ip: ['127.0.0.1'] });
        certs.set(n.id, cert);
        Object.assign(n.env, {
          KV_RAFT_SECRET_FILE: secretFile,
          KV_RAFT_TLS_CERT_FILE: cert.certFile,
          KV_RAFT_TLS_KEY_FILE: cert.keyFile,
          KV_RAFT_TLS_CA_FILE: pki.caFile,
          KV_HTTP_TLS_CERT_FILE: cert.certFile,
          KV_HTTP_TLS_KEY_FILE: cert.keyFile,
          KV_GRPC_TLS_CERT_FILE: cert.certFile,
          KV_GRPC_TLS_KEY_FILE: cert.keyFile,
          KV_GRPC_TLS_CA_FILE: pki.caFile,
          KV_GRPC_TLS_CLIENT_CERTS: 'required',
          KV_AUTH_TOKENS: tokens,
        });
      },
    });
  });
  after(async () => {
    for (const g of grpcClients) g.close();
    await c?.stop();
    pki?.remove();
  });

  test('the peers elect a leader over mutual TLS with the secret from the file', async () => {
    await leader();
  });

  test('REST over HTTPS: health is open, the rest needs a token of the right role, and a follower redirects to https', async () => {
    const l = await leader();
    const follower = c.nodes.find((n) => n.id !== l)!.id;
    assert.equal((await https(follower, 'GET', '/healthz')).status, 200);
    assert.equal((await https(follower, 'GET', '/v1/status')).status, 401);
    assert.equal((await https(l, 'PUT', '/v1/kv/x', READ, 'v')).status, 403);
    const redirected = await https(follower, 'PUT', '/v1/kv/x', WRITE, 'v');
    assert.equal(redirected.status, 307);
    assert.equal(redirected.headers['location'], `https://127.0.0.1:${c.node(l).httpPort}/v1/kv/x`);
    assert.equal((await https(l, 'PUT', '/v1/kv/x', WRITE, 'v')).status, 200);
  });

  test('the CLI takes its token from --token or KVSTORE_TOKEN, and says when it is missing or too weak', async () => {
    const put = await cli(['--token', WRITE, 'put', 'greeting', 'hello']);
    assert.equal(put.code, 0, put.stderr);
    const get = await cli(['get', 'greeting'], READ);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, 'hello');
    const weak = await cli(['put', 'greeting', 'bye'], READ);
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /permission_denied \(HTTP 403\)/);
    const none = await cli(['get', 'greeting']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /unauthenticated \(HTTP 401\)/);
  });

  test('gRPC over TLS with a client certificate and a token, through a follower that forwards to the leader', async () => {
    const l = await leader();
    const follower = c.nodes.find((n) => n.id !== l)!;
    const credentials = grpc.credentials.createSsl(pki.ca, client.key, client.cert);
    const g = new KvGrpcClient({ endpoints: [`127.0.0.1:${follower.grpcPort}`], credentials, token: WRITE });
    grpcClients.push(g);
    const p = await g.put('via-grpc', 'forwarded');
    assert.ok(p.ok, JSON.stringify(p));
    const r = await g.get('via-grpc');
    assert.ok(r.ok && Buffer.from(r.value).toString() === 'forwarded', JSON.stringify(r));
    const anonymous = new KvGrpcClient({ endpoints: [`127.0.0.1:${follower.grpcPort}`], credentials, maxAttempts: 1 });
    grpcClients.push(anonymous);
    const refused = await anonymous.get('via-grpc');
    assert.ok(!refused.ok && refused.error === 'unauthenticated', JSON.stringify(refused));
  });

  test('the Raft metrics port asks for a read token too', async () => {
    const port = c.node('n1').metricsPort;
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${READ}` } })).status, 200);
  });

  test('SIGHUP reloads the certificate files: new connections get the renewed certificate', async () => {
    // gRPC asks for a client certificate (and h2).
    const serial = (port: number, asClient = false): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca, ...(asClient ? { cert: client.cert, key: client.key, ALPNProtocols: ['h2'] } : {}) }, () => {
          resolve(s.getPeerCertificate().serialNumber);
          s.destroy();
        });
        s.on('error', reject);
      });
    const n1 = c.node('n1');
    const before = await serial(n1.httpPort);
    assert.equal(await serial(n1.grpcPort, true), before);
    const renewed = pki.issue('n1', { dns: ['n1', 'localhost'], ip: ['127.0.0.1'] });
    const current = certs.get('n1')!;
    copyFileSync(renewed.certFile, current.certFile);
    copyFileSync(renewed.keyFile, current.keyFile);
    n1.proc!.kill('SIGHUP');
    const reloaded = await c.waitFor('n1 to serve the renewed certificate', 10_000, async () => {
      const s = await serial(n1.httpPort);
      return s !== before ? s : undefined;
    });
    assert.notEqual(reloaded, before);
    assert.equal(await serial(n1.grpcPort, true), reloaded, 'gRPC too');
    assert.deepEqual(c.nonJsonLines('n1'), [], 'the node printed only JSON');
    // The cluster still works: peers redial with the renewed certificate when they need to.
    assert.equal((await https(await leader(), 'PUT', '/v1/kv/after-reload', WRITE, 'ok')).status, 200);
  });
});
