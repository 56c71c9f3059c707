import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { KvCommand, KvResult, TxnOp, TxnOpResult } from '../../src/kv/command.js';
import { decodeCommand, encodeCommand } from '../../src/kv/command.js';
import type { KvStateMachineConfig } from '../../src/kv/state-machine.js';
import { KvStateMachine, kvStateMachineDefaults } from '../../src/kv/state-machine.js';
import { bytes, del, hex, modelCommandArb, plainEntry, put, smallTagArb, text } from './helpers.js';

const small: KvStateMachineConfig = { ...kvStateMachineDefaults, shardCount: 4 };
const a = text('a');

test('put: creates a key at revision = its own index, overwrites at the new index', () => {
  const sm = new KvStateMachine(small);
  assert.deepEqual(sm.apply(1, put(a, text('v1'))), { op: 'put', ok: true, revision: 1 });
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('v1'), revision: 1, lease: 0 });
  assert.deepEqual(sm.apply(5, put(a, text('v2'))), { op: 'put', ok: true, revision: 5 });
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('v2'), revision: 5, lease: 0 });
  assert.equal(sm.size(), 1);
  assert.equal(sm.appliedIndex(), 5);
});

test('put: If-Match revision succeeds only at the current revision; a mismatch reports it and changes nothing', () => {
  const sm = new KvStateMachine(small);
  sm.apply(1, put(a, text('v1')));
  assert.deepEqual(sm.apply(2, put(a, text('v2'), { kind: 'revision', revision: 7 })), {
    op: 'put',
    ok: false,
    error: 'revision_mismatch',
    currentRevision: 1,
  });
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('v1'), revision: 1, lease: 0 });
  assert.deepEqual(sm.apply(3, put(a, text('v3'), { kind: 'revision', revision: 1 })), { op: 'put', ok: true, revision: 3 });
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('v3'), revision: 3, lease: 0 });
});

test('put: If-Match on an absent key fails with currentRevision null', () => {
  const sm = new KvStateMachine(small);
  assert.deepEqual(sm.apply(1, put(a, text('v'), { kind: 'revision', revision: 1 })), {
    op: 'put',
    ok: false,
    error: 'revision_mismatch',
    currentRevision: null,
  });
  assert.equal(sm.get(a), undefined);
  assert.equal(sm.size(), 0);
});

test('put: If-None-Match * succeeds only while the key is absent', () => {
  const sm = new KvStateMachine(small);
  assert.deepEqual(sm.apply(1, put(a, text('v1'), { kind: 'absent' })), { op: 'put', ok: true, revision: 1 });
  assert.deepEqual(sm.apply(2, put(a, text('v2'), { kind: 'absent' })), {
    op: 'put',
    ok: false,
    error: 'revision_mismatch',
    currentRevision: 1,
  });
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('v1'), revision: 1, lease: 0 });
  sm.apply(3, del(a));
  assert.deepEqual(sm.apply(4, put(a, text('v4'), { kind: 'absent' })), { op: 'put', ok: true, revision: 4 });
});

test('delete: removes an existing key (deleted true) and reports its own index; an absent key gives deleted false', () => {
  const sm = new KvStateMachine(small);
  sm.apply(1, put(a, text('v')));
  assert.deepEqual(sm.apply(2, del(a)), { op: 'delete', ok: true, deleted: true, revision: 2 });
  assert.equal(sm.get(a), undefined);
  assert.equal(sm.size(), 0);
  assert.deepEqual(sm.apply(3, del(a)), { op: 'delete', ok: true, deleted: false, revision: 3 });
});

test('delete: If-Match revision deletes only at the current revision; a mismatch or absent key changes nothing', () => {
  const sm = new KvStateMachine(small);
  sm.apply(1, put(a, text('v')));
  assert.deepEqual(sm.apply(2, del(a, { kind: 'revision', revision: 9 })), {
    op: 'delete',
    ok: false,
    error: 'revision_mismatch',
    currentRevision: 1,
  });
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('v'), revision: 1, lease: 0 });
  assert.deepEqual(sm.apply(3, del(a, { kind: 'revision', revision: 1 })), { op: 'delete', ok: true, deleted: true, revision: 3 });
  assert.deepEqual(sm.apply(4, del(a, { kind: 'revision', revision: 1 })), {
    op: 'delete',
    ok: false,
    error: 'revision_mismatch',
    currentRevision: null,
  });
});

