// The cluster page, the event stream and the flight recording over a real socket in this process (a stand-in node behind).
import { votersConfig } from '../raft/configs.js';
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { tokenHash } from '../../src/auth/tokens.js';
import { FlightRecorder } from '../../src/debug/flight-recorder.js';
import { NodeEvents } from '../../src/debug/node-events.js';
import { EventStreams } from '../../src/http/events-route.js';
import type { DebugServices } from '../../src/http/debug-routes.js';
import { MemberProxy } from '../../src/http/member-proxy.js';
import { defaultRaftConfig } from '../../src/raft/config.js';
import { RaftNode, emptyPersistedState } from '../../src/raft/host/raft-node.js';
import type { RaftStatus } from '../../src/raft/host/raft-node.js';
import { logIndex, nodeId, term } from '../../src/raft/types.js';
import { loadUiAssets } from '../../src/ui/assets.js';
import { configWith, serveApp, type ServedApp, type Sections } from './app-harness.js';
import { checkAgainstOpenApi, type Observed } from './openapi-check.js';

const READ = 'read-token-0123456789abcdef';
const WRITE = 'write-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';
const tokens = [
  { name: 'reader', role: 'read', sha256: tokenHash(READ) },
  { name: 'writer', role: 'write', sha256: tokenHash(WRITE) },
  { name: 'admin', role: 'admin', sha256: tokenHash(ADMIN) },
];

const served: ServedApp[] = [];
const closers: (() => void)[] = [];
after(async () => {
  for (const c of closers) c();
  await Promise.all(served.map((s) => s.close()));
});

function events(): NodeEvents {
  const status: RaftStatus = { id: nodeId('n1'), role: 'leader', term: term(3), votedFor: nodeId('n1'), leaderId: nodeId('n1'), commitIndex: logIndex(7), appliedIndex: logIndex(7), lastLogIndex: logIndex(7), lastLogTerm: term(3) };
  return new NodeEvents({ status: () => status, peerProgress: () => [], connectedPeers: () => [], nowMs: () => 1_000 });
}

/** A real (single-voter) core, never run, so that the recorder has a checkpoint to start from. */
function recorder(): FlightRecorder {
  const r = new FlightRecorder({ inputsMax: 1000, bytesMax: 1 << 20 });
  const clock = { setTimeout: () => null, clearTimeout: () => undefined };
  new RaftNode({ id: nodeId('n1'), bootstrap: votersConfig(['n1']), config: defaultRaftConfig, env: { nowMs: () => 0, randomInt: () => 0 }, clock, persisted: emptyPersistedState, onReady: () => undefined, tap: r });
  return r;
}

async function serve(sections: Sections, hub = events()): Promise<{ app: ServedApp; hub: NodeEvents }> {
  const config = configWith(sections);
  const rec = recorder();
  const debug: DebugServices = {
    streams: new EventStreams(hub, 'boot1'),
    ui: config.http.ui ? { ...loadUiAssets('live'), proxy: new MemberProxy(config, 1024) } : null,
    recording: { recorder: rec, header: () => ({ node: nodeId('n1'), voters: [nodeId('n1')], raft: defaultRaftConfig, clock: { monotonicMs: 0, wallMs: 0 } }) },
  };
  const app = await serveApp(config, undefined, null, debug);
  served.push(app);
  return { app, hub };
}

const bearer = (t: string): Record<string, string> => ({ Authorization: `Bearer ${t}` });

/** Reads SSE events from `url` until `count` arrived (status samples left out unless `withStatus`); returns them with their ids. */
async function readEvents(url: string, count: number, headers: Record<string, string> = {}, withStatus = false): Promise<{ id: string; event: string; data: Record<string, unknown> }[]> {
  const ac = new AbortController();
  closers.push(() => ac.abort());
  const r = await fetch(url, { headers, signal: ac.signal });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  const out: { id: string; event: string; data: Record<string, unknown> }[] = [];
  let buf = '';
  while (out.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const f = Object.fromEntries(block.split('\n').filter((l) => /^(id|event|data): /.test(l)).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)]));
      if (f['data'] !== undefined && (withStatus || f['event'] !== 'status') && out.length < count) out.push({ id: f['id']!, event: f['event']!, data: JSON.parse(f['data']) as Record<string, unknown> });
    }
  }
  ac.abort();
  return out;
}

