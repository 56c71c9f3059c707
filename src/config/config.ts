// A node's configuration: a YAML file named by `-cfg_path`, overridden key by key
// by `KV_*` environment variables (SPEC §2), validated before anything starts.
//
// Every problem found is reported, one `config error: …` line each, joined by
// newlines: an operator fixing a file should not have to restart once per typo.
// Each line names the key as written in YAML (`raft.peers[1].raft_addr`), the bad
// value, what was expected, and where the value came from (`n1.yml:12` or
// `from KV_RAFT_PEERS`). Checks that relate two keys run only when both keys are
// valid on their own, so one mistake is not reported twice.

import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { nodeId, type NodeId } from '../raft/types.js';
import {
  formatHostPort,
  isWildcardHost,
  listenersOverlap,
  parseHostPort,
  sameHostPort,
  type HostPort,
} from './host-port.js';

export { formatHostPort } from './host-port.js';
export type { HostPort } from './host-port.js';

export interface PeerConfig {
  readonly id: NodeId;
  readonly raftAddr: HostPort;
  readonly httpAddr: HostPort;
  readonly grpcAddr: HostPort;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface NodeConfig {
  readonly node: { readonly id: NodeId; readonly dataDir: string };
  readonly http: { readonly addr: HostPort; readonly valueBytesMax: number; readonly corsOrigins: readonly string[] };
  readonly grpc: { readonly addr: HostPort };
  readonly raft: {
    readonly addr: HostPort;
    readonly metricsAddr: HostPort;
    readonly peers: readonly PeerConfig[];
    readonly clusterId: string;
    readonly sharedSecret: string | null;
    readonly electionTimeoutMs: number;
    readonly heartbeatIntervalMs: number;
    readonly leaseClockDriftMs: number;
    readonly snapshotEveryEntries: number;
    readonly snapshotEveryBytes: number;
    readonly snapshotCatchUpEntries: number;
  };
  readonly log: { readonly level: LogLevel };
}

export type ConfigResult =
  | { readonly ok: true; readonly config: NodeConfig; readonly path: string }
  | { readonly ok: false; readonly error: string };

type Env = Readonly<Record<string, string | undefined>>;

/** The values of the optional keys when neither the file nor the environment sets them. */
export const configDefaults: {
  readonly http: Omit<NodeConfig['http'], 'addr'>;
  readonly raft: Omit<NodeConfig['raft'], 'addr' | 'metricsAddr' | 'peers'>;
  readonly log: NodeConfig['log'];
} = Object.freeze({
  http: Object.freeze({ valueBytesMax: 1_048_576, corsOrigins: Object.freeze([]) }),
  raft: Object.freeze({
    clusterId: 'kvstore',
    sharedSecret: null,
    electionTimeoutMs: 1000,
    heartbeatIntervalMs: 100,
    leaseClockDriftMs: 100,
    snapshotEveryEntries: 10_000,
    snapshotEveryBytes: 67_108_864,
    snapshotCatchUpEntries: 1000,
  }),
  log: Object.freeze({ level: 'info' }),
});

/** A config file is a few hundred bytes; anything this large is the wrong file. */
export const configFileBytesMax = 1 << 20;

export const electionTimeoutMsMin = 10;
/**
 * The election timer is drawn from [T, 2T) and must fit a Node.js timer (at most
 * 2^31 − 1 ms); a longer one would fire after 1 ms and start an election storm.
 */
export const electionTimeoutMsMax = 2 ** 30;

const idPattern = /^[A-Za-z0-9_.-]{1,64}$/;
const logLevels: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

// ---------------------------------------------------------------------------
// The key catalog: what the file may contain and which KV_* variable sets it.

/** How a `KV_*` variable's text becomes a value: as is, a strict decimal, YAML flow text, or a list. */
type EnvSyntax = 'text' | 'integer' | 'flow' | 'list';

export interface ConfigKey {
  /** As written in YAML: `raft.election_timeout_ms`. */
  readonly path: string;
  readonly section: string;
  readonly key: string;
  /** `KV_` + the path in upper snake case: `KV_RAFT_ELECTION_TIMEOUT_MS`. */
  readonly env: string;
  readonly envSyntax: EnvSyntax;
}

const keyTable: ReadonlyArray<readonly [string, ReadonlyArray<readonly [string, EnvSyntax]>]> = [
  ['node', [['id', 'text'], ['data_dir', 'text']]],
  ['http', [['addr', 'text'], ['value_bytes_max', 'integer'], ['cors_origins', 'list']]],
  ['grpc', [['addr', 'text']]],
  [
    'raft',
    [
      ['addr', 'text'],
      ['metrics_addr', 'text'],
      ['peers', 'flow'],
      ['cluster_id', 'text'],
      ['shared_secret', 'text'],
      ['election_timeout_ms', 'integer'],
      ['heartbeat_interval_ms', 'integer'],
      ['lease_clock_drift_ms', 'integer'],
      ['snapshot_every_entries', 'integer'],
      ['snapshot_every_bytes', 'integer'],
      ['snapshot_catch_up_entries', 'integer'],
    ],
  ],
  ['log', [['level', 'text']]],
];

export const configKeys: readonly ConfigKey[] = keyTable.flatMap(([section, keys]) =>
  keys.map(([key, envSyntax]) => ({
    path: `${section}.${key}`,
    section,
    key,
    env: `KV_${section}_${key}`.toUpperCase(),
    envSyntax,
  })),
);

const sections: readonly string[] = keyTable.map(([section]) => section);
const keysByPath = new Map(configKeys.map((k) => [k.path, k]));
const keysByEnv = new Map(configKeys.map((k) => [k.env, k]));
const peerKeys: readonly string[] = ['id', 'raft_addr', 'http_addr', 'grpc_addr'];

// ---------------------------------------------------------------------------
// Problems, and where a value came from.

type KeyPath = readonly (string | number)[];

function renderPath(path: KeyPath): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Where a value came from, rendered as the suffix of an error line. */
interface Origin {
  readonly where: (path: KeyPath) => string;
}

function envOrigin(variable: string): Origin {
  return { where: () => ` (from ${variable})` };
}

function fileOrigin(doc: Document, lines: LineCounter, sourceName: string): Origin {
  return {
    // The line of the value, or for a missing key the line of the nearest enclosing one.
    where: (path) => {
      for (let depth = path.length; depth > 0; depth--) {
        const node: unknown = doc.getIn(path.slice(0, depth), true);
        if (isNode(node) && node.range) return ` (${sourceName}:${lines.linePos(node.range[0]).line})`;
      }
      return ` (in ${sourceName})`;
    },
  };
}

/** A value to check, and where it sits. */
interface Field {
  readonly path: KeyPath;
  readonly value: unknown;
  readonly origin: Origin;
}

function clip(text: string): string {
  return text.length <= 80 ? text : `${text.slice(0, 77)}...`;
}

function show(value: unknown): string {
  if (typeof value === 'string') return clip(JSON.stringify(value));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return `a list ${clip(safeJson(value))}`;
  if (typeof value === 'object') return `a mapping ${clip(safeJson(value))}`;
  return typeof value;
}

/** For values that must not be echoed (secrets): only their kind. */
function kindOf(value: unknown): string {
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

class Problems {
  readonly lines: string[] = [];

  add(path: KeyPath, origin: Origin | null, message: string): void {
    this.lines.push(`config error: ${renderPath(path)}: ${message}${origin === null ? '' : origin.where(path)}`);
  }

  expected(f: Field, what: string): undefined {
    this.add(f.path, f.origin, `expected ${what}, got ${show(f.value)}`);
    return undefined;
  }
}

function fail(lines: readonly string[]): ConfigResult {
  return { ok: false, error: lines.join('\n') };
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/:$/, '');
}

function isMapping(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? `; did you mean ${best}?` : '';
}

// ---------------------------------------------------------------------------
// Gathering raw values: the file first, then the environment over it.

/** A key whose raw value was already reported as unusable (e.g. KV_RAFT_PEERS is not YAML). */
const reported = Symbol('reported');
type Settings = Map<string, Field | typeof reported>;

function collectFile(root: unknown, origin: Origin, sourceName: string, settings: Settings, p: Problems): void {
  if (root === null || root === undefined) return; // an empty file: every key from the environment
  if (!isMapping(root)) {
    p.lines.push(`config error: ${sourceName}: expected a mapping with the sections ${sections.join(', ')}, got ${show(root)}`);
    return;
  }
  for (const [section, body] of Object.entries(root)) {
    if (!sections.includes(section)) {
      p.add([section], origin, `unknown key${didYouMean(section, sections)}`);
      continue;
    }
    if (body === null) continue; // `log:` with nothing under it
    if (!isMapping(body)) {
      p.expected({ path: [section], value: body, origin }, 'a mapping');
      continue;
    }
    for (const [key, value] of Object.entries(body)) {
      const path = `${section}.${key}`;
      if (!keysByPath.has(path)) {
        const elsewhere = configKeys.find((k) => k.key === key);
        const hint = elsewhere ? `; did you mean ${elsewhere.path}?` : didYouMean(path, [...keysByPath.keys()]);
        p.add([section, key], origin, `unknown key${hint}`);
        continue;
      }
      // `key:` with no value (YAML null) leaves the key unset, like omitting it.
      if (value !== null) settings.set(path, { path: [section, key], value, origin });
    }
  }
}

function collectEnv(env: Env, settings: Settings, p: Problems): void {
  const names = Object.keys(env)
    .filter((name) => name.startsWith('KV_'))
    .sort();
  for (const name of names) {
    const text = env[name];
    if (text === undefined) continue;
    const key = keysByEnv.get(name);
    if (key === undefined) {
      const hint = didYouMean(name, [...keysByEnv.keys()]);
      p.lines.push(`config error: ${name}: unknown environment variable (a KV_* variable must name a config key)${hint}`);
      continue;
    }
    const path = [key.section, key.key];
    const origin = envOrigin(name);
    const value = parseEnvText(key.envSyntax, text, path, origin, p);
    settings.set(key.path, value === reported ? reported : { path, value, origin });
  }
}

function parseEnvText(syntax: EnvSyntax, text: string, path: KeyPath, origin: Origin, p: Problems): unknown {
  switch (syntax) {
    case 'text':
      return text;
    case 'integer':
      // Strict: decimal digits only, so "10x", "1e3" and " 10" stay strings and are refused.
      return /^[0-9]+$/.test(text) ? Number(text) : text;
    case 'list':
      // A YAML/JSON flow list, or for convenience a comma-separated one.
      if (text.trim().startsWith('[')) return parseFlow(text, path, origin, p);
      return text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'flow':
      return parseFlow(text, path, origin, p);
  }
}

function parseFlow(text: string, path: KeyPath, origin: Origin, p: Problems): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  const error = doc.errors[0];
  if (error !== undefined) {
    p.add(path, origin, `expected YAML or JSON flow text such as [{id: n1, raft_addr: "127.0.0.1:7081", ...}], got invalid YAML: ${firstLine(error.message)}`);
    return reported;
  }
  return doc.toJS({ maxAliasCount: 100 });
}

