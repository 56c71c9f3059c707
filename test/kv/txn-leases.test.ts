import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KvCommand, TxnCompare, TxnOp } from '../../src/kv/command.js';
import { encodeCommand } from '../../src/kv/command.js';
import { leasesMax, txnReadBytesMax } from '../../src/kv/limits.js';
import { KvStateMachine, kvStateMachineDefaults } from '../../src/kv/state-machine.js';
import { del, plainEntry, put, text } from './helpers.js';

const apply = (sm: KvStateMachine, index: number, c: KvCommand) => sm.apply(index, encodeCommand(c));
const txn = (compare: TxnCompare[], success: TxnOp[], failure: TxnOp[] = [], tag: { clientId: string; requestId: string } | null = null): KvCommand => ({ op: 'txn', compare, success, failure, tag });
const a = text('a');
const b = text('b');

/** The window's changes at one revision, as `key=value` or `key deleted`. */
function changesAt(sm: KvStateMachine, revision: number): string[] {
  const out: string[] = [];
  sm.changes().forEachFrom(revision, (r) => {
    if (r.revision === revision) out.push(...r.changes.map((c) => (c.value === null ? `${c.key} deleted` : `${c.key}=${Buffer.from(c.value).toString()}`)));
    return false;
  });
  return out;
}

test('txn: compares on revision treat an absent key as revision 0; compares on value of an absent key are false', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  const absentIsZero = txn([{ target: 'revision', key: a, operator: 'equal', revision: 0 }], [{ op: 'put', key: a, value: text('created') }]);
  assert.deepEqual(apply(sm, 1, absentIsZero), { op: 'txn', ok: true, succeeded: true, revision: 1, results: [{ op: 'put' }] });
  (['equal', 'not_equal', 'less', 'greater'] as const).forEach((operator, i) => {
    const r = apply(sm, 2 + i, txn([{ target: 'value', key: b, operator, value: text('x') }], [{ op: 'put', key: b, value: text('no') }]));
    assert.deepEqual(r, { op: 'txn', ok: true, succeeded: false, revision: 2 + i, results: [] }, operator);
  });
  assert.equal(sm.get(b), undefined);
  // Values compare as bytes: "created" > "c" and < "d".
  const between = txn(
    [
      { target: 'value', key: a, operator: 'greater', value: text('c') },
      { target: 'value', key: a, operator: 'less', value: text('d') },
      { target: 'revision', key: a, operator: 'less', revision: 2 },
      { target: 'revision', key: a, operator: 'not_equal', revision: 7 },
    ],
    [{ op: 'get', key: a }],
  );
  assert.deepEqual(apply(sm, 10, between), { op: 'txn', ok: true, succeeded: true, revision: 10, results: [{ op: 'get', found: true, value: text('created'), revision: 1 }] });
});

test('txn: the chosen branch runs in order, each op seeing the earlier ones, as one revision', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  sm.apply(1, put(a, text('1')));
  const t = txn(
    [{ target: 'revision', key: a, operator: 'equal', revision: 99 }],
    [{ op: 'put', key: b, value: text('never') }],
    [{ op: 'get', key: b }, { op: 'put', key: b, value: text('2') }, { op: 'get', key: b }, { op: 'delete', key: a }, { op: 'get', key: a }, { op: 'delete', key: text('zz') }],
  );
  assert.deepEqual(apply(sm, 2, t), {
    op: 'txn',
    ok: true,
    succeeded: false,
    revision: 2,
    results: [
      { op: 'get', found: false },
      { op: 'put' },
      { op: 'get', found: true, value: text('2'), revision: 2 },
      { op: 'delete', deleted: true },
      { op: 'get', found: false },
      { op: 'delete', deleted: false },
    ],
  });
  assert.deepEqual(changesAt(sm, 2), ['b=2', 'a deleted']);
  assert.deepEqual(plainEntry(sm.get(b)), { value: text('2'), revision: 2, lease: 0 });
});

