// Watches under the simulator: every node runs a watch of every key, resumed after
// a crash from the revision after the last it delivered (as a client does with
// Last-Event-ID), and every delivery is checked against the committed log: each
// watch sees exactly the committed changes, in revision order, with no gap and no
// duplicate, across leader changes, crashes and snapshot installs.
import type { Entry, NodeId } from '../src/raft/types.js';
import type { KvNode } from '../src/node/kv-node.js';
import { KvStateMachine, kvStateMachineDefaults } from '../src/kv/state-machine.js';
import type { RevisionChanges } from '../src/kv/change-window.js';
import type { Watch, WatchEvent, WatchSink } from '../src/watch/watch-hub.js';
import type { SimClock } from './clock.js';
import type { Prng } from './prng.js';

/** What a node's watch has been through. */
interface Watcher {
  /** The next revision it must be sent: every committed change before it was. */
  expectedFrom: number;
  /** The node it watches now; null while the node is down. */
  kv: KvNode | null;
  handle: Watch | null;
  /** A sink that said "full" resumes after a while. */
  resume: (() => void) | null;
}

export interface WatchStats {
  /** Revisions delivered and checked, over all watches. */
  delivered: number;
  /** Watches resumed on a restarted node. */
  resumed: number;
  /** Watches ended as compacted or too slow (then started afresh from the window's start). */
  restartedFresh: number;
  /** Times a sink said "full". */
  paused: number;
}

const describeChanges = (r: { readonly changes: RevisionChanges['changes'] }): string =>
  r.changes.map((c) => `${JSON.stringify(c.key)}=${c.value === null ? 'deleted' : JSON.stringify(Buffer.from(c.value).toString('latin1'))}@${c.lease}`).join(',');

export class WatchChecker {
  /** The committed log applied in order, with a window that forgets nothing. */
  private readonly reference = new KvStateMachine({ ...kvStateMachineDefaults, watchWindowChangesMax: Number.MAX_SAFE_INTEGER, watchWindowBytesMax: Number.MAX_SAFE_INTEGER });
  private readonly watchers = new Map<NodeId, Watcher>();
  readonly stats: WatchStats = { delivered: 0, resumed: 0, restartedFresh: 0, paused: 0 };
  private finishing = false;

  constructor(
    private readonly clock: SimClock,
    private readonly rng: Prng,
    private readonly fail: (nodes: readonly NodeId[], detail: string) => never,
  ) {}

  /** A node applied `entry`: the first node to apply an index gives the reference its entry. */
  onApplied(id: NodeId, entry: Entry): void {
    const applied = this.reference.appliedIndex();
    if (entry.index <= applied) return;
    if (entry.index !== applied + 1) this.fail([id], `applied ${entry.index} before any node applied ${applied + 1}`);
    if (entry.kind === 'command') this.reference.apply(entry.index, entry.data);
    else this.reference.applyNoop(entry.index);
  }

  /** A node (re)started: its watch goes on from where it was. */
  attach(id: NodeId, kv: KvNode): void {
    let w = this.watchers.get(id);
    if (w === undefined) this.watchers.set(id, (w = { expectedFrom: 1, kv: null, handle: null, resume: null }));
    else this.stats.resumed++;
    w.kv = kv;
    w.resume = null;
    this.watch(id, w);
  }

  /** A node went down: its watch ended with it (as `stopping`). */
  detach(id: NodeId): void {
    const w = this.watchers.get(id);
    if (w !== undefined) w.kv = null;
  }

  /** After the run: every running node's watch has been sent everything its node applied. */
  checkCaughtUp(): void {
    for (const [id, w] of this.watchers) {
      if (w.kv === null) continue;
      const applied = w.kv.staleState().appliedIndex();
      let pending: RevisionChanges | null = null;
      this.reference.changes().forEachFrom(w.expectedFrom, (r) => {
        if (r.revision <= applied) pending = r;
        return false;
      });
      if (pending !== null) this.fail([id], `the watch was never sent revision ${(pending as RevisionChanges).revision} (applied through ${applied})`);
    }
  }

  /** Resumes every paused watch, and pauses none from now on (before the final check). */
  resumeAll(): void {
    this.finishing = true;
    for (const w of this.watchers.values()) w.resume?.();
  }

  private watch(id: NodeId, w: Watcher): void {
    const kv = w.kv;
    if (kv === null) return;
    const sink: WatchSink = {
      deliver: (e) => this.delivered(id, w, e),
      end: (why) => {
        if (why.kind === 'stopping' || w.kv !== kv) return;
        // It cannot go on: a fresh watch from the window's start, as a client that lists again would.
        this.stats.restartedFresh++;
        w.expectedFrom = why.oldestRevision;
        this.clock.setTimeout(() => this.watch(id, w), 0);
      },
    };
    const r = kv.watches.watch({ kind: 'prefix', prefix: '' }, w.expectedFrom, sink);
    if (r.ok) {
      w.handle = r.watch;
      return;
    }
    if (r.error === 'too_many_watchers') this.fail([id], 'one watch per node was refused');
    // A restart from a snapshot whose window no longer reaches back: an honest refusal.
    this.stats.restartedFresh++;
    w.expectedFrom = r.oldestRevision;
    this.watch(id, w);
  }

  private delivered(id: NodeId, w: Watcher, e: WatchEvent): boolean {
    let expected: RevisionChanges | null = null;
    if (this.reference.appliedIndex() < e.revision) this.fail([id], `delivered revision ${e.revision} before it was applied anywhere`);
    this.reference.changes().forEachFrom(w.expectedFrom, (r) => {
      expected = r;
      return false;
    });
    const want = expected as RevisionChanges | null;
    if (want === null || want.revision !== e.revision) {
      const what = want === null ? 'nothing' : `revision ${want.revision}`;
      this.fail([id], `the watch expected ${what} next (from ${w.expectedFrom}) and was sent revision ${e.revision}: a ${want !== null && want.revision < e.revision ? 'gap' : 'duplicate or reorder'}`);
    }
    if (describeChanges(e) !== describeChanges(want)) this.fail([id], `revision ${e.revision}: sent ${describeChanges(e)}, committed ${describeChanges(want)}`);
    w.expectedFrom = e.revision + 1;
    this.stats.delivered++;
    // Now and then the sink is full for a while: the watch pauses, and catches up (or is cut off) later.
    if (this.finishing || this.rng.int(16) !== 0) return true;
    this.stats.paused++;
    const handle = w.handle;
    const resume = (): void => {
      if (w.resume !== resume) return;
      w.resume = null;
      handle?.resume();
    };
    w.resume = resume;
    this.clock.setTimeout(resume, this.rng.range(1, 300));
    return false;
  }
}
