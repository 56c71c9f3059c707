// kvstore.v1.Watch on a real gRPC server, over a hub on a real state machine.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { encodeCommand } from '../../src/kv/command.js';
import { KvStateMachine, kvStateMachineDefaults } from '../../src/kv/state-machine.js';
import type { WatchClient } from '../../src/grpc/generated/kvstore/v1/Watch.js';
import type { WatchResponse__Output } from '../../src/grpc/generated/kvstore/v1/WatchResponse.js';
import { GrpcMetrics } from '../../src/grpc/grpc-metrics.js';
import { createWatchClient, loadKvProto } from '../../src/grpc/proto.js';
import { OLDEST_REVISION_METADATA, watchHandlers } from '../../src/grpc/watch-handler.js';
import { WatchHub } from '../../src/watch/watch-hub.js';

const sm = new KvStateMachine({ ...kvStateMachineDefaults, watchWindowChangesMax: 20 });
let index = 0;
const hub = new WatchHub(() => sm, () => setImmediate(() => hub.poll()));
const put = (key: string, value: string): number => {
  sm.apply(++index, encodeCommand({ op: 'put', key: Buffer.from(key), value: Buffer.from(value), condition: { kind: 'none' }, tag: null }));
  hub.poll();
  return index;
};
const del = (key: string): number => {
  sm.apply(++index, encodeCommand({ op: 'delete', key: Buffer.from(key), condition: { kind: 'none' }, tag: null }));
  hub.poll();
  return index;
};

let server: grpc.Server;
let client: WatchClient;
before(async () => {
  server = new grpc.Server();
  server.addService(loadKvProto().kv.kvstore.v1.Watch.service, watchHandlers(hub, new GrpcMetrics(new Registry())));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  client = createWatchClient(`127.0.0.1:${port}`);
});
after(() => {
  client.close();
  server.forceShutdown();
});

test('Watch streams every revision of the key from from_revision on, then live ones; deletes carry the key only', async () => {
  const r1 = put('g/a', '1');
  put('g/b', 'x');
  const call = client.Watch({ key: Buffer.from('g/a'), from_revision: r1 });
  const got: WatchResponse__Output[] = [];
  await new Promise<void>((resolve) => {
    call.on('data', (m: WatchResponse__Output) => {
      got.push(m);
      if (got.length === 1) setImmediate(() => del('g/a'));
      if (got.length === 2) resolve();
    });
  });
  call.on('error', (e: grpc.ServiceError) => assert.equal(e.code, grpc.status.CANCELLED));
  call.cancel();
  assert.equal(got[0]!.revision, r1);
  assert.equal(got[0]!.events[0]!.type, 'PUT');
  assert.equal(got[0]!.events[0]!.kv!.value.toString(), '1');
  assert.equal(got[1]!.events[0]!.type, 'DELETE');
  assert.equal(got[1]!.events[0]!.kv!.key.toString(), 'g/a');
});

test('a watch from before the window ends OUT_OF_RANGE with the oldest revision in the trailer; a bad key is INVALID_ARGUMENT', async () => {
  for (let i = 0; i < 30; i++) put('fill', String(i));
  const call = client.Watch({ key: Buffer.from('g/a'), from_revision: 1 });
  const err = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  assert.equal(err.code, grpc.status.OUT_OF_RANGE);
  const oldest = sm.changes().oldestServable();
  assert.ok(oldest > 1);
  assert.equal(Number(err.metadata.get(OLDEST_REVISION_METADATA)[0]), oldest);
  assert.match(err.details, new RegExp(`revision ${oldest - 1} and older are compacted`));
  const bad = client.Watch({ key: Buffer.alloc(0) });
  assert.equal((await new Promise<grpc.ServiceError>((resolve) => bad.on('error', resolve))).code, grpc.status.INVALID_ARGUMENT);
  // A prefix watch may have an empty prefix: every key.
  const all = client.Watch({ key: Buffer.alloc(0), prefix: true });
  const first = new Promise<WatchResponse__Output>((resolve) => all.once('data', resolve));
  setTimeout(() => put('any', 'v'), 20);
  assert.equal((await first).events[0]!.kv!.key.toString(), 'any');
  all.on('error', (e: grpc.ServiceError) => assert.equal(e.code, grpc.status.CANCELLED));
  all.cancel();
});

test('a reader that stops reading ends RESOURCE_EXHAUSTED once the window passes it, naming where the window starts', async () => {
  const call = client.Watch({ key: Buffer.from('slow'), from_revision: put('slow', 'first') });
  const got: WatchResponse__Output[] = [];
  const ended = new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
  // The first revision arrives once the watch is set up; then stop reading: HTTP/2 flow control and the server's buffer fill, the watch pauses.
  await new Promise<void>((resolve) =>
    call.on('data', (m: WatchResponse__Output) => {
      got.push(m);
      if (got.length === 1) {
        call.pause();
        resolve();
      }
    }),
  );
  const big = 'x'.repeat(200_000);
  for (let i = 0; i < 60; i++) put('slow', `${i}${big}`);
  // Reading again drains what was buffered, then the end.
  setImmediate(() => call.resume());
  const err = await ended;
  assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(err.details, /fell behind the change window/);
  assert.equal(Number(err.metadata.get(OLDEST_REVISION_METADATA)[0]), sm.changes().oldestServable());
  assert.ok(got.length < 60, `${got.length} revisions: it did not get everything`);
});
