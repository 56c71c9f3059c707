// How every unary gRPC call is answered: run the handler; if it says "the leader
// should", forward the call there (once) with the caller's deadline, cancellation
// and token; send the answer with the leader's id in the metadata; count it.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/proto-loader';
import type { PeerConfig } from '../config/config.js';
import { formatHostPort } from '../config/config.js';
import { codeOfRequestError, errorCatalog, type ErrorCode, type RequestError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ApiMetrics } from '../metrics/api-metrics.js';
import { secondsSince } from '../metrics/elapsed.js';
import type { KvNode } from '../node/kv-node.js';
import type { NodeId } from '../raft/types.js';
import type { GrpcMetrics } from './grpc-metrics.js';

/** Response metadata naming the leader (initial metadata, and trailers on errors). */
export const LEADER_METADATA = 'x-raft-leader';
/** Trailer naming the node whose handler produced the status (tells app errors from transport errors). */
export const ANSWERED_BY_METADATA = 'x-kvstore-answered-by';
/** Request metadata set on a forwarded call: the leader must not forward it again. */
const FORWARDED_METADATA = 'x-kvstore-forwarded';

/** What a handler answers: a response, a status, or "ask the leader". */
export type Answer<T> =
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

export function grpcStatusOf(code: ErrorCode): grpc.status {
  return grpc.status[errorCatalog[code].grpc];
}

export function fail<T>(code: ErrorCode, details: string, trailers?: Readonly<Record<string, string>>): Answer<T> {
  const error = { kind: 'error', code: grpcStatusOf(code), details, catalogCode: code } as const;
  return trailers === undefined ? error : { ...error, trailers };
}

export const ok = <T>(value: T): Answer<T> => ({ kind: 'ok', value });

/**
 * The metrics label of a method path: `Put` for `/kvstore.v1.KV/Put`, `Lease.Grant`
 * for `/kvstore.v1.Lease/Grant` (GrpcMetrics bounds the values).
 */
export function methodOfPath(path: string): string {
  const m = /^\/kvstore\.v1\.([A-Za-z]+)\/([A-Za-z]+)$/.exec(path);
  if (m === null) return path;
  return m[1] === 'KV' ? m[2]! : `${m[1]}.${m[2]}`;
}

/** The most a caller's deadline can precede this node's copy of it and still be told from a cancel (see endedCallStatus). */
export const CALLER_DEADLINE_LEAD_MS_MAX = 1_000;

/** A call's deadline as epoch milliseconds, or null when it has none. */
function deadlineMsOf(deadline: grpc.Deadline): number | null {
  if (deadline instanceof Date) return deadline.getTime();
  return deadline === Infinity ? null : deadline;
}

/**
 * How a call that ended before it was answered is counted: DEADLINE_EXCEEDED when
 * it ended at its caller's deadline, else CANCELLED. A caller's deadline and an
 * explicit cancel look alike here (both are an RST_STREAM CANCEL), and this node's
 * deadline (`deadlineMs`: its arrival plus grpc-timeout) is later than the
 * caller's by however long the call took to arrive, so the caller's cancel at its
 * own deadline nearly always comes first: comparing with this node's deadline
 * counted CANCELLED or DEADLINE_EXCEEDED by which of the two won. A cancel in the
 * last half of the call's time (at most CALLER_DEADLINE_LEAD_MS_MAX before this
 * node's deadline) is the caller's deadline; an earlier one is a cancel.
 */
export function endedCallStatus(deadlineMs: number | null, arrivedAtMs: number, endedAtMs: number): grpc.status {
  if (deadlineMs === null) return grpc.status.CANCELLED;
  const lead = Math.min(CALLER_DEADLINE_LEAD_MS_MAX, Math.max(0, deadlineMs - arrivedAtMs) / 2);
  return endedAtMs >= deadlineMs - lead ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED;
}

export interface UnaryDeps {
  readonly node: KvNode;
  /** Where members are reached: raft.peers, and the members the log added since. */
  readonly peers: Pick<ReadonlyMap<NodeId, PeerConfig>, 'get' | 'has'>;
  readonly metrics: GrpcMetrics;
  readonly api: ApiMetrics;
  readonly log: Logger;
  readonly channelOptions: grpc.ChannelOptions;
  /** The credentials a follower reaches the leader with (they change when TLS material is reloaded). */
  readonly forwardCredentials: () => grpc.ChannelCredentials;
}

export class UnaryRunner {
  /** One channel per leader address, reused by every forwarded call of every service. */
  private readonly pool = new Map<string, grpc.Client>();

  constructor(private readonly d: UnaryDeps) {}

  /** Closes the forwarding channels (on shutdown, or when the TLS material changes). */
  closePool(): void {
    for (const c of this.pool.values()) c.close();
    this.pool.clear();
  }

  leaderMetadata(leaderId: NodeId | null): grpc.Metadata {
    const md = new grpc.Metadata();
    if (leaderId !== null) md.set(LEADER_METADATA, leaderId);
    return md;
  }

