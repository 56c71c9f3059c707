// Peer frames fuzzed against a live node's raft port: random bytes and mutated valid
// frames, before the handshake (as a stranger) and after it (as a configured peer
// that holds the secret). The node must keep serving, close only the offending
// connection with a documented code, log only JSON, and keep its memory bounded.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { nodeId, type Message } from '../../src/raft/types.js';
import { decodeFrame, encodeFrame } from '../../src/transport/codec.js';
import { dialerProof, newNonce } from '../../src/transport/peer-auth.js';
import { ProcessCluster } from '../e2e/process-cluster.js';
import { fuzzRuns, fuzzTimeoutMs } from '../fuzz-budget.js';
import { messageArb } from './arbitraries.js';

const ELECTION_MS = 500;
const SECRET = 'a cluster secret for the peer fuzzer';
/** The id of the cluster under test (each ProcessCluster has its own), set once it runs. */
let clusterId = '';
/** Close codes a listener may send (close-codes.ts), 1006 for a destroyed socket and 1009 from ws for an oversized frame. */
const DOCUMENTED_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1003, 1006, 1007, 1008, 1009, 4001, 4002, 4003, 4004, 4005, 4008]);
const CLOSE_WITHIN_MS = 5_000;
const RSS_GROWTH_MAX_BYTES = 256 * 1024 * 1024;

interface Conn {
  readonly ws: WebSocket;
  readonly frames: Buffer[];
  readonly closed: Promise<number>;
  isClosed: boolean;
}

function open(port: number): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { maxPayload: 1 << 20 });
    const frames: Buffer[] = [];
    const conn: Conn = { ws, frames, isClosed: false, closed: new Promise((r) => ws.once('close', (code) => r(code))) };
    void conn.closed.then(() => (conn.isClosed = true));
    ws.on('message', (d) => frames.push(Buffer.isBuffer(d) ? d : Buffer.from(d as ArrayBuffer)));
    ws.on('error', () => {});
    ws.once('open', () => resolve(conn));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once('close', () => reject(new Error('closed before open')));
  });
}

async function until(cond: () => boolean, what: string, timeoutMs = CLOSE_WITHIN_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function challenge(c: Conn): Promise<Uint8Array> {
  await until(() => c.frames.length > 0, 'the challenge');
  const d = decodeFrame(c.frames[0]!);
  if (!d.ok || d.frame.kind !== 'challenge') throw new Error('expected a challenge');
  return d.frame.nonce;
}

function handshakeFrame(listenerNonce: Uint8Array, secret: string): Uint8Array {
  const t = { clusterId, fromNode: nodeId('n2'), toNode: nodeId('n1'), listenerNonce, dialerNonce: newNonce() };
  return encodeFrame({ kind: 'handshake', handshake: { ...t, nonce: t.dialerNonce, mac: dialerProof(new TextEncoder().encode(secret), t) } });
}

/** Flips, drops or inserts bytes of a valid encoding. */
const mutationArb = fc.array(fc.record({ at: fc.nat(), op: fc.constantFrom('flip', 'drop', 'insert'), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 });

function mutate(bytes: Uint8Array, mutations: readonly { at: number; op: string; byte: number }[]): Uint8Array {
  const out = [...bytes];
  for (const m of mutations) {
    if (out.length === 0) break;
    const i = m.at % out.length;
    if (m.op === 'flip') out[i] = out[i]! ^ (m.byte | 1);
    else if (m.op === 'drop') out.splice(i, 1);
    else out.splice(i, 0, m.byte);
  }
  return Uint8Array.from(out);
}

/** What a fuzzed peer sends after passing the handshake: messages from n2 to n1, mostly well addressed. */
const sentFrameArb = fc.oneof(
  { weight: 4, arbitrary: fc.array(messageArb, { minLength: 1, maxLength: 4 }).map((ms) => ({ kind: 'valid' as const, bytes: encodeFrame({ kind: 'batch', messages: ms.map(toN1) }) })) },
  { weight: 2, arbitrary: fc.tuple(fc.array(messageArb, { minLength: 1, maxLength: 2 }), mutationArb).map(([ms, mu]) => ({ kind: 'mutated' as const, bytes: mutate(encodeFrame({ kind: 'batch', messages: ms.map(toN1) }), mu) })) },
  { weight: 1, arbitrary: fc.array(messageArb, { minLength: 1, maxLength: 2 }).map((ms) => ({ kind: 'misaddressed' as const, bytes: encodeFrame({ kind: 'batch', messages: ms }) })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'random' as const, bytes })) },
  { weight: 1, arbitrary: fc.constantFrom('handshake', 'challenge', 'ack').map((k) => ({ kind: 'out of order' as const, bytes: k === 'handshake' ? handshakeFrame(newNonce(), SECRET) : encodeFrame(k === 'challenge' ? { kind: 'challenge', nonce: newNonce() } : { kind: 'handshakeAck', mac: newNonce() }) })) },
);

/**
 * What the listener must do with a frame from a handshaken peer n2: null for
 * "deliver it and stay open", else the close code (close-codes.ts).
 */
function expectedClose(bytes: Uint8Array): number | null {
  const d = decodeFrame(bytes);
  if (!d.ok) return 1007;
  if (d.frame.kind !== 'batch') return 1008;
  return d.frame.messages.every((m) => m.from === 'n2' && m.to === 'n1') ? null : 1008;
}