// ---------------------------------------------------------------------------
// Checking one value.

type Check<T> = (f: Field, p: Problems) => T | undefined;

const checkId: Check<NodeId> = (f, p) => {
  if (typeof f.value === 'string' && idPattern.test(f.value)) return nodeId(f.value);
  const hint = typeof f.value === 'number' ? ' (quote a numeric id in YAML: "1")' : '';
  return p.expected(f, `an id of 1 to 64 characters from A-Z a-z 0-9 _ . -${hint}`);
};

const checkClusterId: Check<string> = (f, p) =>
  typeof f.value === 'string' && idPattern.test(f.value) ? f.value : p.expected(f, 'a cluster id of 1 to 64 characters from A-Z a-z 0-9 _ . -');

/** Relative directories are resolved against the process's working directory. */
const checkDirectory: Check<string> = (f, p) =>
  typeof f.value === 'string' && f.value !== '' ? resolve(f.value) : p.expected(f, 'a directory path');

const checkAddress: Check<HostPort> = (f, p) =>
  (typeof f.value === 'string' ? parseHostPort(f.value) : null) ??
  p.expected(f, 'host:port with a port from 1 to 65535 (an IPv6 host in brackets: "[::1]:7081")');

function checkInteger(min: number, max?: number): Check<number> {
  const range = max === undefined ? `>= ${min}` : `>= ${min} and <= ${max}`;
  return (f, p) =>
    typeof f.value === 'number' && Number.isSafeInteger(f.value) && f.value >= min && (max === undefined || f.value <= max)
      ? f.value
      : p.expected(f, `an integer ${range}`);
}

