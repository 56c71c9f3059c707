// The checks of the security keys (README "Security"): the peer secret, TLS files
// of each listener, client certificates and bearer tokens. Like every check, they
// report each problem as one `config error:` line naming the key; secrets are
// never echoed, only what kind of value they were.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { roles, type Role, type TokenConfig } from '../auth/tokens.js';
import { readTlsMaterial } from '../tls/tls-material.js';
import type { Reads } from './catalog.js';
import { didYouMean, isMapping, renderPath, show, type Check, type KeyPath, type Origin, type Problems, type Read } from './checks.js';

/** Short secrets can be guessed offline from one recorded handshake. */
export const secretCharsMin = 16;

export type ClientCerts = 'none' | 'optional' | 'required';
const clientCertModes: readonly ClientCerts[] = ['none', 'optional', 'required'];

const idPattern = /^[A-Za-z0-9_.-]{1,64}$/;
const tokenKeys: readonly string[] = ['name', 'role', 'sha256'];

function kindOf(value: unknown): string {
  if (typeof value === 'string') return value === '' ? 'an empty string' : `a string of ${value.length} characters`;
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}

/** The secret is never echoed in an error, only what kind of value it was. */
export const checkSecret: Check<string> = (f, p) => {
  if (typeof f.value === 'string' && f.value.length >= secretCharsMin) return f.value;
  p.add(f.path, f.origin, `expected a string of at least ${secretCharsMin} characters (or null for none), got ${kindOf(f.value)}`);
  return undefined;
};

function fsWhy(e: unknown): string {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String(e.code) : '';
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR' ? 'a component of the path is not a directory' : code;
}

/** A readable regular file; relative paths are resolved against the working directory. */
export const checkFile: Check<string> = (f, p) => {
  if (typeof f.value !== 'string' || f.value === '') return p.expected(f, 'a file path');
  const path = resolve(f.value);
  try {
    if (!statSync(path).isFile()) return p.expected(f, 'a regular file');
    accessSync(path, constants.R_OK);
    return path;
  } catch (e) {
    p.add(f.path, f.origin, `cannot read ${JSON.stringify(f.value)}: ${fsWhy(e)}`);
    return undefined;
  }
};

export const checkClientCerts: Check<ClientCerts> = (f, p) => clientCertModes.find((m) => m === f.value) ?? p.expected(f, `one of ${clientCertModes.join(', ')}`);

export const checkBoolean: Check<boolean> = (f, p) => (typeof f.value === 'boolean' ? f.value : p.expected(f, 'true or false'));

export const checkTokens: Check<readonly TokenConfig[]> = (f, p) => {
  if (!Array.isArray(f.value)) return p.expected(f, 'a list of tokens {name, role, sha256} ([] turns authentication off)');
  let ok = true;
  const tokens: TokenConfig[] = [];
  f.value.forEach((entry: unknown, index) => {
    const path = [...f.path, index];
    if (!isMapping(entry)) {
      ok = false;
      p.expected({ path, value: entry, origin: f.origin }, 'a mapping {name, role, sha256}');
      return;
    }
    for (const key of Object.keys(entry)) {
      if (tokenKeys.includes(key)) continue;
      ok = false;
      const hint = key === 'token' ? ' (list the SHA-256 of a token, never the token: kvstore auth new-token prints both)' : didYouMean(key, tokenKeys);
      p.add([...path, key], f.origin, `unknown key${hint}`);
    }
    const field = (key: string): { path: KeyPath; value: unknown; origin: typeof f.origin } => ({ path: [...path, key], value: entry[key], origin: f.origin });
    const name = typeof entry['name'] === 'string' && idPattern.test(entry['name']) ? entry['name'] : p.expected(field('name'), 'a name of 1 to 64 characters from A-Z a-z 0-9 _ . -');
    const role = roles.find((r) => r === entry['role']) ?? p.expected(field('role'), `one of ${roles.join(', ')}`);
    const hash = entry['sha256'];
    const sha256 = typeof hash === 'string' && /^[0-9a-fA-F]{64}$/.test(hash) ? hash.toLowerCase() : p.expected(field('sha256'), '64 hex digits, the SHA-256 of the token');
    if (name === undefined || role === undefined || sha256 === undefined) {
      ok = false;
      return;
    }
    const twin = tokens.findIndex((t) => t.name === name || t.sha256 === sha256);
    if (twin >= 0) {
      ok = false;
      const what = tokens[twin]!.name === name ? 'name' : 'sha256';
      p.add([...path, what], f.origin, `expected a ${what} not already used by ${renderPath([...f.path, twin])}`);
      return;
    }
    tokens.push(Object.freeze({ name, role: role as Role, sha256 }));
  });
  return ok ? Object.freeze(tokens) : undefined;
};

function valueOf<T>(r: Read<T>): T | undefined {
  return r.state === 'set' || r.state === 'default' ? r.value : undefined;
}

function originOf(r: Read<unknown>): Origin | null {
  return r.state === 'set' ? r.field.origin : null;
}

/** What the security checks derive: the peer secret, from raft.secret or raft.secret_file. */
export interface SecurityDerived {
  readonly 'raft.secret': string | null;
}

/**
 * The rules that relate security and limit keys: one source of the peer secret;
 * TLS files in matching pairs, loadable, with the CA that client certificates
 * need; mutual TLS between peers needs all three files; a request's head deadline
 * within its whole deadline.
 */
