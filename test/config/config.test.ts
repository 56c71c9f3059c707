import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import {
  configDefaults,
  configKeys,
  formatHostPort,
  loadConfig,
  parseConfig,
  type ConfigResult,
  type NodeConfig,
} from '../../src/config/config.js';
import { tokenHash } from '../../src/auth/tokens.js';
import { kvNodeDefaults } from '../../src/node/config.js';
import { createPki } from '../pki.js';
import { defaultRaftConfig } from '../../src/raft/config.js';

// Compiled to dist/test/config/, so the repository root is three levels up.
const repoFile = (name: string): string => fileURLToPath(new URL(`../../../config/${name}`, import.meta.url));

type Env = Record<string, string | undefined>;
type Tree = Record<string, unknown>;

// Certificates for the TLS keys, made by openssl for this file and removed after it.
const pki = createPki();
const peerCert = pki.issue('n1', { dns: ['n1'] });
const serverCert = pki.issue('localhost', { dns: ['localhost'], ip: ['127.0.0.1'] });
const otherCert = pki.issue('other');
const files = mkdtempSync(join(tmpdir(), 'kvstore-config-files-'));
const joinTokenFile = join(files, 'join-token');
writeFileSync(joinTokenFile, 'kvs_an-admin-token\n');
after(() => {
  pki.remove();
  rmSync(files, { recursive: true, force: true });
});

const peer = (n: number): Tree => ({
  id: `n${n}`,
  raft_addr: `127.0.0.1:708${n}`,
  http_addr: `127.0.0.1:808${n}`,
  grpc_addr: `127.0.0.1:908${n}`,
});

/** The smallest valid config: required keys only. */
const minimal = (): Tree => ({
  node: { id: 'n1', data_dir: './data/n1' },
  raft: { metrics_addr: '127.0.0.1:2112', peers: [peer(1), peer(2), peer(3)] },
});

/** `minimal()` with `path` (dotted, numbers index lists) set to `value`, or removed when `value` is undefined. */
function edit(tree: Tree, path: string, value: unknown): Tree {
  const copy = structuredClone(tree);
  const parts = path.split('.');
  const last = parts.pop() ?? '';
  let node: Record<string, unknown> = copy;
  for (const part of parts) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  if (value === undefined) delete node[last];
  else node[last] = value;
  return copy;
}

const parse = (tree: Tree, env: Env = {}): ConfigResult => parseConfig(stringify(tree), env, 'test.yml');
const parseEdited = (path: string, value: unknown, env: Env = {}): ConfigResult => parse(edit(minimal(), path, value), env);

function ok(r: ConfigResult): NodeConfig {
  if (!r.ok) assert.fail(`expected a valid config, got:\n${r.error}`);
  return r.config;
}

/** Asserts the result is an error with a line about `key`, and returns that line. */
function errorLine(r: ConfigResult, key: string): string {
  if (r.ok) assert.fail(`expected an error about ${key}, got a valid config`);
  const line = r.error.split('\n').find((l) => l.startsWith(`config error: ${key}: `));
  assert.ok(line !== undefined, `expected an error line about ${key}, got:\n${r.error}`);
  return line;
}

describe('config files in config/', () => {
  for (const n of [1, 2, 3]) {
    test(`n${n}.yml loads with the SPEC's ports and ./data/n${n}`, () => {
      const r = loadConfig(['-cfg_path', repoFile(`n${n}.yml`)], {});
      const c = ok(r);
      assert.equal(c.node.id, `n${n}`);
      assert.equal(c.node.dataDir, resolve(`./data/n${n}`));
      assert.deepEqual(c.http.addr, { host: '127.0.0.1', port: 8080 + n });
      assert.deepEqual(c.grpc.addr, { host: '127.0.0.1', port: 9080 + n });
      assert.deepEqual(c.raft.addr, { host: '127.0.0.1', port: 7080 + n });
      assert.deepEqual(c.raft.metricsAddr, { host: '127.0.0.1', port: 2111 + n });
      assert.deepEqual(
        c.raft.peers.map((p) => [p.id, formatHostPort(p.raftAddr), formatHostPort(p.httpAddr), formatHostPort(p.grpcAddr)]),
        [1, 2, 3].map((i) => [`n${i}`, `127.0.0.1:708${i}`, `127.0.0.1:808${i}`, `127.0.0.1:908${i}`]),
      );
      assert.equal(r.ok && r.path, repoFile(`n${n}.yml`));
    });
  }

  test('config.example.yml loads, as node n1, with every optional key at its default', () => {
    const c = ok(loadConfig(['-cfg_path', repoFile('config.example.yml')], {}));
    const n1 = ok(loadConfig(['-cfg_path', repoFile('n1.yml')], {}));
    assert.deepEqual(c, n1);
    const { id: _i, dataDir: _d, requestTimeoutMs, ...node } = c.node;
    const { addr: _h, ...http } = c.http;
    const { addr: _g, ...grpc } = c.grpc;
    const { addr: _r, metricsAddr: _m, peers: _p, secret, ...raft } = c.raft;
    assert.deepEqual({ node, http, grpc, raft, auth: c.auth, log: c.log, debug: c.debug }, configDefaults);
    // The defaults derived from other keys: five election timeouts; the secret of raft.secret_file (none).
    assert.equal(requestTimeoutMs, 5 * c.raft.electionTimeoutMs);
    assert.equal(secret, null);
  });

  test('config.example.yml sets every key of the catalog, and nothing else', () => {
    const example = parseYaml(readFileSync(repoFile('config.example.yml'), 'utf8')) as Record<string, Record<string, unknown>>;
    const written = Object.entries(example).flatMap(([section, keys]) => Object.keys(keys).map((k) => `${section}.${k}`));
    assert.deepEqual(written.sort(), configKeys.map((k) => k.path).sort());
  });

  test('config.example.yml names every KV_ variable pattern it explains', () => {
    const text = readFileSync(repoFile('config.example.yml'), 'utf8');
    for (const name of ['KV_NODE_ID', 'KV_RAFT_METRICS_ADDR', 'KV_RAFT_ELECTION_TIMEOUT_MS', 'KV_RAFT_PEERS', 'KV_HTTP_CORS_ORIGINS']) {
      assert.ok(text.includes(name), name);
    }
  });
});

