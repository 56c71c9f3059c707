import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { KvCommand } from '../../src/kv/command.js';
import { encodeCommand } from '../../src/kv/command.js';
import type { BinaryKey } from '../../src/kv/sharded-map.js';
import { KvStateMachine, kvStateMachineDefaults, type KvStateMachineConfig } from '../../src/kv/state-machine.js';
import { WatchHub, type Watch, type WatchEnd, type WatchEvent, type WatchSelector } from '../../src/watch/watch-hub.js';

const text = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const k = (s: string): BinaryKey => s as BinaryKey;

/** A sink that keeps everything and says "full" once it holds `capacity` undrained events. */
class TestSink {
  readonly received: WatchEvent[] = [];
  undrained = 0;
  ended: WatchEnd | null = null;
  everFull = false;
  constructor(readonly capacity: number) {}
  deliver(e: WatchEvent): boolean {
    assert.equal(this.ended, null, 'delivered after the end');
    this.received.push(e);
    this.undrained++;
    const full = this.undrained >= this.capacity;
    if (full) this.everFull = true;
    return !full;
  }
  end(why: WatchEnd): void {
    assert.equal(this.ended, null, 'ended twice');
    this.ended = why;
  }
}

const render = (events: readonly WatchEvent[]): string[] => events.map((e) => `${e.revision}:${e.changes.map((c) => `${c.key}=${c.value === null ? '-' : Buffer.from(c.value).toString('latin1')}`).join(',')}`);

function readHistory(sm: KvStateMachine, selector: WatchSelector, from: number): WatchEvent[] {
  const out: WatchEvent[] = [];
  sm.changes().forEachFrom(1, (r) => {
    if (r.revision < from) return true;
    const changes = r.changes.filter((c) => (selector.kind === 'key' ? c.key === selector.key : c.key.startsWith(selector.prefix)));
    if (changes.length > 0) out.push({ revision: r.revision, changes });
    return true;
  });
  return out;
}

test('watch hub: a watch from a revision gets every later change of its key, then the live ones, each once', () => {
  let sm = new KvStateMachine(kvStateMachineDefaults);
  const put = (i: number, key: string, v: string): void => void sm.apply(i, encodeCommand({ op: 'put', key: text(key), value: text(v), condition: { kind: 'none' }, tag: null }));
  put(1, 'a', '1');
  put(2, 'b', '2');
  put(3, 'a', '3');
  let polls = 0;
  const hub = new WatchHub(() => sm, () => polls++);
  const sink = new TestSink(100);
  const started = hub.watch({ kind: 'key', key: k('a') }, 2, sink);
  assert.ok(started.ok);
  assert.equal(polls, 1, 'a watch that must catch up asks for a poll');
  hub.poll();
  put(4, 'a', '4');
  put(5, 'ab', '5');
  hub.poll();
  assert.deepEqual(render(sink.received), ['3:a=3', '4:a=4']);
  const all = new TestSink(100);
  assert.ok(hub.watch({ kind: 'prefix', prefix: '' }, null, all).ok);
  sm.apply(6, encodeCommand({ op: 'txn', compare: [], success: [{ op: 'put', key: text('b'), value: text('6') }, { op: 'delete', key: text('a') }], failure: [], tag: null }));
  hub.poll();
  assert.deepEqual(render(all.received), ['6:b=6,a=-']);
  assert.deepEqual(render(sink.received), ['3:a=3', '4:a=4', '6:a=-']);
  // A snapshot install replaces the state machine; synced watches go on from its window.
  sm = KvStateMachine.restore(kvStateMachineDefaults, [readAll(sm)]) as KvStateMachine;
  put(7, 'a', '7');
  hub.poll();
  assert.deepEqual(render(sink.received).slice(-1), ['7:a=7']);
  assert.equal(hub.size(), 2);
  started.watch.cancel();
  assert.equal(hub.size(), 1);
  hub.stop();
  assert.deepEqual(all.ended, { kind: 'stopping' });
});

function readAll(sm: KvStateMachine): Uint8Array {
  const r = sm.snapshot();
  const chunks: Uint8Array[] = [];
  for (let c = r.next(1 << 16); c !== null; c = r.next(1 << 16)) chunks.push(c);
  return Buffer.concat(chunks);
}

