// The catalog of a node's configuration keys: for each key as written in YAML,
// how a `KV_*` variable spells its value, the check its value must pass, and what
// it is when nobody sets it. The defaults of the Raft core and of the node are
// taken from their own modules (src/raft/config.ts, src/node/config.ts), never
// copied. Adding a key is one row here; `NodeConfig` follows from this table.

import { kvNodeDefaults } from '../node/config.js';
import { defaultRaftConfig } from '../raft/config.js';
import {
  checkAddress,
  checkClusterId,
  checkDirectory,
  checkId,
  checkInteger,
  checkLogLevel,
  checkOrigins,
  checkPeers,
  type Check,
  type LogLevel,
  type Read,
} from './checks.js';
import { checkBoolean, checkClientCerts, checkFile, checkSecret, checkTokens, type ClientCerts } from './security-checks.js';
import { checkWebSocketUrl } from './debug-checks.js';
import type { TokenConfig } from '../auth/tokens.js';
import type { HostPort } from './host-port.js';
import {
  CONNECTIONS_MAX_DEFAULT,
  FRAME_BYTES_MAX_DEFAULT,
  HANDSHAKE_TIMEOUT_MS_DEFAULT,
  PENDING_MAX_DEFAULT,
  PENDING_PER_ADDRESS_MAX_DEFAULT,
} from '../transport/ws-transport.js';
import { apiLimitDefaults, type ListenerLimits } from '../api-limits.js';

/** How a `KV_*` variable's text becomes a value: as is, a strict decimal, YAML flow text, or a list. */
export type EnvSyntax = 'text' | 'integer' | 'flow' | 'list';

/** The key must be set, in the file or the environment. */
export const required: unique symbol = Symbol('required');
/** Unset, the key takes a value computed from other keys (see `checkRelations`). */
export const derived: unique symbol = Symbol('derived');

export interface KeySpec<T> {
  readonly envSyntax: EnvSyntax;
  readonly check: Check<T>;
  readonly fallback: T | typeof required | typeof derived;
}

function key<T>(envSyntax: EnvSyntax, check: Check<T>, fallback: T | typeof required | typeof derived): KeySpec<T> {
  return { envSyntax, check, fallback };
}

export const electionTimeoutMsMin = 10;
/**
 * The election timer is drawn from [T, 2T) and must fit a Node.js timer (at most
 * 2^31 − 1 ms); a longer one would fire after 1 ms and start an election storm.
 */
export const electionTimeoutMsMax = 2 ** 30;
/** Any other timer must fit a Node.js timer too. */
export const timerMsMax = 2 ** 31 - 1;
/**
 * One append or snapshot chunk is one peer message, and a message must fit a
 * peer frame: half of it leaves room for the entry that may go over the limit.
 */
export const messageBytesMax = FRAME_BYTES_MAX_DEFAULT / 2;

const r = defaultRaftConfig;
const n = kvNodeDefaults;
const a = apiLimitDefaults;

/** A client-facing listener's TLS files, client-certificate rule and limits (REST and gRPC alike). */
function clientListenerKeys(limits: ListenerLimits) {
  return {
    tls_cert_file: key<string | null>('text', checkFile, null),
    tls_key_file: key<string | null>('text', checkFile, null),
    tls_ca_file: key<string | null>('text', checkFile, null),
    tls_client_certs: key<ClientCerts>('text', checkClientCerts, 'none'),
    connections_max: key('integer', checkInteger(1), limits.connectionsMax),
    requests_max: key('integer', checkInteger(1), limits.requestsMax),
    header_timeout_ms: key('integer', checkInteger(1, timerMsMax), limits.headerTimeoutMs),
    body_timeout_ms: key('integer', checkInteger(1, timerMsMax), limits.bodyTimeoutMs),
    keep_alive_timeout_ms: key('integer', checkInteger(1, timerMsMax), limits.keepAliveTimeoutMs),
  };
}