describe('defaults', () => {
  test('omitted optional keys take their defaults', () => {
    const c = ok(parse(minimal()));
    assert.equal(c.http.valueBytesMax, 1048576);
    assert.deepEqual(c.http.corsOrigins, []);
    assert.equal(c.raft.clusterId, 'kvstore');
    assert.equal(c.raft.secret, null);
    assert.equal(c.raft.secretFile, null);
    assert.equal(c.raft.tlsCertFile, null);
    assert.equal(c.http.tlsCertFile, null);
    assert.equal(c.http.tlsClientCerts, 'none');
    assert.equal(c.http.connectionsMax, 1024);
    assert.equal(c.http.requestsMax, 512);
    assert.equal(c.http.headerTimeoutMs, 10_000);
    assert.equal(c.http.bodyTimeoutMs, 30_000);
    assert.equal(c.http.keepAliveTimeoutMs, 5_000);
    assert.equal(c.grpc.keepAliveTimeoutMs, 300_000);
    assert.equal(c.raft.connectionsMax, 256);
    assert.equal(c.raft.pendingConnectionsMax, 64);
    assert.equal(c.raft.pendingConnectionsPerAddressMax, 8);
    assert.equal(c.raft.handshakeTimeoutMs, 2_000);
    assert.deepEqual(c.auth.tokens, []);
    assert.equal(c.auth.metricsPublic, false);
    assert.equal(c.raft.electionTimeoutMs, 1000);
    assert.equal(c.raft.heartbeatIntervalMs, 100);
    assert.equal(c.raft.leaseClockDriftMs, 100);
    assert.equal(c.raft.snapshotEveryEntries, 100000);
    assert.equal(c.raft.snapshotEveryBytes, 67108864);
    assert.equal(c.raft.snapshotCatchUpEntries, 1000);
    assert.equal(c.raft.inflightAppendsMax, 64);
    assert.equal(c.raft.appendEntriesMax, 256);
    assert.equal(c.raft.appendBytesMax, 1048576);
    assert.equal(c.raft.uncommittedEntriesMax, 10000);
    assert.equal(c.raft.snapshotChunkBytes, 262144);
    assert.equal(c.raft.snapshotChunksInflightMax, 4);
    assert.equal(c.node.requestTimeoutMs, 5000);
    assert.equal(c.node.reclaimStepEntries, 10000);
    assert.equal(c.log.level, 'info');
  });

  test("the defaults are the Raft core's and the node's own, not copies", () => {
    const c = ok(parse(minimal()));
    for (const [k, v] of Object.entries(defaultRaftConfig)) assert.equal(c.raft[k as keyof typeof c.raft], v, `raft.${k}`);
    assert.equal(c.node.requestTimeoutMs, kvNodeDefaults.requestTimeoutMs);
    assert.equal(c.node.reclaimStepEntries, kvNodeDefaults.reclaimStepEntries);
    assert.equal(c.raft.snapshotEveryEntries, kvNodeDefaults.snapshotEveryEntries);
    assert.equal(c.raft.snapshotEveryBytes, kvNodeDefaults.snapshotEveryBytes);
    assert.equal(c.raft.snapshotChunkBytes, kvNodeDefaults.snapshotChunkBytes);
  });

  test('node.request_timeout_ms defaults to five election timeouts, and can be set on its own', () => {
    assert.equal(ok(parseEdited('raft.election_timeout_ms', 3000)).node.requestTimeoutMs, 15000);
    assert.equal(ok(parseEdited('node.request_timeout_ms', 1234)).node.requestTimeoutMs, 1234);
    assert.match(errorLine(parseEdited('node.request_timeout_ms', 0), 'node.request_timeout_ms'), /expected an integer >= 1 and <= 2147483647, got 0/);
  });

  test('appends and snapshot chunks must fit a peer frame', () => {
    for (const key of ['raft.append_bytes_max', 'raft.snapshot_chunk_bytes']) {
      assert.equal(ok(parseEdited(key, 4194304)).raft[key === 'raft.append_bytes_max' ? 'appendBytesMax' : 'snapshotChunkBytes'], 4194304);
      assert.match(errorLine(parseEdited(key, 4194305), key), /expected an integer >= 1 and <= 4194304, got 4194305/);
    }
  });

  test('http.addr, grpc.addr and raft.addr default to the own peer entry', () => {
    const c = ok(parse(edit(minimal(), 'node.id', 'n2')));
    assert.equal(formatHostPort(c.http.addr), '127.0.0.1:8082');
    assert.equal(formatHostPort(c.grpc.addr), '127.0.0.1:9082');
    assert.equal(formatHostPort(c.raft.addr), '127.0.0.1:7082');
  });

  test('an empty key (YAML null) is the same as an omitted one', () => {
    const c = ok(parseConfig(`${stringify(minimal())}log:\n  level:\n`, {}, 'test.yml'));
    assert.equal(c.log.level, 'info');
  });

  test('a relative data_dir is resolved against the working directory; an absolute one is kept', () => {
    assert.equal(ok(parseEdited('node.data_dir', 'data/x')).node.dataDir, join(process.cwd(), 'data/x'));
    assert.equal(ok(parseEdited('node.data_dir', '/var/lib/kv')).node.dataDir, '/var/lib/kv');
  });

  test('the config is frozen', () => {
    const c = ok(parse(minimal()));
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.raft) && Object.isFrozen(c.raft.peers) && Object.isFrozen(c.raft.peers[0]));
  });
});

