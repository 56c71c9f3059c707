#!/usr/bin/env -S node --single-threaded-gc
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import { grants, presentedToken, TokenAuthority } from './auth/tokens.js';
import { runCli } from './cli/kvstore-cli.js';
import { loadConfig, type NodeConfig } from './config/config.js';
import { startGrpcServer } from './grpc/server.js';
import { startHttpListener } from './http/listener.js';
import { createHttpApp } from './http/server.js';
import { EventStreams } from './http/events-route.js';
import { MemberProxy } from './http/member-proxy.js';
import { NodeDebugging } from './debug/node-debugging.js';
import { loadUiAssets } from './ui/assets.js';
import { createLogger, type Logger } from './log.js';
import { ApiMetrics } from './metrics/api-metrics.js';
import { RaftMetrics } from './metrics/raft-metrics.js';
import type { KvNodeConfig } from './node/config.js';
import { prepareDataDir, watchDataDir } from './node/data-dir.js';
import { KvNode } from './node/kv-node.js';
import { realRuntime } from './node/real-runtime.js';
import type { RaftConfig } from './raft/config.js';
import { emptyConfiguration } from './raft/membership.js';
import type { PersistedState } from './raft/host/raft-node.js';
import { bootstrapConfiguration, MemberDirectory } from './node/member-directory.js';
import { Joiner } from './node/join.js';
import { missingProcessFlags } from './node/process-flags.js';
import { KvClient } from './client/rest-client.js';
import { formatHostPort, parseHostPort } from './config/host-port.js';
import { nodeId } from './raft/types.js';
import { readFileSync } from 'node:fs';
import { LogStore } from './storage/log-store.js';
import { readNodeTls } from './tls/node-tls.js';
import type { TlsMaterial } from './tls/tls-material.js';
import type { PeerTls } from './transport/peer-tls.js';
import { WsTransport } from './transport/ws-transport.js';

const EXIT_BAD_CONFIG = 2;
const EXIT_CANNOT_START = 1;

/**
 * raft.join: asks the member at that address to add this node (README
 * "Membership"), learning the members' addresses from the answer, and to promote
 * it once caught up (raft.auto_promote).
 */
function startJoining(config: NodeConfig, node: KvNode, directory: MemberDirectory, transport: WsTransport, log: Logger): Joiner {
  const own = config.raft.peers.find((p) => p.id === config.node.id)!;
  const scheme = config.http.tlsCertFile === null ? 'http' : 'https';
  const token = config.raft.joinTokenFile === null ? undefined : readFileSync(config.raft.joinTokenFile, 'utf8').replace(/\r?\n$/, '');
  const client = new KvClient({ endpoints: [`${scheme}://${formatHostPort(config.raft.join!)}`], ...(token === undefined ? {} : { token }) });
  const joiner = new Joiner({
    id: config.node.id,
    addrs: { raftAddr: formatHostPort(own.raftAddr), httpAddr: formatHostPort(own.httpAddr), grpcAddr: formatHostPort(own.grpcAddr) },
    client,
    autoPromote: config.raft.autoPromote,
    retryMs: config.raft.electionTimeoutMs,
    onMembers: (members) => {
      for (const m of members) {
        const raftAddr = parseHostPort(m.raft_addr);
        const httpAddr = parseHostPort(m.http_addr);
        const grpcAddr = parseHostPort(m.grpc_addr);
        if (m.id === config.node.id || raftAddr === null || httpAddr === null || grpcAddr === null) continue;
        const peer = { id: nodeId(m.id), raftAddr, httpAddr, grpcAddr };
        if (directory.learn(peer)) transport.setPeerAddress(peer.id, peer.raftAddr);
      }
    },
    isVoter: () => node.membership() === 'voter',
    logger: log,
  });
  void joiner.run();
  return joiner;
}

/** A data directory with nothing in it yet: no term, no snapshot, no entries. */
function isEmpty(p: PersistedState): boolean {
  return p.hardState.term === 0 && p.snapshot === null && p.entries.length === 0;
}

