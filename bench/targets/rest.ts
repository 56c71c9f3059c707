// kvstore over REST with undici: a fixed number of keep-alive connections to each
// node, 307s followed (and, leader-aware, remembered as the leader, as the client
// library does).
import { Pool } from 'undici';
import type { Op, Workload } from '../workload.js';
import type { FailureKind, Outcome, Target } from './target.js';

/** A 3-node cluster needs at most this many hops to reach the leader (one, unless it moved). */
const REDIRECTS_MAX = 3;
const REQUEST_TIMEOUT_MS = 10_000;

export interface RestTargetOptions {
  /** Base URLs, like http://127.0.0.1:8081. */
  readonly endpoints: readonly string[];
  readonly connectionsPerNode: number;
  /** Send everything to the leader (found by /v1/status, then by redirects); else spread requests over the endpoints. */
  readonly leaderAware: boolean;
  readonly consistency: string;
  readonly workload: Workload;
}

export class RestTarget implements Target {
  readonly description: string;
  private readonly pools = new Map<string, Pool>();
  private readonly origins: string[];
  private leader: string | null = null;
  private nextNode = 0;
  private readonly getQuery: string;

  constructor(private readonly o: RestTargetOptions) {
    this.origins = o.endpoints.map((e) => new URL(e).origin);
    for (const origin of this.origins) this.poolOf(origin);
    this.getQuery = `?consistency=${o.consistency}`;
    this.description = `REST (undici) ${o.connectionsPerNode} keep-alive connections per node × ${this.origins.length} nodes, ${o.leaderAware ? 'leader-aware' : 'spread over all nodes, redirects followed'}, GET consistency=${o.consistency}`;
  }

  /** Finds the leader through the first endpoint's /v1/status (leader-aware runs). */
  async init(): Promise<void> {
    if (!this.o.leaderAware) return;
    const r = await this.poolOf(this.origins[0]!).request({ path: '/v1/status', method: 'GET' });
    const s = (await r.body.json()) as { leader_id: string | null; members: { id: string; http_addr: string }[] };
    const m = s.members.find((x) => x.id === s.leader_id);
    if (m !== undefined) this.leader = `http://${m.http_addr}`;
  }

  private poolOf(origin: string): Pool {
    let p = this.pools.get(origin);
    if (p === undefined) {
      p = new Pool(origin, { connections: this.o.connectionsPerNode, pipelining: 1, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: 60_000 });
      this.pools.set(origin, p);
    }
    return p;
  }

  private firstOrigin(): string {
    if (this.o.leaderAware && this.leader !== null) return this.leader;
    const origin = this.origins[this.nextNode]!;
    this.nextNode = (this.nextNode + 1) % this.origins.length;
    return origin;
  }

  async run(op: Op, key: number): Promise<Outcome> {
    const path = `/v1/kv/${this.o.workload.keys[key]!}`;
    let origin = this.firstOrigin();
    let fullPath = op === 'get' ? path + this.getQuery : path;
    for (let hop = 0; hop <= REDIRECTS_MAX; hop++) {
      let statusCode: number;
      let location: string | string[] | undefined;
      try {
        const r = await this.poolOf(origin).request({
          path: fullPath,
          method: op === 'put' ? 'PUT' : op === 'get' ? 'GET' : 'DELETE',
          body: op === 'put' ? this.o.workload.value : null,
        });
        statusCode = r.statusCode;
        location = r.headers['location'];
        if (op === 'get' && statusCode === 200) await r.body.arrayBuffer();
        else await r.body.dump();
      } catch (e) {
        return failureOf(e);
      }
      if (statusCode === 200 || (statusCode === 404 && op === 'get')) return 'ok';
      if (statusCode !== 307 || typeof location !== 'string') return statusFailure(statusCode);
      const next = new URL(location);
      origin = next.origin;
      fullPath = next.pathname + next.search;
      if (this.o.leaderAware) this.leader = origin;
    }
    return 'redirect_loop';
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
  }
}

function statusFailure(status: number): FailureKind {
  if (status === 503) return 'unavailable';
  if (status === 504) return 'outcome_unknown';
  return `http_${status}`;
}

function failureOf(e: unknown): FailureKind {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? 'timeout' : 'network';
}
