// The gRPC API of one node (SPEC §4): kvstore.v1.KV with the same semantics as the
// REST API, grpc.health.v1.Health and server reflection. A follower forwards
// Put, Delete and linearizable/lease Get to the leader over one pooled channel per
// leader address, with the caller's deadline and cancellation; stale Get is served
// locally. Every answer carries `x-raft-leader` when a leader is known.
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { NodeConfig, PeerConfig } from '../config/config.js';
import { formatHostPort } from '../config/config.js';
import { codeOfRequestError, errorCatalog, type ErrorCode, type RequestError } from '../errors.js';
import { commandProblem, idempotencyTag, type Condition, type DeleteCommand, type KvResult, type PutCommand, type RequestTag } from '../kv/command.js';
import type { Logger } from '../log.js';
import { keyBytesMax } from '../kv/limits.js';
import type { KvNode } from '../node/kv-node.js';
import type { NodeId } from '../raft/types.js';
import type { DeleteRequest__Output } from './generated/kvstore/v1/DeleteRequest.js';
import type { DeleteResponse } from './generated/kvstore/v1/DeleteResponse.js';
import type { GetRequest__Output } from './generated/kvstore/v1/GetRequest.js';
import type { GetResponse } from './generated/kvstore/v1/GetResponse.js';
import type { KVClient, KVHandlers } from './generated/kvstore/v1/KV.js';
import type { PutRequest__Output } from './generated/kvstore/v1/PutRequest.js';
import type { PutResponse } from './generated/kvstore/v1/PutResponse.js';
import { LogThrottle } from '../log-throttle.js';
import { GrpcMetrics } from './grpc-metrics.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { secondsSince } from '../metrics/elapsed.js';
import { createKvClient, loadKvProto } from './proto.js';
import { tolerantDefinition, tolerantRegistrar, undecodableInterceptor } from './undecodable.js';
import { TokenAuthority } from '../auth/tokens.js';
import type { TlsMaterial } from '../tls/tls-material.js';
import { guardInterceptor } from './guards.js';
import { startGrpcListener, type GrpcListener } from './listener.js';

/** Response metadata naming the leader (initial metadata, and trailers on errors). */
export const LEADER_METADATA = 'x-raft-leader';
/** Trailer naming the node whose handler produced the status (tells app errors from transport errors). */
export const ANSWERED_BY_METADATA = 'x-kvstore-answered-by';
/** Trailer with the key's current revision on FAILED_PRECONDITION (absent when the key is absent). */
export const REVISION_METADATA = 'x-kvstore-revision';
/** Request metadata set on a forwarded call: the leader must not forward it again. */
const FORWARDED_METADATA = 'x-kvstore-forwarded';
const HEALTH_POLL_MS = 100;
const SHUTDOWN_GRACE_MS = 2000;

/** What a handler answers: a response, a status, or "ask the leader". */
type Answer<T> =
  | { readonly kind: 'ok'; readonly value: T }
  | {
      readonly kind: 'error';
      readonly code: grpc.status;
      readonly details: string;
      readonly trailers?: Readonly<Record<string, string>>;
      /** Set where the error was decided (here, not relayed from the leader), for the errors metric. */
      readonly catalogCode?: ErrorCode;
    }
  | { readonly kind: 'forward'; readonly leaderId: NodeId };

function grpcStatusOf(code: ErrorCode): grpc.status {
  return grpc.status[errorCatalog[code].grpc];
}

function fail<T>(code: ErrorCode, details: string, trailers?: Readonly<Record<string, string>>): Answer<T> {
  const error = { kind: 'error', code: grpcStatusOf(code), details, catalogCode: code } as const;
  return trailers === undefined ? error : { ...error, trailers };
}

/** `Put` for `/kvstore.v1.KV/Put`: the method label of a path (GrpcMetrics bounds the values). */
function methodOfPath(path: string): string {
  return path.startsWith('/kvstore.v1.KV/') ? path.slice('/kvstore.v1.KV/'.length) : path;
}

function toBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

