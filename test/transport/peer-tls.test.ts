// Mutual TLS between peers (wss), with certificates made at test time by openssl.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { nodeId } from '../../src/raft/types.js';
import type { PeerTls } from '../../src/transport/peer-tls.js';
import { createPki, type Pki } from '../pki.js';
import { heartbeat, HOST, messagesReceived, startNode, stopAll, waitFor, type TestNode } from './helpers.js';

let pki: Pki;
let otherPki: Pki;
const running: TestNode[] = [];
before(() => {
  pki = createPki();
  otherPki = createPki('another-ca');
});
after(async () => {
  await stopAll(running);
  pki.remove();
  otherPki.remove();
});

function tlsFor(cn: string, dns: readonly string[] = [cn], from: Pki = pki, trust: Pki = pki): PeerTls {
  const c = from.issue(cn, { dns });
  return { cert: c.cert, key: c.key, ca: trust.ca };
}

async function node(id: string, peers: readonly string[], tls: PeerTls): Promise<TestNode> {
  const n = await startNode(id, peers, { tls, secret: new TextEncoder().encode('and a secret as well, over TLS') });
  running.push(n);
  return n;
}

test('peers with certificates from the cluster CA that name them talk over wss', async () => {
  const b = await node('b', ['a'], tlsFor('b'));
  const a = await node('a', ['b'], tlsFor('a'));
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: b.port });
  await waitFor(() => a.transport.connectedPeers().includes(nodeId('b')), 'a connected to b');
  a.transport.send([heartbeat('a', 'b', 3)]);
  await waitFor(() => messagesReceived(b).length === 1, 'the heartbeat');
});

test("a certificate that names another node is refused by the listener and by the dialer", async () => {
  const b = await node('b', ['a'], tlsFor('b'));
  // a holds a genuine certificate of the CA, but for node c.
  const a = await node('a', ['b'], tlsFor('c'));
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: b.port });
  await waitFor(() => (b.metrics.rejected.get('bad_certificate') ?? 0) >= 2, 'the listener refused twice');
  assert.deepEqual(a.transport.connectedPeers(), []);

  // The other way round: a listener whose certificate names x, dialled as d.
  const d = await node('d', ['e'], tlsFor('x'));
  const e = await node('e', ['d'], tlsFor('e'));
  e.transport.setPeerAddress(nodeId('d'), { host: HOST, port: d.port });
  await waitFor(() => (e.metrics.rejected.get('bad_certificate') ?? 0) >= 2, 'the dialer refused twice');
  assert.deepEqual(e.transport.connectedPeers(), []);
  assert.equal(d.metrics.rejected.get('bad_certificate') ?? 0, 0);
});

test('a certificate from another CA fails the TLS handshake; a renewed one loaded with setTls is used for new connections', async () => {
  const b = await node('b', ['a'], tlsFor('b'));
  const a = await node('a', ['b'], tlsFor('a', ['a'], otherPki, otherPki));
  a.transport.setPeerAddress(nodeId('b'), { host: HOST, port: b.port });
  await waitFor(() => (b.metrics.rejected.get('tls_failed') ?? 0) >= 1, 'a TLS failure at b');
  assert.deepEqual(a.transport.connectedPeers(), []);
  // b moves to the other CA (a reload, as on SIGHUP): a gets in.
  b.transport.setTls(tlsFor('b', ['b'], otherPki, otherPki));
  await waitFor(() => a.transport.connectedPeers().includes(nodeId('b')), 'a connected after the reload', 10_000);
});