function toN1(m: Message): Message {
  return { ...m, from: nodeId('n2'), to: nodeId('n1') };
}

describe('peer frames fuzzed against a live node', { concurrency: false, timeout: fuzzTimeoutMs(120_000) }, () => {
  let c: ProcessCluster;
  let port: number;
  let rssBefore: number;
  before(async () => {
    c = await ProcessCluster.start(3, ELECTION_MS, { prepare: (n) => (n.env['KV_RAFT_SECRET'] = SECRET) });
    clusterId = c.clusterId;
    await c.waitForLeader(20 * ELECTION_MS);
    // n1 alone: the fuzzer plays n2, and nobody else writes to n1.
    await c.kill('n2');
    await c.kill('n3');
    port = c.node('n1').raftPort;
    rssBefore = await c.residentBytes('n1');
  });
  after(async () => {
    await c?.stop();
  });

  /** A connection that passed the handshake as n2. */
  async function handshaken(): Promise<Conn> {
    const conn = await open(port);
    conn.ws.send(handshakeFrame(await challenge(conn), SECRET));
    await until(() => conn.frames.length >= 2 || conn.isClosed, 'the ack');
    assert.ok(!conn.isClosed, 'the genuine handshake was refused');
    return conn;
  }

  test('before the handshake: random bytes, text, batches and mutated handshakes are refused with documented codes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => ({ send: () => b, text: false })),
          fc.array(messageArb, { minLength: 1, maxLength: 2 }).map((ms) => ({ send: () => encodeFrame({ kind: 'batch', messages: ms.map(toN1) }), text: false })),
          mutationArb.map((mu) => ({ send: (nonce: Uint8Array) => mutate(handshakeFrame(nonce, SECRET), mu), text: false })),
          fc.string({ maxLength: 50 }).map((t) => ({ send: () => new TextEncoder().encode(t), text: true })),
          fc.constant({ send: (nonce: Uint8Array) => handshakeFrame(nonce, 'the wrong secret'), text: false }),
        ),
        async (attack) => {
          const conn = await open(port);
          const bytes = attack.send(await challenge(conn));
          conn.ws.send(attack.text ? new TextDecoder().decode(bytes) : bytes);
          const code = await Promise.race([conn.closed, new Promise<number>((r) => setTimeout(() => r(-1), CLOSE_WITHIN_MS))]);
          // A mutation that only touches what protobuf skips leaves the handshake genuine: then it is acknowledged.
          if (code === -1) {
            assert.ok(conn.frames.length >= 2, 'neither closed nor acknowledged');
            conn.ws.terminate();
            return;
          }
          assert.ok(DOCUMENTED_CLOSE_CODES.has(code), `close code ${code}`);
          assert.ok(conn.frames.length <= 1, 'a refused connection got an ack');
        },
      ),
      { numRuns: fuzzRuns(40) },
    );
  });

  test('before the handshake: raw TCP garbage gets an HTTP error or a closed socket', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 512 }), async (bytes) => {
        await new Promise<void>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => s.end(Buffer.from(bytes)));
          s.resume();
          s.on('error', () => {});
          const timer = setTimeout(() => reject(new Error('the socket was held open')), CLOSE_WITHIN_MS);
          s.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }),
      { numRuns: fuzzRuns(20) },
    );
  });

  test('after the handshake: valid, mutated, misaddressed and random frames close only that connection, with the code its fault calls for', async () => {
    const live: { conn: Conn | null } = { conn: null };
    let delivered = 0;
    let closedAsExpected = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(sentFrameArb, { minLength: 1, maxLength: 6 }), async (frames) => {
        for (const f of frames) {
          if (live.conn === null || live.conn.isClosed) live.conn = await handshaken();
          const sent = live.conn;
          sent.ws.send(f.bytes);
          const expected = expectedClose(f.bytes);
          if (expected === null) {
            delivered++;
            continue;
          }
          const code = await Promise.race([sent.closed, new Promise<number>((r) => setTimeout(() => r(-1), CLOSE_WITHIN_MS))]);
          assert.equal(code, expected, `a ${f.kind} frame: closed with ${code}, expected ${expected}`);
          closedAsExpected++;
        }
      }),
      { numRuns: fuzzRuns(40) },
    );
    live.conn?.ws.terminate();
    assert.ok(delivered > 0 && closedAsExpected > 0, `delivered ${delivered}, closed ${closedAsExpected}`);
  });

  test('afterwards the node serves, printed only JSON, and its memory is bounded', async () => {
    const h = await fetch(c.url('n1', '/healthz'));
    assert.equal(h.status, 200);
    const s = await c.status('n1');
    assert.ok(s !== null);
    assert.deepEqual(c.nonJsonLines('n1'), []);
    assert.doesNotMatch(c.node('n1').output.join(''), /uncaught|unhandled/i);
    const rss = await c.residentBytes('n1');
    assert.ok(rss - rssBefore < RSS_GROWTH_MAX_BYTES, `RSS grew from ${rssBefore} to ${rss}`);
    assert.equal(c.node('n1').proc?.exitCode ?? null, null, 'n1 is still running');
  });
});