test('apply: keys are raw bytes; the stored value is a copy of the entry', () => {
  const sm = new KvStateMachine(small);
  const keys = [bytes(0x00), bytes(0x00, 0x00), bytes(0x80), bytes(0xc3, 0xa9), bytes(0xe9), bytes(0xff)];
  keys.forEach((key, i) => sm.apply(i + 1, put(key, bytes(i))));
  keys.forEach((key, i) => assert.deepEqual(plainEntry(sm.get(key)), { value: bytes(i), revision: i + 1, lease: 0 }));
  const entry = put(text('k'), text('value'));
  sm.apply(10, entry);
  entry.fill(0);
  assert.deepEqual(sm.get(text('k'))?.value, text('value'));
});

test('apply: indexes must strictly increase (a programmer error throws); no-ops and bad bytes still advance the index', () => {
  const sm = new KvStateMachine(small);
  sm.apply(3, put(a, text('v')));
  assert.throws(() => sm.apply(3, put(a, text('w'))), /index 3 is not after the applied index 3/);
  assert.throws(() => sm.apply(2, put(a, text('w'))), /not after/);
  assert.throws(() => sm.applyNoop(3), /not after/);
  assert.throws(() => sm.apply(4.5, put(a, text('w'))), /not after/);
  sm.applyNoop(4);
  assert.equal(sm.appliedIndex(), 4);
  const garbage = sm.apply(5, bytes(0xde, 0xad));
  assert.ok('error' in garbage);
  assert.match(garbage.error, /unknown op/);
  assert.equal(sm.appliedIndex(), 5);
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('v'), revision: 3, lease: 0 });
});

const tag = (clientId: string, requestId: string) => ({ clientId, requestId });

test('exactly-once: a retried tag returns the first result and is not applied again', () => {
  const sm = new KvStateMachine(small);
  const first = sm.apply(1, put(a, text('v1'), { kind: 'none' }, tag('c', 'r1')));
  sm.apply(2, put(a, text('other')));
  assert.deepEqual(sm.apply(3, put(a, text('v1'), { kind: 'none' }, tag('c', 'r1'))), first);
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('other'), revision: 2, lease: 0 });
  // Another client's request with the same id is its own request.
  assert.deepEqual(sm.apply(4, put(a, text('v4'), { kind: 'none' }, tag('d', 'r1'))), { op: 'put', ok: true, revision: 4 });
});

test('exactly-once: a failed precondition is remembered too, even once the retry would succeed', () => {
  const sm = new KvStateMachine(small);
  const failed = sm.apply(1, put(a, text('v'), { kind: 'revision', revision: 5 }, tag('c', 'r')));
  assert.equal((failed as KvResult).ok, false);
  assert.deepEqual(sm.apply(2, put(a, text('v'), { kind: 'revision', revision: 5 }, tag('c', 'r'))), failed);
  assert.equal(sm.get(a), undefined);
  const deleted = sm.apply(3, del(a, { kind: 'none' }, tag('c', 'd')));
  sm.apply(4, put(a, text('again')));
  assert.deepEqual(sm.apply(5, del(a, { kind: 'none' }, tag('c', 'd'))), deleted);
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('again'), revision: 4, lease: 0 });
});