test('txn: a missing lease or reads over txnReadBytesMax refuse the whole transaction, changing nothing', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  const big = new Uint8Array(txnReadBytesMax / 2 + 1).fill(1);
  sm.apply(1, put(a, big));
  const noLease = txn([], [{ op: 'put', key: b, value: text('x') }, { op: 'put', key: text('c'), value: text('y'), lease: 77 }]);
  assert.deepEqual(apply(sm, 2, noLease), { op: 'txn', ok: false, error: 'lease_not_found', lease: 77 });
  assert.equal(sm.get(b), undefined);
  assert.deepEqual(apply(sm, 3, txn([], [{ op: 'get', key: a }, { op: 'get', key: a }])), { op: 'txn', ok: false, error: 'txn_reads_too_large' });
  // A get after a put in the same branch counts the put's value.
  assert.deepEqual(apply(sm, 4, txn([], [{ op: 'get', key: a }, { op: 'put', key: b, value: big }, { op: 'get', key: b }])), { op: 'txn', ok: false, error: 'txn_reads_too_large' });
  assert.equal(sm.get(b), undefined);
  // One read of it is fine; and a delete before the second read makes it free.
  const ok = apply(sm, 5, txn([], [{ op: 'get', key: a }, { op: 'delete', key: a }, { op: 'get', key: a }]));
  assert.ok('op' in ok && ok.op === 'txn' && ok.ok);
  assert.throws(() => encodeCommand(txn([], [{ op: 'put', key: b, value: text('1') }, { op: 'delete', key: b }])), /writes a key twice/);
});

test('txn: a retried transaction is answered with its first result, read values included, and not applied again', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  sm.apply(1, put(a, text('old')));
  const t = txn([{ target: 'value', key: a, operator: 'equal', value: text('old') }], [{ op: 'get', key: a }, { op: 'put', key: a, value: text('new') }], [], { clientId: 'c', requestId: 'r' });
  const first = apply(sm, 2, t);
  assert.deepEqual(first, { op: 'txn', ok: true, succeeded: true, revision: 2, results: [{ op: 'get', found: true, value: text('old'), revision: 1 }, { op: 'put' }] });
  sm.apply(3, put(a, text('newer')));
  assert.deepEqual(apply(sm, 4, t), first);
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('newer'), revision: 3, lease: 0 });
});

test('leases: a grant is named by its index; keys attach on put, detach on a put without it or a delete, and go with the lease', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  assert.deepEqual(apply(sm, 5, { op: 'lease_grant', ttlSeconds: 10, tag: null }), { op: 'lease_grant', ok: true, lease: 5, ttlSeconds: 10 });
  assert.deepEqual(sm.apply(6, put(a, text('1'), { kind: 'none' }, null, 5)), { op: 'put', ok: true, revision: 6 });
  sm.apply(7, put(b, text('2'), { kind: 'none' }, null, 5));
  sm.apply(8, put(text('c'), text('3'), { kind: 'none' }, null, 5));
  assert.deepEqual(plainEntry(sm.get(a)), { value: text('1'), revision: 6, lease: 5 });
  sm.apply(9, put(b, text('2 again'))); // detached: survives the lease
  sm.apply(10, del(text('c')));
  assert.deepEqual([...sm.lease(5)!.keys], ['a']);
  assert.deepEqual(sm.apply(11, put(text('d'), text('4'), { kind: 'none' }, null, 6)), { op: 'put', ok: false, error: 'lease_not_found', lease: 6 });
  assert.equal(sm.get(text('d')), undefined);
  assert.deepEqual(apply(sm, 12, { op: 'lease_revoke', lease: 5, tag: null }), { op: 'lease_revoke', ok: true, revision: 12 });
  assert.equal(sm.get(a), undefined);
  assert.deepEqual(plainEntry(sm.get(b)), { value: text('2 again'), revision: 9, lease: 0 });
  assert.deepEqual(changesAt(sm, 12), ['a deleted']);
  assert.deepEqual(apply(sm, 13, { op: 'lease_revoke', lease: 5, tag: null }), { op: 'lease_revoke', ok: false, error: 'lease_not_found', lease: 5 });
  assert.equal(sm.leaseCount(), 0);
});

test('leases: one expiry command ends every live lease it names, deleting all their keys at its revision, and skips the rest', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  apply(sm, 1, { op: 'lease_grant', ttlSeconds: 1, tag: null });
  apply(sm, 2, { op: 'lease_grant', ttlSeconds: 1, tag: null });
  apply(sm, 3, { op: 'lease_grant', ttlSeconds: 1, tag: null });
  for (const [i, [key, lease]] of ([['x/2', 1], ['x/1', 1], ['y', 2], ['z', 3]] as const).entries()) sm.apply(4 + i, put(text(key), text('v'), { kind: 'none' }, null, lease));
  assert.deepEqual(apply(sm, 10, { op: 'lease_expire', leases: [1, 2, 9] }), { op: 'lease_expire', ok: true, revision: 10, expired: 2 });
  assert.deepEqual(changesAt(sm, 10), ['x/1 deleted', 'x/2 deleted', 'y deleted']);
  assert.deepEqual(sm.leaseRecords(), [{ id: 3, ttlSeconds: 1 }]);
  assert.equal(sm.size(), 1);
  // Expiring again is harmless: a leader's retried decision changes nothing.
  assert.deepEqual(apply(sm, 11, { op: 'lease_expire', leases: [1, 2] }), { op: 'lease_expire', ok: true, revision: 11, expired: 0 });
  assert.deepEqual(changesAt(sm, 11), []);
});