/** The secret is never echoed in an error, only what kind of value it was. */
const checkSecret: Check<string> = (f, p) => {
  if (typeof f.value === 'string' && f.value !== '') return f.value;
  p.add(f.path, f.origin, `expected a non-empty string (or null for none), got ${kindOf(f.value)}`);
  return undefined;
};

const checkLogLevel: Check<LogLevel> = (f, p) =>
  logLevels.find((l) => l === f.value) ?? p.expected(f, `one of ${logLevels.join(', ')}`);

/** What a browser sends in `Origin`: scheme://host[:port], no default port, no path. */
function isOrigin(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text;
  } catch {
    return false;
  }
}

const checkOrigins: Check<readonly string[]> = (f, p) => {
  if (!Array.isArray(f.value)) return p.expected(f, 'a list of origins such as ["https://app.example.com"] ([] turns CORS off)');
  let ok = true;
  const origins = f.value.map((value: unknown, i) => {
    if (typeof value === 'string' && (value === '*' || isOrigin(value))) return value;
    ok = false;
    p.expected({ path: [...f.path, i], value, origin: f.origin }, '"*" or an origin like "https://app.example.com" (scheme://host[:port], no path, no default port)');
    return '';
  });
  return ok ? Object.freeze(origins) : undefined;
};

interface IndexedPeer {
  readonly index: number;
  readonly peer: PeerConfig;
}