test('exactly-once: a session expires after sessionExpiryEntries entries without the client, counted in log indexes', () => {
  const sm = new KvStateMachine({ ...small, sessionExpiryEntries: 10 });
  sm.apply(1, put(a, text('v'), { kind: 'none' }, tag('c', 'r')));
  sm.applyNoop(9);
  assert.deepEqual(sm.apply(10, put(a, text('v'), { kind: 'none' }, tag('c', 'r'))), { op: 'put', ok: true, revision: 1 }, '9 entries later: kept');
  // The retry at 10 refreshed the session: it now lasts until 19.
  sm.applyNoop(19);
  assert.equal(sm.sessionCount(), 1);
  sm.applyNoop(20);
  assert.equal(sm.sessionCount(), 0, 'expired by a no-op at 20');
  assert.deepEqual(sm.apply(21, put(a, text('v'), { kind: 'none' }, tag('c', 'r'))), { op: 'put', ok: true, revision: 21 }, 'applied again');
});

test('exactly-once: beyond sessionClientsMax the least recently seen client is evicted', () => {
  const sm = new KvStateMachine({ ...small, sessionClientsMax: 3 });
  const clients = ['c1', 'c2', 'c3'];
  clients.forEach((c, i) => sm.apply(i + 1, put(a, text(c), { kind: 'none' }, tag(c, 'r'))));
  sm.apply(4, put(a, text('c1'), { kind: 'none' }, tag('c1', 'r'))); // a retry: c1 is now the most recent
  sm.apply(5, put(a, text('c4'), { kind: 'none' }, tag('c4', 'r'))); // evicts c2
  assert.equal(sm.sessionCount(), 3);
  assert.deepEqual(sm.apply(6, put(a, text('c1'), { kind: 'none' }, tag('c1', 'r'))), { op: 'put', ok: true, revision: 1 });
  assert.deepEqual(sm.apply(7, put(a, text('c3'), { kind: 'none' }, tag('c3', 'r'))), { op: 'put', ok: true, revision: 3 });
  assert.deepEqual(sm.apply(8, put(a, text('c2'), { kind: 'none' }, tag('c2', 'r'))), { op: 'put', ok: true, revision: 8 }, 'c2 was evicted');
});

test('exactly-once: a client keeps its last sessionResultsPerClient results, oldest forgotten first', () => {
  const sm = new KvStateMachine({ ...small, sessionResultsPerClient: 3 });
  for (let i = 1; i <= 4; i++) sm.apply(i, put(a, text(`v${i}`), { kind: 'none' }, tag('c', `r${i}`)));
  assert.deepEqual(sm.apply(5, put(a, text('v4'), { kind: 'none' }, tag('c', 'r4'))), { op: 'put', ok: true, revision: 4 });
  assert.deepEqual(sm.apply(6, put(a, text('v2'), { kind: 'none' }, tag('c', 'r2'))), { op: 'put', ok: true, revision: 2 });
  assert.deepEqual(sm.apply(7, put(a, text('v1'), { kind: 'none' }, tag('c', 'r1'))), { op: 'put', ok: true, revision: 7 }, 'r1 was forgotten');
});

/**
 * The oracle: plain Maps, no bounds on sessions, and the whole history of changes.
 * Keys are kept as hex, whose string order is the keys' byte order.
 */
class Model {
  readonly data = new Map<string, { value: Uint8Array; revision: number; lease: number }>();
  readonly leases = new Map<number, { ttlSeconds: number; keys: string[] }>();
  /** [revision, [key hex, value hex or null, lease][]] for every command that changed something. */
  readonly history: [number, [string, string | null, number][]][] = [];
  private readonly seen = new Map<string, KvResult>();
  private changes: [string, string | null, number][] = [];

  apply(index: number, c: KvCommand): KvResult {
    const tag = c.op === 'lease_expire' ? null : c.tag;
    const tagKey = tag === null ? null : JSON.stringify([tag.clientId, tag.requestId]);
    const previous = tagKey === null ? undefined : this.seen.get(tagKey);
    if (previous !== undefined) return previous;
    const result = this.execute(index, c);
    if (tagKey !== null) this.seen.set(tagKey, result);
    if (this.changes.length > 0) this.history.push([index, this.changes]);
    this.changes = [];
    return result;
  }

