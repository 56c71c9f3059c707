import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig, type NodeConfig } from '../../src/config/config.js';

const DIR = fileURLToPath(new URL('../../../deploy/k8s/', import.meta.url));

/* eslint-disable @typescript-eslint/no-explicit-any -- Kubernetes objects, checked field by field below */
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: any; data?: Record<string, string> };

const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const objects: K8sObject[] = files.flatMap((f) =>
  parseAllDocuments(readFileSync(join(DIR, f), 'utf8')).map((d) => {
    assert.equal(d.errors.length, 0, `${f}: ${d.errors.join('; ')}`);
    return d.toJS() as K8sObject;
  }),
);

function one(kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name === undefined ? '' : ` ${name}`}`);
  return found[0]!;
}

const sts = one('StatefulSet');
const pod = sts.spec.template;
const container = pod.spec.containers[0];
const portOf = (name: string): number => container.ports.find((p: any) => p.name === name).containerPort;
const configMap = one('ConfigMap', pod.spec.volumes.find((v: any) => v.configMap !== undefined).configMap.name);
const configMount = container.volumeMounts.find((m: any) => m.name === pod.spec.volumes.find((v: any) => v.configMap !== undefined).name);
const configFile = container.args[container.args.indexOf('-cfg_path') + 1] as string;

/** The config pod `ordinal` would load: the ConfigMap's file and its container's environment. */
function podConfig(ordinal: number): NodeConfig {
  const podName = `${sts.metadata.name}-${ordinal}`;
  const env: Record<string, string> = {};
  for (const e of container.env) env[e.name] = e.value ?? (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name' ? podName : assert.fail(`env ${e.name}: only values and metadata.name are understood`));
  const key = configFile.slice(configMount.mountPath.length + 1);
  const r = parseConfig(configMap.data![key]!, env, `${configMap.metadata.name}/${key} in ${podName}`);
  assert.ok(r.ok, r.ok ? '' : r.error);
  return r.config;
}

test('deploy/k8s: every manifest parses, has apiVersion, kind and name, and kustomization.yaml lists them all', () => {
  for (const o of objects) assert.ok(o.apiVersion && o.kind && o.metadata?.name, JSON.stringify(o).slice(0, 200));
  const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  assert.deepEqual([...kustomization.resources].sort(), [...files].sort());
  assert.deepEqual(objects.map((o) => o.kind).sort(), ['ConfigMap', 'PodDisruptionBudget', 'Service', 'Service', 'StatefulSet']);
});

test('a StatefulSet of 3 with a headless Service for stable peer names, started in parallel, a volume per pod', () => {
  assert.equal(sts.spec.replicas, 3);
  const headless = one('Service', sts.spec.serviceName);
  assert.equal(headless.spec.clusterIP, 'None');
  assert.equal(headless.spec.publishNotReadyAddresses, true, 'peers must resolve each other before any is ready');
  assert.equal(sts.spec.podManagementPolicy, 'Parallel', 'no pod is ready before a leader exists');
  assert.deepEqual(sts.spec.selector.matchLabels, pod.metadata.labels);
  for (const svc of objects.filter((o) => o.kind === 'Service')) {
    for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) assert.equal(pod.metadata.labels[k], v, `${svc.metadata.name} selects the pods`);
    for (const p of svc.spec.ports) assert.ok(container.ports.some((c: any) => c.name === p.targetPort && c.containerPort === p.port), `${svc.metadata.name} port ${p.name}`);
  }
  const claim = sts.spec.volumeClaimTemplates[0];
  assert.deepEqual(claim.spec.accessModes, ['ReadWriteOnce']);
  assert.ok(claim.spec.resources.requests.storage);
  const dataMount = container.volumeMounts.find((m: any) => m.name === claim.metadata.name);
  for (let k = 0; k < 3; k++) assert.equal(podConfig(k).node.dataDir, dataMount.mountPath, 'the data directory is the pod\'s volume');
});

test('probes, resources, a disruption budget, a client Service and Prometheus scrape annotations', () => {
  assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
  assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
  assert.ok(container.resources.requests.cpu && container.resources.requests.memory);
  assert.equal(one('PodDisruptionBudget').spec.maxUnavailable, 1);
  assert.deepEqual(one('PodDisruptionBudget').spec.selector.matchLabels, pod.metadata.labels);
  const clients = one('Service', 'kvstore');
  assert.notEqual(clients.spec.clusterIP, 'None');
  assert.deepEqual(clients.spec.ports.map((p: any) => p.name).sort(), ['grpc', 'http']);
  const config = podConfig(0);
  // The pods announce the Raft metrics port; the client Service the API port (each pod's endpoint).
  assert.equal(pod.metadata.annotations['prometheus.io/scrape'], 'true');
  assert.equal(Number(pod.metadata.annotations['prometheus.io/port']), config.raft.metricsAddr.port);
  assert.equal(clients.metadata.annotations!['prometheus.io/scrape'], 'true');
  assert.equal(Number(clients.metadata.annotations!['prometheus.io/port']), config.http.addr.port);
  assert.equal(pod.spec.securityContext.runAsNonRoot, true);
});

test('the config each pod gets passes our validation: its id from its name, the container ports it listens on, peers from ordinals and the service', () => {
  for (let k = 0; k < sts.spec.replicas; k++) {
    const config = podConfig(k);
    assert.equal(config.node.id, `${sts.metadata.name}-${k}`);
    assert.deepEqual(
      [config.http.addr, config.grpc.addr, config.raft.addr, config.raft.metricsAddr].map((a) => [a.host, a.port]),
      [['0.0.0.0', portOf('http')], ['0.0.0.0', portOf('grpc')], ['0.0.0.0', portOf('raft')], ['0.0.0.0', portOf('metrics')]],
    );
    assert.equal(config.raft.peers.length, sts.spec.replicas);
    config.raft.peers.forEach((p, ordinal) => {
      const host = `${sts.metadata.name}-${ordinal}.${sts.spec.serviceName}`;
      assert.equal(p.id, `${sts.metadata.name}-${ordinal}`);
      assert.deepEqual(p.raftAddr, { host, port: portOf('raft') });
      assert.deepEqual(p.httpAddr, { host, port: portOf('http') });
      assert.deepEqual(p.grpcAddr, { host, port: portOf('grpc') });
    });
  }
});