export function checkSecurity(r: Reads, p: Problems): SecurityDerived | undefined {
  let secret: string | null | undefined = valueOf(r.raft.secret);
  const secretFile = r.raft.secret_file;
  if (r.raft.secret.state === 'set' && secretFile.state === 'set') {
    p.add(['raft', 'secret_file'], secretFile.field.origin, 'expected raft.secret or raft.secret_file, not both');
    secret = undefined;
  } else if (secretFile.state === 'set') {
    secret = readSecretFile(secretFile.value, secretFile.field.path, secretFile.field.origin, p);
  } else if (r.raft.secret.state === 'unset') {
    secret = null;
  }

  const listener = (section: 'raft' | 'http' | 'grpc'): void => {
    const cert = r[section].tls_cert_file;
    const key = r[section].tls_key_file;
    const ca = r[section].tls_ca_file;
    const where = (k: string): KeyPath => [section, k];
    if (cert.state === 'invalid' || key.state === 'invalid' || ca.state === 'invalid') return;
    const set = (x: Read<string | null>): boolean => x.state === 'set' && x.value !== null;
    if (set(cert) !== set(key)) {
      const missing = set(cert) ? 'tls_key_file' : 'tls_cert_file';
      const present = set(cert) ? cert : key;
      p.add(where(missing), originOf(present), `required with ${section}.${set(cert) ? 'tls_cert_file' : 'tls_key_file'}, not set`);
      return;
    }
    if (section === 'raft' && (set(cert) || set(ca)) && !(set(cert) && set(ca))) {
      p.add(where(set(cert) ? 'tls_ca_file' : 'tls_cert_file'), originOf(set(cert) ? cert : ca), 'peer TLS is mutual: raft.tls_cert_file, raft.tls_key_file and raft.tls_ca_file go together');
      return;
    }
    if (section !== 'raft') {
      const clientCerts = r[section].tls_client_certs;
      const mode = valueOf(clientCerts);
      if (mode !== undefined && mode !== 'none' && !set(ca)) {
        p.add(where('tls_ca_file'), originOf(clientCerts), `required when ${section}.tls_client_certs is ${mode}: the CA that signs client certificates`);
        return;
      }
      if (set(ca) && !set(cert)) {
        p.add(where('tls_cert_file'), originOf(ca), `required with ${section}.tls_ca_file (client certificates need TLS)`);
        return;
      }
    }
    if (!set(cert)) return;
    const loaded = readTlsMaterial({ certFile: valueOf(cert)!, keyFile: valueOf(key)!, caFile: set(ca) ? valueOf(ca)! : null });
    if (!loaded.ok) {
      const bad = loaded.file === 'cert' ? cert : loaded.file === 'key' ? key : ca;
      p.add(where(`tls_${loaded.file}_file`), originOf(bad), loaded.error);
    }
  };
  listener('raft');
  listener('http');
  listener('grpc');

  // A node that joins a cluster with authentication on asks with an admin token.
  const join = r.raft.join;
  const joinToken = r.raft.join_token_file;
  const tokens = valueOf(r.auth.tokens);
  const joining = join.state === 'set' && join.value !== null;
  if (joinToken.state === 'set' && joinToken.value !== null) {
    if (!joining) p.add(['raft', 'join_token_file'], joinToken.field.origin, 'goes with raft.join, which is not set');
    else readTokenFile(joinToken.value, joinToken.field.path, joinToken.field.origin, p);
  } else if (joining && tokens !== undefined && tokens.length > 0) {
    p.add(['raft', 'join_token_file'], join.state === 'set' ? join.field.origin : null, 'required with raft.join when auth.tokens is set: a file holding an admin token to join with');
  }

  // The whole request includes its head: Node refuses a head deadline past the request's.
  const head = r.http.header_timeout_ms;
  const whole = valueOf(r.http.body_timeout_ms);
  const headMs = valueOf(head);
  if (headMs !== undefined && whole !== undefined && headMs > whole) {
    p.add(['http', 'header_timeout_ms'], originOf(head), `expected at most http.body_timeout_ms (${whole}), got ${headMs}${head.state === 'set' ? '' : ' (the default)'}`);
  }
  return secret === undefined ? undefined : { 'raft.secret': secret };
}

/** A file's UTF-8 text without one trailing newline (the editor's or echo's), or undefined after reporting why not. */
function readLineFile(path: string, what: string, at: KeyPath, origin: Origin | null, p: Problems): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(path)).replace(/\r?\n$/, '');
  } catch (e) {
    p.add(at, origin, `cannot read the ${what} from ${show(path)}: ${fsWhy(e) || 'not UTF-8'}`);
    return undefined;
  }
}

/** The bearer token in a file, or undefined after reporting why not. */
function readTokenFile(path: string, at: KeyPath, origin: Origin | null, p: Problems): string | undefined {
  const token = readLineFile(path, 'token', at, origin, p);
  if (token === undefined) return undefined;
  if (token === '' || /\s/.test(token)) {
    p.add(at, origin, `expected a file holding one bearer token, got ${kindOf(token)}`);
    return undefined;
  }
  return token;
}

function readSecretFile(path: string | null, at: KeyPath, origin: Origin | null, p: Problems): string | null | undefined {
  if (path === null) return null;
  const secret = readLineFile(path, 'secret', at, origin, p);
  if (secret === undefined) return undefined;
  if (secret.length < secretCharsMin) {
    p.add(at, origin, `expected a file holding a secret of at least ${secretCharsMin} characters, got ${kindOf(secret)}`);
    return undefined;
  }
  return secret;
}