function raftConfigOf({ raft: r }: NodeConfig): RaftConfig {
  return {
    electionTimeoutMs: r.electionTimeoutMs,
    heartbeatIntervalMs: r.heartbeatIntervalMs,
    inflightAppendsMax: r.inflightAppendsMax,
    appendEntriesMax: r.appendEntriesMax,
    appendBytesMax: r.appendBytesMax,
    uncommittedEntriesMax: r.uncommittedEntriesMax,
    leaseClockDriftMs: r.leaseClockDriftMs,
    snapshotChunksInflightMax: r.snapshotChunksInflightMax,
    snapshotCatchUpEntries: r.snapshotCatchUpEntries,
    learnerPromotionDistanceEntries: r.learnerPromotionDistanceEntries,
  };
}

function kvNodeConfigOf(c: NodeConfig): KvNodeConfig {
  return {
    requestTimeoutMs: c.node.requestTimeoutMs,
    snapshotEveryEntries: c.raft.snapshotEveryEntries,
    snapshotEveryBytes: c.raft.snapshotEveryBytes,
    snapshotChunkBytes: c.raft.snapshotChunkBytes,
    reclaimStepEntries: c.node.reclaimStepEntries,
  };
}

/** Peer TLS is mutual: the config check makes sure the CA is there. */
function peerTlsOf(m: TlsMaterial | null): PeerTls | null {
  if (m === null) return null;
  if (m.ca === null) throw new Error('unreachable: raft TLS without raft.tls_ca_file');
  return { cert: m.cert, key: m.key, ca: m.ca };
}

/** The Raft metrics port asks for a read token as /metrics on the API port does (unless auth.metrics_public). */
function metricsGuard(config: NodeConfig): (authorization: string | undefined) => boolean {
  const authority = new TokenAuthority(config.auth.tokens);
  if (!authority.enabled || config.auth.metricsPublic) return () => true;
  return (authorization) => {
    const presented = presentedToken(authorization);
    const who = presented.kind === 'bearer' ? authority.identify(presented.token) : null;
    return who !== null && grants(who.role, 'read');
  };
}

function serveMetrics(registry: Registry, host: string, port: number, allowed: (authorization: string | undefined) => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found","message":"only /metrics is served here"}');
      return;
    }
    if (!allowed(req.headers.authorization)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="kvstore"' }).end('{"error":"unauthenticated","message":"/metrics needs a token with the read role"}');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** Why a running node stops, and the exit code that says so. */
interface StopReason {
  readonly code: number;
  readonly why: string;
}

/**
 * How long a stopping node keeps its HTTP listener and quiet connections open: a
 * request already on the wire (sent, not yet read) is answered 503 instead of reset.
 */
const HTTP_LAST_ANSWERS_MS = 500;
/** Then how long answers still being written may take before their connections are cut. */
const HTTP_DRAIN_MS = 2_000;

/** Answers what is on the wire, stops accepting, lets the answers out, then cuts what is left. */
function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(() => {
      const force = setTimeout(() => server.closeAllConnections(), HTTP_DRAIN_MS);
      server.close(() => {
        clearTimeout(force);
        resolve();
      });
      server.closeIdleConnections();
    }, HTTP_LAST_ANSWERS_MS);
  });
}

/**
 * Runs one node until SIGTERM/SIGINT (exit 0) or until its storage fails or its data
 * directory vanishes (exit 1); returns the exit code. Either way requests in flight are
 * answered, not cut: 503 for what never reached the log, 504 for what may have.
 */
