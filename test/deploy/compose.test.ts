import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { parseConfig, type NodeConfig } from '../../src/config/config.js';
import { scrapeTargets } from '../../src/observe/prometheus.js';
import { NODE_PROCESS_FLAGS } from '../../src/node/process-flags.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMPOSE = join(ROOT, 'compose');
const CONFIG_IN_CONTAINER = '/etc/kvstore/node.yml';
const NODES = ['n1', 'n2', 'n3'];

interface Service {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: { published: number | string; target: number }[];
  volumes?: string[];
  depends_on?: Record<string, unknown>;
}

type Compose = { services: Record<string, Service>; volumes: Record<string, unknown> };
let normalised: Compose | null = null;

/** `docker-compose config`: the file validated and normalised (absolute paths, long port syntax); run once. */
function composeConfig(): Compose {
  if (normalised !== null) return normalised;
  const r = spawnSync('docker-compose', ['-f', join(COMPOSE, 'docker-compose.yml'), 'config'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw new Error(`docker-compose is needed (Debian: apt-get install docker-compose): ${r.error.message}`);
  assert.equal(r.status, 0, `docker-compose config failed:\n${r.stderr}`);
  normalised = parse(r.stdout) as Compose;
  return normalised;
}

/** A volume entry `source:target[:mode]` mounted at `target`. */
function mountAt(s: Service, target: string): string | undefined {
  return s.volumes?.map((v) => v.split(':')).find((parts) => parts[1] === target)?.[0];
}

test('docker-compose config accepts compose/docker-compose.yml: three nodes, Prometheus and Grafana, named volumes', () => {
  const c = composeConfig();
  assert.deepEqual(Object.keys(c.services).sort(), ['grafana', 'n1', 'n2', 'n3', 'prometheus']);
  for (const v of ['n1-data', 'n2-data', 'n3-data', 'prometheus-data', 'grafana-data']) assert.ok(v in c.volumes, `volume ${v}`);
  assert.deepEqual(c.services['prometheus']!.ports, [{ published: 9090, target: 9090 }]);
  assert.deepEqual(c.services['grafana']!.ports, [{ published: 3000, target: 3000 }]);
});

test('every node mounts its own compose/nN.yml, which passes our config validation, and publishes the ports it names', () => {
  const c = composeConfig();
  const configs = new Map<string, NodeConfig>();
  for (const id of NODES) {
    const s = c.services[id]!;
    assert.equal(s.build?.dockerfile, 'compose/Dockerfile');
    assert.equal(s.build?.context.replace(/\/$/, ''), ROOT.replace(/\/$/, ''));
    const source = mountAt(s, CONFIG_IN_CONTAINER);
    assert.equal(source, join(COMPOSE, `${id}.yml`));
    // The node sees the file and the service's KV_* environment, nothing else.
    const env = Object.fromEntries(Object.entries(s.environment ?? {}).filter(([k]) => k.startsWith('KV_')));
    const loaded = parseConfig(readFileSync(source!, 'utf8'), env, `${id}.yml`);
    assert.ok(loaded.ok, loaded.ok ? '' : loaded.error);
    const config = loaded.config;
    configs.set(id, config);
    assert.equal(config.node.id, id, 'the service is named after the node');
    assert.equal(mountAt(s, config.node.dataDir), `${id}-data`, 'the data directory is the node\'s named volume');
    const published = (s.ports ?? []).map((p) => [Number(p.published), p.target]);
    assert.deepEqual(published, [config.http.addr, config.grpc.addr, config.raft.metricsAddr].map((a) => [a.port, a.port]), `${id}: published ports`);
    for (const a of [config.http.addr, config.grpc.addr, config.raft.addr, config.raft.metricsAddr]) assert.equal(a.host, '0.0.0.0', 'listens on the container\'s interfaces');
  }
  for (const [id, config] of configs) {
    // Every node names the same members, reaching peers by service name on the ports those peers listen on.
    assert.deepEqual(config.raft.peers.map((p) => p.id), NODES);
    for (const p of config.raft.peers) {
      const peer = configs.get(p.id)!;
      assert.deepEqual(p.raftAddr, { host: p.id, port: peer.raft.addr.port }, `${id}: raft_addr of ${p.id}`);
      assert.deepEqual(p.grpcAddr, { host: p.id, port: peer.grpc.addr.port }, `${id}: grpc_addr of ${p.id}`);
      // Redirects send clients on the host to the published HTTP port.
      assert.deepEqual(p.httpAddr, { host: 'localhost', port: peer.http.addr.port }, `${id}: http_addr of ${p.id}`);
    }
  }
});

test('Prometheus scrapes exactly the nodes\' API and Raft metrics ports, by service name', () => {
  const c = composeConfig();
  const prometheus = c.services['prometheus']!;
  const configFile = mountAt(prometheus, '/etc/prometheus/prometheus.yml');
  assert.equal(configFile, join(COMPOSE, 'prometheus.yml'));
  assert.ok(prometheus.command?.includes('--config.file=/etc/prometheus/prometheus.yml'));
  const configs = NODES.map((id) => {
    const r = parseConfig(readFileSync(join(COMPOSE, `${id}.yml`), 'utf8'), {}, id);
    assert.ok(r.ok);
    return r.config;
  });
  const targets = scrapeTargets(readFileSync(configFile!, 'utf8'));
  assert.deepEqual(Object.fromEntries(targets), {
    kvstore_api: configs.map((n) => `${n.node.id}:${n.http.addr.port}`),
    kvstore_raft: configs.map((n) => `${n.node.id}:${n.raft.metricsAddr.port}`),
  });
  for (const id of NODES) assert.ok(id in (prometheus.depends_on ?? {}), `prometheus starts after ${id}`);
});

test('Grafana is provisioned with the Prometheus data source and dashboards/kvstore.json', () => {
  const c = composeConfig();
  const grafana = c.services['grafana']!;
  const provisioning = mountAt(grafana, '/etc/grafana/provisioning');
  assert.equal(provisioning, join(COMPOSE, 'grafana', 'provisioning'));
  const datasources = parse(readFileSync(join(provisioning!, 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: { type: string; url: string; isDefault: boolean; jsonData: { timeInterval: string } }[] };
  const ds = datasources.datasources[0]!;
  assert.equal(ds.type, 'prometheus');
  assert.equal(ds.url, 'http://prometheus:9090', 'the prometheus service on its port');
  assert.equal(ds.isDefault, true);
  const scrapeInterval = (parse(readFileSync(join(COMPOSE, 'prometheus.yml'), 'utf8')) as { global: { scrape_interval: string } }).global.scrape_interval;
  assert.equal(ds.jsonData.timeInterval, scrapeInterval, '$__rate_interval follows the scrape interval');
  const providers = parse(readFileSync(join(provisioning!, 'dashboards', 'kvstore.yml'), 'utf8')) as { providers: { type: string; options: { path: string } }[] };
  const dashboardsDir = providers.providers[0]!.options.path;
  assert.equal(mountAt(grafana, dashboardsDir), join(ROOT, 'dashboards'));
  assert.equal(grafana.environment?.['GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH'], `${dashboardsDir}/kvstore.json`);
});

test('compose/Dockerfile: multi-stage, production dependencies only, a non-root user, HEALTHCHECK on /healthz, main.js -cfg_path', () => {
  const text = readFileSync(join(COMPOSE, 'Dockerfile'), 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  const stages = lines.filter((l) => /^FROM /.test(l));
  assert.ok(stages.length >= 2 && / AS build$/.test(stages[0]!), 'a build stage, then the runtime stage');
  const runtime = lines.slice(lines.indexOf(stages[stages.length - 1]!));
  assert.ok(lines.slice(0, lines.indexOf(stages[1]!)).some((l) => /RUN npm ci/.test(l) && !/omit=dev/.test(l)) && lines.some((l) => /RUN npm run build/.test(l)), 'builds with dev dependencies');
  assert.ok(runtime.some((l) => /RUN npm ci --omit=dev/.test(l)), 'runs with production dependencies only');
  assert.ok(runtime.some((l) => /^COPY --from=build /.test(l)));
  assert.ok(runtime.some((l) => /^USER node$/.test(l)), 'runs as the image\'s non-root user');
  assert.match(text, /HEALTHCHECK [^\n]*\\\n\s+CMD \["node", "dist\/src\/cli\/healthcheck\.js", "\/etc\/kvstore\/node\.yml"\]/);
  assert.match(readFileSync(join(ROOT, 'src', 'cli', 'healthcheck.ts'), 'utf8'), /\/healthz/);
  assert.ok(runtime.includes(`ENTRYPOINT ${JSON.stringify(['node', ...NODE_PROCESS_FLAGS, 'dist/src/main.js'])}`.replaceAll(',', ', ')), 'the node runs with the flags every launcher passes');
  assert.ok(runtime.includes(`CMD ["-cfg_path", "${CONFIG_IN_CONTAINER}"]`));
});
