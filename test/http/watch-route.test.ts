// The watch route on a real HTTP listener, over a hub on a real state machine
// (the node's wiring is tested end to end elsewhere): SSE framing, Last-Event-ID,
// blocking queries, compaction and slow readers.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import Koa from 'koa';
import { encodeCommand } from '../../src/kv/command.js';
import { KvStateMachine, kvStateMachineDefaults } from '../../src/kv/state-machine.js';
import { HttpError } from '../../src/http/http-error.js';
import { WATCH_PREFIX, watchRoute } from '../../src/http/watch-route.js';
import { WatchHub } from '../../src/watch/watch-hub.js';
import { errorCatalog } from '../../src/errors.js';

const sm = new KvStateMachine({ ...kvStateMachineDefaults, watchWindowChangesMax: 50 });
let index = 0;
let scheduled = false;
const hub = new WatchHub(
  () => sm,
  () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (hub.poll()) hub.poll();
    });
  },
);
const put = (key: string, value: string): number => {
  sm.apply(++index, encodeCommand({ op: 'put', key: Buffer.from(key), value: Buffer.from(value), condition: { kind: 'none' }, tag: null }));
  hub.poll();
  return index;
};

let server: ReturnType<Koa['listen']>;
let base = '';
before(async () => {
  const app = new Koa();
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (e) {
      const err = e as HttpError;
      ctx.status = errorCatalog[err.code].http;
      for (const [k, v] of Object.entries(err.headers)) ctx.set(k, v);
      ctx.body = { error: err.code, message: err.message };
    }
  });
  app.use((ctx) => watchRoute(ctx, hub, ctx.path.slice(WATCH_PREFIX.length)));
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});

/** Reads SSE frames from a response until `want` of them arrived (comments skipped). */
async function frames(r: Response, want: number): Promise<{ id?: string; event?: string; data: string }[]> {
  const reader = r.body!.getReader();
  const out: { id?: string; event?: string; data: string }[] = [];
  let text = '';
  while (out.length < want) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
    for (let at = text.indexOf('\n\n'); at >= 0; at = text.indexOf('\n\n')) {
      const block = text.slice(0, at);
      text = text.slice(at + 2);
      const f: { id?: string; event?: string; data: string } = { data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith(':') || line.startsWith('retry:')) continue;
        const [field, ...rest] = line.split(': ');
        if (field === 'id') f.id = rest.join(': ');
        else if (field === 'event') f.event = rest.join(': ');
        else if (field === 'data') f.data += rest.join(': ');
      }
      if (f.event !== undefined) out.push(f);
    }
  }
  await reader.cancel();
  return out;
}

describe('GET /v1/watch', { concurrency: false }, () => {
  test('SSE from a revision: every change of the key, one event per revision with its id, then live ones', async () => {
    const r1 = put('w/a', '1');
    put('w/b', 'x');
    const r3 = put('w/a', '2');
    const res = await fetch(`${base}/v1/watch/w/a?from_revision=${r1}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const live = setTimeout(() => put('w/a', '3'), 50);
    const got = await frames(res, 3);
    clearTimeout(live);
    assert.deepEqual(got.map((f) => f.id), [String(r1), String(r3), String(r3 + 1)]);
    const first = JSON.parse(got[0]!.data) as { revision: number; events: { type: string; key: string; value: string; revision: number; lease: number }[] };
    assert.deepEqual(first, { revision: r1, events: [{ type: 'put', key: 'w/a', value: Buffer.from('1').toString('base64'), revision: r1, lease: 0 }] });
  });

  test('Last-Event-ID resumes after that revision; ?prefix watches every key under the prefix', async () => {
    const start = index;
    put('p/a', '1');
    put('q', 'not under p/');
    put('p/b', '2');
    put('p/a', '3');
    const res = await fetch(`${base}/v1/watch/p/?prefix`, { headers: { 'Last-Event-ID': String(start + 1) } });
    const got = await frames(res, 2);
    assert.deepEqual(got.map((f) => JSON.parse(f.data).events.map((e: { key: string }) => e.key)), [['p/b'], ['p/a']]);
  });

  test('a watch from before the window is 410 compacted, naming the oldest revision it could serve', async () => {
    for (let i = 0; i < 60; i++) put('fill', String(i));
    const res = await fetch(`${base}/v1/watch/w/a?from_revision=1`);
    assert.equal(res.status, 410);
    const oldest = Number(res.headers.get('x-kvstore-oldest-revision'));
    assert.ok(oldest > 1);
    assert.equal(((await res.json()) as { error: string }).error, 'compacted');
    const ac = new AbortController();
    const from = await fetch(`${base}/v1/watch/w/a?from_revision=${oldest}`, { signal: ac.signal });
    assert.equal(from.status, 200, 'from the oldest revision it is served');
    ac.abort();
  });

  test('?index=N blocks until a watched key changes after N, then answers the changes and the index to go on from', async () => {
    const now = put('b/k', '1');
    const t0 = Date.now();
    const pending = fetch(`${base}/v1/watch/b/k?index=${now}&wait=10s`);
    setTimeout(() => put('b/other', 'x'), 30);
    setTimeout(() => put('b/k', '2'), 120);
    const res = await pending;
    assert.equal(res.status, 200);
    const body = (await res.json()) as { index: number; events: { revision: number }[] };
    assert.ok(Date.now() - t0 >= 100, 'it waited for the change');
    assert.equal(body.events.length, 1);
    assert.equal(body.index, now + 2);
    assert.equal(res.headers.get('x-kvstore-index'), String(now + 2));
    // Nothing new within the wait: an empty answer at the current index.
    const quiet = (await (await fetch(`${base}/v1/watch/b/k?index=${body.index}&wait=100ms`)).json()) as { index: number; events: unknown[] };
    assert.deepEqual(quiet, { index: index, events: [] });
  });

  test('bad requests are 400s', async () => {
    for (const q of ['from_revision=x', 'index=-1', 'index=1&wait=soon', 'wait=1s', 'bogus=1']) {
      const res = await fetch(`${base}/v1/watch/k?${q}`);
      assert.equal(res.status, 400, q);
    }
    assert.equal((await fetch(`${base}/v1/watch/`)).status, 400, 'a key watch needs a key');
  });

  test('a reader that stops reading is cut off as too slow once the window passes it', async () => {
    const res = await fetch(`${base}/v1/watch/slow?from_revision=${index + 1}`);
    assert.equal(res.status, 200);
    // Never read: the socket and the stream's buffer fill, the watch pauses, the window moves on.
    const big = 'x'.repeat(200_000);
    for (let i = 0; i < 60; i++) put('slow', `${i}${big}`);
    const got = await frames(res, 100);
    const last = got[got.length - 1]!;
    assert.equal(last.event, 'error');
    assert.equal(JSON.parse(last.data).error, 'watch_too_slow');
    assert.ok(got.length < 61, `${got.length} frames: it did not get everything`);
  });
});