async function runNode(config: NodeConfig, log: Logger): Promise<number> {
  const dataDir = config.node.dataDir;
  const prepared = prepareDataDir(dataDir);
  if (!prepared.ok) {
    log.fatal(prepared.error);
    return EXIT_CANNOT_START;
  }
  let stop: (reason: StopReason) => void = () => {};
  const stopped = new Promise<StopReason>((resolve) => (stop = resolve));
  // Before anything slow: a signal during start-up stops the node cleanly once it is up, instead of killing it.
  process.once('SIGTERM', () => stop({ code: 0, why: 'SIGTERM' }));
  process.once('SIGINT', () => stop({ code: 0, why: 'SIGINT' }));
  const metrics = new RaftMetrics(config.node.id);
  const opened = await LogStore.open(join(dataDir, 'raft'), metrics.storage, (e) => {
    log.fatal({ err: e }, 'storage failed; stopping');
    stop({ code: EXIT_CANNOT_START, why: 'storage failed' });
  });
  if (!opened.ok) {
    log.fatal(opened.error);
    return EXIT_CANNOT_START;
  }
  for (const w of opened.warnings) log.warn(w);
  const store = opened.store;
  const unwatch = watchDataDir(dataDir, (why) => {
    log.fatal(`${why}; stopping (nothing written since can be trusted to survive a restart)`);
    stop({ code: EXIT_CANNOT_START, why });
  });

  const tlsRead = readNodeTls(config);
  if (!tlsRead.ok) {
    log.fatal(tlsRead.error);
    return EXIT_CANNOT_START;
  }
  const tls = tlsRead.tls;

  const others = new Map(config.raft.peers.filter((p) => p.id !== config.node.id).map((p) => [p.id, p.raftAddr]));
  // Members' addresses: raft.peers first, then what the configuration in the log says (members added later).
  const directory = new MemberDirectory(config.raft.peers);
  const debugging = new NodeDebugging(config, raftConfigOf(config), log);
  let node: KvNode | null = null;
  const transport = new WsTransport({
    selfId: config.node.id,
    clusterId: config.raft.clusterId,
    secret: config.raft.secret === null ? null : Buffer.from(config.raft.secret, 'utf8'),
    tls: peerTlsOf(tls.raft),
    listen: config.raft.addr,
    peers: others,
    onMessages: (messages) => node?.receive(messages),
    logger: log,
    metrics: metrics.transport,
    connectionsMax: config.raft.connectionsMax,
    pendingMax: config.raft.pendingConnectionsMax,
    pendingPerAddressMax: config.raft.pendingConnectionsPerAddressMax,
    handshakeTimeoutMs: config.raft.handshakeTimeoutMs,
  });
  node = new KvNode({
    id: config.node.id,
    // A node that joins starts as no member; a voter that comes back empty does not vote until caught up.
    bootstrap: config.raft.join === null ? bootstrapConfiguration(config.raft.peers) : emptyConfiguration,
    catchingUp: config.raft.join !== null && isEmpty(opened.recovered),
    raft: raftConfigOf(config),
    storage: store,
    recovered: opened.recovered,
    transport,
    logger: log,
    config: kvNodeConfigOf(config),
    runtime: realRuntime,
    hooks: {
      ...debugging.hooks(metrics.nodeHooks),
      // The transport dials the members the configuration adds (it drops nobody: a removed node's late messages are harmless).
      onConfiguration: (c) => {
        for (const p of directory.follow(c).added) if (p.id !== config.node.id) transport.setPeerAddress(p.id, p.raftAddr);
      },
    },
    ...(debugging.recorder === null ? {} : { tap: debugging.recorder }),
  });
  metrics.bind(node.raftView());
  debugging.started(node, () => transport.connectedPeers());
  await transport.start();

  const kvNode = node;
  const api = new ApiMetrics(config.node.id, () => kvNode.kvStats());
  collectDefaultMetrics({ register: api.registry, prefix: 'kvstore_', gcDurationBuckets: [0.0001, 0.001, 0.01, 0.1, 1] });
  const streams = new EventStreams(debugging.events, randomUUID().slice(0, 8));
  debugging.registerMetrics(api.registry, streams);
  const recorder = debugging.recorder;
  const app = createHttpApp(
    config,
    node,
    log,
    api,
    {
      streams,
      ui: config.http.ui ? { ...loadUiAssets('live'), proxy: new MemberProxy(config, config.http.valueBytesMax) } : null,
      recording: recorder === null ? null : { recorder, header: () => debugging.recordingHeader() },
    },
    directory,
  );
  const httpListener = await startHttpListener(app, {
    host: config.http.addr.host,
    port: config.http.addr.port,
    limits: config.http,
    tls: tls.http === null ? null : { material: tls.http, clientCerts: config.http.tlsClientCerts },
    logger: log,
    onRefused: (reason) => api.connectionRefused('http', reason),
    onAnswered: (code) => api.errorAnswered('http', code),
  });
  const http = httpListener.server;
  const grpcServer = await startGrpcServer(config, node, log, api, tls.grpc, directory);
  const raftMetrics = await serveMetrics(metrics.registry, config.raft.metricsAddr.host, config.raft.metricsAddr.port, metricsGuard(config));
  log.info({ http: config.http.addr, raft: config.raft.addr, dataDir }, 'node started');
  const joiner = config.raft.join === null ? null : startJoining(config, kvNode, directory, transport, log);

  // SIGHUP: re-read every TLS file; new connections use the new material, open ones keep theirs.
  const reloadTls = (): void => {
    const read = readNodeTls(config);
    if (!read.ok) {
      log.error({ error: read.error }, 'SIGHUP: TLS files not reloaded; the old ones stay in use');
      return;
    }
    const peerTls = peerTlsOf(read.tls.raft);
    if (peerTls !== null) transport.setTls(peerTls);
    if (read.tls.http !== null) httpListener.setTls(read.tls.http);
    if (read.tls.grpc !== null) grpcServer.setTls(read.tls.grpc);
    log.info({ raft: read.tls.raft !== null, http: read.tls.http !== null, grpc: read.tls.grpc !== null }, 'SIGHUP: TLS files reloaded');
  };
  process.on('SIGHUP', reloadTls);

  const reason = await stopped;
  log.info({ why: reason.why }, 'stopping');
  joiner?.stop();
  // A planned stop of the leader hands leadership over first: no election-timeout gap for the cluster.
  if (reason.code === 0 && (await node.handOver())) log.info({ leader: node.status().leaderId }, 'handed leadership over');
  process.off('SIGHUP', reloadTls);
  unwatch();
  // Fail what is in flight first (its answers are then written), stop accepting,
  // let those answers out, flush storage, close peers.
  node.stop();
  debugging.stop();
  const httpClosed = closeHttp(http);
  const grpcClosed = grpcServer.close();
  await transport.stop();
  // A failed store has nothing left to flush, and may not close cleanly.
  if (reason.code === 0) await store.close();
  else await store.close().catch((err: unknown) => log.warn({ err }, 'closing the failed store'));
  raftMetrics.close();
  await httpClosed;
  await grpcClosed;
  log.info({ why: reason.why }, 'stopped');
  return reason.code;
}