  private execute(index: number, c: KvCommand): KvResult {
    switch (c.op) {
      case 'put':
      case 'delete': {
        const key = hex(c.key);
        const current = this.data.get(key);
        if ((c.condition.kind === 'revision' && current?.revision !== c.condition.revision) || (c.condition.kind === 'absent' && current !== undefined)) {
          return { op: c.op, ok: false, error: 'revision_mismatch', currentRevision: current?.revision ?? null };
        }
        if (c.op === 'delete') return { op: 'delete', ok: true, deleted: this.remove(key), revision: index };
        if (c.lease !== undefined && !this.leases.has(c.lease)) return { op: 'put', ok: false, error: 'lease_not_found', lease: c.lease };
        this.write(index, key, c.value, c.lease ?? 0);
        return { op: 'put', ok: true, revision: index };
      }
      case 'txn': {
        const succeeded = c.compare.every((k) => {
          const current = this.data.get(hex(k.key));
          const sign = k.target === 'revision' ? Math.sign((current?.revision ?? 0) - k.revision) : current === undefined ? null : Buffer.compare(current.value, k.value);
          if (sign === null) return false;
          return { equal: sign === 0, not_equal: sign !== 0, less: sign < 0, greater: sign > 0 }[k.operator];
        });
        const ops = succeeded ? c.success : c.failure;
        const missing = ops.find((o) => o.op === 'put' && o.lease !== undefined && !this.leases.has(o.lease));
        if (missing !== undefined && missing.op === 'put') return { op: 'txn', ok: false, error: 'lease_not_found', lease: missing.lease! };
        const results = ops.map((o): TxnOpResult => {
          const key = hex(o.key);
          if (o.op === 'put') {
            this.write(index, key, o.value, o.lease ?? 0);
            return { op: 'put' };
          }
          if (o.op === 'delete') return { op: 'delete', deleted: this.remove(key) };
          const current = this.data.get(key);
          return current === undefined ? { op: 'get', found: false } : { op: 'get', found: true, value: current.value, revision: current.revision };
        });
        return { op: 'txn', ok: true, succeeded, revision: index, results };
      }
      case 'lease_grant':
        this.leases.set(index, { ttlSeconds: c.ttlSeconds, keys: [] });
        return { op: 'lease_grant', ok: true, lease: index, ttlSeconds: c.ttlSeconds };
      case 'lease_revoke':
        if (!this.leases.has(c.lease)) return { op: 'lease_revoke', ok: false, error: 'lease_not_found', lease: c.lease };
        this.revoke(c.lease);
        return { op: 'lease_revoke', ok: true, revision: index };
      case 'lease_expire': {
        const live = c.leases.filter((id) => this.leases.has(id));
        for (const id of live) this.revoke(id);
        return { op: 'lease_expire', ok: true, revision: index, expired: live.length };
      }
    }
  }

  private write(index: number, key: string, value: Uint8Array, lease: number): void {
    const old = this.data.get(key);
    if (old !== undefined && old.lease !== 0) this.detach(old.lease, key);
    if (lease !== 0) this.leases.get(lease)!.keys.push(key);
    this.data.set(key, { value: value.slice(), revision: index, lease });
    this.changes.push([key, hex(value), lease]);
  }

  private remove(key: string): boolean {
    const old = this.data.get(key);
    if (old === undefined) return false;
    if (old.lease !== 0) this.detach(old.lease, key);
    this.data.delete(key);
    this.changes.push([key, null, 0]);
    return true;
  }

  private detach(lease: number, key: string): void {
    const l = this.leases.get(lease);
    if (l !== undefined) l.keys = l.keys.filter((k) => k !== key);
  }

  private revoke(id: number): void {
    const keys = [...this.leases.get(id)!.keys].sort();
    this.leases.delete(id);
    for (const k of keys) this.remove(k);
  }