export const catalog = {
  node: {
    id: key('text', checkId, required),
    data_dir: key('text', checkDirectory, required),
    request_timeout_ms: key('integer', checkInteger(1, timerMsMax), derived),
    reclaim_step_entries: key('integer', checkInteger(1), n.reclaimStepEntries),
  },
  http: {
    addr: key('text', checkAddress, derived),
    value_bytes_max: key('integer', checkInteger(1), 1_048_576),
    cors_origins: key<readonly string[]>('list', checkOrigins, Object.freeze([])),
    ui: key('flow', checkBoolean, true),
    follower_reads: key('flow', checkBoolean, false),
    forward_writes: key('flow', checkBoolean, false),
    ...clientListenerKeys(a.http),
  },
  grpc: {
    addr: key('text', checkAddress, derived),
    ...clientListenerKeys(a.grpc),
  },
  raft: {
    addr: key('text', checkAddress, derived),
    metrics_addr: key('text', checkAddress, required),
    peers: key('flow', checkPeers, required),
    cluster_id: key('text', checkClusterId, 'kvstore'),
    secret: key<string | null>('text', checkSecret, derived),
    secret_file: key<string | null>('text', checkFile, null),
    tls_cert_file: key<string | null>('text', checkFile, null),
    tls_key_file: key<string | null>('text', checkFile, null),
    tls_ca_file: key<string | null>('text', checkFile, null),
    connections_max: key('integer', checkInteger(1), CONNECTIONS_MAX_DEFAULT),
    pending_connections_max: key('integer', checkInteger(1), PENDING_MAX_DEFAULT),
    pending_connections_per_address_max: key('integer', checkInteger(1), PENDING_PER_ADDRESS_MAX_DEFAULT),
    handshake_timeout_ms: key('integer', checkInteger(1, timerMsMax), HANDSHAKE_TIMEOUT_MS_DEFAULT),
    election_timeout_ms: key('integer', checkInteger(electionTimeoutMsMin, electionTimeoutMsMax), r.electionTimeoutMs),
    heartbeat_interval_ms: key('integer', checkInteger(1), r.heartbeatIntervalMs),
    lease_clock_drift_ms: key('integer', checkInteger(1), r.leaseClockDriftMs),
    inflight_appends_max: key('integer', checkInteger(1), r.inflightAppendsMax),
    append_entries_max: key('integer', checkInteger(1), r.appendEntriesMax),
    append_bytes_max: key('integer', checkInteger(1, messageBytesMax), r.appendBytesMax),
    uncommitted_entries_max: key('integer', checkInteger(1), r.uncommittedEntriesMax),
    snapshot_every_entries: key('integer', checkInteger(1), n.snapshotEveryEntries),
    snapshot_every_bytes: key('integer', checkInteger(1), n.snapshotEveryBytes),
    snapshot_chunk_bytes: key('integer', checkInteger(1, messageBytesMax), n.snapshotChunkBytes),
    snapshot_chunks_inflight_max: key('integer', checkInteger(1), r.snapshotChunksInflightMax),
    snapshot_catch_up_entries: key('integer', checkInteger(0), r.snapshotCatchUpEntries),
    join: key<HostPort | null>('text', checkAddress, null),
    join_token_file: key<string | null>('text', checkFile, null),
    auto_promote: key('flow', checkBoolean, true),
    learner_promotion_distance_entries: key('integer', checkInteger(0), r.learnerPromotionDistanceEntries),
  },
  auth: {
    tokens: key<readonly TokenConfig[]>('flow', checkTokens, Object.freeze([])),
    metrics_public: key('flow', checkBoolean, false),
  },
  log: {
    level: key<LogLevel>('text', checkLogLevel, 'info'),
  },
  debug: {
    inspect: key('flow', checkBoolean, false),
    inspect_url: key('text', checkWebSocketUrl, 'ws://127.0.0.1:8080'),
    inspect_events_per_second: key('integer', checkInteger(1, 100_000), 200),
    recorder: key('flow', checkBoolean, true),
    recorder_inputs_max: key('integer', checkInteger(100, 10_000_000), 50_000),
    recorder_bytes_max: key('integer', checkInteger(2 ** 16, 2 ** 34), 64 * 2 ** 20),
  },
} as const;

export type Catalog = typeof catalog;
export type Section = keyof Catalog;
export type ValueOf<K> = K extends KeySpec<infer T> ? T : never;

/** `snapshot_catch_up_entries` → `snapshotCatchUpEntries`. */
type Camel<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<Camel<Tail>>}` : S;

export function camel(snake: string): string {
  return snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** A node's checked configuration: every key of the catalog, by section, in camel case. */
export type NodeConfig = {
  readonly [S in Section]: { readonly [K in keyof Catalog[S] & string as Camel<K>]: ValueOf<Catalog[S][K]> };
};

export interface ConfigKey {
  /** As written in YAML: `raft.election_timeout_ms`. */
  readonly path: string;
  readonly section: Section;
  readonly key: string;
  /** `KV_` + the path in upper snake case: `KV_RAFT_ELECTION_TIMEOUT_MS`. */
  readonly env: string;
  readonly spec: KeySpec<unknown>;
}

export const configKeys: readonly ConfigKey[] = (Object.keys(catalog) as Section[]).flatMap((section) =>
  Object.entries(catalog[section]).map(([k, spec]: [string, KeySpec<unknown>]) => ({
    path: `${section}.${k}`,
    section,
    key: k,
    env: `KV_${section}_${k}`.toUpperCase(),
    spec,
  })),
);

/** The values of the keys that have a fixed default, by section (sections without one left out). */
export const configDefaults: Readonly<Record<string, Readonly<Record<string, unknown>>>> = Object.freeze(
  Object.fromEntries(
    (Object.keys(catalog) as Section[])
      .map((section) => {
        const fixed = configKeys.filter((k) => k.section === section && typeof k.spec.fallback !== 'symbol');
        return [section, Object.freeze(Object.fromEntries(fixed.map((k) => [camel(k.key), k.spec.fallback])))] as const;
      })
      .filter(([, values]) => Object.keys(values).length > 0),
  ),
);

/** Every key as read from the file and the environment, before the rules that relate keys. */
export type Reads = {
  readonly [S in Section]: { readonly [K in keyof Catalog[S]]: Read<ValueOf<Catalog[S][K]>> };
};
