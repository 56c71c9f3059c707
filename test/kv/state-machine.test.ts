import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { KvCommand, KvResult } from '../../src/kv/command.js';
import { decodeCommand, encodeCommand } from '../../src/kv/command.js';
import type { KvStateMachineConfig } from '../../src/kv/state-machine.js';
import { KvStateMachine, kvStateMachineDefaults } from '../../src/kv/state-machine.js';
import { bytes, del, hex, modelCommandArb, put, smallTagArb, text } from './helpers.js';

const small: KvStateMachineConfig = { ...kvStateMachineDefaults, shardCount: 4 };
const a = text('a');

test('put: creates a key at revision = its own index, overwrites at the new index', () => {
  const sm = new KvStateMachine(small);
  assert.deepEqual(sm.apply(1, put(a, text('v1'))), { op: 'put', ok: true, revision: 1 });
  assert.deepEqual(sm.get(a), { value: text('v1'), revision: 1 });
  assert.deepEqual(sm.apply(5, put(a, text('v2'))), { op: 'put', ok: true, revision: 5 });
  assert.deepEqual(sm.get(a), { value: text('v2'), revision: 5 });
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
  assert.deepEqual(sm.get(a), { value: text('v1'), revision: 1 });
  assert.deepEqual(sm.apply(3, put(a, text('v3'), { kind: 'revision', revision: 1 })), { op: 'put', ok: true, revision: 3 });
  assert.deepEqual(sm.get(a), { value: text('v3'), revision: 3 });
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
  assert.deepEqual(sm.get(a), { value: text('v1'), revision: 1 });
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
  assert.deepEqual(sm.get(a), { value: text('v'), revision: 1 });
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
  keys.forEach((key, i) => assert.deepEqual(sm.get(key), { value: bytes(i), revision: i + 1 }));
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
  assert.deepEqual(sm.get(a), { value: text('v'), revision: 3 });
});

const tag = (clientId: string, requestId: string) => ({ clientId, requestId });

test('exactly-once: a retried tag returns the first result and is not applied again', () => {
  const sm = new KvStateMachine(small);
  const first = sm.apply(1, put(a, text('v1'), { kind: 'none' }, tag('c', 'r1')));
  sm.apply(2, put(a, text('other')));
  assert.deepEqual(sm.apply(3, put(a, text('v1'), { kind: 'none' }, tag('c', 'r1'))), first);
  assert.deepEqual(sm.get(a), { value: text('other'), revision: 2 });
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
  assert.deepEqual(sm.get(a), { value: text('again'), revision: 4 });
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

/** The oracle: a plain Map and a per-client result table with no bounds. */
class Model {
  readonly data = new Map<string, { value: string; revision: number }>();
  private readonly seen = new Map<string, KvResult>();

  apply(index: number, c: KvCommand): KvResult {
    const tagKey = c.tag === null ? null : JSON.stringify([c.tag.clientId, c.tag.requestId]);
    const previous = tagKey === null ? undefined : this.seen.get(tagKey);
    if (previous !== undefined) return previous;
    const key = hex(c.key);
    const current = this.data.get(key);
    let result: KvResult;
    if (
      (c.condition.kind === 'revision' && current?.revision !== c.condition.revision) ||
      (c.condition.kind === 'absent' && current !== undefined)
    ) {
      result = { op: c.op, ok: false, error: 'revision_mismatch', currentRevision: current?.revision ?? null };
    } else if (c.op === 'put') {
      this.data.set(key, { value: hex(c.value), revision: index });
      result = { op: 'put', ok: true, revision: index };
    } else {
      result = { op: 'delete', ok: true, deleted: this.data.delete(key), revision: index };
    }
    if (tagKey !== null) this.seen.set(tagKey, result);
    return result;
  }

  /** `c` with a revision condition naming the key's current revision, so it holds. */
  matchingRevision(c: KvCommand): KvCommand {
    const current = this.data.get(hex(c.key));
    if (c.condition.kind !== 'revision' || current === undefined) return c;
    return { ...c, condition: { kind: 'revision', revision: current.revision } };
  }
}

type Step =
  | { readonly kind: 'command'; readonly command: KvCommand; readonly matching: boolean }
  | { readonly kind: 'noop' }
  | { readonly kind: 'garbage'; readonly data: Uint8Array }
  | { readonly kind: 'reclaim'; readonly budget: number }
  | { readonly kind: 'restore' };

const stepArb = (command: fc.Arbitrary<KvCommand>): fc.Arbitrary<Step> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.tuple(command, fc.boolean()).map(([c, matching]) => ({ kind: 'command', command: c, matching }) as const) },
    { weight: 1, arbitrary: fc.constant({ kind: 'noop' } as const) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 6 }).map((data) => ({ kind: 'garbage', data }) as const) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 5 }).map((budget) => ({ kind: 'reclaim', budget }) as const) },
    { weight: 1, arbitrary: fc.constant({ kind: 'restore' } as const) },
  );

test('model: KvStateMachine agrees with a plain Map over random command sequences, across reclamation and restores', () => {
  const config: KvStateMachineConfig = { ...kvStateMachineDefaults, shardCount: 2, reclaimDeletionsMin: 0 };
  fc.assert(
    fc.property(fc.array(stepArb(modelCommandArb(smallTagArb)), { maxLength: 300, size: 'max' }), fc.integer({ min: 1, max: 3 }), (steps, gap) => {
      let sm = new KvStateMachine(config);
      const model = new Model();
      let index = 0;
      for (const step of steps) {
        switch (step.kind) {
          case 'command': {
            index += gap;
            const command = step.matching ? model.matchingRevision(step.command) : step.command;
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
            for (let c = reader.next(7); c !== null; c = reader.next(7)) chunks.push(c);
            const restored = KvStateMachine.restore(config, chunks);
            assert.ok(restored instanceof KvStateMachine, JSON.stringify(restored));
            sm = restored;
            break;
          }
        }
        assert.equal(sm.appliedIndex(), index);
      }
      assert.equal(sm.size(), model.data.size);
      for (const [key, { value, revision }] of model.data) {
        const got = sm.get(Buffer.from(key, 'hex'));
        assert.ok(got !== undefined, key);
        assert.deepEqual({ value: hex(got.value), revision: got.revision }, { value, revision });
      }
    }),
    { numRuns: 150 },
  );
});