  /** `c` made to hit: a revision condition naming the key's current revision, lease ids naming existing leases. */
  matching(c: KvCommand): KvCommand {
    const ids = [...this.leases.keys()];
    const lease = (id: number): number => (ids.length === 0 ? id : ids[id % ids.length]!);
    switch (c.op) {
      case 'put':
      case 'delete': {
        const current = this.data.get(hex(c.key));
        const hit = c.condition.kind !== 'revision' || current === undefined ? c : { ...c, condition: { kind: 'revision' as const, revision: current.revision } };
        return hit.op === 'put' && hit.lease !== undefined ? { ...hit, lease: lease(hit.lease) } : hit;
      }
      case 'txn': {
        const ops = (branch: readonly TxnOp[]): TxnOp[] => branch.map((o) => (o.op === 'put' && o.lease !== undefined ? { ...o, lease: lease(o.lease) } : o));
        const compare = c.compare.map((k) => {
          const current = this.data.get(hex(k.key));
          if (current === undefined) return k;
          return k.target === 'revision' ? { ...k, revision: current.revision } : { ...k, value: current.value };
        });
        return { ...c, compare, success: ops(c.success), failure: ops(c.failure) };
      }
      case 'lease_revoke':
        return { ...c, lease: lease(c.lease) };
      case 'lease_expire':
        return ids.length === 0 ? c : { op: 'lease_expire', leases: [...new Set(c.leases.map(lease))].sort((x, y) => x - y) };
      case 'lease_grant':
        return c;
    }
  }
}

type Step =
  | { readonly kind: 'command'; readonly command: KvCommand; readonly matching: boolean }
  | { readonly kind: 'noop' }
  | { readonly kind: 'garbage'; readonly data: Uint8Array }
  | { readonly kind: 'reclaim'; readonly budget: number }
  | { readonly kind: 'restore'; readonly chunkBytes: number };

const stepArb = (command: fc.Arbitrary<KvCommand>): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 14, arbitrary: fc.tuple(command, fc.boolean()).map(([c, matching]) => ({ kind: 'command', command: c, matching }) as const) },
    { weight: 1, arbitrary: fc.constant({ kind: 'noop' } as const) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map((data) => ({ kind: 'garbage', data }) as const) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 5 }).map((budget) => ({ kind: 'reclaim', budget }) as const) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 64 }).map((chunkBytes) => ({ kind: 'restore', chunkBytes }) as const) },
  );

/** Every page of a prefix, `limit` keys at a time, through the continuation key. */
function listAll(sm: KvStateMachine, prefix: Uint8Array, limit: number, keysOnly: boolean): [string, string | null, number, number][] {
  const out: [string, string | null, number, number][] = [];
  let after: Uint8Array | null = null;
  for (let pages = 0; ; pages++) {
    assert.ok(pages <= sm.size() + 1, 'paging does not end');
    const page = sm.range({ prefix, after, limit, keysOnly });
    assert.ok(page.entries.length <= limit);
    for (const { key, entry } of page.entries) out.push([Buffer.from(key, 'latin1').toString('hex'), keysOnly ? null : hex(entry.value), entry.revision, entry.lease]);
    if (!page.more) return out;
    assert.ok(page.entries.length > 0, 'an empty page says more follow');
    after = Buffer.from(page.entries[page.entries.length - 1]!.key, 'latin1');
  }
}