  /** Maps a request the node could not take: forward when a leader is known (once), else a status. */
  refused<T>(error: RequestError, call: grpc.ServerUnaryCall<unknown, unknown>): Answer<T> {
    const forwarded = call.metadata.get(FORWARDED_METADATA).length > 0;
    if (error.kind === 'not_leader' && error.leaderId !== null && error.leaderId !== this.d.node.id && !forwarded && this.d.peers.has(error.leaderId)) {
      return { kind: 'forward', leaderId: error.leaderId };
    }
    const code = codeOfRequestError(error);
    if (code === 'outcome_unknown') return fail(code, 'the request may or may not have been applied; retry only with the same request_id');
    if (code === 'not_leader') return fail('no_leader', `${error.kind === 'not_leader' ? error.leaderId : 'another node'} leads; this forwarded call was not applied; retry`);
    if (code === 'node_stopping') return fail(code, 'this node is stopping; not applied; retry on another node');
    return fail(code, code === 'overloaded' ? 'too many uncommitted proposals; not applied; retry' : 'no leader is known now; not applied; retry');
  }

  /**
   * Runs a handler and sends its answer with the leader metadata; forwards when
   * told to. `Req` / `Res` are a method's decoded request and its response as the
   * handler builds it; `In` / `Out` the other forms proto-loader types them with.
   */
  unary<In, Res, Req, Out>(def: MethodDefinition<In, Res, Req, Out>, isWrite: (req: Req) => boolean, run: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Answer<Res>>): grpc.handleUnaryCall<Req, Res> {
    const name = methodOfPath(def.path);
    return (call, callback) => {
      const started = process.hrtime.bigint();
      let observed = false;
      const observe = (code: grpc.status): void => {
        if (observed) return;
        observed = true;
        this.d.metrics.observeCall(name, code, secondsSince(started));
      };
      // A call that ends before it is answered: at its deadline, or cancelled by the caller.
      const arrivedAtMs = Date.now();
      call.once('cancelled', () => observe(endedCallStatus(deadlineMsOf(call.getDeadline()), arrivedAtMs, Date.now())));
      const go = async (): Promise<{ answer: Answer<Res>; leaderId: NodeId | null }> => {
        const answer = await run(call.request, call);
        if (answer.kind !== 'forward') return { answer, leaderId: this.d.node.leaderId() };
        return { answer: await this.forward(def, answer.leaderId, call, isWrite(call.request)), leaderId: answer.leaderId };
      };
      go().then(
        ({ answer, leaderId }) => {
          if (call.cancelled) return;
          call.sendMetadata(this.leaderMetadata(leaderId));
          observe(answer.kind === 'ok' ? grpc.status.OK : answer.kind === 'error' ? answer.code : grpc.status.INTERNAL);
          if (answer.kind === 'error' && answer.catalogCode !== undefined) this.d.api.errorAnswered('grpc', answer.catalogCode);
          if (answer.kind === 'ok') return callback(null, answer.value);
          if (answer.kind === 'forward') throw new Error('unreachable: forward answered after forwarding');
          const trailers = this.leaderMetadata(leaderId);
          for (const [k, v] of Object.entries(answer.trailers ?? {})) if (k !== LEADER_METADATA) trailers.set(k, v);
          if (trailers.get(ANSWERED_BY_METADATA).length === 0) trailers.set(ANSWERED_BY_METADATA, this.d.node.id);
          callback({ code: answer.code, details: answer.details, metadata: trailers });
        },
        (e: unknown) => {
          this.d.log.error({ err: e, method: name }, 'grpc call failed');
          const trailers = this.leaderMetadata(this.d.node.leaderId());
          trailers.set(ANSWERED_BY_METADATA, this.d.node.id);
          observe(grpc.status.INTERNAL);
          this.d.api.errorAnswered('grpc', 'internal');
          callback({ code: grpc.status.INTERNAL, details: 'internal error', metadata: trailers });
        },
      );
    };
  }

  private clientFor(leaderId: NodeId): grpc.Client | null {
    const peer = this.d.peers.get(leaderId);
    if (peer === undefined) return null;
    const address = formatHostPort(peer.grpcAddr);
    let client = this.pool.get(address);
    if (client === undefined) {
      client = new grpc.Client(address, this.d.forwardCredentials(), this.d.channelOptions);
      this.pool.set(address, client);
    }
    return client;
  }

  private forward<In, Res, Req, Out>(def: MethodDefinition<In, Res, Req, Out>, leaderId: NodeId, call: grpc.ServerUnaryCall<Req, Res>, isWrite: boolean): Promise<Answer<Res>> {
    const client = this.clientFor(leaderId);
    if (client === null) return Promise.resolve(fail('no_leader', `leader ${leaderId} is not in raft.peers`));
    const md = new grpc.Metadata();
    md.set(FORWARDED_METADATA, this.d.node.id);
    // The leader checks the caller's token again (every node has the same auth.tokens).
    for (const v of call.metadata.get('authorization')) md.add('authorization', v);
    const options: grpc.CallOptions = {};
    const deadline = call.getDeadline();
    if (deadline !== Infinity) options.deadline = deadline;
    return new Promise((resolve) => {
      // A decoded message is a valid input to the same message's serializer, and a
      // decoded response a valid response: the forms differ only in what they accept.
      const request = call.request as unknown as In;
      const out = client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, md, options, (err, res) => {
        call.removeListener('cancelled', onCancel);
        if (err === null && res !== undefined) return resolve({ kind: 'ok', value: res as unknown as Res });
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
  }
}
