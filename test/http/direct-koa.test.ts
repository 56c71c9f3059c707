// DirectKoa: requests its predicate names skip Koa's on-finished listeners and
// answer themselves; every other request is Koa's, unchanged.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { answerJson } from '../../src/http/answer.js';
import { DirectKoa } from '../../src/http/direct-koa.js';

const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((r) => s.close(r)))));

/** Serves `app`; resolves to its base URL. */
async function serve(app: DirectKoa): Promise<string> {
  const server = createServer(app.callback());
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('DirectKoa', () => {
  // The listeners on the response while the middleware runs: on-finished adds one for 'finish'.
  const finishListeners: Record<string, number> = {};
  const errors: string[] = [];
  const app = new DirectKoa((req) => req.url!.startsWith('/direct/'));
  app.on('error', (err: Error) => errors.push(err.message));
  app.use((ctx) => {
    finishListeners[ctx.path] = ctx.res.listenerCount('finish');
    if (ctx.path === '/direct/answered' || ctx.path === '/koa/answered') return answerJson(ctx, 201, { ok: true });
    if (ctx.path === '/direct/thrown') throw new Error('boom');
    ctx.body = 'through koa';
  });

  test('a request the predicate names is answered without on-finished; any other goes through Koa, which adds it', async () => {
    const base = await serve(app);
    const direct = await fetch(`${base}/direct/answered`);
    assert.equal(direct.status, 201);
    assert.deepEqual(await direct.json(), { ok: true });
    const koa = await fetch(`${base}/koa/answered`);
    assert.equal(koa.status, 201);
    assert.deepEqual(await koa.json(), { ok: true });
    assert.equal(finishListeners['/koa/answered'], finishListeners['/direct/answered']! + 1);
    const body = await fetch(`${base}/koa/body`);
    assert.equal(body.status, 200);
    assert.equal(await body.text(), 'through koa');
    assert.deepEqual(errors, []);
  });

  test('a direct request that leaves its answer to Koa, or throws, still gets an answer (Koa\'s 500) and is reported', async () => {
    const base = await serve(app);
    errors.length = 0;
    const left = await fetch(`${base}/direct/body`);
    assert.equal(left.status, 500);
    await left.text();
    const thrown = await fetch(`${base}/direct/thrown`);
    assert.equal(thrown.status, 500);
    await thrown.text();
    assert.deepEqual(errors, ['GET /direct/body left its answer to Koa on a route answered directly', 'boom']);
  });
});