test('leases: at most leasesMax exist; a grant beyond is refused until one ends', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  const grant = encodeCommand({ op: 'lease_grant', ttlSeconds: 60, tag: null });
  for (let i = 1; i <= leasesMax; i++) sm.apply(i, grant);
  assert.deepEqual(sm.apply(leasesMax + 1, grant), { op: 'lease_grant', ok: false, error: 'too_many_leases' });
  apply(sm, leasesMax + 2, { op: 'lease_revoke', lease: 1, tag: null });
  assert.deepEqual(sm.apply(leasesMax + 3, grant), { op: 'lease_grant', ok: true, lease: leasesMax + 3, ttlSeconds: 60 });
});

test('range: keys under a prefix in byte order, a page at a time, continuing after the last key', () => {
  const sm = new KvStateMachine({ ...kvStateMachineDefaults, shardCount: 4 });
  const keys = ['app/b', 'app/a', 'app', 'ap', 'app/a/x', 'apq', 'b', 'app/\xff', 'app/\x00'];
  keys.forEach((key, i) => sm.apply(i + 1, put(Buffer.from(key, 'latin1'), text(`v${i}`))));
  const page = (prefix: string, after: string | null, limit: number, keysOnly = false) => {
    const p = sm.range({ prefix: Buffer.from(prefix, 'latin1'), after: after === null ? null : Buffer.from(after, 'latin1'), limit, keysOnly });
    return { keys: p.entries.map((e) => e.key as string), more: p.more };
  };
  assert.deepEqual(page('app/', null, 10), { keys: ['app/\x00', 'app/a', 'app/a/x', 'app/b', 'app/\xff'], more: false });
  assert.deepEqual(page('app/', null, 2), { keys: ['app/\x00', 'app/a'], more: true });
  assert.deepEqual(page('app/', 'app/a', 2), { keys: ['app/a/x', 'app/b'], more: true });
  assert.deepEqual(page('app/', 'app/b', 2), { keys: ['app/\xff'], more: false });
  assert.deepEqual(page('app/', 'app/\xff', 2), { keys: [], more: false });
  // A continuation key before the prefix starts at the prefix; one past it ends the listing.
  assert.deepEqual(page('app/', 'a', 1), { keys: ['app/\x00'], more: true });
  assert.deepEqual(page('app/', 'b', 1), { keys: [], more: false });
  assert.deepEqual(page('', null, 3), { keys: ['ap', 'app', 'app/\x00'], more: true });
  assert.deepEqual(page('zzz', null, 3), { keys: [], more: false });
  const withValues = sm.range({ prefix: text('ap'), after: null, limit: 1, keysOnly: false });
  assert.deepEqual(plainEntry(withValues.entries[0]!.entry), { value: text('v3'), revision: 4, lease: 0 });
  assert.throws(() => sm.range({ prefix: text('a'), after: null, limit: 0, keysOnly: true }), /limit 0/);
});

test('range: a page stops before its values pass rangePageBytesMax, but always holds one key', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  const mib = new Uint8Array(1 << 20);
  for (let i = 0; i < 6; i++) sm.apply(i + 1, put(text(`k${i}`), mib));
  const first = sm.range({ prefix: text('k'), after: null, limit: 100, keysOnly: false });
  assert.equal(first.entries.length, 3, '3 MiB and a bit, the fourth would pass 4 MiB');
  assert.ok(first.more);
  assert.equal(sm.range({ prefix: text('k'), after: null, limit: 100, keysOnly: true }).entries.length, 6, 'keys only: values do not count');
  const huge = new KvStateMachine(kvStateMachineDefaults);
  huge.apply(1, put(text('k'), new Uint8Array(5 << 20)));
  huge.apply(2, put(text('l'), text('small')));
  assert.deepEqual(huge.range({ prefix: text(''), after: null, limit: 100, keysOnly: false }).entries.map((e) => e.key), ['k']);
});
