// The gRPC API's listener. grpc-js's own bindAsync offers no bound on sockets and
// no deadline for a connection that never speaks, so the node listens itself —
// plain TCP, or TLS (ALPN h2, optionally asking for client certificates) — and
// hands each accepted socket to the grpc-js server (createConnectionInjector).
// Limits (grpc.*): sockets at once, a deadline for the TLS handshake and the first
// bytes; idle connections are closed by grpc-js (grpc.max_connection_idle_ms).
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { ListenerLimits } from '../api-limits.js';
import type { ClientCerts } from '../config/security-checks.js';
import type { Logger } from '../log.js';
import { listenOn } from '../listen.js';
import { LogThrottle } from '../log-throttle.js';
import type { TlsMaterial } from '../tls/tls-material.js';

export interface GrpcListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly limits: ListenerLimits;
  readonly tls: { readonly material: TlsMaterial; readonly clientCerts: ClientCerts } | null;
  readonly logger: Logger;
  readonly onRefused: (reason: 'too_many_connections' | 'tls_failed' | 'timeout') => void;
}

export interface GrpcListener {
  readonly port: number;
  /** New key material (SIGHUP) for connections from now on; a listener without TLS ignores it. */
  setTls(material: TlsMaterial): void;
  /** Stops accepting; resolves once every socket is closed (grpc-js's shutdown closes the sessions). */
  close(): Promise<void>;
}

function contextOf(m: TlsMaterial): { cert: Buffer; key: Buffer; ca?: Buffer } {
  return m.ca === null ? { cert: m.cert, key: m.key } : { cert: m.cert, key: m.key, ca: m.ca };
}

export async function startGrpcListener(server: grpc.Server, o: GrpcListenerOptions): Promise<GrpcListener> {
  const log = o.logger.child({ api: 'grpc' });
  const refusals = new LogThrottle(log);
  // TLS is ours, so grpc-js sees every connection as plain HTTP/2.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const tls = o.tls;
  const listener: Server =
    tls === null
      ? createServer()
      : createTlsServer({
          ...contextOf(tls.material),
          ALPNProtocols: ['h2'],
          requestCert: tls.clientCerts !== 'none',
          rejectUnauthorized: tls.clientCerts === 'required',
          minVersion: 'TLSv1.2',
          handshakeTimeout: o.limits.headerTimeoutMs,
        });
  listener.maxConnections = o.limits.connectionsMax;
  listener.on('drop', (data?: { remoteAddress?: string }) => {
    o.onRefused('too_many_connections');
    refusals.warn('too_many_connections', { remote: data?.remoteAddress, connectionsMax: o.limits.connectionsMax }, 'refused a connection: grpc.connections_max reached');
  });
  listener.on('tlsClientError', (err: Error & { code?: string }) => {
    o.onRefused(err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'timeout' : 'tls_failed');
    refusals.info('tls_failed', { code: err.code, why: err.message }, 'a TLS handshake failed');
  });
  const handOver = (socket: Socket): void => {
    socket.on('error', (err) => log.debug({ err }, 'gRPC socket error'));
    // A client that connects and never speaks HTTP/2 holds a socket: not for long.
    const silent = setTimeout(() => {
      if (socket.bytesRead > 0 || socket.destroyed) return;
      o.onRefused('timeout');
      refusals.info('timeout', { remote: socket.remoteAddress }, 'closed a gRPC connection that sent nothing');
      socket.destroy();
    }, o.limits.headerTimeoutMs);
    silent.unref();
    socket.once('close', () => clearTimeout(silent));
    // An optional client certificate, when one is presented, must be signed by the CA.
    const t = socket as Partial<TLSSocket>;
    if (tls?.clientCerts === 'optional' && t.authorized === false && Object.keys(t.getPeerCertificate?.() ?? {}).length > 0) {
      o.onRefused('tls_failed');
      refusals.warn('bad_client_cert', { remote: socket.remoteAddress, reason: t.authorizationError }, 'refused a client certificate the CA did not sign');
      socket.destroy();
      return;
    }
    injector.injectConnection(socket);
  };
  listener.on(tls === null ? 'connection' : 'secureConnection', handOver);
  const port = await listenOn(listener, o.host, o.port, log, 'gRPC');
  return {
    port,
    setTls: (material) => {
      if (tls !== null) (listener as TlsServer).setSecureContext(contextOf(material));
    },
    close: () => new Promise((resolve) => listener.close(() => resolve())),
  };
}
