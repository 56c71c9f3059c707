// The REST app and its listener in this process, over a stand-in node: for the
// parts of the API that never reach Raft (health, stale reads of an empty state,
// CORS, authentication, limits). `yaml` adds keys to a minimal valid config.
import { stringify } from 'yaml';
import type { NodeConfig } from '../../src/config/config.js';
import { parseConfig } from '../../src/config/config.js';
import { startHttpListener, type HttpListener } from '../../src/http/listener.js';
import { createHttpApp } from '../../src/http/server.js';
import type { DebugServices } from '../../src/http/debug-routes.js';
import { createLogger } from '../../src/log.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { ApiMetrics } from '../../src/metrics/api-metrics.js';
import type { KvNode } from '../../src/node/kv-node.js';
import type { TlsMaterial } from '../../src/tls/tls-material.js';

/** Just enough of a node for routes that do not touch Raft: stale reads and health. */
export const fakeNode = {
  id: 'n1',
  status: () => ({ id: 'n1', role: 'leader', term: 1, leaderId: 'n1', commitIndex: 0, appliedIndex: 0, lastLogIndex: 0 }),
  leaderId: () => 'n1',
  ready: () => true,
  membership: () => 'voter',
  members: () => ({ leaderId: 'n1', configIndex: 0, committed: true, members: [{ id: 'n1', role: 'voter', addrs: { raftAddr: '127.0.0.1:7081', httpAddr: '127.0.0.1:8081', grpcAddr: '127.0.0.1:9081' } }] }),
  // Every read is served at once, from an empty state machine.
  read: (_consistency: string, view: (state: KvStateMachine) => unknown, done: (o: { ok: true; value: unknown }) => void) => done({ ok: true, value: view(new KvStateMachine()) }),
} as unknown as KvNode;

export type Sections = Record<string, Record<string, unknown>>;

export function configWith(sections: Sections): NodeConfig {
  const tree: Sections = {
    node: { id: 'n1', data_dir: './data/n1' },
    raft: { metrics_addr: '127.0.0.1:2112', peers: [{ id: 'n1', raft_addr: '127.0.0.1:7081', http_addr: '127.0.0.1:8081', grpc_addr: '127.0.0.1:9081' }] },
  };
  for (const [section, keys] of Object.entries(sections)) tree[section] = { ...tree[section], ...keys };
  const r = parseConfig(stringify(tree), {}, 'harness.yml');
  if (!r.ok) throw new Error(r.error);
  return r.config;
}

export interface ServedApp {
  readonly base: string;
  readonly listener: HttpListener;
  readonly api: ApiMetrics;
  close(): Promise<void>;
}

/** Serves the app for `config` on a free port (with TLS when `tls` is given). */
export async function serveApp(config: NodeConfig, node: KvNode = fakeNode, tls: TlsMaterial | null = null, debug: DebugServices | null = null): Promise<ServedApp> {
  const api = new ApiMetrics('n1', () => ({ keys: 0, bytes: 0, sessions: 0, shardRebuilds: 0 }));
  const logger = createLogger('n1', 'fatal');
  const app = createHttpApp(config, node, logger, api, debug);
  const listener = await startHttpListener(app, {
    host: '127.0.0.1',
    port: 0,
    limits: config.http,
    tls: tls === null ? null : { material: tls, clientCerts: config.http.tlsClientCerts },
    logger,
    onRefused: (reason) => api.connectionRefused('http', reason),
    onAnswered: (code) => api.errorAnswered('http', code),
  });
  return {
    base: `${tls === null ? 'http' : 'https'}://127.0.0.1:${listener.port}`,
    listener,
    api,
    close: () =>
      new Promise((resolve) => {
        listener.server.close(() => resolve());
        listener.server.closeAllConnections();
      }),
  };
}