describe('the cluster page (GET /ui)', () => {
  test('is one page with everything it loads served by the node itself: no CDN, a strict CSP', async () => {
    const { app } = await serve({});
    const page = await fetch(`${app.base}/ui`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await page.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    assert.deepEqual(refs.sort(), ['/ui/assets/app.css', '/ui/assets/app.js']);
    for (const ref of refs) {
      const r = await fetch(`${app.base}${ref}`);
      assert.equal(r.status, 200, ref);
      assert.doesNotMatch(await r.text(), /(import|fetch|url)\s*\(\s*['"]https?:/, `${ref} loads nothing from elsewhere`);
    }
    const graph = (await (await fetch(`${app.base}/ui/assets/machine.json`)).json()) as { states: { id: string }[] };
    assert.deepEqual(graph.states.map((s) => s.id), ['follower', 'preCandidate', 'candidate', 'leader']);
  });

  test('http.ui: false turns the page, its files and its proxy off', async () => {
    const { app } = await serve({ http: { ui: false } });
    for (const path of ['/ui', '/ui/assets/app.js', '/ui/members/n1/v1/status']) assert.equal((await fetch(`${app.base}${path}`)).status, 404, path);
    // The event stream is an API of its own: still there.
    assert.equal((await readEvents(`${app.base}/v1/events`, 1))[0]!.event, 'hello');
  });

  test('follows the auth switch: a read token unless auth.metrics_public; the recording needs admin either way', async () => {
    const { app } = await serve({ auth: { tokens } });
    for (const path of ['/ui', '/ui/assets/app.js', '/v1/events', '/v1/debug/recording']) assert.equal((await fetch(`${app.base}${path}`)).status, 401, path);
    assert.equal((await fetch(`${app.base}/ui`, { headers: bearer(READ) })).status, 200);
    assert.equal((await readEvents(`${app.base}/v1/events`, 1, bearer(READ))).length, 1);
    assert.equal((await fetch(`${app.base}/v1/debug/recording`, { headers: bearer(WRITE) })).status, 403);
    const rec = await fetch(`${app.base}/v1/debug/recording`, { headers: bearer(ADMIN) });
    assert.equal(rec.status, 200);
    assert.equal(((await rec.json()) as { format: string }).format, 'kvstore-flight-recording');
    // The proxy's writes need write here already (the member checks the token again).
    assert.equal((await fetch(`${app.base}/ui/members/n1/v1/kv/a`, { method: 'PUT', body: 'x', headers: bearer(READ) })).status, 403);

    const open = (await serve({ auth: { tokens, metrics_public: true } })).app;
    assert.equal((await fetch(`${open.base}/ui`)).status, 200);
    assert.equal((await readEvents(`${open.base}/v1/events`, 1)).length, 1);
    assert.equal((await fetch(`${open.base}/v1/debug/recording`)).status, 401);
  });

  test('the proxy forwards only to configured members and only the routes the page uses', async () => {
    const { app } = await serve({});
    const unknown = await fetch(`${app.base}/ui/members/n9/v1/status`);
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { message: string }).message, /no member "n9"/);
    assert.equal((await fetch(`${app.base}/ui/members/n1/metrics`)).status, 404);
    // n1's configured address (127.0.0.1:8081 in the harness config) has no server here: unreachable, in the catalog's words.
    const down = await fetch(`${app.base}/ui/members/n1/v1/status`);
    if (down.status !== 200) {
      assert.equal(down.status, 502);
      assert.equal(((await down.json()) as { error: string }).error, 'member_unreachable');
    }
  });
});

describe('the event stream (GET /v1/events)', () => {
  test('a hello first; then each event once; a reconnect with Last-Event-ID gets exactly what it missed', async () => {
    const { app, hub } = await serve({});
    const url = `${app.base}/v1/events`;
    const first = readEvents(url, 2);
    await new Promise((r) => setTimeout(r, 50));
    hub.transition({ input: 5, from: 'candidate', to: 'leader', term: term(3), event: 'n2->n1 t3 VoteResp granted' });
    const got = await first;
    assert.equal(got[0]!.event, 'hello');
    assert.equal((got[0]!.data['status'] as { role: string }).role, 'leader');
    assert.equal(got[1]!.event, 'transition');
    assert.equal(got[1]!.data['to'], 'leader');
    assert.match(got[1]!.id, /^boot1\.\d+$/);
    // Missed while away: two more transitions.
    hub.transition({ input: 9, from: 'leader', to: 'follower', term: term(4), event: 'timer electionTimeout' });
    hub.transition({ input: 12, from: 'follower', to: 'preCandidate', term: term(4), event: 'timer randomizedElectionTimeout' });
    const resumed = await readEvents(url, 2, { 'Last-Event-ID': got[1]!.id });
    assert.deepEqual(resumed.map((e) => [e.event, e.data['to']]), [['transition', 'follower'], ['transition', 'preCandidate']]);
    // An id from another boot of the node: start over, and say so.
    const restarted = await readEvents(url, 1, { 'Last-Event-ID': 'boot0.2' });
    assert.equal(restarted[0]!.event, 'hello');
    assert.equal(restarted[0]!.data['reset'], true);
  });

  test('the new routes answer as the OpenAPI document says', async () => {
    const { app } = await serve({ auth: { tokens } });
    const observed: Observed[] = [];
    for (const [path, headers] of [['/ui', bearer(READ)], ['/ui', {}], ['/v1/debug/recording', bearer(ADMIN)], ['/v1/debug/recording', bearer(READ)], ['/ui/members/n9/v1/status', bearer(READ)], ['/ui/assets/nothing', bearer(READ)]] as const) {
      const r = await fetch(`${app.base}${path}`, { headers });
      observed.push({ path, method: 'GET', status: r.status, contentType: r.headers.get('content-type') ?? '', body: await r.text() });
    }
    assert.deepEqual(checkAgainstOpenApi(observed), []);
  });
});
