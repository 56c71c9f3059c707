import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { KvGrpcClient } from '../../src/client/grpc-client.js';
import { ProcessCluster } from '../e2e/process-cluster.js';
import { parseExposition, promtoolProblems, scrape, type Sample } from './exposition.js';
import { runSampleLoad } from './sample-load.js';

/**
 * prom-client's default Node.js metrics that promtool's linter flags: gauges named
 * `_total` (counts of handles, requests and resources right now). They are
 * prom-client's names, kept so that its usual dashboards work; any other problem fails.
 */
const KNOWN_LINT_PROBLEMS = new Set([
  'kvstore_nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'kvstore_nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'kvstore_nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
]);

const DISTINCT_KEYS = 10_000;
const WRITERS = 64;
/** Series a bounded label may still add while the keys go in: a GC kind, a message type, a status seen for the first time. */
const SERIES_GROWTH_MAX = 100;

/** One request on a keep-alive agent (several times faster than fetch here); resolves with the status. */
function send(agent: Agent, port: number, method: string, path: string, body: string | null): Promise<number> {
  return new Promise((resolve, reject) => {
    const headers = body === null ? {} : { 'content-length': Buffer.byteLength(body) };
    const req = request({ agent, host: '127.0.0.1', port, method, path, headers }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('error', reject);
    req.end(body ?? undefined);
  });
}

describe('the metrics of a running 3-node cluster', () => {
  let cluster: ProcessCluster;
  let leader: string;

  const endpoints = (): { what: string; url: string }[] =>
    cluster.nodes.flatMap((n) => [
      { what: `${n.id} API port`, url: `http://127.0.0.1:${n.httpPort}/metrics` },
      { what: `${n.id} Raft port`, url: `http://127.0.0.1:${n.metricsPort}/metrics` },
    ]);

  const scrapeAll = async (): Promise<Map<string, Sample[]>> => {
    const all = new Map<string, Sample[]>();
    for (const e of endpoints()) all.set(e.what, parseExposition(await scrape(e.url)));
    return all;
  };

  const series = (all: Map<string, Sample[]>): number => [...all.values()].reduce((n, s) => n + s.length, 0);

  const value = (samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

  before(async () => {
    cluster = await ProcessCluster.start(3);
    leader = await cluster.waitForLeader(15_000);
    await runSampleLoad(cluster, 'warm');
  });
  after(() => cluster?.stop());

  test('promtool check metrics finds nothing but prom-client\'s known names on both ports of every node', async () => {
    for (const e of endpoints()) {
      const text = await scrape(e.url);
      const { status, problems } = promtoolProblems(text);
      const unknown = problems.filter((p) => !KNOWN_LINT_PROBLEMS.has(p));
      assert.deepEqual(unknown, [], `${e.what}: promtool reported (exit ${status})`);
      assert.ok(status === 0 || status === 3, `${e.what}: promtool exit ${status} (3 = lint problems only)`);
      assert.ok(text.includes('kvstore_'), `${e.what} serves kvstore metrics`);
    }
  });

  test('the metrics report what the cluster did', async () => {
    const all = await scrapeAll();
    const raft = (id: string): Sample[] => all.get(`${id} Raft port`)!;
    const api = (id: string): Sample[] => all.get(`${id} API port`)!;
    const followers = cluster.nodes.map((n) => n.id).filter((id) => id !== leader);
    assert.equal(cluster.nodes.reduce((sum, n) => sum + (value(raft(n.id), 'kvstore_raft_is_leader') ?? 0), 0), 1, 'exactly one leader');
    assert.equal(value(raft(leader), 'kvstore_raft_is_leader', { node: leader }), 1);
    assert.ok((value(raft(leader), 'kvstore_raft_elections_won_total') ?? 0) >= 1, 'the leader won an election');
    assert.ok((value(raft(leader), 'kvstore_raft_proposals_accepted_total') ?? 0) >= 20, 'the leader appended the proposals');
    assert.ok((value(raft(leader), 'kvstore_raft_lease_reads_total') ?? 0) >= 1, 'lease reads were served');
    assert.ok((value(raft(leader), 'kvstore_raft_read_index_rounds_total') ?? 0) >= 1, 'ReadIndex rounds ran');
    assert.ok((value(raft(leader), 'kvstore_raft_commit_duration_seconds_count') ?? 0) >= 20, 'commit latency observed');
    const commit = value(raft(leader), 'kvstore_raft_commit_index')!;
    for (const f of followers) {
      // Progress of each follower, from the leader's core; followers have no peer progress.
      const match = value(raft(leader), 'kvstore_raft_peer_match_index', { peer: f })!;
      assert.ok(match > 0 && match <= commit + 1, `match index of ${f}: ${match}`);
      assert.equal(value(raft(leader), 'kvstore_raft_peer_state', { peer: f, state: 'replicate' }), 1);
      assert.equal(value(raft(f), 'kvstore_raft_peer_match_index'), undefined);
      assert.ok((value(raft(f), 'kvstore_transport_bytes_received_total', { peer: leader }) ?? 0) > 0);
      assert.ok((value(raft(f), 'kvstore_transport_messages_received_total', { peer: leader, type: 'appendEntries' }) ?? 0) > 0);
      assert.ok((value(raft(leader), 'kvstore_transport_messages_sent_total', { peer: f, type: 'heartbeat' }) ?? 0) > 0);
    }
    assert.ok((value(api(leader), 'kvstore_kv_keys') ?? 0) >= 10, 'keys counted');
    assert.ok((value(api(leader), 'kvstore_kv_bytes') ?? 0) > 0, 'bytes counted');
    assert.ok((value(api(leader), 'kvstore_kv_sessions') ?? 0) >= 5, 'gRPC writes left idempotency sessions');
    const errors = (code: string): number => cluster.nodes.reduce((sum, n) => sum + (value(api(n.id), 'kvstore_api_errors_total', { api: 'http', code }) ?? 0), 0);
    assert.equal(errors('bad_key'), 3, 'one bad key per node');
    assert.ok(errors('revision_mismatch') >= 3);
    assert.ok(errors('key_not_found') >= 3);
    assert.ok(cluster.nodes.some((n) => (value(api(n.id), 'kvstore_api_errors_total', { api: 'grpc', code: 'key_not_found' }) ?? 0) >= 1));
    assert.ok((value(api(leader), 'kvstore_kv_operation_duration_seconds_count', { op: 'get', consistency: 'lease' }) ?? 0) >= 1);
    assert.ok(api(leader).some((s) => s.name.startsWith('kvstore_nodejs_eventloop_lag')), 'Node.js runtime metrics');
  });

  test(`the number of series stays bounded after ${DISTINCT_KEYS} distinct keys`, async () => {
    const before = series(await scrapeAll());
    const leaderPort = cluster.node(leader).httpPort;
    const agent = new Agent({ keepAlive: true, maxSockets: WRITERS });
    let next = 0;
    const writer = async (): Promise<void> => {
      for (let i = next++; i < DISTINCT_KEYS; i = next++) {
        const key = `card/${i}/${(i * 2654435761) % 4294967296}`;
        assert.equal(await send(agent, leaderPort, 'PUT', `/v1/kv/${key}`, `v${i}`), 200, `PUT ${key}`);
        // Now and then a read of another distinct key, absent (a 404 per key must not add series either).
        if (i % 10 === 0) assert.equal(await send(agent, leaderPort, 'GET', `/v1/kv/${key}-absent?consistency=stale`, null), 404);
      }
    };
    try {
      await Promise.all(Array.from({ length: WRITERS }, writer));
    } finally {
      agent.destroy();
    }
    const grpc = new KvGrpcClient({ endpoints: [`127.0.0.1:${cluster.node(leader).grpcPort}`] });
    try {
      const puts = await Promise.all(Array.from({ length: 200 }, (_, i) => grpc.put(`card-grpc/${i}`, 'v')));
      assert.ok(puts.every((r) => r.ok), 'gRPC puts of distinct keys');
    } finally {
      grpc.close();
    }
    const all = await scrapeAll();
    const afterLoad = series(all);
    const leaderApi = all.get(`${leader} API port`)!;
    assert.ok((value(leaderApi, 'kvstore_kv_keys') ?? 0) >= DISTINCT_KEYS, 'the keys are stored');
    for (const [what, samples] of all) {
      for (const s of samples) {
        for (const v of Object.values(s.labels)) assert.ok(!v.includes('card'), `${what}: a key in a label: ${s.name}${JSON.stringify(s.labels)}`);
      }
    }
    assert.ok(afterLoad - before <= SERIES_GROWTH_MAX, `series grew from ${before} to ${afterLoad}`);
    console.log(`series on 6 ports: ${before} before, ${afterLoad} after ${DISTINCT_KEYS} keys`);
  });
});
