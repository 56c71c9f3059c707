import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChangeWindow, type RevisionChanges } from '../../src/kv/change-window.js';
import type { BinaryKey } from '../../src/kv/sharded-map.js';

const rev = (revision: number, ...keys: string[]): RevisionChanges => ({ revision, changes: keys.map((k) => ({ key: k as BinaryKey, value: new Uint8Array(3), lease: 0 })) });

function revisionsFrom(w: ChangeWindow, from: number): number[] {
  const out: number[] = [];
  w.forEachFrom(from, (r) => out.push(r.revision) > 0);
  return out;
}

test('change window: drops whole oldest revisions past the change or byte limit, and says from where it can serve', () => {
  const w = new ChangeWindow({ changesMax: 4, bytesMax: 1000 });
  assert.equal(w.oldestServable(), 1);
  w.record(rev(2, 'a', 'b'));
  w.record(rev(5, 'c'));
  w.record(rev(6, 'd'));
  assert.deepEqual(revisionsFrom(w, 1), [2, 5, 6]);
  w.record(rev(9, 'e'));
  assert.equal(w.oldestServable(), 3, 'revision 2 dropped: 5 changes > 4');
  assert.deepEqual(revisionsFrom(w, 3), [5, 6, 9]);
  assert.deepEqual(revisionsFrom(w, 6), [6, 9]);
  assert.deepEqual(revisionsFrom(w, 7), [9]);
  assert.deepEqual(revisionsFrom(w, 10), []);
  assert.throws(() => w.forEachFrom(2, () => true), /revision 2 was compacted \(oldest servable 3\)/);
  assert.equal(w.changes(), 3);
  // Bytes: each change is a 1-byte key and a 3-byte value.
  const small = new ChangeWindow({ changesMax: 100, bytesMax: 8 });
  small.record(rev(1, 'a'));
  small.record(rev(2, 'b'));
  small.record(rev(3, 'c'));
  assert.equal(small.oldestServable(), 2);
  assert.equal(small.bytes(), 8);
});

test('change window: the newest revision is kept even when it alone is over the limits', () => {
  const w = new ChangeWindow({ changesMax: 2, bytesMax: 1000 });
  w.record(rev(1, 'a'));
  w.record(rev(2, 'a', 'b', 'c'));
  assert.deepEqual(revisionsFrom(w, 2), [2]);
  assert.equal(w.oldestServable(), 2);
  w.record(rev(3, 'x'));
  assert.deepEqual(revisionsFrom(w, 3), [3]);
});

test('change window: revisions must grow and carry changes; many drops keep the storage compact', () => {
  const w = new ChangeWindow({ changesMax: 3, bytesMax: 1000 }, 10);
  assert.equal(w.oldestServable(), 11);
  assert.throws(() => w.record(rev(10, 'a')), /not after/);
  w.record(rev(11, 'a'));
  assert.throws(() => w.record(rev(11, 'b')), /not after/);
  assert.throws(() => w.record(rev(12)), /without changes/);
  for (let r = 12; r < 10_000; r++) w.record(rev(r, 'k'));
  assert.deepEqual(revisionsFrom(w, 9997), [9997, 9998, 9999]);
  assert.equal(w.capture().length, 3);
  assert.throws(() => new ChangeWindow({ changesMax: 0, bytesMax: 1 }), /changesMax 0/);
});