/**
 * Node's own reports (warnings, a crash) go through the node's logger as one JSON
 * line each instead of plain text on stderr, so that log shippers parse everything.
 */
function routeProcessEventsToLog(log: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => log.warn({ warning: w.name, code: (w as Error & { code?: string }).code, detail: w.message }, 'Node.js warning'));
  const crash = (err: unknown, what: string): void => {
    log.fatal({ err }, `${what}: the node stops`);
    process.exit(EXIT_CANNOT_START);
  };
  process.on('uncaughtException', (err) => crash(err, 'uncaught exception'));
  process.on('unhandledRejection', (err) => crash(err, 'unhandled promise rejection'));
}

async function main(): Promise<number> {
  const loaded = loadConfig(process.argv.slice(2), process.env);
  if (!loaded.ok) {
    process.stderr.write(`${loaded.error}\n`);
    return EXIT_BAD_CONFIG;
  }
  const log = createLogger(loaded.config.node.id, loaded.config.log.level);
  routeProcessEventsToLog(log);
  const missing = missingProcessFlags(process.execArgv);
  if (missing.length > 0) log.warn({ missing }, `started without ${missing.join(' ')}: GC helper threads will stall the other processes on this host (README: Running a node)`);
  try {
    return await runNode(loaded.config, log);
  } catch (e) {
    log.fatal({ err: e }, 'cannot start');
    return EXIT_CANNOT_START;
  }
}

// `kvstore put|get|del|status …` runs the CLI; `kvstore -cfg_path FILE` runs a node.
const cli = runCli(process.argv.slice(2));
(cli ?? main()).then((code) => process.exit(code));