const peerAddressKeys = [
  ['raft_addr', 'raftAddr'],
  ['http_addr', 'httpAddr'],
  ['grpc_addr', 'grpcAddr'],
] as const;

const checkPeers: Check<readonly IndexedPeer[]> = (f, p) => {
  if (!Array.isArray(f.value)) return p.expected(f, 'a list of peers {id, raft_addr, http_addr, grpc_addr}, this node included');
  if (f.value.length === 0) {
    p.add(f.path, f.origin, 'expected at least one peer (this node included), got an empty list');
    return undefined;
  }
  let ok = true;
  const peers: IndexedPeer[] = [];
  f.value.forEach((entry: unknown, index) => {
    const path = [...f.path, index];
    if (!isMapping(entry)) {
      ok = false;
      p.expected({ path, value: entry, origin: f.origin }, 'a mapping {id, raft_addr, http_addr, grpc_addr}');
      return;
    }
    for (const key of Object.keys(entry)) {
      if (peerKeys.includes(key)) continue;
      ok = false;
      p.add([...path, key], f.origin, `unknown key${didYouMean(key, peerKeys)}`);
    }
    const read = <T>(key: string, check: Check<T>): T | undefined => {
      const value = entry[key];
      if (value !== undefined && value !== null) return check({ path: [...path, key], value, origin: f.origin }, p);
      p.add([...path, key], f.origin, 'required, not set');
      return undefined;
    };
    const id = read('id', checkId);
    const raftAddr = read('raft_addr', checkAddress);
    const httpAddr = read('http_addr', checkAddress);
    const grpcAddr = read('grpc_addr', checkAddress);
    if (id === undefined || raftAddr === undefined || httpAddr === undefined || grpcAddr === undefined) ok = false;
    else peers.push({ index, peer: Object.freeze({ id, raftAddr, httpAddr, grpcAddr }) });
  });
  // Ids name members; each address reaches exactly one of them.
  peers.forEach(({ index, peer }, i) => {
    const earlier = peers.slice(0, i);
    const twin = earlier.find((e) => e.peer.id === peer.id);
    if (twin !== undefined) {
      ok = false;
      p.add([...f.path, index, 'id'], f.origin, `expected an id not already used by ${renderPath([...f.path, twin.index])}, got ${show(peer.id)}`);
    }
    for (const [key, prop] of peerAddressKeys) {
      const same = earlier.find((e) => sameHostPort(e.peer[prop], peer[prop]));
      if (same === undefined) continue;
      ok = false;
      const where = renderPath([...f.path, same.index, key]);
      p.add([...f.path, index, key], f.origin, `expected an address not already used by ${where}, got ${show(formatHostPort(peer[prop]))}`);
    }
  });
  return ok ? peers : undefined;
};

