// The key material of a node's three TLS listeners, read from the files its config
// names: at start, and again on SIGHUP (renewed certificates without a restart).
import type { NodeConfig } from '../config/config.js';
import { readTlsMaterial, tlsFilesOf, type TlsMaterial } from './tls-material.js';

export interface NodeTls {
  readonly raft: TlsMaterial | null;
  readonly http: TlsMaterial | null;
  readonly grpc: TlsMaterial | null;
}

export type NodeTlsRead = { readonly ok: true; readonly tls: NodeTls } | { readonly ok: false; readonly error: string };

/** All three or nothing: a reload that cannot read one file changes none. */
export function readNodeTls(config: NodeConfig): NodeTlsRead {
  const out: Record<string, TlsMaterial | null> = {};
  for (const section of ['raft', 'http', 'grpc'] as const) {
    const files = tlsFilesOf(config[section]);
    if (files === null) {
      out[section] = null;
      continue;
    }
    const read = readTlsMaterial(files);
    if (!read.ok) return { ok: false, error: `${section}.tls_${read.file}_file: ${read.error}` };
    out[section] = read.material;
  }
  return { ok: true, tls: { raft: out['raft'] ?? null, http: out['http'] ?? null, grpc: out['grpc'] ?? null } };
}
