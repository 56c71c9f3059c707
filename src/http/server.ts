import type { Server } from 'node:http';
import Koa from 'koa';
import type { Registry } from 'prom-client';
import type { NodeConfig, PeerConfig } from '../config/config.js';
import { formatHostPort } from '../config/config.js';
import type { Condition, KvResult } from '../kv/command.js';
import type { Logger } from '../log.js';
import type { KvNode, RequestError } from '../node/kv-node.js';
import type { NodeId } from '../raft/types.js';
import { codeOfRequestError, errorCatalog, type ErrorCode } from '../errors.js';

const KV_PREFIX = '/v1/kv/';
const KEY_BYTES_MAX = 4096;

class HttpError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.status = errorCatalog[code].http;
  }
}

/** Percent-decodes a path into raw bytes (any byte may be sent as %XX), or null if malformed. */
function decodePathBytes(raw: string): Uint8Array | null {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const ch = raw.charCodeAt(i);
    if (ch === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
      out.push(parseInt(hex, 16));
      i += 2;
    } else if (ch < 0x80) {
      out.push(ch);
    } else {
      for (const b of Buffer.from(raw[i]!, 'utf8')) out.push(b);
    }
  }
  return Uint8Array.from(out);
}

function roleName(role: string): string {
  return role === 'preCandidate' ? 'pre_candidate' : role;
}