// ---------------------------------------------------------------------------
// Reading keys, then checking how they relate.

type Read<T> =
  | { readonly state: 'set'; readonly value: T; readonly field: Field }
  | { readonly state: 'unset' }
  | { readonly state: 'invalid' };

function reader(settings: Settings, p: Problems) {
  return <T>(path: string, check: Check<T>): Read<T> => {
    const field = settings.get(path);
    if (field === undefined) return { state: 'unset' };
    if (field === reported) return { state: 'invalid' };
    const value = check(field, p);
    return value === undefined ? { state: 'invalid' } : { state: 'set', value, field };
  };
}

function orDefault<T>(read: Read<T>, fallback: T): T | undefined {
  return read.state === 'set' ? read.value : read.state === 'unset' ? fallback : undefined;
}

/** A listening address and the key that gave it (its own key, or this node's peer entry). */
interface Listener {
  readonly path: KeyPath;
  readonly origin: Origin | null;
  readonly value: HostPort;
}

function buildConfig(settings: Settings, sourceName: string, p: Problems): NodeConfig | undefined {
  const read = reader(settings, p);
  const required = <T>(path: string, r: Read<T>): T | undefined => {
    if (r.state === 'set') return r.value;
    if (r.state === 'unset') {
      const env = keysByPath.get(path)?.env ?? '';
      p.lines.push(`config error: ${path}: required, not set (set it in ${sourceName} or with ${env})`);
    }
    return undefined;
  };
  const d = configDefaults;

  const idRead = read('node.id', checkId);
  const id = required('node.id', idRead);
  const dataDir = required('node.data_dir', read('node.data_dir', checkDirectory));
  const httpAddrRead = read('http.addr', checkAddress);
  const valueBytesMax = orDefault(read('http.value_bytes_max', checkInteger(1)), d.http.valueBytesMax);
  const corsOrigins = orDefault(read('http.cors_origins', checkOrigins), d.http.corsOrigins);
  const grpcAddrRead = read('grpc.addr', checkAddress);
  const raftAddrRead = read('raft.addr', checkAddress);
  const metricsAddrRead = read('raft.metrics_addr', checkAddress);
  const metricsAddr = required('raft.metrics_addr', metricsAddrRead);
  const peersRead = read('raft.peers', checkPeers);
  const peers = required('raft.peers', peersRead);
  const clusterId = orDefault(read('raft.cluster_id', checkClusterId), d.raft.clusterId);
  const sharedSecret = orDefault<string | null>(read('raft.shared_secret', checkSecret), d.raft.sharedSecret);
  const electionRead = read('raft.election_timeout_ms', checkInteger(electionTimeoutMsMin, electionTimeoutMsMax));
  const electionTimeoutMs = orDefault(electionRead, d.raft.electionTimeoutMs);
  const heartbeatRead = read('raft.heartbeat_interval_ms', checkInteger(1));
  const heartbeatIntervalMs = orDefault(heartbeatRead, d.raft.heartbeatIntervalMs);
  const driftRead = read('raft.lease_clock_drift_ms', checkInteger(1));
  const leaseClockDriftMs = orDefault(driftRead, d.raft.leaseClockDriftMs);
  const snapshotEveryEntries = orDefault(read('raft.snapshot_every_entries', checkInteger(1)), d.raft.snapshotEveryEntries);
  const snapshotEveryBytes = orDefault(read('raft.snapshot_every_bytes', checkInteger(1)), d.raft.snapshotEveryBytes);
  const snapshotCatchUpEntries = orDefault(read('raft.snapshot_catch_up_entries', checkInteger(0)), d.raft.snapshotCatchUpEntries);
  const level = orDefault(read('log.level', checkLogLevel), d.log.level);

  // Timing: a follower must hear at least two heartbeats per election timeout, and
  // a lease (electionTimeoutMs − leaseClockDriftMs) must be positive.
  if (electionTimeoutMs !== undefined) {
    if (heartbeatIntervalMs !== undefined && heartbeatIntervalMs * 2 > electionTimeoutMs) {
      const origin = heartbeatRead.state === 'set' ? heartbeatRead.field.origin : null;
      const got = heartbeatRead.state === 'set' ? String(heartbeatIntervalMs) : `${heartbeatIntervalMs} (the default)`;
      p.add(['raft', 'heartbeat_interval_ms'], origin, `expected at most half of raft.election_timeout_ms (${electionTimeoutMs}), got ${got}`);
    }
    if (leaseClockDriftMs !== undefined && leaseClockDriftMs >= electionTimeoutMs) {
      const origin = driftRead.state === 'set' ? driftRead.field.origin : null;
      const got = driftRead.state === 'set' ? String(leaseClockDriftMs) : `${leaseClockDriftMs} (the default)`;
      p.add(['raft', 'lease_clock_drift_ms'], origin, `expected less than raft.election_timeout_ms (${electionTimeoutMs}), got ${got}`);
    }
  }

  // This node's own entry: node.id must be a member, and the entry gives the
  // addresses it listens on.
  let own: IndexedPeer | undefined;
  if (id !== undefined && peers !== undefined && idRead.state === 'set') {
    own = peers.find((e) => e.peer.id === id);
    if (own === undefined) {
      const ids = peers.map((e) => e.peer.id).join(', ');
      p.add(['node', 'id'], idRead.field.origin, `expected one of the ids in raft.peers (${ids}), got ${show(id)}`);
    }
  }
  const peersOrigin = peersRead.state === 'set' ? peersRead.field.origin : null;
  const listener = (r: Read<HostPort>, peerKey: string, prop: 'raftAddr' | 'httpAddr' | 'grpcAddr'): Listener | undefined => {
    const entry = own === undefined ? undefined : { path: ['raft', 'peers', own.index, peerKey], value: own.peer[prop] };
    if (r.state === 'invalid') return undefined;
    if (r.state === 'unset') return entry === undefined ? undefined : { ...entry, origin: peersOrigin };
    // Listening on a wildcard host on the entry's port is how a node behind NAT or
    // in a container listens on the address its peers know it by.
    const matches = entry === undefined || sameHostPort(r.value, entry.value) || (isWildcardHost(r.value.host) && r.value.port === entry.value.port);
    if (!matches) {
      const expected = `the address of this node's entry ${renderPath(entry.path)} (${formatHostPort(entry.value)}), or a wildcard host on its port`;
      p.add(r.field.path, r.field.origin, `expected ${expected}, got ${show(r.field.value)}`);
      return undefined;
    }
    return { path: r.field.path, origin: r.field.origin, value: r.value };
  };
  const httpListener = listener(httpAddrRead, 'http_addr', 'httpAddr');
  const grpcListener = listener(grpcAddrRead, 'grpc_addr', 'grpcAddr');
  const raftListener = listener(raftAddrRead, 'raft_addr', 'raftAddr');
  const metricsListener: Listener | undefined =
    metricsAddrRead.state === 'set' ? { path: metricsAddrRead.field.path, origin: metricsAddrRead.field.origin, value: metricsAddrRead.value } : undefined;

  // Two servers of this node cannot listen on the same port.
  const listeners = [httpListener, grpcListener, raftListener, metricsListener];
  listeners.forEach((b, j) => {
    const a = listeners.slice(0, j).find((a) => a !== undefined && b !== undefined && listenersOverlap(a.value, b.value));
    if (a === undefined || b === undefined) return;
    p.add(b.path, b.origin, `expected an address different from ${renderPath(a.path)} (${formatHostPort(a.value)}), got ${show(formatHostPort(b.value))}`);
  });

  if (
    p.lines.length > 0 ||
    id === undefined ||
    dataDir === undefined ||
    httpListener === undefined ||
    grpcListener === undefined ||
    raftListener === undefined ||
    metricsAddr === undefined ||
    peers === undefined ||
    valueBytesMax === undefined ||
    corsOrigins === undefined ||
    clusterId === undefined ||
    sharedSecret === undefined ||
    electionTimeoutMs === undefined ||
    heartbeatIntervalMs === undefined ||
    leaseClockDriftMs === undefined ||
    snapshotEveryEntries === undefined ||
    snapshotEveryBytes === undefined ||
    snapshotCatchUpEntries === undefined ||
    level === undefined
  ) {
    return undefined;
  }
  return Object.freeze({
    node: Object.freeze({ id, dataDir }),
    http: Object.freeze({ addr: httpListener.value, valueBytesMax, corsOrigins }),
    grpc: Object.freeze({ addr: grpcListener.value }),
    raft: Object.freeze({
      addr: raftListener.value,
      metricsAddr,
      peers: Object.freeze(peers.map((e) => e.peer)),
      clusterId,
      sharedSecret,
      electionTimeoutMs,
      heartbeatIntervalMs,
      leaseClockDriftMs,
      snapshotEveryEntries,
      snapshotEveryBytes,
      snapshotCatchUpEntries,
    }),
    log: Object.freeze({ level }),
  });
}