test('watch hub: a watch from before the window is refused with the oldest revision it could serve; too many are refused', () => {
  const sm = new KvStateMachine({ ...kvStateMachineDefaults, watchWindowChangesMax: 2 });
  for (let i = 1; i <= 5; i++) sm.apply(i, encodeCommand({ op: 'put', key: text('a'), value: text(`${i}`), condition: { kind: 'none' }, tag: null }));
  const hub = new WatchHub(() => sm, () => {}, { watchersMax: 1, catchUpRevisionsPerPoll: 10 });
  assert.deepEqual(hub.watch({ kind: 'key', key: k('a') }, 3, new TestSink(1)), { ok: false, error: 'compacted', oldestRevision: 4 });
  assert.ok(hub.watch({ kind: 'key', key: k('a') }, 4, new TestSink(1)).ok);
  assert.deepEqual(hub.watch({ kind: 'key', key: k('a') }, 4, new TestSink(1)), { ok: false, error: 'too_many_watchers' });
});

test('watch hub: a watch that stops reading ends as too slow once the window passes it, and costs nothing meanwhile', () => {
  const sm = new KvStateMachine({ ...kvStateMachineDefaults, watchWindowChangesMax: 3 });
  const hub = new WatchHub(() => sm, () => {});
  const slow = new TestSink(1);
  const fast = new TestSink(1000);
  const started = hub.watch({ kind: 'prefix', prefix: '' }, null, slow);
  assert.ok(started.ok && hub.watch({ kind: 'key', key: k('a') }, null, fast).ok);
  for (let i = 1; i <= 10; i++) {
    sm.apply(i, encodeCommand({ op: 'put', key: text('a'), value: text(`${i}`), condition: { kind: 'none' }, tag: null }));
    hub.poll();
  }
  assert.equal(slow.received.length, 1, 'one event, then it said full and got nothing more');
  assert.equal(fast.received.length, 10);
  assert.equal(slow.ended, null, 'nothing ends it while it is paused');
  slow.undrained = 0;
  started.watch.resume();
  hub.poll();
  assert.deepEqual(slow.ended, { kind: 'too_slow', oldestRevision: 8 });
  assert.equal(hub.size(), 1);
});

type Step =
  | { readonly kind: 'apply'; readonly command: KvCommand }
  | { readonly kind: 'poll' }
  | { readonly kind: 'watch'; readonly selector: WatchSelector; readonly from: number | null; readonly capacity: number }
  | { readonly kind: 'drain'; readonly pick: number }
  | { readonly kind: 'cancel'; readonly pick: number }
  | { readonly kind: 'restore' };

const keys = ['a', 'b', 'ab', 'ba', 'c'];
const keyArb = fc.constantFrom(...keys).map(text);
const commandArb: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({ key: keyArb, v: fc.nat(99) }).map(({ key, v }) => ({ op: 'put', key, value: text(String(v)), condition: { kind: 'none' }, tag: null }) as const),
  keyArb.map((key) => ({ op: 'delete', key, condition: { kind: 'none' }, tag: null }) as const),
  fc.uniqueArray(fc.constantFrom(...keys), { minLength: 1, maxLength: 3 }).map(
    (ks) => ({ op: 'txn', compare: [], success: ks.map((key, i) => (i % 2 === 0 ? { op: 'put' as const, key: text(key), value: text('t') } : { op: 'delete' as const, key: text(key) })), failure: [], tag: null }) as const,
  ),
);
const selectorArb: fc.Arbitrary<WatchSelector> = fc.oneof(
  fc.constantFrom(...keys).map((key) => ({ kind: 'key', key: k(key) }) as const),
  fc.constantFrom('', 'a', 'b', 'x').map((prefix) => ({ kind: 'prefix', prefix: k(prefix) }) as const),
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: commandArb.map((command) => ({ kind: 'apply', command }) as const) },
  { weight: 4, arbitrary: fc.constant({ kind: 'poll' } as const) },
  {
    weight: 2,
    arbitrary: fc.record({ selector: selectorArb, from: fc.option(fc.integer({ min: -3, max: 3 }), { nil: null }), capacity: fc.integer({ min: 1, max: 6 }) }).map((w) => ({ kind: 'watch', ...w }) as const),
  },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'drain', pick }) as const) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'cancel', pick }) as const) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restore' } as const) },
);