async function readBody(ctx: Koa.Context, limit: number): Promise<Uint8Array> {
  const declared = ctx.request.length;
  if (declared !== undefined && declared > limit) throw new HttpError('value_too_large', `value is ${declared} bytes; the limit is ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError('value_too_large', `value exceeds the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * The REST API of one node (SPEC §3): status, health, readiness, and the key-value
 * routes. A follower redirects writes and linearizable reads to the leader.
 */
export function createHttpApp(config: NodeConfig, node: KvNode, logger: Logger, metrics: Registry): Koa {
  const app = new Koa();
  const peers = new Map<NodeId, PeerConfig>(config.raft.peers.map((p) => [p.id, p]));

  const redirectOrUnavailable = (ctx: Koa.Context, error: RequestError): never => {
    if (error.kind === 'not_leader' && error.leaderId !== null && error.leaderId !== node.id) {
      const leader = peers.get(error.leaderId);
      if (leader !== undefined) {
        ctx.set('X-Raft-Leader', error.leaderId);
        ctx.set('Location', `http://${formatHostPort(leader.httpAddr)}${ctx.originalUrl}`);
        throw new HttpError('not_leader', `${error.leaderId} is the leader`, {});
      }
    }
    const code = codeOfRequestError(error);
    if (code === 'outcome_unknown') throw new HttpError(code, 'the request may or may not have been applied');
    // A not_leader whose leader we cannot name is, to the client, no leader.
    throw new HttpError(code === 'not_leader' ? 'no_leader' : code, 'no leader can take the request now; retry', { 'Retry-After': '1' });
  };

  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (e) {
      if (e instanceof HttpError) {
        ctx.status = e.status;
        for (const [k, v] of Object.entries(e.headers)) ctx.set(k, v);
        ctx.body = { error: e.code, message: e.message };
        return;
      }
      logger.error({ err: e }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: 'internal', message: 'internal error' };
    }
  });

  app.use(async (ctx, next) => {
    const path = ctx.path;
    if (path === '/v1/status' && ctx.method === 'GET') {
      const s = node.status();
      ctx.body = {
        id: s.id,
        role: roleName(s.role),
        term: s.term,
        leader_id: s.leaderId,
        commit_index: s.commitIndex,
        applied_index: s.appliedIndex,
        last_log_index: s.lastLogIndex,
        members: config.raft.peers.map((p) => ({ id: p.id, raft_addr: formatHostPort(p.raftAddr), http_addr: formatHostPort(p.httpAddr), grpc_addr: formatHostPort(p.grpcAddr) })),
      };
      return;
    }
    if (path === '/metrics' && ctx.method === 'GET') {
      ctx.type = metrics.contentType;
      ctx.body = await metrics.metrics();
      return;
    }
    if (path === '/healthz' && ctx.method === 'GET') {
      ctx.body = { status: 'ok' };
      return;
    }
    if (path === '/readyz' && ctx.method === 'GET') {
      if (!node.ready()) throw new HttpError('not_ready', 'no leader known yet, or still applying what is committed', { 'Retry-After': '1' });
      ctx.body = { status: 'ready' };
      return;
    }
    if (!path.startsWith(KV_PREFIX)) return next();
    const rawPath = ctx.URL.pathname;
    const key = decodePathBytes(rawPath.slice(KV_PREFIX.length));
    if (key === null) throw new HttpError('bad_key', 'the key has a malformed percent escape');
    if (key.length < 1 || key.length > KEY_BYTES_MAX) throw new HttpError('bad_key', `keys are 1 to ${KEY_BYTES_MAX} bytes`);
    switch (ctx.method) {
      case 'GET':
        return getKey(ctx, key);
      case 'PUT':
        return putKey(ctx, key);
      case 'DELETE':
        return deleteKey(ctx, key);
      default:
        ctx.set('Allow', 'GET, PUT, DELETE');
        throw new HttpError('method_not_allowed', `${ctx.method} is not supported on keys`);
    }
  });

  app.use((ctx) => {
    throw new HttpError('not_found', `no route for ${ctx.method} ${ctx.path}`);
  });

  const condition = (ctx: Koa.Context): Condition => {
    const ifMatch = ctx.get('If-Match');
    const ifNoneMatch = ctx.get('If-None-Match');
    if (ifMatch !== '' && ifNoneMatch !== '') throw new HttpError('bad_precondition', 'use If-Match or If-None-Match, not both');
    if (ifNoneMatch !== '') {
      if (ifNoneMatch.trim() !== '*') throw new HttpError('bad_precondition', 'If-None-Match supports only *');
      return { kind: 'absent' };
    }
    if (ifMatch !== '') {
      const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(ifMatch);
      if (m === null) throw new HttpError('bad_precondition', 'If-Match must be a revision, like "42"');
      return { kind: 'revision', revision: Number(m[1]) };
    }
    return { kind: 'none' };
  };

  const tag = (ctx: Koa.Context): { clientId: string; requestId: string } | null => {
    const key = ctx.get('Idempotency-Key');
    if (key === '') return null;
    if (key.length > 256) throw new HttpError('bad_request', 'Idempotency-Key is at most 256 characters');
    return { clientId: 'http', requestId: key };
  };

  const answer = (ctx: Koa.Context, r: KvResult): void => {
    if (!r.ok) {
      if (r.currentRevision !== null) ctx.set('ETag', `"${r.currentRevision}"`);
      throw new HttpError('revision_mismatch', `the key's revision is ${r.currentRevision ?? 'none (absent)'}`);
    }
    ctx.body = r.op === 'put' ? { revision: r.revision } : { deleted: r.deleted, revision: r.revision };
  };

  async function putKey(ctx: Koa.Context, key: Uint8Array): Promise<void> {
    const cond = condition(ctx);
    const t = tag(ctx);
    const value = await readBody(ctx, config.http.valueBytesMax);
    const o = await node.propose({ op: 'put', key, value, condition: cond, tag: t });
    if (!o.ok) return redirectOrUnavailable(ctx, o.error);
    answer(ctx, o.value);
  }

  async function deleteKey(ctx: Koa.Context, key: Uint8Array): Promise<void> {
    const cond = condition(ctx);
    if (cond.kind === 'absent') throw new HttpError('bad_precondition', 'If-None-Match does not apply to DELETE');
    const o = await node.propose({ op: 'delete', key, condition: cond, tag: tag(ctx) });
    if (!o.ok) return redirectOrUnavailable(ctx, o.error);
    answer(ctx, o.value);
  }

  async function getKey(ctx: Koa.Context, key: Uint8Array): Promise<void> {
    const consistency = ctx.query['consistency'] ?? 'linearizable';
    if (consistency !== 'linearizable' && consistency !== 'lease' && consistency !== 'stale') {
      throw new HttpError('bad_request', 'consistency is linearizable, lease or stale');
    }
    let state;
    if (consistency === 'stale') state = node.staleState();
    else {
      const o = await node.linearizableRead(consistency === 'lease');
      if (!o.ok) return redirectOrUnavailable(ctx, o.error);
      state = o.value;
    }
    const got = state.get(key);
    if (got === undefined) throw new HttpError('key_not_found', 'no such key');
    ctx.set('ETag', `"${got.revision}"`);
    ctx.type = 'application/octet-stream';
    ctx.body = Buffer.from(got.value.buffer, got.value.byteOffset, got.value.byteLength);
  }

  return app;
}

export function listen(app: Koa, host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, host);
    server.once('listening', () => resolve(server));
    server.once('error', reject);
  });
}
