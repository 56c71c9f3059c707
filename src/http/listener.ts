// The REST API's listener: plain HTTP or HTTPS (optionally asking for client
// certificates), with the limits of http.* (src/api-limits.ts): sockets at once, a
// deadline for the request head and one for the whole request, and an idle
// keep-alive timeout. Errors Node answers before Koa sees a request (a malformed
// or oversized head, a timeout) are answered from the error catalog as JSON, and
// logged as one JSON line, rate-limited.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type Koa from 'koa';
import type { ListenerLimits } from '../api-limits.js';
import type { ClientCerts } from '../config/security-checks.js';
import { errorCatalog, type ErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { listenOn } from '../listen.js';
import { LogThrottle } from '../log-throttle.js';
import type { TlsMaterial } from '../tls/tls-material.js';

export interface HttpListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly limits: ListenerLimits;
  readonly tls: { readonly material: TlsMaterial; readonly clientCerts: ClientCerts } | null;
  readonly logger: Logger;
  /** A connection refused before any request: `reason` is too_many_connections or tls_failed. */
  readonly onRefused: (reason: 'too_many_connections' | 'tls_failed') => void;
  /** An answer Node gave for Koa (408, 431, 400): counted like any error answer. */
  readonly onAnswered: (code: ErrorCode) => void;
}

export interface HttpListener {
  readonly server: Server;
  readonly port: number;
  /** New key material (SIGHUP) for connections from now on; a listener without TLS ignores it. */
  setTls(material: TlsMaterial): void;
}

function secureOptions(material: TlsMaterial, clientCerts: ClientCerts) {
  return {
    cert: material.cert,
    key: material.key,
    ...(material.ca === null ? {} : { ca: material.ca }),
    requestCert: clientCerts !== 'none',
    rejectUnauthorized: clientCerts === 'required',
    minVersion: 'TLSv1.2' as const,
  };
}

/** The catalog answer for an error the HTTP parser or a server timeout raised. */
function answerOf(code: string | undefined): ErrorCode | null {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'headers_too_large';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request_timeout';
    case 'ECONNRESET':
    case 'EPIPE':
      return null;
    default:
      return 'bad_request';
  }
}

export async function startHttpListener(app: Koa, o: HttpListenerOptions): Promise<HttpListener> {
  const log = o.logger.child({ api: 'http' });
  const refusals = new LogThrottle(log);
  const handler = app.callback() as (req: IncomingMessage, res: ServerResponse) => void;
  const common = {
    headersTimeout: o.limits.headerTimeoutMs,
    requestTimeout: o.limits.bodyTimeoutMs,
    keepAliveTimeout: o.limits.keepAliveTimeoutMs,
    // Node checks both deadlines on this interval (30 s by default): check often enough for the deadlines to mean something.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(o.limits.headerTimeoutMs / 4))),
    // Node would answer an HTTP/1.1 request without Host with a bare 400 of its own; nothing here reads Host
    // (redirects name the leader from the config), so such a request is served like any other.
    requireHostHeader: false,
  };
  const tls = o.tls;
  const server: Server =
    tls === null
      ? createServer(common, handler)
      : createHttpsServer({ ...common, ...secureOptions(tls.material, tls.clientCerts), handshakeTimeout: o.limits.headerTimeoutMs }, handler);
  server.maxConnections = o.limits.connectionsMax;
  // An Expect other than 100-continue: Node would answer a bare 417; RFC 9110 lets a server ignore it, and we do.
  server.on('checkExpectation', handler);
  server.on('drop', (data?: { remoteAddress?: string }) => {
    o.onRefused('too_many_connections');
    refusals.warn('too_many_connections', { remote: data?.remoteAddress, connectionsMax: o.limits.connectionsMax }, 'refused a connection: http.connections_max reached');
  });
  server.on('tlsClientError', (err: Error & { code?: string }) => {
    o.onRefused('tls_failed');
    refusals.info('tls_failed', { code: err.code, why: err.message }, 'a TLS handshake failed');
  });
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const code = answerOf(err.code);
    refusals.info(`client_error:${code ?? 'gone'}`, { code: err.code }, code === null ? 'a client went away mid-request' : 'refused a request Node could not parse or wait for');
    if (code === null || !socket.writable) {
      socket.destroy();
      return;
    }
    o.onAnswered(code);
    const body = JSON.stringify({ error: code, message: code === 'request_timeout' ? 'the request did not arrive in time' : code === 'headers_too_large' ? 'the request head is too large' : 'malformed HTTP request' });
    const status = errorCatalog[code].http;
    socket.end(`HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  const port = await listenOn(server, o.host, o.port, log, 'HTTP');
  log.info({ host: o.host, port, tls: tls !== null, clientCerts: tls?.clientCerts ?? 'none' }, 'REST API listening');
  return {
    server,
    port,
    setTls: ({ cert, key, ca }) => {
      if (tls !== null) (server as HttpsServer).setSecureContext({ cert, key, ...(ca === null ? {} : { ca }) });
    },
  };
}