// ---------------------------------------------------------------------------
// Entry points.

/** Parses and checks a config file's text with the environment over it; `sourceName` labels errors. */
export function parseConfig(yamlText: string, env: Env, sourceName: string): ConfigResult {
  const lines = new LineCounter();
  const doc = parseDocument(yamlText, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) return fail([`config error: ${sourceName}: invalid YAML: ${firstLine(yamlError.message)}`]);
  let root: unknown;
  try {
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return fail([`config error: ${sourceName}: invalid YAML: ${e instanceof Error ? e.message : String(e)}`]);
  }
  const problems = new Problems();
  const settings: Settings = new Map();
  collectFile(root, fileOrigin(doc, lines, sourceName), sourceName, settings, problems);
  collectEnv(env, settings, problems);
  const config = buildConfig(settings, sourceName, problems);
  if (config === undefined) return fail(problems.lines);
  return { ok: true, config, path: sourceName };
}

const usage =
  'usage: kvstore -cfg_path <file.yml> (also --cfg_path <file>, --cfg_path=<file>); ' +
  'every key can also be set by a KV_* environment variable, see config/config.example.yml';
const cfgPathFlags: readonly string[] = ['-cfg_path', '--cfg_path'];

function parseArgv(argv: readonly string[]): { readonly ok: true; readonly path: string } | { readonly ok: false; readonly error: string } {
  let path: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    if (!cfgPathFlags.includes(flag)) return { ok: false, error: `config error: unknown argument ${JSON.stringify(arg)}; ${usage}` };
    const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '' || value.startsWith('-')) {
      return { ok: false, error: `config error: ${flag} needs a file path${value ? `, got ${JSON.stringify(value)}` : ''}; ${usage}` };
    }
    if (path !== undefined) return { ok: false, error: `config error: ${flag} given more than once; ${usage}` };
    path = value;
  }
  return path === undefined ? { ok: false, error: `config error: missing -cfg_path; ${usage}` } : { ok: true, path };
}

function describeFsError(e: unknown): string {
  const code = typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a component of the path is not a directory';
    case 'ERR_ENCODING_INVALID_ENCODED_DATA':
      return 'not valid UTF-8';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}

/** Reads the file named by `-cfg_path` in argv (process.argv.slice(2)); the result's path is absolute. */
export function loadConfig(argv: readonly string[], env: Env): ConfigResult {
  const args = parseArgv(argv);
  if (!args.ok) return args;
  const absolute = resolve(args.path);
  const cannot = (why: string): ConfigResult => fail([`config error: cannot read config file ${JSON.stringify(args.path)} (${absolute}): ${why}`]);
  let text: string;
  try {
    const stat = statSync(absolute);
    if (stat.isDirectory()) return cannot('it is a directory');
    if (!stat.isFile()) return cannot('not a regular file');
    if (stat.size > configFileBytesMax) return cannot(`larger than ${configFileBytesMax} bytes`);
    text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(absolute));
  } catch (e) {
    return cannot(describeFsError(e));
  }
  const result = parseConfig(text, env, args.path);
  return result.ok ? { ...result, path: absolute } : result;
}