describe('environment overrides', () => {
  test('every KV_ variable wins over the file', () => {
    const file = {
      ...minimal(),
      http: { value_bytes_max: 10, cors_origins: ['https://file.example'] },
      raft: { ...(minimal()['raft'] as Tree), cluster_id: 'file', secret: 'a file secret, long enough', election_timeout_ms: 3000 },
      log: { level: 'warn' },
    };
    const env: Env = {
      KV_NODE_ID: 'a',
      KV_NODE_DATA_DIR: '/srv/kv/a',
      KV_NODE_REQUEST_TIMEOUT_MS: '7000',
      KV_NODE_RECLAIM_STEP_ENTRIES: '11',
      KV_HTTP_ADDR: '0.0.0.0:18081',
      KV_HTTP_VALUE_BYTES_MAX: '2048',
      KV_HTTP_CORS_ORIGINS: 'https://env.example',
      KV_HTTP_FOLLOWER_READS: 'true',
      KV_HTTP_FORWARD_WRITES: 'true',
      KV_GRPC_ADDR: '0.0.0.0:19081',
      KV_RAFT_ADDR: '0.0.0.0:17081',
      KV_RAFT_METRICS_ADDR: '0.0.0.0:12112',
      KV_RAFT_PEERS:
        '[{id: a, raft_addr: "a.internal:17081", http_addr: "a.internal:18081", grpc_addr: "a.internal:19081"},' +
        ' {id: b, raft_addr: "b.internal:17081", http_addr: "b.internal:18081", grpc_addr: "b.internal:19081"}]',
      KV_RAFT_CLUSTER_ID: 'prod',
      KV_RAFT_SECRET: 'an env secret, long enough',
      KV_RAFT_TLS_CERT_FILE: peerCert.certFile,
      KV_RAFT_TLS_KEY_FILE: peerCert.keyFile,
      KV_RAFT_TLS_CA_FILE: pki.caFile,
      KV_RAFT_CONNECTIONS_MAX: '15',
      KV_RAFT_PENDING_CONNECTIONS_MAX: '16',
      KV_RAFT_PENDING_CONNECTIONS_PER_ADDRESS_MAX: '17',
      KV_RAFT_HANDSHAKE_TIMEOUT_MS: '18',
      KV_HTTP_TLS_CERT_FILE: serverCert.certFile,
      KV_HTTP_TLS_KEY_FILE: serverCert.keyFile,
      KV_HTTP_TLS_CA_FILE: pki.caFile,
      KV_HTTP_TLS_CLIENT_CERTS: 'optional',
      KV_HTTP_CONNECTIONS_MAX: '19',
      KV_HTTP_REQUESTS_MAX: '20',
      KV_HTTP_HEADER_TIMEOUT_MS: '21',
      KV_HTTP_BODY_TIMEOUT_MS: '22',
      KV_HTTP_KEEP_ALIVE_TIMEOUT_MS: '23',
      KV_GRPC_TLS_CERT_FILE: serverCert.certFile,
      KV_GRPC_TLS_KEY_FILE: serverCert.keyFile,
      KV_GRPC_TLS_CA_FILE: pki.caFile,
      KV_GRPC_TLS_CLIENT_CERTS: 'required',
      KV_GRPC_CONNECTIONS_MAX: '24',
      KV_GRPC_REQUESTS_MAX: '25',
      KV_GRPC_HEADER_TIMEOUT_MS: '26',
      KV_GRPC_BODY_TIMEOUT_MS: '27',
      KV_GRPC_KEEP_ALIVE_TIMEOUT_MS: '28',
      KV_AUTH_TOKENS: `[{name: ci, role: write, sha256: "${'ab'.repeat(32)}"}]`,
      KV_AUTH_METRICS_PUBLIC: 'true',
      KV_RAFT_ELECTION_TIMEOUT_MS: '2000',
      KV_RAFT_HEARTBEAT_INTERVAL_MS: '250',
      KV_RAFT_LEASE_CLOCK_DRIFT_MS: '300',
      KV_RAFT_INFLIGHT_APPENDS_MAX: '7',
      KV_RAFT_APPEND_ENTRIES_MAX: '8',
      KV_RAFT_APPEND_BYTES_MAX: '9',
      KV_RAFT_UNCOMMITTED_ENTRIES_MAX: '12',
      KV_RAFT_SNAPSHOT_EVERY_ENTRIES: '5',
      KV_RAFT_SNAPSHOT_EVERY_BYTES: '6',
      KV_RAFT_SNAPSHOT_CHUNK_BYTES: '13',
      KV_RAFT_SNAPSHOT_CHUNKS_INFLIGHT_MAX: '14',
      KV_RAFT_SNAPSHOT_CATCH_UP_ENTRIES: '0',
      KV_LOG_LEVEL: 'debug',
      KV_HTTP_UI: 'false',
      KV_DEBUG_INSPECT: 'true',
      KV_DEBUG_INSPECT_URL: 'wss://inspector.internal:9000',
      KV_DEBUG_INSPECT_EVENTS_PER_SECOND: '29',
      KV_DEBUG_RECORDER: 'false',
      KV_DEBUG_RECORDER_INPUTS_MAX: '3000',
      KV_DEBUG_RECORDER_BYTES_MAX: '1000000',
      KV_RAFT_JOIN: 'b.internal:18081',
      KV_RAFT_JOIN_TOKEN_FILE: joinTokenFile,
      KV_RAFT_AUTO_PROMOTE: 'false',
      KV_RAFT_LEARNER_PROMOTION_DISTANCE_ENTRIES: '31',
    };
    assert.deepEqual(
      Object.keys(env).sort(),
      configKeys
        .map((k) => k.env)
        .filter((v) => v !== 'KV_RAFT_SECRET_FILE')
        .sort(),
      'this test sets every variable of the catalog (but KV_RAFT_SECRET_FILE, which excludes KV_RAFT_SECRET: tested apart)',
    );
    const c = ok(parse(file, env));
    assert.equal(c.node.id, 'a');
    assert.equal(c.node.dataDir, '/srv/kv/a');
    assert.equal(c.node.requestTimeoutMs, 7000);
    assert.equal(c.node.reclaimStepEntries, 11);
    assert.equal(formatHostPort(c.http.addr), '0.0.0.0:18081');
    assert.equal(c.http.valueBytesMax, 2048);
    assert.deepEqual(c.http.corsOrigins, ['https://env.example']);
    assert.equal(c.http.followerReads, true);
    assert.equal(c.http.forwardWrites, true);
    assert.equal(formatHostPort(c.grpc.addr), '0.0.0.0:19081');
    assert.equal(formatHostPort(c.raft.addr), '0.0.0.0:17081');
    assert.equal(formatHostPort(c.raft.metricsAddr), '0.0.0.0:12112');
    assert.deepEqual(c.raft.peers.map((p) => [p.id, formatHostPort(p.raftAddr)]), [['a', 'a.internal:17081'], ['b', 'b.internal:17081']]);
    assert.equal(c.raft.clusterId, 'prod');
    assert.equal(c.raft.secret, 'an env secret, long enough');
    assert.deepEqual([c.raft.tlsCertFile, c.raft.tlsKeyFile, c.raft.tlsCaFile], [peerCert.certFile, peerCert.keyFile, pki.caFile]);
    assert.deepEqual([c.raft.connectionsMax, c.raft.pendingConnectionsMax, c.raft.pendingConnectionsPerAddressMax, c.raft.handshakeTimeoutMs], [15, 16, 17, 18]);
    assert.deepEqual([c.http.tlsCertFile, c.http.tlsKeyFile, c.http.tlsCaFile, c.http.tlsClientCerts], [serverCert.certFile, serverCert.keyFile, pki.caFile, 'optional']);
    assert.deepEqual([c.http.connectionsMax, c.http.requestsMax, c.http.headerTimeoutMs, c.http.bodyTimeoutMs, c.http.keepAliveTimeoutMs], [19, 20, 21, 22, 23]);
    assert.deepEqual([c.grpc.tlsCertFile, c.grpc.tlsKeyFile, c.grpc.tlsCaFile, c.grpc.tlsClientCerts], [serverCert.certFile, serverCert.keyFile, pki.caFile, 'required']);
    assert.deepEqual([c.grpc.connectionsMax, c.grpc.requestsMax, c.grpc.headerTimeoutMs, c.grpc.bodyTimeoutMs, c.grpc.keepAliveTimeoutMs], [24, 25, 26, 27, 28]);
    assert.deepEqual(c.auth.tokens, [{ name: 'ci', role: 'write', sha256: 'ab'.repeat(32) }]);
    assert.equal(c.auth.metricsPublic, true);
    assert.equal(c.raft.electionTimeoutMs, 2000);
    assert.equal(c.raft.heartbeatIntervalMs, 250);
    assert.equal(c.raft.leaseClockDriftMs, 300);
    assert.equal(c.raft.inflightAppendsMax, 7);
    assert.equal(c.raft.appendEntriesMax, 8);
    assert.equal(c.raft.appendBytesMax, 9);
    assert.equal(c.raft.uncommittedEntriesMax, 12);
    assert.equal(c.raft.snapshotEveryEntries, 5);
    assert.equal(c.raft.snapshotEveryBytes, 6);
    assert.equal(c.raft.snapshotChunkBytes, 13);
    assert.equal(c.raft.snapshotChunksInflightMax, 14);
    assert.equal(c.raft.snapshotCatchUpEntries, 0);
    assert.equal(c.log.level, 'debug');
    assert.equal(c.http.ui, false);
    assert.deepEqual(c.debug, { inspect: true, inspectUrl: 'wss://inspector.internal:9000', inspectEventsPerSecond: 29, recorder: false, recorderInputsMax: 3000, recorderBytesMax: 1000000 });
    assert.equal(c.raft.join === null ? null : formatHostPort(c.raft.join), 'b.internal:18081');
    assert.equal(c.raft.joinTokenFile, joinTokenFile);
    assert.equal(c.raft.autoPromote, false);
    assert.equal(c.raft.learnerPromotionDistanceEntries, 31);
  });

  test('raft.join with authentication on needs a token file; a token file needs raft.join', () => {
    const withTokens = { ...minimal(), auth: { tokens: [{ name: 'ci', role: 'admin', sha256: 'ab'.repeat(32) }] } };
    assert.match(errorLine(parse(withTokens, { KV_RAFT_JOIN: '127.0.0.1:8082' }), 'raft.join_token_file'), /required with raft\.join when auth\.tokens is set/);
    assert.match(errorLine(parse(minimal(), { KV_RAFT_JOIN_TOKEN_FILE: joinTokenFile }), 'raft.join_token_file'), /goes with raft\.join/);
    const empty = join(files, 'empty-token');
    writeFileSync(empty, '\n');
    assert.match(errorLine(parse(withTokens, { KV_RAFT_JOIN: '127.0.0.1:8082', KV_RAFT_JOIN_TOKEN_FILE: empty }), 'raft.join_token_file'), /one bearer token/);
    assert.match(errorLine(parse(minimal(), { KV_RAFT_JOIN: 'nowhere' }), 'raft.join'), /host:port/);
    ok(parse(withTokens, { KV_RAFT_JOIN: '127.0.0.1:8082', KV_RAFT_JOIN_TOKEN_FILE: joinTokenFile }));
  });

  test('debug.inspect_url must be a ws:// or wss:// URL; the recorder has a floor', () => {
    assert.match(errorLine(parse(minimal(), { KV_DEBUG_INSPECT_URL: 'http://127.0.0.1:8080' }), 'debug.inspect_url'), /ws:\/\/ or wss:\/\/ URL/);
    assert.match(errorLine(parse(minimal(), { KV_DEBUG_RECORDER_INPUTS_MAX: '10' }), 'debug.recorder_inputs_max'), /100/);
  });

  test('KV_RAFT_PEERS accepts JSON', () => {
    const json = JSON.stringify([peer(1), peer(2)]);
    assert.deepEqual(ok(parse(minimal(), { KV_RAFT_PEERS: json })).raft.peers.map((p) => p.id), ['n1', 'n2']);
  });

  test('flow text that parses but cannot be built (an alias without its anchor) is refused, not thrown', () => {
    assert.match(errorLine(parse(minimal(), { KV_AUTH_TOKENS: '*!' }), 'auth.tokens'), /invalid YAML: .*alias.*\(from KV_AUTH_TOKENS\)$/);
  });

  test('KV_RAFT_PEERS that is not YAML names raft.peers and the variable', () => {
    const line = errorLine(parse(minimal(), { KV_RAFT_PEERS: '[{id: n1' }), 'raft.peers');
    assert.match(line, /invalid YAML/);
    assert.match(line, /\(from KV_RAFT_PEERS\)$/);
  });

  test('errors inside KV_RAFT_PEERS name the entry and the variable', () => {
    const env = { KV_RAFT_PEERS: '[{id: n1, raft_addr: "127.0.0.1:7081", http_addr: "127.0.0.1:8081", grpc_addr: "nope"}]' };
    assert.match(errorLine(parse(minimal(), env), 'raft.peers[0].grpc_addr'), /got "nope" \(from KV_RAFT_PEERS\)$/);
  });

  test('KV_HTTP_CORS_ORIGINS accepts a flow list or a comma-separated list', () => {
    const origins = ['https://a.example', 'http://b.example:8080'];
    assert.deepEqual(ok(parse(minimal(), { KV_HTTP_CORS_ORIGINS: JSON.stringify(origins) })).http.corsOrigins, origins);
    assert.deepEqual(ok(parse(minimal(), { KV_HTTP_CORS_ORIGINS: ' https://a.example , http://b.example:8080 ' })).http.corsOrigins, origins);
    assert.deepEqual(ok(parse(minimal(), { KV_HTTP_CORS_ORIGINS: '' })).http.corsOrigins, []);
  });

  test('the whole config can come from the environment over an empty file', () => {
    const env: Env = {
      KV_NODE_ID: 'n1',
      KV_NODE_DATA_DIR: '/d',
      KV_RAFT_METRICS_ADDR: '127.0.0.1:2112',
      KV_RAFT_PEERS: JSON.stringify([peer(1)]),
    };
    assert.equal(ok(parseConfig('', env, 'empty.yml')).node.id, 'n1');
  });

  test('numbers from the environment are parsed strictly', () => {
    assert.equal(
      errorLine(parse(minimal(), { KV_RAFT_ELECTION_TIMEOUT_MS: 'abc' }), 'raft.election_timeout_ms'),
      'config error: raft.election_timeout_ms: expected an integer >= 10 and <= 1073741824, got "abc" (from KV_RAFT_ELECTION_TIMEOUT_MS)',
    );
    for (const text of ['10x', '1e3', ' 100', '100 ', '+100', '-1', '1.5', '0x10', '']) {
      const line = errorLine(parse(minimal(), { KV_HTTP_VALUE_BYTES_MAX: text }), 'http.value_bytes_max');
      assert.ok(line.endsWith(`got ${JSON.stringify(text)} (from KV_HTTP_VALUE_BYTES_MAX)`), line);
    }
  });

  test('an unknown KV_ variable is refused, with a suggestion when one is close', () => {
    assert.ok(!parse(minimal(), { KV_NOPE: '1' }).ok);
    const r = parse(minimal(), { KV_RAFT_ELECTION_TIMEOUT: '1000' });
    assert.equal(
      errorLine(r, 'KV_RAFT_ELECTION_TIMEOUT'),
      'config error: KV_RAFT_ELECTION_TIMEOUT: unknown environment variable (a KV_* variable must name a config key); did you mean KV_RAFT_ELECTION_TIMEOUT_MS?',
    );
    assert.match(errorLine(parse(minimal(), { KV_RAFT_PEERS_0_ID: 'n1' }), 'KV_RAFT_PEERS_0_ID'), /unknown environment variable/);
  });

  test('other variables and unset KV_ variables are ignored', () => {
    ok(parse(minimal(), { PATH: '/bin', kv_node_id: 'x', KV_NODE_ID: undefined, NODE_ENV: 'test' }));
  });
});