test('watch hub: every watch gets exactly its changes in order, or ends with a true reason, across pauses, restores and catch-up budgets', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { maxLength: 150 }), fc.integer({ min: 2, max: 12 }), fc.integer({ min: 1, max: 4 }), (steps, windowChanges, budget) => {
      const config: KvStateMachineConfig = { ...kvStateMachineDefaults, watchWindowChangesMax: windowChanges };
      let sm = new KvStateMachine(config);
      // The same log with a window that never drops anything: the whole history.
      const oracle = new KvStateMachine({ ...config, watchWindowChangesMax: 1_000_000 });
      const hub = new WatchHub(() => sm, () => {}, { watchersMax: 1000, catchUpRevisionsPerPoll: budget });
      const watches: { watch: Watch; sink: TestSink; selector: WatchSelector; from: number; cancelled: boolean }[] = [];
      let index = 0;
      for (const step of steps) {
        switch (step.kind) {
          case 'apply': {
            const data = encodeCommand(step.command);
            index++;
            sm.apply(index, data);
            oracle.apply(index, data);
            break;
          }
          case 'poll':
            hub.poll();
            break;
          case 'watch': {
            const sink = new TestSink(step.capacity);
            const from = step.from === null ? null : Math.max(1, sm.appliedIndex() + step.from);
            const r = hub.watch(step.selector, from, sink);
            if (!r.ok) {
              assert.equal(r.error, 'compacted');
              assert.ok(from !== null && from < r.oldestRevision && r.oldestRevision === sm.changes().oldestServable());
              break;
            }
            watches.push({ watch: r.watch, sink, selector: step.selector, from: from ?? sm.appliedIndex() + 1, cancelled: false });
            break;
          }
          case 'drain': {
            const w = watches[step.pick % Math.max(1, watches.length)];
            if (w === undefined) break;
            w.sink.undrained = 0;
            w.watch.resume();
            break;
          }
          case 'cancel': {
            const w = watches[step.pick % Math.max(1, watches.length)];
            if (w === undefined || w.sink.ended !== null) break;
            w.watch.cancel();
            w.cancelled = true;
            break;
          }
          case 'restore': {
            const restored = KvStateMachine.restore(config, [readAll(sm)]);
            assert.ok(restored instanceof KvStateMachine);
            sm = restored;
            break;
          }
        }
      }
      // Liveness: drain everything until no work is left.
      for (let round = 0; round < 1000; round++) {
        for (const w of watches) {
          w.sink.undrained = 0;
          w.watch.resume();
        }
        if (!hub.poll() && watches.every((w) => w.sink.ended !== null || w.cancelled || !w.watch.paused)) break;
      }
      for (const w of watches) {
        const expected = render(readHistory(oracle, w.selector, w.from));
        const got = render(w.sink.received);
        assert.deepEqual(got, expected.slice(0, got.length), 'not a prefix of the history: a gap, a duplicate or a reorder');
        if (w.cancelled) continue;
        const end = w.sink.ended;
        if (end === null) {
          assert.deepEqual(got, expected, 'a live watch missed changes');
          assert.equal(w.watch.paused, false);
        } else {
          if (end.kind === 'stopping') assert.fail('stopping, but the hub was never stopped');
          if (end.kind === 'too_slow') assert.ok(w.sink.everFull, 'too slow, but it never paused');
          // It could not go on: what it still needed is older than the window.
          const last = w.sink.received[w.sink.received.length - 1]?.revision ?? w.from - 1;
          assert.ok(last + 1 < end.oldestRevision, `ended at ${last} with the window from ${end.oldestRevision}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});

test('watch hub: with no watch, polls only keep the head up; a watch started after them is synced at once and gets exactly what follows', () => {
  const sm = new KvStateMachine(kvStateMachineDefaults);
  let pollsRequested = 0;
  const hub = new WatchHub(() => sm, () => void pollsRequested++);
  const put = (i: number, key: string): void => void sm.apply(i, encodeCommand({ op: 'put', key: text(key), value: text(`${i}`), condition: { kind: 'none' }, tag: null }));
  for (let i = 1; i <= 50; i++) {
    put(i, i % 2 === 0 ? 'a' : 'b');
    assert.equal(hub.poll(), false);
  }
  assert.equal(hub.headRevision(), 50);
  const live = new TestSink(1000);
  const all = new TestSink(1000);
  assert.equal(hub.watch({ kind: 'key', key: k('a') }, null, live).ok, true);
  assert.equal(pollsRequested, 0, 'a live watch on a caught-up hub is synced without a poll');
  assert.equal(hub.watch({ kind: 'key', key: k('a') }, 1, all).ok, true);
  put(51, 'b');
  put(52, 'a');
  while (hub.poll());
  assert.deepEqual(render(live.received), ['52:a=52']);
  assert.deepEqual(render(all.received), [...Array.from({ length: 25 }, (_, j) => `${2 * (j + 1)}:a=${2 * (j + 1)}`), '52:a=52']);
});
