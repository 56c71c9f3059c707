// Checking a node's configuration: one value at a time (the checks the catalog
// names per key), then how keys relate. Every problem is collected, one
// `config error: …` line each, naming the key as written in YAML, the bad value,
// what was expected and where the value came from.

import { resolve } from 'node:path';
import { nodeId, type NodeId } from '../raft/types.js';
import type { Reads } from './catalog.js';
import { formatHostPort, isWildcardHost, listenersOverlap, parseHostPort, sameHostPort, type HostPort } from './host-port.js';

export interface PeerConfig {
  readonly id: NodeId;
  readonly raftAddr: HostPort;
  readonly httpAddr: HostPort;
  readonly grpcAddr: HostPort;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

const idPattern = /^[A-Za-z0-9_.-]{1,64}$/;

/** A member or cluster id: 1 to 64 characters from A-Z a-z 0-9 _ . - (also what the membership APIs accept). */
export function isValidId(s: string): boolean {
  return idPattern.test(s);
}
const logLevels: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
const peerKeys: readonly string[] = ['id', 'raft_addr', 'http_addr', 'grpc_addr'];

// ---------------------------------------------------------------------------
// Problems, and where a value came from.

export type KeyPath = readonly (string | number)[];

export function renderPath(path: KeyPath): string {
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/** Where a value came from, rendered as the suffix of an error line. */
export interface Origin {
  readonly where: (path: KeyPath) => string;
}

/** A value to check, and where it sits. */
export interface Field {
  readonly path: KeyPath;
  readonly value: unknown;
  readonly origin: Origin;
}

function clip(text: string): string {
  return text.length <= 80 ? text : `${text.slice(0, 77)}...`;
}

export function show(value: unknown): string {
  if (typeof value === 'string') return clip(JSON.stringify(value));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (Array.isArray(value)) return `a list ${clip(safeJson(value))}`;
  if (typeof value === 'object') return `a mapping ${clip(safeJson(value))}`;
  return typeof value;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

export class Problems {
  readonly lines: string[] = [];

  add(path: KeyPath, origin: Origin | null, message: string): void {
    this.lines.push(`config error: ${renderPath(path)}: ${message}${origin === null ? '' : origin.where(path)}`);
  }

  expected(f: Field, what: string): undefined {
    this.add(f.path, f.origin, `expected ${what}, got ${show(f.value)}`);
    return undefined;
  }
}

export function isMapping(value: unknown): value is Readonly<Record<string, unknown>> {
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

export function didYouMean(word: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? `; did you mean ${best}?` : '';
}

// ---------------------------------------------------------------------------
// Checking one value.

export type Check<T> = (f: Field, p: Problems) => T | undefined;

export const checkId: Check<NodeId> = (f, p) => {
  if (typeof f.value === 'string' && idPattern.test(f.value)) return nodeId(f.value);
  const hint = typeof f.value === 'number' ? ' (quote a numeric id in YAML: "1")' : '';
  return p.expected(f, `an id of 1 to 64 characters from A-Z a-z 0-9 _ . -${hint}`);
};

export const checkClusterId: Check<string> = (f, p) =>
  typeof f.value === 'string' && idPattern.test(f.value) ? f.value : p.expected(f, 'a cluster id of 1 to 64 characters from A-Z a-z 0-9 _ . -');

/** Relative directories are resolved against the process's working directory. */
export const checkDirectory: Check<string> = (f, p) =>
  typeof f.value === 'string' && f.value !== '' ? resolve(f.value) : p.expected(f, 'a directory path');

export const checkAddress: Check<HostPort> = (f, p) =>
  (typeof f.value === 'string' ? parseHostPort(f.value) : null) ??
  p.expected(f, 'host:port with a port from 1 to 65535 (an IPv6 host in brackets: "[::1]:7081")');

export function checkInteger(min: number, max?: number): Check<number> {
  const range = max === undefined ? `>= ${min}` : `>= ${min} and <= ${max}`;
  return (f, p) =>
    typeof f.value === 'number' && Number.isSafeInteger(f.value) && f.value >= min && (max === undefined || f.value <= max)
      ? f.value
      : p.expected(f, `an integer ${range}`);
}

export const checkLogLevel: Check<LogLevel> = (f, p) =>
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

export const checkOrigins: Check<readonly string[]> = (f, p) => {
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

export const checkPeers: Check<readonly PeerConfig[]> = (f, p) => {
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
  // Every entry is valid, so each sits at its own index.
  return ok ? Object.freeze(peers.map((e) => e.peer)) : undefined;
};


// ---------------------------------------------------------------------------
// Checking how keys relate.

/** A key's value as read: set (in the file or the environment), at its default, unset, or unusable (already reported). */
export type Read<T> =
  | { readonly state: 'set'; readonly value: T; readonly field: Field }
  | { readonly state: 'default'; readonly value: T }
  | { readonly state: 'unset' }
  | { readonly state: 'invalid' };

function valueOf<T>(r: Read<T>): T | undefined {
  return r.state === 'set' || r.state === 'default' ? r.value : undefined;
}

/** What the catalog leaves to other keys: the listening addresses (from this node's peer entry) and the request timeout. */
export interface DerivedValues {
  readonly 'http.addr': HostPort;
  readonly 'grpc.addr': HostPort;
  readonly 'raft.addr': HostPort;
  readonly 'node.request_timeout_ms': number;
}

/** A listening address and the key that gave it (its own key, or this node's peer entry). */
interface Listener {
  readonly path: KeyPath;
  readonly origin: Origin | null;
  readonly value: HostPort;
}

/**
 * Checks the rules that relate keys, each only when the keys it relates are valid on
 * their own (so one mistake is reported once), and computes the derived values.
 */
export function checkRelations(r: Reads, p: Problems, requestTimeoutElections: number): DerivedValues | undefined {
  const electionTimeoutMs = valueOf(r.raft.election_timeout_ms);
  // Timing: a follower must hear at least two heartbeats per election timeout, and
  // a lease (electionTimeoutMs − leaseClockDriftMs) must be positive.
  if (electionTimeoutMs !== undefined) {
    const bound = (read: Read<number>, path: KeyPath, broken: (v: number) => boolean, expected: string): void => {
      const v = valueOf(read);
      if (v === undefined || !broken(v)) return;
      p.add(path, read.state === 'set' ? read.field.origin : null, `expected ${expected} (${electionTimeoutMs}), got ${read.state === 'set' ? String(v) : `${v} (the default)`}`);
    };
    bound(r.raft.heartbeat_interval_ms, ['raft', 'heartbeat_interval_ms'], (v) => v * 2 > electionTimeoutMs, 'at most half of raft.election_timeout_ms');
    bound(r.raft.lease_clock_drift_ms, ['raft', 'lease_clock_drift_ms'], (v) => v >= electionTimeoutMs, 'less than raft.election_timeout_ms');
  }

  // This node's own entry: node.id must be a member, and the entry gives the
  // addresses it listens on.
  const idRead = r.node.id;
  const peers = valueOf(r.raft.peers);
  let ownIndex = -1;
  if (idRead.state === 'set' && peers !== undefined) {
    ownIndex = peers.findIndex((peer) => peer.id === idRead.value);
    if (ownIndex < 0) {
      const ids = peers.map((peer) => peer.id).join(', ');
      p.add(['node', 'id'], idRead.field.origin, `expected one of the ids in raft.peers (${ids}), got ${show(idRead.value)}`);
    }
  }
  const own = peers !== undefined && ownIndex >= 0 ? peers[ownIndex] : undefined;
  const peersOrigin = r.raft.peers.state === 'set' ? r.raft.peers.field.origin : null;
  const listener = (read: Read<HostPort>, peerKey: string, prop: 'raftAddr' | 'httpAddr' | 'grpcAddr'): Listener | undefined => {
    const entry = own === undefined ? undefined : { path: ['raft', 'peers', ownIndex, peerKey], value: own[prop] };
    if (read.state === 'invalid' || read.state === 'default') return undefined;
    if (read.state === 'unset') return entry === undefined ? undefined : { ...entry, origin: peersOrigin };
    // Listening on a wildcard host on the entry's port is how a node behind NAT or
    // in a container listens on the address its peers know it by.
    const matches = entry === undefined || sameHostPort(read.value, entry.value) || (isWildcardHost(read.value.host) && read.value.port === entry.value.port);
    if (!matches) {
      const expected = `the address of this node's entry ${renderPath(entry.path)} (${formatHostPort(entry.value)}), or a wildcard host on its port`;
      p.add(read.field.path, read.field.origin, `expected ${expected}, got ${show(read.field.value)}`);
      return undefined;
    }
    return { path: read.field.path, origin: read.field.origin, value: read.value };
  };
  const httpListener = listener(r.http.addr, 'http_addr', 'httpAddr');
  const grpcListener = listener(r.grpc.addr, 'grpc_addr', 'grpcAddr');
  const raftListener = listener(r.raft.addr, 'raft_addr', 'raftAddr');
  const metrics = r.raft.metrics_addr;
  const metricsListener: Listener | undefined = metrics.state === 'set' ? { path: metrics.field.path, origin: metrics.field.origin, value: metrics.value } : undefined;

  // Two servers of this node cannot listen on the same port.
  const listeners = [httpListener, grpcListener, raftListener, metricsListener];
  listeners.forEach((b, j) => {
    const a = listeners.slice(0, j).find((a) => a !== undefined && b !== undefined && listenersOverlap(a.value, b.value));
    if (a === undefined || b === undefined) return;
    p.add(b.path, b.origin, `expected an address different from ${renderPath(a.path)} (${formatHostPort(a.value)}), got ${show(formatHostPort(b.value))}`);
  });

  const timeout = r.node.request_timeout_ms;
  const requestTimeoutMs = timeout.state === 'set' ? timeout.value : electionTimeoutMs === undefined ? undefined : requestTimeoutElections * electionTimeoutMs;
  if (httpListener === undefined || grpcListener === undefined || raftListener === undefined || requestTimeoutMs === undefined) return undefined;
  return { 'http.addr': httpListener.value, 'grpc.addr': grpcListener.value, 'raft.addr': raftListener.value, 'node.request_timeout_ms': requestTimeoutMs };
}