describe('validation: required keys', () => {
  const cases = [
    ['node.id', 'KV_NODE_ID'],
    ['node.data_dir', 'KV_NODE_DATA_DIR'],
    ['raft.metrics_addr', 'KV_RAFT_METRICS_ADDR'],
    ['raft.peers', 'KV_RAFT_PEERS'],
  ] as const;
  for (const [key, env] of cases) {
    test(`${key} is required`, () => {
      assert.equal(
        errorLine(parseEdited(key, undefined), key),
        `config error: ${key}: required, not set (set it in test.yml or with ${env})`,
      );
    });
  }

  test('each field of a peer entry is required', () => {
    for (const field of ['id', 'raft_addr', 'http_addr', 'grpc_addr']) {
      const { [field]: _gone, ...entry } = peer(2);
      const r = parseEdited('raft.peers', [peer(1), entry, peer(3)]);
      assert.match(errorLine(r, `raft.peers[1].${field}`), /required, not set \(test\.yml:\d+\)$/);
    }
  });
});

describe('validation: addresses', () => {
  const bad = ['127.0.0.1', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:http', ':8080', 'host:', '::1:8080', '[::1]8080', '1.2.3.999:80', 'a b:80', 8080];
  const keys = ['http.addr', 'grpc.addr', 'raft.addr', 'raft.metrics_addr'];
  for (const key of keys) {
    test(`${key} must be host:port with a port from 1 to 65535`, () => {
      for (const value of bad) {
        const line = errorLine(parseEdited(key, value), key);
        assert.ok(line.includes('expected host:port with a port from 1 to 65535'), line);
        assert.ok(line.includes(`got ${JSON.stringify(value)}`), line);
      }
    });
  }

  for (const field of ['raft_addr', 'http_addr', 'grpc_addr']) {
    test(`raft.peers[i].${field} must be host:port`, () => {
      const r = parseEdited('raft.peers', [peer(1), { ...peer(2), [field]: 'localhost:99999' }, peer(3)]);
      assert.match(errorLine(r, `raft.peers[1].${field}`), /expected host:port .*, got "localhost:99999" \(test\.yml:\d+\)$/);
    });
  }

  test('host names, IPv4, bracketed IPv6 and ports 1 and 65535 are accepted', () => {
    const peers = [
      { id: 'n1', raft_addr: '[::1]:1', http_addr: 'kv-1.example.com:65535', grpc_addr: 'kv_1:9081' },
      { id: 'n2', raft_addr: '[fe80::1]:7082', http_addr: 'LOCALHOST:8082', grpc_addr: '10.0.0.2:9082' },
    ];
    const c = ok(parseEdited('raft.peers', peers));
    assert.deepEqual(c.raft.addr, { host: '::1', port: 1 });
    assert.equal(formatHostPort(c.raft.addr), '[::1]:1');
    assert.equal(formatHostPort(c.http.addr), 'kv-1.example.com:65535');
  });

  test('formatHostPort brackets IPv6 hosts only', () => {
    assert.equal(formatHostPort({ host: '::', port: 80 }), '[::]:80');
    assert.equal(formatHostPort({ host: '0.0.0.0', port: 80 }), '0.0.0.0:80');
  });
});

describe('validation: integers', () => {
  const positive = [
    'http.value_bytes_max',
    'raft.heartbeat_interval_ms',
    'raft.lease_clock_drift_ms',
    'raft.snapshot_every_entries',
    'raft.snapshot_every_bytes',
  ];
  for (const key of positive) {
    test(`${key} must be a positive integer`, () => {
      for (const value of [0, -1, 1.5, '20', true, []]) {
        const line = errorLine(parseEdited(key, value), key);
        assert.ok(line.includes('expected an integer >= 1, got '), line);
      }
      ok(parseEdited(key, 1));
    });
  }

  test('raft.snapshot_catch_up_entries may be 0, not negative', () => {
    assert.equal(ok(parseEdited('raft.snapshot_catch_up_entries', 0)).raft.snapshotCatchUpEntries, 0);
    assert.match(errorLine(parseEdited('raft.snapshot_catch_up_entries', -1), 'raft.snapshot_catch_up_entries'), /expected an integer >= 0, got -1/);
  });

  test('raft.election_timeout_ms is at least 10 and fits a timer', () => {
    const timing = (election: number): Tree =>
      edit(edit(edit(minimal(), 'raft.election_timeout_ms', election), 'raft.heartbeat_interval_ms', 5), 'raft.lease_clock_drift_ms', 1);
    ok(parse(timing(10)));
    ok(parse(timing(2 ** 30)));
    assert.match(errorLine(parse(timing(9)), 'raft.election_timeout_ms'), /expected an integer >= 10 and <= 1073741824, got 9 \(test\.yml:\d+\)$/);
    assert.match(errorLine(parse(timing(2 ** 30 + 1)), 'raft.election_timeout_ms'), /got 1073741825/);
  });

  test('YAML number forms are accepted from the file', () => {
    assert.equal(ok(parseConfig(`${stringify(minimal())}http:\n  value_bytes_max: 0x400\n`, {}, 't.yml')).http.valueBytesMax, 1024);
  });
});

describe('validation: timing rules', () => {
  test('raft.heartbeat_interval_ms * 2 <= raft.election_timeout_ms', () => {
    ok(parseEdited('raft.heartbeat_interval_ms', 500));
    assert.match(
      errorLine(parseEdited('raft.heartbeat_interval_ms', 501), 'raft.heartbeat_interval_ms'),
      /expected at most half of raft\.election_timeout_ms \(1000\), got 501 \(test\.yml:\d+\)$/,
    );
  });

  test('a default heartbeat too long for a short election timeout is reported as the default', () => {
    const tree = edit(edit(minimal(), 'raft.election_timeout_ms', 150), 'raft.lease_clock_drift_ms', 10);
    assert.match(errorLine(parse(tree), 'raft.heartbeat_interval_ms'), /got 100 \(the default\)$/);
  });

  test('raft.lease_clock_drift_ms < raft.election_timeout_ms', () => {
    ok(parseEdited('raft.lease_clock_drift_ms', 999));
    assert.match(
      errorLine(parse(minimal(), { KV_RAFT_LEASE_CLOCK_DRIFT_MS: '1000' }), 'raft.lease_clock_drift_ms'),
      /expected less than raft\.election_timeout_ms \(1000\), got 1000 \(from KV_RAFT_LEASE_CLOCK_DRIFT_MS\)$/,
    );
  });
});

describe('validation: peers and this node', () => {
  test('peer ids are unique', () => {
    const r = parseEdited('raft.peers', [peer(1), peer(2), { ...peer(3), id: 'n1' }]);
    assert.match(errorLine(r, 'raft.peers[2].id'), /expected an id not already used by raft\.peers\[0\], got "n1"/);
  });

  test('peer ids are non-empty, from [A-Za-z0-9_.-], at most 64 characters', () => {
    for (const id of ['', 'n 1', 'n/1', 'é', 'x'.repeat(65)]) {
      const r = parseEdited('raft.peers', [peer(1), { ...peer(2), id }]);
      assert.ok(errorLine(r, 'raft.peers[1].id').includes(`got ${JSON.stringify(id)}`));
    }
    ok(parse(edit(edit(minimal(), 'raft.peers', [{ ...peer(1), id: 'A.b_c-9'.padEnd(64, 'x') }]), 'node.id', 'A.b_c-9'.padEnd(64, 'x'))));
  });

  test('a numeric peer id is refused with a hint to quote it', () => {
    const r = parse(edit(edit(minimal(), 'raft.peers', [{ ...peer(1), id: 1 }]), 'node.id', '1'));
    assert.match(errorLine(r, 'raft.peers[0].id'), /quote a numeric id/);
  });

  test('node.id must be valid and one of the peers', () => {
    assert.match(errorLine(parseEdited('node.id', 'n4'), 'node.id'), /expected one of the ids in raft\.peers \(n1, n2, n3\), got "n4"/);
    assert.match(errorLine(parseEdited('node.id', 'bad id'), 'node.id'), /got "bad id"/);
  });

  for (const [section, field] of [['raft', 'raft_addr'], ['http', 'http_addr'], ['grpc', 'grpc_addr']] as const) {
    test(`${section}.addr must match this node's ${field} when both are given`, () => {
      ok(parseEdited(`${section}.addr`, peer(1)[field]));
      const line = errorLine(parseEdited(`${section}.addr`, '127.0.0.1:6000'), `${section}.addr`);
      assert.ok(line.includes(`this node's entry raft.peers[0].${field} (${String(peer(1)[field])})`), line);
      assert.ok(line.includes('got "127.0.0.1:6000"'), line);
    });
  }

  test('a wildcard host on the own entry port is accepted for listening', () => {
    const c = ok(parse(edit(edit(minimal(), 'http.addr', '0.0.0.0:8081'), 'raft.addr', '[::]:7081')));
    assert.equal(formatHostPort(c.http.addr), '0.0.0.0:8081');
    assert.equal(formatHostPort(c.raft.addr), '[::]:7081');
    assert.ok(!parseEdited('http.addr', '0.0.0.0:8082').ok);
  });

  test('two servers of this node cannot share a port', () => {
    assert.match(
      errorLine(parseEdited('raft.metrics_addr', '127.0.0.1:8081'), 'raft.metrics_addr'),
      /expected an address different from raft\.peers\[0\]\.http_addr \(127\.0\.0\.1:8081\), got "127\.0\.0\.1:8081"/,
    );
    assert.match(errorLine(parseEdited('raft.metrics_addr', '0.0.0.0:7081'), 'raft.metrics_addr'), /raft\.peers\[0\]\.raft_addr/);
    ok(parseEdited('raft.metrics_addr', '127.0.0.2:8081'));
  });

  test('each kind of peer address is unique among the peers', () => {
    const r = parseEdited('raft.peers', [peer(1), { ...peer(2), http_addr: 'LOCALHOST:8081' }, { ...peer(3), http_addr: 'localhost:8081' }]);
    assert.match(errorLine(r, 'raft.peers[2].http_addr'), /not already used by raft\.peers\[1\]\.http_addr, got "localhost:8081"/);
  });

  test('raft.peers must be a non-empty list of mappings with known keys', () => {
    assert.match(errorLine(parseEdited('raft.peers', 'n1,n2'), 'raft.peers'), /expected a list of peers/);
    assert.match(errorLine(parseEdited('raft.peers', []), 'raft.peers'), /expected at least one peer .*got an empty list/);
    assert.match(errorLine(parseEdited('raft.peers', [peer(1), 'n2']), 'raft.peers[1]'), /expected a mapping/);
    assert.match(errorLine(parseEdited('raft.peers', [peer(1), { ...peer(2), raftaddr: 'x:1' }]), 'raft.peers[1].raftaddr'), /unknown key; did you mean raft_addr\?/);
  });
});

describe('validation: other keys', () => {
  test('raft.cluster_id is an id', () => {
    assert.equal(ok(parseEdited('raft.cluster_id', 'prod-eu.1')).raft.clusterId, 'prod-eu.1');
    assert.match(errorLine(parseEdited('raft.cluster_id', ''), 'raft.cluster_id'), /got ""/);
  });

  test('log.level is one of the pino levels', () => {
    assert.equal(ok(parseEdited('log.level', 'trace')).log.level, 'trace');
    assert.match(errorLine(parseEdited('log.level', 'verbose'), 'log.level'), /expected one of trace, debug, info, warn, error, fatal, got "verbose"/);
  });

  test('http.cors_origins holds origins or "*"', () => {
    assert.deepEqual(ok(parseEdited('http.cors_origins', ['*', 'https://a.example'])).http.corsOrigins, ['*', 'https://a.example']);
    for (const bad of ['https://a.example/', 'https://a.example:443', 'ftp://a.example', 'a.example', 7]) {
      assert.ok(errorLine(parseEdited('http.cors_origins', ['https://ok.example', bad]), 'http.cors_origins[1]').includes(`got ${JSON.stringify(bad)}`));
    }
    assert.match(errorLine(parseEdited('http.cors_origins', 'https://a.example'), 'http.cors_origins'), /expected a list of origins/);
  });

  test('node.data_dir is a non-empty string', () => {
    assert.match(errorLine(parseEdited('node.data_dir', ''), 'node.data_dir'), /expected a directory path, got ""/);
  });
});

describe('validation: security keys', () => {
  const secretFile = (name: string, text: string): string => {
    const path = join(files, name);
    writeFileSync(path, text);
    return path;
  };

  test('raft.secret has at least 16 characters and is never echoed', () => {
    assert.equal(ok(parseEdited('raft.secret', 'sixteen chars ok')).raft.secret, 'sixteen chars ok');
    assert.equal(ok(parseEdited('raft.secret', null)).raft.secret, null);
    const short = errorLine(parseEdited('raft.secret', 's3cret'), 'raft.secret');
    assert.ok(!short.includes('s3cret'), short);
    assert.match(short, /expected a string of at least 16 characters \(or null for none\), got a string of 6 characters/);
    assert.match(errorLine(parseEdited('raft.secret', 918273645), 'raft.secret'), /got a number/);
    assert.match(errorLine(parse(minimal(), { KV_RAFT_SECRET: '' }), 'raft.secret'), /got an empty string \(from KV_RAFT_SECRET\)/);
  });

  test('raft.secret_file holds the secret (one trailing newline dropped), and excludes raft.secret', () => {
    const path = secretFile('secret', 'a secret read from a file\n');
    assert.equal(ok(parseEdited('raft.secret_file', path)).raft.secret, 'a secret read from a file');
    assert.match(errorLine(parseEdited('raft.secret_file', secretFile('short', 'tiny\n')), 'raft.secret_file'), /at least 16 characters, got a string of 4 characters/);
    assert.match(errorLine(parseEdited('raft.secret_file', join(files, 'absent')), 'raft.secret_file'), /cannot read .*: no such file/);
    const both = edit(edit(minimal(), 'raft.secret', 'a secret in the file itself'), 'raft.secret_file', path);
    assert.match(errorLine(parse(both), 'raft.secret_file'), /expected raft.secret or raft.secret_file, not both/);
    assert.ok(!errorLine(parse(both), 'raft.secret_file').includes('a secret'));
  });

  const withTls = (section: string, keys: Record<string, unknown>): Tree => {
    let tree = minimal();
    for (const [k, v] of Object.entries(keys)) tree = edit(tree, `${section}.${k}`, v);
    return tree;
  };

  test('TLS files come in pairs that load: a certificate and its own key', () => {
    for (const section of ['http', 'grpc']) {
      const c = ok(parse(withTls(section, { tls_cert_file: serverCert.certFile, tls_key_file: serverCert.keyFile })));
      assert.equal(c[section as 'http'].tlsCertFile, serverCert.certFile);
      assert.match(errorLine(parse(withTls(section, { tls_cert_file: serverCert.certFile })), `${section}.tls_key_file`), /required with .*tls_cert_file, not set/);
      assert.match(errorLine(parse(withTls(section, { tls_cert_file: serverCert.certFile, tls_key_file: otherCert.keyFile })), `${section}.tls_key_file`), /is not the key of the certificate/);
      assert.match(errorLine(parse(withTls(section, { tls_cert_file: serverCert.keyFile, tls_key_file: serverCert.keyFile })), `${section}.tls_cert_file`), /is not a PEM certificate/);
      assert.match(errorLine(parse(withTls(section, { tls_cert_file: join(files, 'nope.crt'), tls_key_file: serverCert.keyFile })), `${section}.tls_cert_file`), /no such file/);
      assert.match(errorLine(parse(withTls(section, { tls_cert_file: serverCert.certFile, tls_key_file: serverCert.keyFile, tls_client_certs: 'required' })), `${section}.tls_ca_file`), /required when .*tls_client_certs is required/);
      assert.match(errorLine(parse(withTls(section, { tls_ca_file: pki.caFile })), `${section}.tls_cert_file`), /required with .*tls_ca_file/);
      assert.match(errorLine(parse(withTls(section, { tls_client_certs: 'always' })), `${section}.tls_client_certs`), /one of none, optional, required/);
    }
  });

  test('peer TLS is mutual: raft.tls_cert_file, tls_key_file and tls_ca_file go together', () => {
    ok(parse(withTls('raft', { tls_cert_file: peerCert.certFile, tls_key_file: peerCert.keyFile, tls_ca_file: pki.caFile })));
    assert.match(errorLine(parse(withTls('raft', { tls_cert_file: peerCert.certFile, tls_key_file: peerCert.keyFile })), 'raft.tls_ca_file'), /go together/);
    assert.match(errorLine(parse(withTls('raft', { tls_cert_file: peerCert.certFile, tls_key_file: peerCert.keyFile, tls_ca_file: peerCert.keyFile })), 'raft.tls_ca_file'), /not a PEM CA certificate bundle/);
  });

  test('auth.tokens lists names, roles and SHA-256 hashes, never tokens', () => {
    const hash = tokenHash('a token');
    const c = ok(parseEdited('auth.tokens', [{ name: 'ci', role: 'write', sha256: hash.toUpperCase() }]));
    assert.deepEqual(c.auth.tokens, [{ name: 'ci', role: 'write', sha256: hash }]);
    assert.match(errorLine(parseEdited('auth.tokens', [{ name: 'ci', role: 'root', sha256: hash }]), 'auth.tokens[0].role'), /one of read, write, admin/);
    assert.match(errorLine(parseEdited('auth.tokens', [{ name: 'ci', role: 'read', sha256: 'abc' }]), 'auth.tokens[0].sha256'), /64 hex digits/);
    assert.match(errorLine(parseEdited('auth.tokens', [{ name: 'ci', role: 'read', token: 'a token' }]), 'auth.tokens[0].token'), /never the token/);
    assert.match(
      errorLine(parseEdited('auth.tokens', [{ name: 'a', role: 'read', sha256: hash }, { name: 'b', role: 'admin', sha256: hash }]), 'auth.tokens[1].sha256'),
      /not already used by auth.tokens\[0\]/,
    );
    assert.match(errorLine(parseEdited('auth.tokens', 'x'), 'auth.tokens'), /a list of tokens/);
  });

  test('http.header_timeout_ms is at most http.body_timeout_ms (the whole request includes its head)', () => {
    assert.match(errorLine(parseEdited('http.body_timeout_ms', 5000), 'http.header_timeout_ms'), /expected at most http.body_timeout_ms \(5000\), got 10000 \(the default\)/);
    ok(parse(edit(edit(minimal(), 'http.body_timeout_ms', 5000), 'http.header_timeout_ms', 5000)));
  });

  test('auth.metrics_public is a boolean, also from the environment', () => {
    assert.equal(ok(parse(minimal(), { KV_AUTH_METRICS_PUBLIC: 'true' })).auth.metricsPublic, true);
    assert.match(errorLine(parse(minimal(), { KV_AUTH_METRICS_PUBLIC: 'yes please' }), 'auth.metrics_public'), /expected true or false/);
  });
});

describe('unknown keys and bad YAML', () => {
  test('an unknown key is refused with its line and a suggestion', () => {
    assert.equal(
      errorLine(parseEdited('raft.election_timeout', 1000), 'raft.election_timeout'),
      `config error: raft.election_timeout: unknown key; did you mean raft.election_timeout_ms? (test.yml:${stringify(edit(minimal(), 'raft.election_timeout', 1000)).split('\n').findIndex((l) => l.includes('election_timeout')) + 1})`,
    );
    assert.match(errorLine(parseEdited('http.metrics_addr', '127.0.0.1:1'), 'http.metrics_addr'), /did you mean raft\.metrics_addr\?/);
    assert.match(errorLine(parseEdited('rafts', {}), 'rafts'), /unknown key; did you mean raft\?/);
    assert.match(errorLine(parseEdited('metrics', {}), 'metrics'), /^config error: metrics: unknown key \(test\.yml:\d+\)$/);
  });

  test('a section that is not a mapping is refused', () => {
    assert.match(errorLine(parseEdited('log', 'debug'), 'log'), /expected a mapping, got "debug"/);
  });

  test('a document that is not a mapping is refused', () => {
    const r = parseConfig('- a\n- b\n', {}, 'list.yml');
    assert.ok(!r.ok && r.error.startsWith('config error: list.yml: expected a mapping with the sections'));
  });

  test('invalid YAML is reported with the file and the line', () => {
    const r = parseConfig('node:\n  id: n1\n  data_dir: [unclosed\n', {}, 'bad.yml');
    assert.ok(!r.ok);
    assert.match(r.error, /^config error: bad\.yml: invalid YAML: .* at line \d+, column \d+$/);
  });

  test('duplicate keys are invalid YAML', () => {
    const r = parseConfig('node:\n  id: n1\n  id: n2\n', {}, 'dup.yml');
    assert.ok(!r.ok);
    assert.match(r.error, /^config error: dup\.yml: invalid YAML: Map keys must be unique at line 3/);
  });

  test('every problem is reported, one line each', () => {
    const tree = edit(edit(edit(minimal(), 'log.level', 'loud'), 'http.value_bytes_max', 0), 'node.id', undefined);
    const r = parse(tree, { KV_BOGUS: '1' });
    assert.ok(!r.ok);
    const lines = r.error.split('\n');
    assert.equal(lines.length, 4, r.error);
    assert.ok(lines.every((l) => l.startsWith('config error: ')));
    for (const key of ['KV_BOGUS', 'node.id', 'http.value_bytes_max', 'log.level']) errorLine(r, key);
  });
});

describe('loadConfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvstore-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'node.yml');
  writeFileSync(file, stringify(minimal()));

  test('accepts -cfg_path FILE, --cfg_path FILE, --cfg_path=FILE and -cfg_path=FILE', () => {
    for (const argv of [['-cfg_path', file], ['--cfg_path', file], [`--cfg_path=${file}`], [`-cfg_path=${file}`]]) {
      const r = loadConfig(argv, {});
      assert.ok(r.ok, argv.join(' '));
      assert.equal(r.path, file);
    }
  });

  test('returns the absolute path of a relative -cfg_path', () => {
    const r = loadConfig(['-cfg_path', relative(process.cwd(), file)], {});
    assert.ok(r.ok && r.path === file);
  });

  test('applies the environment', () => {
    const r = loadConfig(['-cfg_path', file], { KV_LOG_LEVEL: 'error' });
    assert.equal(ok(r).log.level, 'error');
  });

  test('--inspect turns the Stately inspector on, over the file and the environment', () => {
    assert.equal(ok(loadConfig(['-cfg_path', file], {})).debug.inspect, false);
    assert.equal(ok(loadConfig(['-cfg_path', file, '--inspect'], { KV_DEBUG_INSPECT: 'false' })).debug.inspect, true);
    assert.equal(ok(loadConfig(['--inspect', '--cfg_path', file], {})).debug.inspect, true);
  });

  test('a missing -cfg_path explains the usage', () => {
    const r = loadConfig([], {});
    assert.ok(!r.ok);
    assert.match(r.error, /^config error: missing -cfg_path; usage: kvstore -cfg_path <file\.yml>/);
  });

  test('-cfg_path without a file, twice, or with another argument is refused', () => {
    for (const argv of [['-cfg_path'], ['--cfg_path='], ['-cfg_path', '--verbose'], ['-cfg_path', file, '--cfg_path', file], ['-cfg_path', file, 'extra'], ['-config', file]]) {
      const r = loadConfig(argv, {});
      assert.ok(!r.ok, argv.join(' '));
      assert.match(r.error, /usage: kvstore -cfg_path/);
    }
  });

  test('a missing file names the path', () => {
    const missing = join(dir, 'missing.yml');
    const r = loadConfig(['-cfg_path', missing], {});
    assert.ok(!r.ok);
    assert.equal(r.error, `config error: cannot read config file ${JSON.stringify(missing)} (${missing}): no such file or directory`);
  });

  test('a directory, a huge file and a non-UTF-8 file are refused with the path', () => {
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    const huge = join(dir, 'huge.yml');
    writeFileSync(huge, `# ${'x'.repeat(1 << 20)}\n`);
    const latin1 = join(dir, 'latin1.yml');
    writeFileSync(latin1, Buffer.from([0x23, 0x20, 0xe9, 0x0a]));
    for (const [path, why] of [[sub, 'it is a directory'], [huge, 'larger than 1048576 bytes'], [latin1, 'not valid UTF-8']] as const) {
      const r = loadConfig(['-cfg_path', path], {});
      assert.ok(!r.ok);
      assert.ok(r.error.includes(JSON.stringify(path)) && r.error.endsWith(why), r.error);
    }
  });

  test('invalid YAML in a file names the path as given', () => {
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, 'node: [\n');
    const r = loadConfig(['-cfg_path', bad], {});
    assert.ok(!r.ok && r.error.startsWith(`config error: ${bad}: invalid YAML: `), r.ok ? '' : r.error);
  });

  test('errors name the file and line of the bad value', () => {
    const lined = join(dir, 'lined.yml');
    writeFileSync(lined, `${stringify(minimal())}log:\n  level: loud\n`);
    const r = loadConfig(['-cfg_path', lined], {});
    const lineNo = readFileSync(lined, 'utf8').split('\n').indexOf('  level: loud') + 1;
    assert.ok(errorLine(r, 'log.level').endsWith(`(${lined}:${lineNo})`));
  });
});
