import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeConfiguration } from '../../src/raft/configuration-codec.js';
import { Departures } from '../../src/raft/departures.js';
import { configuration, describeConfiguration, type Configuration, type Member } from '../../src/raft/membership.js';
import { CONFIG_ENTRY_KIND, configOfEntry, followAppend, historyOf, peersOf, syncProgress, type LogEntryLike } from '../../src/raft/membership-log.js';
import { Progress } from '../../src/raft/progress.js';
import type { LogIndex, NodeId } from '../../src/raft/types.js';
import { logIndex, nodeId } from '../../src/raft/types.js';

const member = (id: string, role: Member['role'] = 'voter'): Member => ({ id: nodeId(id), role, addrs: { raftAddr: `${id}:1`, httpAddr: `${id}:2`, grpcAddr: `${id}:3` } });
const cfg = (...ids: string[]): Configuration => configuration(ids.map((id) => member(id)));
const configEntry = (index: number, c: Configuration): LogEntryLike => ({ index: logIndex(index), kind: CONFIG_ENTRY_KIND, data: encodeConfiguration(c) });
const command = (index: number): LogEntryLike => ({ index: logIndex(index), kind: 'command', data: new Uint8Array(1) });

/** A model log: an array of entries from index 1, overwritten from an append's first index on. */
class ModelLog {
  entries: LogEntryLike[] = [];
  entry(i: LogIndex): LogEntryLike | undefined {
    return this.entries[i - 1];
  }
  lastIndex(): LogIndex {
    return logIndex(this.entries.length);
  }
  write(from: number, es: readonly LogEntryLike[]): void {
    this.entries = [...this.entries.slice(0, from - 1), ...es];
  }
}

test('historyOf picks up every configuration entry after the base', () => {
  const h = historyOf({ index: logIndex(0), config: cfg('a') }, [command(1), configEntry(2, cfg('a', 'b')), command(3), configEntry(4, cfg('a', 'b', 'c'))]);
  assert.equal(describeConfiguration(h.current().config), '{a b c}');
  assert.equal(h.current().index, 4);
  assert.equal(describeConfiguration(h.at(logIndex(3)).config), '{a b}');
  assert.equal(describeConfiguration(h.at(logIndex(1)).config), '{a}');
});

test('followAppend matches a rescan of the log after any sequence of overwriting appends', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(6), fc.array(fc.boolean(), { maxLength: 4 })), { maxLength: 30 }),
      (appends) => {
        const log = new ModelLog();
        const base = { index: logIndex(0), config: cfg('a') };
        const h = historyOf(base, []);
        let serial = 0;
        for (const [back, kinds] of appends) {
          const from = Math.max(1, log.lastIndex() + 1 - back);
          const es = kinds.map((isConfig, k) => (isConfig ? configEntry(from + k, cfg('a', `m${serial++}`)) : command(from + k)));
          log.write(from, es);
          followAppend(h, log, logIndex(from), es);
          const rescanned = historyOf(base, log.entries);
          assert.equal(h.current().index, rescanned.current().index);
          assert.equal(describeConfiguration(h.current().config), describeConfiguration(rescanned.current().config));
        }
      },
    ),
    { seed: 0x131, numRuns: 500 },
  );
});

test('configOfEntry fails loudly on an entry that does not decode', () => {
  assert.throws(() => configOfEntry({ index: logIndex(3), kind: CONFIG_ENTRY_KIND, data: Uint8Array.of(9) }), /at 3 does not decode/);
});

test('peersOf is every member but self, learners included', () => {
  const c = configuration([member('a'), member('b', 'learner'), member('c')]);
  assert.deepEqual(peersOf(c, nodeId('a')), ['b', 'c']);
  assert.deepEqual(peersOf(c, nodeId('z')), ['a', 'b', 'c']);
});

test('syncProgress adds new members, drops removed ones and keeps the leader', () => {
  const progress = new Map<NodeId, Progress>();
  const none = new Departures(3);
  syncProgress(progress, cfg('a', 'b', 'c'), nodeId('a'), logIndex(5), 4, none);
  assert.deepEqual([...progress.keys()].sort(), ['a', 'b', 'c']);
  const b = progress.get(nodeId('b'))!;
  b.maybeUpdate(logIndex(4));
  syncProgress(progress, configuration([member('b'), member('c'), member('d', 'learner')]), nodeId('a'), logIndex(9), 4, none);
  assert.deepEqual([...progress.keys()].sort(), ['a', 'b', 'c', 'd']);
  assert.equal(progress.get(nodeId('b')), b, 'an existing member keeps its progress');
  assert.equal(progress.get(nodeId('d'))!.next, 9);
  syncProgress(progress, cfg('b'), nodeId('a'), logIndex(9), 4, none);
  assert.deepEqual([...progress.keys()].sort(), ['a', 'b']);
});

test('syncProgress keeps a departing member, with what it knew, until it is no longer departing', () => {
  const progress = new Map<NodeId, Progress>();
  const departing = new Departures(3);
  syncProgress(progress, cfg('a', 'b', 'c'), nodeId('a'), logIndex(5), 4, departing);
  const c = progress.get(nodeId('c'))!;
  c.maybeUpdate(logIndex(4));
  departing.add(nodeId('c'), logIndex(6));
  departing.add(nodeId('z'), logIndex(2));
  syncProgress(progress, cfg('a', 'b'), nodeId('a'), logIndex(6), 4, departing);
  assert.deepEqual([...progress.keys()].sort(), ['a', 'b', 'c', 'z']);
  assert.equal(progress.get(nodeId('c')), c, 'a departing member keeps its progress');
  assert.equal(progress.get(nodeId('z'))!.next, 6, 'a departing member the leader did not track probes from its next index');
  assert.ok(departing.reached(nodeId('c'), logIndex(6)));
  departing.age();
  departing.age();
  assert.deepEqual(departing.age(), ['z']);
  syncProgress(progress, cfg('a', 'b'), nodeId('a'), logIndex(7), 4, departing);
  assert.deepEqual([...progress.keys()].sort(), ['a', 'b']);
});