function checkAgainst(sm: KvStateMachine, model: Model, limits: { changesMax: number; bytesMax: number }, pageLimit: number): void {
  assert.equal(sm.size(), model.data.size);
  for (const [key, e] of model.data) assert.deepEqual(plainEntry(sm.get(Buffer.from(key, 'hex'))), e, key);
  // Range: every prefix of 0 or 1 bytes of the small alphabet, paged.
  for (const prefix of [bytes(), ...[0x00, 0x2f, 0x41, 0x80, 0x9f, 0xc3, 0xfe, 0xff].map((b) => bytes(b))]) {
    const p = hex(prefix);
    const expected = [...model.data].filter(([k]) => k.startsWith(p)).sort(([x], [y]) => (x < y ? -1 : 1));
    const keysOnly = pageLimit % 2 === 0;
    assert.deepEqual(listAll(sm, prefix, pageLimit, keysOnly), expected.map(([k, e]) => [k, keysOnly ? null : hex(e.value), e.revision, e.lease]), `prefix ${p}`);
  }
  // Leases and their keys.
  assert.deepEqual(sm.leaseRecords(), [...model.leases].map(([id, l]) => ({ id, ttlSeconds: l.ttlSeconds })));
  for (const [id, l] of model.leases) assert.deepEqual([...sm.lease(id)!.keys].map((k) => Buffer.from(k, 'latin1').toString('hex')).sort(), [...l.keys].sort());
  // The window is the newest part of the history, and as much of it as the limits allow.
  const feed = sm.changes();
  const oldest = feed.oldestServable();
  const windowed: [number, [string, string | null, number][]][] = [];
  feed.forEachFrom(oldest, (r) => {
    windowed.push([r.revision, r.changes.map((c) => [Buffer.from(c.key, 'latin1').toString('hex'), c.value === null ? null : hex(c.value), c.lease])]);
    return true;
  });
  const suffix = model.history.filter(([r]) => r >= oldest);
  assert.deepEqual(windowed, suffix);
  const before = model.history.filter(([r]) => r < oldest);
  if (before.length > 0) {
    const kept = [before[before.length - 1]!, ...suffix];
    const changes = kept.reduce((n, [, cs]) => n + cs.length, 0);
    const bytesKept = kept.reduce((n, [, cs]) => n + cs.reduce((m, [k, v]) => m + k.length / 2 + (v === null ? 0 : v.length / 2), 0), 0);
    assert.ok(changes > limits.changesMax || bytesKept > limits.bytesMax, 'the window dropped a revision it had room for');
  }
  assert.throws(() => feed.forEachFrom(oldest - 1, () => true), /compacted/);
}

test('model: KvStateMachine agrees with plain Maps over random sequences of every command, across reclamation and restores', () => {
  fc.assert(
    fc.property(
      fc.array(stepArb(modelCommandArb(smallTagArb)), { maxLength: 250, size: 'max' }),
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom({ changesMax: 4, bytesMax: 30 }, { changesMax: 25, bytesMax: 1000 }, { changesMax: 10_000, bytesMax: 1 << 24 }),
      fc.integer({ min: 1, max: 4 }),
      (steps, gap, limits, pageLimit) => {
        const config: KvStateMachineConfig = {
          ...kvStateMachineDefaults,
          shardCount: 2,
          reclaimDeletionsMin: 0,
          // Rebuilds after every few replaced value bytes, so they move values under the watch window and the snapshots.
          reclaimGarbageBytesMin: 0,
          watchWindowChangesMax: limits.changesMax,
          watchWindowBytesMax: limits.bytesMax,
        };
        let sm = new KvStateMachine(config);
        const model = new Model();
        let index = 0;
        for (const step of steps) {
          switch (step.kind) {
            case 'command': {
              index += gap;
              const command = step.matching ? model.matching(step.command) : step.command;
              assert.deepEqual(sm.apply(index, encodeCommand(command)), model.apply(index, command));
              break;
            }
            case 'noop':
              sm.applyNoop(++index);
              break;
            case 'garbage': {
              const decoded = decodeCommand(step.data);
              const out = sm.apply(++index, step.data);
              // Now and then the bytes happen to be a command; then the model applies it too.
              if ('error' in decoded) assert.deepEqual(out, decoded);
              else assert.deepEqual(out, model.apply(index, decoded));
              break;
            }
            case 'reclaim':
              sm.reclaimStep(step.budget);
              break;
            case 'restore': {
              const reader = sm.snapshot();
              const chunks: Uint8Array[] = [];
              for (let c = reader.next(step.chunkBytes); c !== null; c = reader.next(step.chunkBytes)) chunks.push(c);
              const restored = KvStateMachine.restore(config, chunks);
              assert.ok(restored instanceof KvStateMachine, JSON.stringify(restored));
              sm = restored;
              break;
            }
          }
          assert.equal(sm.appliedIndex(), index);
        }
        checkAgainst(sm, model, limits, pageLimit);
      },
    ),
    { numRuns: 200 },
  );
});