type ForwardFn<Req, Res> = (client: KVClient, req: Req, md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<Res>) => grpc.ClientUnaryCall;

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
export async function startGrpcServer(config: NodeConfig, node: KvNode, logger: Logger, api: ApiMetrics, tlsMaterial: TlsMaterial | null): Promise<GrpcServerHandle> {
  const log = logger.child({ api: 'grpc' });
  const metrics = new GrpcMetrics(api.registry);
  const { definition, kv } = loadKvProto();
  const peers = new Map<NodeId, PeerConfig>(config.raft.peers.map((p) => [p.id as NodeId, p]));
  // Room for a value one byte over the limit, so the handler (not the transport) answers it.
  const messageBytesMax = Math.max(4 * 1024 * 1024, config.http.valueBytesMax + keyBytesMax + 64 * 1024);
  const channelOptions: grpc.ChannelOptions = {
    'grpc.max_receive_message_length': messageBytesMax,
    'grpc.max_send_message_length': messageBytesMax,
  };
  let material = tlsMaterial;
  // With TLS on, a follower reaches the leader over TLS too: it trusts grpc.tls_ca_file (else the
  // system's CAs) and presents its own certificate, in case the leader asks for one.
  const forwardCredentials = (): grpc.ChannelCredentials =>
    material === null ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(material.ca, material.key, material.cert);

  // One channel per leader address, reused by every forwarded call.
  const pool = new Map<string, KVClient>();
  const clientFor = (leaderId: NodeId): KVClient | null => {
    const peer = peers.get(leaderId);
    if (peer === undefined) return null;
    const address = formatHostPort(peer.grpcAddr);
    let client = pool.get(address);
    if (client === undefined) {
      client = createKvClient(address, forwardCredentials(), channelOptions);
      pool.set(address, client);
    }
    return client;
  };

  const leaderMetadata = (leaderId: NodeId | null): grpc.Metadata => {
    const md = new grpc.Metadata();
    if (leaderId !== null) md.set(LEADER_METADATA, leaderId);
    return md;
  };

  /** Maps a request the node could not take: forward when a leader is known (once), else a status. */
  const refused = <T>(error: RequestError, call: grpc.ServerUnaryCall<unknown, unknown>): Answer<T> => {
    const forwarded = call.metadata.get(FORWARDED_METADATA).length > 0;
    if (error.kind === 'not_leader' && error.leaderId !== null && error.leaderId !== node.id && !forwarded && peers.has(error.leaderId)) {
      return { kind: 'forward', leaderId: error.leaderId };
    }
    const code = codeOfRequestError(error);
    if (code === 'outcome_unknown') return fail(code, 'the request may or may not have been applied; retry only with the same request_id');
    if (code === 'not_leader') return fail('no_leader', `${error.kind === 'not_leader' ? error.leaderId : 'another node'} leads; this forwarded call was not applied; retry`);
    if (code === 'node_stopping') return fail(code, 'this node is stopping; not applied; retry on another node');
    return fail(code, code === 'overloaded' ? 'too many uncommitted proposals; not applied; retry' : 'no leader is known now; not applied; retry');
  };

  const forward = <Req, Res>(leaderId: NodeId, call: grpc.ServerUnaryCall<Req, Res>, isWrite: boolean, fn: ForwardFn<Req, Res>): Promise<Answer<Res>> => {
    const client = clientFor(leaderId);
    if (client === null) return Promise.resolve(fail('no_leader', `leader ${leaderId} is not in raft.peers`));
    const md = new grpc.Metadata();
    md.set(FORWARDED_METADATA, node.id);
    // The leader checks the caller's token again (every node has the same auth.tokens).
    for (const v of call.metadata.get('authorization')) md.add('authorization', v);
    const options: grpc.CallOptions = {};
    const deadline = call.getDeadline();
    if (deadline !== Infinity) options.deadline = deadline;
    return new Promise((resolve) => {
      const out = fn(client, call.request, md, options, (err, res) => {
        call.removeListener('cancelled', onCancel);
        if (err === null && res !== undefined) return resolve({ kind: 'ok', value: res });
        if (err === null) return resolve(fail('internal', 'the leader sent no response'));
        const trailers: Record<string, string> = {};
        for (const [k, v] of Object.entries(err.metadata?.getMap() ?? {})) if (typeof v === 'string') trailers[k] = v;
        const fromHandler = trailers[ANSWERED_BY_METADATA] !== undefined;
        if (!fromHandler && isWrite && err.code !== grpc.status.DEADLINE_EXCEEDED && err.code !== grpc.status.CANCELLED) {
          // The call may have reached the leader before the transport failed.
          return resolve({ kind: 'error', code: grpc.status.UNKNOWN, details: `forwarding to ${leaderId} failed (${err.details}); the write may have been applied` });
        }
        resolve({ kind: 'error', code: err.code, details: err.details, trailers });
      });
      const onCancel = (): void => out.cancel();
      call.once('cancelled', onCancel);
    });
  };

  /** Runs a handler and sends its answer with the leader metadata; forwards when told to. */
  const unary =
    <Req, Res>(name: string, isWrite: (req: Req) => boolean, run: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Answer<Res>>, fn: ForwardFn<Req, Res>): grpc.handleUnaryCall<Req, Res> =>
    (call, callback) => {
      const started = process.hrtime.bigint();
      let observed = false;
      const observe = (code: grpc.status): void => {
        if (observed) return;
        observed = true;
        metrics.observeCall(name, code, secondsSince(started));
      };
      // A call that ends before it is answered: past its deadline, or cancelled by the caller.
      call.once('cancelled', () => {
        const deadline = call.getDeadline();
        const expired = deadline instanceof Date ? deadline.getTime() <= Date.now() : deadline !== Infinity && deadline <= Date.now();
        observe(expired ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED);
      });
      const go = async (): Promise<{ answer: Answer<Res>; leaderId: NodeId | null }> => {
        const answer = await run(call.request, call);
        if (answer.kind !== 'forward') return { answer, leaderId: node.status().leaderId };
        return { answer: await forward(answer.leaderId, call, isWrite(call.request), fn), leaderId: answer.leaderId };
      };
      go().then(
        ({ answer, leaderId }) => {
          if (call.cancelled) return;
          call.sendMetadata(leaderMetadata(leaderId));
          observe(answer.kind === 'ok' ? grpc.status.OK : answer.kind === 'error' ? answer.code : grpc.status.INTERNAL);
          if (answer.kind === 'error' && answer.catalogCode !== undefined) api.errorAnswered('grpc', answer.catalogCode);
          if (answer.kind === 'ok') return callback(null, answer.value);
          if (answer.kind === 'forward') throw new Error('unreachable: forward answered after forwarding');
          const trailers = leaderMetadata(leaderId);
          for (const [k, v] of Object.entries(answer.trailers ?? {})) if (k !== LEADER_METADATA) trailers.set(k, v);
          if (trailers.get(ANSWERED_BY_METADATA).length === 0) trailers.set(ANSWERED_BY_METADATA, node.id);
          callback({ code: answer.code, details: answer.details, metadata: trailers });
        },
        (e: unknown) => {
          log.error({ err: e, method: name }, 'grpc call failed');
          const trailers = leaderMetadata(node.status().leaderId);
          trailers.set(ANSWERED_BY_METADATA, node.id);
          observe(grpc.status.INTERNAL);
          api.errorAnswered('grpc', 'internal');
          callback({ code: grpc.status.INTERNAL, details: 'internal error', metadata: trailers });
        },
      );
    };

  const keyProblem = (key: Buffer): string | null => (key.length < 1 || key.length > keyBytesMax ? `keys are 1 to ${keyBytesMax} bytes, got ${key.length}` : null);

  const revisionOf = (present: boolean, revision: number | undefined): { ok: true; revision: number | null } | { ok: false } => {
    if (!present || revision === undefined) return { ok: true, revision: null };
    return Number.isSafeInteger(revision) && revision >= 0 ? { ok: true, revision } : { ok: false };
  };

  const tagOf = (requestId: string): RequestTag | null => (requestId === '' ? null : idempotencyTag(requestId));

  type KeyWritten = Extract<KvResult, { ok: true; op: 'put' | 'delete' }>;
  const propose = async <T>(command: PutCommand | DeleteCommand, call: grpc.ServerUnaryCall<unknown, unknown>, answer: (r: KeyWritten) => T): Promise<Answer<T>> => {
    const problem = commandProblem(command);
    if (problem !== null) return fail('bad_request', problem);
    const started = process.hrtime.bigint();
    const o = await node.propose(command);
    api.observeKv(command.op, 'linearizable', secondsSince(started));
    if (!o.ok) return refused(o.error, call);
    const r = o.value;
    if ((r.op !== 'put' && r.op !== 'delete') || (!r.ok && r.error !== 'revision_mismatch')) throw new Error(`a key write answered ${JSON.stringify(r)}`);
    if (!r.ok) {
      const trailers: Record<string, string> = r.currentRevision === null ? {} : { [REVISION_METADATA]: String(r.currentRevision) };
      return fail('revision_mismatch', `the key's revision is ${r.currentRevision ?? 'none (absent)'}`, trailers);
    }
    return { kind: 'ok', value: answer(r) };
  };

  const handlers: KVHandlers = {
    Put: unary<PutRequest__Output, PutResponse>(
      'Put',
      () => true,
      async (req, call) => {
        const bad = keyProblem(req.key);
        if (bad !== null) return fail('bad_key', bad);
        if (req.value.length > config.http.valueBytesMax) return fail('value_too_large', `value is ${req.value.length} bytes; the limit is ${config.http.valueBytesMax}`);
        const expected = revisionOf(req._expected_revision === 'expected_revision', req.expected_revision);
        if (!expected.ok) return fail('bad_precondition', 'expected_revision is not a safe integer');
        if (expected.revision !== null && req.create_only) return fail('bad_precondition', 'use expected_revision or create_only, not both');
        const condition: Condition = req.create_only ? { kind: 'absent' } : expected.revision !== null ? { kind: 'revision', revision: expected.revision } : { kind: 'none' };
        return propose({ op: 'put', key: req.key, value: req.value, condition, tag: tagOf(req.request_id) }, call, (r) => ({ revision: r.revision }));
      },
      (c, req, md, o, cb) => c.Put(req, md, o, cb),
    ),
    Delete: unary<DeleteRequest__Output, DeleteResponse>(
      'Delete',
      () => true,
      async (req, call) => {
        const bad = keyProblem(req.key);
        if (bad !== null) return fail('bad_key', bad);
        const expected = revisionOf(req._expected_revision === 'expected_revision', req.expected_revision);
        if (!expected.ok) return fail('bad_precondition', 'expected_revision is not a safe integer');
        const condition: Exclude<Condition, { kind: 'absent' }> = expected.revision !== null ? { kind: 'revision', revision: expected.revision } : { kind: 'none' };
        return propose({ op: 'delete', key: req.key, condition, tag: tagOf(req.request_id) }, call, (r) => ({
          deleted: r.op === 'delete' ? r.deleted : false,
          revision: r.revision,
        }));
      },
      (c, req, md, o, cb) => c.Delete(req, md, o, cb),
    ),
    Get: unary<GetRequest__Output, GetResponse>(
      'Get',
      () => false,
      async (req, call) => {
        const bad = keyProblem(req.key);
        if (bad !== null) return fail('bad_key', bad);
        const started = process.hrtime.bigint();
        let state;
        if (req.consistency === 'STALE') state = node.staleState();
        else if (req.consistency === 'LINEARIZABLE' || req.consistency === 'LEASE') {
          const o = await node.linearizableRead(req.consistency === 'LEASE');
          if (!o.ok) return refused(o.error, call);
          state = o.value;
        } else return fail('bad_request', 'consistency is LINEARIZABLE, LEASE or STALE');
        const got = state.get(req.key);
        api.observeKv('get', req.consistency === 'STALE' ? 'stale' : req.consistency === 'LEASE' ? 'lease' : 'linearizable', secondsSince(started));
        if (got === undefined) return fail('key_not_found', 'no such key');
        return { kind: 'ok', value: { value: toBuffer(got.value), revision: got.revision } };
      },
      (c, req, md, o, cb) => c.Get(req, md, o, cb),
    ),
  };

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
  server.addService(tolerantDefinition(kv.kvstore.v1.KV.service), handlers);

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

  const closePool = (): void => {
    for (const c of pool.values()) c.close();
    pool.clear();
  };
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
