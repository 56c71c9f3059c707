// The gRPC API of one node (SPEC §4): kvstore.v1.KV and kvstore.v1.Lease with the
// same semantics as the REST API, grpc.health.v1.Health and server reflection. A
// follower forwards writes, transactions, lease calls and linearizable/lease reads
// to the leader over one pooled channel per leader address, with the caller's
// deadline and cancellation; stale reads are served locally. Every answer carries
// `x-raft-leader` when a leader is known.
import { clusterHandlers } from './cluster-handlers.js';
import type { MemberDirectory } from '../node/member-directory.js';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { NodeConfig, PeerConfig } from '../config/config.js';
import { formatHostPort } from '../config/config.js';
import { errorCatalog } from '../errors.js';
import type { Logger } from '../log.js';
import { keyBytesMax } from '../kv/limits.js';
import type { KvNode } from '../node/kv-node.js';
import type { NodeId } from '../raft/types.js';
import { LogThrottle } from '../log-throttle.js';
import { GrpcMetrics } from './grpc-metrics.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { loadKvProto } from './proto.js';
import { tolerantDefinition, tolerantRegistrar, undecodableInterceptor } from './undecodable.js';
import { TokenAuthority } from '../auth/tokens.js';
import type { TlsMaterial } from '../tls/tls-material.js';
import { guardInterceptor } from './guards.js';
import { startGrpcListener, type GrpcListener } from './listener.js';
import { kvHandlers } from './kv-handlers.js';
import { leaseHandlers } from './lease-handlers.js';
import { watchHandlers } from './watch-handler.js';
import { NodeCalls } from './node-calls.js';
import { ANSWERED_BY_METADATA, methodOfPath, UnaryRunner } from './unary.js';

const HEALTH_POLL_MS = 100;
const SHUTDOWN_GRACE_MS = 2000;

export interface GrpcServerHandle {
  readonly port: number;
  /** New key material (SIGHUP) for connections from now on, the forwarding channels included. */
  setTls(material: TlsMaterial): void;
  close(): Promise<void>;
}

/**
 * Starts the gRPC API; `api` holds the API port's metrics registry (the one served
 * on HTTP `/metrics`), where the gRPC request metrics are registered.
 */
export async function startGrpcServer(config: NodeConfig, node: KvNode, logger: Logger, api: ApiMetrics, tlsMaterial: TlsMaterial | null, directory: MemberDirectory | null = null): Promise<GrpcServerHandle> {
  const log = logger.child({ api: 'grpc' });
  const metrics = new GrpcMetrics(api.registry);
  const { definition, kv } = loadKvProto();
  const peers = directory ?? new Map<NodeId, PeerConfig>(config.raft.peers.map((p) => [p.id as NodeId, p]));
  // Room for a value one byte over the limit, so the handler (not the transport) answers it.
  const messageBytesMax = Math.max(4 * 1024 * 1024, config.http.valueBytesMax + keyBytesMax + 64 * 1024);
  const channelOptions: grpc.ChannelOptions = {
    'grpc.max_receive_message_length': messageBytesMax,
    'grpc.max_send_message_length': messageBytesMax,
    // Nothing here serves channelz, and its per-call bookkeeping is paid on every call.
    'grpc.enable_channelz': 0,
  };
  let material = tlsMaterial;
  // With TLS on, a follower reaches the leader over TLS too: it trusts grpc.tls_ca_file (else the
  // system's CAs) and presents its own certificate, in case the leader asks for one.
  const forwardCredentials = (): grpc.ChannelCredentials =>
    material === null ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(material.ca, material.key, material.cert);

  const runner = new UnaryRunner({ node, peers, metrics, api, log, channelOptions, forwardCredentials });
  const calls = new NodeCalls(node, runner, api);
  const services = kv.kvstore.v1;

  const refusals = new LogThrottle(log);
  const onUndecodable = (path: string, why: string): void => {
    metrics.observeCall(methodOfPath(path), grpc.status.INVALID_ARGUMENT, 0);
    refusals.warn('undecodable', { path: path.slice(0, 128), why }, 'refused a gRPC request that is not valid protobuf');
  };
  const guard = guardInterceptor({
    answeredBy: { [ANSWERED_BY_METADATA]: node.id },
    authority: new TokenAuthority(config.auth.tokens),
    requestsMax: config.grpc.requestsMax,
    bodyTimeoutMs: config.grpc.bodyTimeoutMs,
    refusals,
    onRefused: (path, code) => {
      metrics.observeCall(methodOfPath(path), grpc.status[errorCatalog[code].grpc], 0);
      api.errorAnswered('grpc', code);
    },
  });
  const server = new grpc.Server({
    ...channelOptions,
    'grpc.max_connection_idle_ms': config.grpc.keepAliveTimeoutMs,
    interceptors: [guard, undecodableInterceptor(onUndecodable)],
  });
  server.addService(tolerantDefinition(services.KV.service), kvHandlers(services.KV.service, runner, calls, config.http.valueBytesMax));
  server.addService(tolerantDefinition(services.Lease.service), leaseHandlers(services.Lease.service, runner, calls, config.raft.electionTimeoutMs));
  server.addService(tolerantDefinition(services.Watch.service), watchHandlers(node.watches, metrics));
  server.addService(tolerantDefinition(services.Cluster.service), clusterHandlers(services.Cluster.service, runner, node));

  // Health: SERVING exactly while the node is ready (a leader known, caught up).
  const health = new HealthImplementation({ '': 'NOT_SERVING', 'kvstore.v1.KV': 'NOT_SERVING' });
  let lastHealth: ServingStatus = 'NOT_SERVING';
  const updateHealth = (): void => {
    const now: ServingStatus = node.ready() ? 'SERVING' : 'NOT_SERVING';
    if (now === lastHealth) return;
    lastHealth = now;
    health.setStatus('', now);
    health.setStatus('kvstore.v1.KV', now);
  };
  updateHealth();
  const healthTimer = setInterval(updateHealth, HEALTH_POLL_MS);
  healthTimer.unref();
  health.addToServer(tolerantRegistrar(server));

  new ReflectionService(definition).addToServer(tolerantRegistrar(server));

  let listener: GrpcListener;
  try {
    listener = await startGrpcListener(server, {
      host: config.grpc.addr.host,
      port: config.grpc.addr.port,
      limits: config.grpc,
      tls: material === null ? null : { material, clientCerts: config.grpc.tlsClientCerts },
      logger,
      onRefused: (reason) => api.connectionRefused('grpc', reason),
    });
  } catch (e) {
    clearInterval(healthTimer);
    throw e;
  }
  log.info({ grpc: formatHostPort(config.grpc.addr), port: listener.port, tls: material !== null }, 'grpc server listening');

  const closePool = (): void => runner.closePool();
  return {
    port: listener.port,
    setTls: (next) => {
      listener.setTls(next);
      material = next;
      closePool();
    },
    close: async () => {
      clearInterval(healthTimer);
      closePool();
      const stopped = listener.close();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      await stopped;
    },
  };
}
