// /ui/members/{id}/{path}: the cluster page reaches every member through the node that served it.
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type Koa from 'koa';
import type { NodeConfig, PeerConfig } from '../config/config.js';
import { HttpError } from './http-error.js';
import { readBody } from './request.js';

export const MEMBERS_PREFIX = '/ui/members/';
/** The page's name for the node that served it. */
const SELF = 'self';
/** The member routes the page uses; nothing else is forwarded. */
const FORWARDED_PATH = /^v1\/(events|status|kv\/.+)$/;
const FORWARDED_REQUEST_HEADERS = ['authorization', 'accept', 'last-event-id', 'if-match', 'if-none-match', 'idempotency-key', 'content-type'];
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'etag', 'x-raft-leader', 'retry-after', 'cache-control', 'www-authenticate'];
/** Connecting to a member that does not answer gives up after this long. */
const CONNECT_TIMEOUT_MS = 3_000;

/**
 * Forwards the cluster page's calls to a member of the cluster, by id, at the
 * address this node's config gives it: the page's event streams of the other
 * members, and its key browser's requests (a follower's 307 to the leader comes
 * back rewritten to this proxy, so the browser follows it without leaving the
 * page's origin). The member checks the forwarded token itself.
 */
export class MemberProxy {
  private readonly peers: ReadonlyMap<string, PeerConfig>;
  private readonly tls: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer } | null;

  constructor(
    private readonly config: NodeConfig,
    private readonly valueBytesMax: number,
  ) {
    this.peers = new Map(config.raft.peers.map((p) => [p.id, p]));
    const h = config.http;
    // Members serve REST alike: with TLS on, they are reached over TLS, trusting http.tls_ca_file (else the system's CAs) and presenting this node's certificate.
    this.tls =
      h.tlsCertFile === null || h.tlsKeyFile === null
        ? null
        : { ...(h.tlsCaFile === null ? {} : { ca: readFileSync(h.tlsCaFile) }), cert: readFileSync(h.tlsCertFile), key: readFileSync(h.tlsKeyFile) };
  }

  async serve(ctx: Koa.Context, rest: string): Promise<void> {
    const slash = rest.indexOf('/');
    const named = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
    const id = named === SELF ? this.config.node.id : named;
    const path = slash < 0 ? '' : rest.slice(slash + 1);
    const peer = this.peers.get(id);
    if (peer === undefined) throw new HttpError('not_found', `no member ${JSON.stringify(id.slice(0, 64))} in this node's configuration`);
    if (!FORWARDED_PATH.test(path)) throw new HttpError('not_found', `the cluster page forwards only v1/events, v1/status and v1/kv/{key}, not ${JSON.stringify(path.slice(0, 64))}`);
    const body = ctx.method === 'PUT' ? await readBody(ctx, this.valueBytesMax) : null;
    const headers: Record<string, string> = {};
    for (const h of FORWARDED_REQUEST_HEADERS) {
      const v = ctx.get(h);
      if (v !== '') headers[h] = v;
    }
    if (body !== null) headers['content-length'] = String(body.length);
    const query = ctx.querystring === '' ? '' : `?${ctx.querystring}`;
    const upstream = await this.send(peer, ctx.method, `/${path}${query}`, headers, body, ctx);
    ctx.status = upstream.statusCode ?? 502;
    for (const h of FORWARDED_RESPONSE_HEADERS) {
      const v = upstream.headers[h];
      if (typeof v === 'string') ctx.set(h, v);
    }
    const leader = upstream.headers['x-raft-leader'];
    if (ctx.status === 307 && typeof leader === 'string') ctx.set('Location', `${MEMBERS_PREFIX}${encodeURIComponent(leader)}/${path}${query}`);
    if (String(upstream.headers['content-type'] ?? '').startsWith('text/event-stream')) ctx.req.socket.setTimeout(0);
    ctx.body = upstream;
  }

  private send(peer: PeerConfig, method: string, path: string, headers: Record<string, string>, body: Uint8Array | null, ctx: Koa.Context): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const options = { host: peer.httpAddr.host, port: peer.httpAddr.port, method, path, headers, timeout: CONNECT_TIMEOUT_MS };
      const req = this.tls === null ? httpRequest(options) : httpsRequest({ ...options, ...this.tls });
      const unreachable = (why: string): void => reject(new HttpError('member_unreachable', `member ${peer.id} at ${peer.httpAddr.host}:${peer.httpAddr.port} did not answer: ${why}`));
      req.on('response', (res) => {
        req.setTimeout(0);
        ctx.req.on('close', () => res.destroy());
        resolve(res);
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (e) => unreachable(e.message));
      ctx.req.on('close', () => req.destroy());
      req.end(body === null ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    });
  }
}
