import type { ChangeFeed, KvChange, RevisionChanges } from '../kv/change-window.js';
import type { BinaryKey } from '../kv/sharded-map.js';

/** What a watch follows: one key, or every key under a prefix (empty: every key). */
export type WatchSelector = { readonly kind: 'key'; readonly key: BinaryKey } | { readonly kind: 'prefix'; readonly prefix: BinaryKey | '' };

/** One revision's changes to the watched keys. */
export interface WatchEvent {
  readonly revision: number;
  readonly changes: readonly KvChange[];
}

/** Why a watch ended (besides being cancelled by its consumer). */
export type WatchEnd =
  /** It needs revisions the window no longer holds: it started too early, or a snapshot install moved past it. */
  | { readonly kind: 'compacted'; readonly oldestRevision: number }
  /** It stopped taking events and the window moved past it. */
  | { readonly kind: 'too_slow'; readonly oldestRevision: number }
  /** The node is stopping. */
  | { readonly kind: 'stopping' };

/** Where a watch's events go: an SSE response, a gRPC stream, a test. */
export interface WatchSink {
  /** Takes one event; false when its buffer is full: nothing more comes until the watch is resumed. */
  deliver(e: WatchEvent): boolean;
  /** The watch ended; nothing more comes. */
  end(why: WatchEnd): void;
}

/** The applied state, as the hub reads it: the state machine, which a snapshot install replaces. */
export interface WatchSource {
  appliedIndex(): number;
  changes(): ChangeFeed;
}

export interface WatchHubLimits {
  /** Watches one node serves at once; more are refused (`too_many_watchers`). */
  readonly watchersMax: number;
  /** Revisions `poll` reads from the window for watches catching up, per call. */
  readonly catchUpRevisionsPerPoll: number;
}

export const watchHubDefaults: WatchHubLimits = { watchersMax: 10_000, catchUpRevisionsPerPoll: 10_000 };

export type WatchStart = { readonly ok: true; readonly watch: Watch } | { readonly ok: false; readonly error: 'compacted'; readonly oldestRevision: number } | { readonly ok: false; readonly error: 'too_many_watchers' };

/** A running watch, as its consumer holds it. */
export class Watch {
  /**
   * While unsynced, the next revision it has not been sent (every earlier matching
   * change was delivered); while synced, the hub's head + 1.
   */
  cursor: number;
  /** In `synced`: it gets each revision as it is applied; else it catches up from the window. */
  synced = false;
  /** Its sink said "full": nothing is delivered until `resume`. */
  paused = false;
  /** It paused since it was last in sync: falling out of the window then means it was too slow. */
  lagged = false;
  ended = false;

  constructor(
    private readonly hub: WatchHub,
    readonly selector: WatchSelector,
    readonly fromRevision: number,
    readonly sink: WatchSink,
  ) {
    this.cursor = fromRevision;
  }

  matches(key: BinaryKey): boolean {
    return this.selector.kind === 'key' ? key === this.selector.key : key.startsWith(this.selector.prefix);
  }

  /** The sink has room again. */
  resume(): void {
    this.hub.resume(this);
  }

  /** The consumer is gone: no more calls to the sink. */
  cancel(): void {
    this.hub.cancel(this);
  }
}

/**
 * Serves watches from the state machine's change window, on any node (each
 * applies the same log, so each has the same window). Every watch gets every
 * revision at or after its start that changed a key it follows, in revision
 * order, exactly once, or ends with a reason.
 *
 * Two groups, as etcd's watchable store has: synced watches (caught up; each
 * newly applied revision is read once and dispatched to them through an index by
 * key and the list of prefix watches) and unsynced ones (starting from an old
 * revision, or paused by a full sink), which read the window from their cursor,
 * a budget of revisions per poll, and join the synced group once they reach its
 * head. A paused watch costs nothing until its sink drains; if the window moves
 * past its cursor meanwhile it ends as too slow, so memory never grows for it.
 *
 * The host calls `poll` after applying entries or installing a snapshot, and when
 * `requestPoll` asks (new, resumed or still catching-up watches).
 *
 * Invariants:
 *   every synced watch has been sent every matching revision through head, and is
 *   indexed (byKey or prefixes)
 *   an unsynced watch is in `unsynced`; an ended one is nowhere
 *   head <= the source's applied index
 */
export class WatchHub {
  private head: number;
  private readonly byKey = new Map<BinaryKey, Set<Watch>>();
  private readonly prefixes = new Set<Watch>();
  private readonly unsynced = new Set<Watch>();
  private count = 0;

  constructor(
    private readonly source: () => WatchSource,
    private readonly requestPoll: () => void,
    private readonly limits: WatchHubLimits = watchHubDefaults,
  ) {
    this.head = source().appliedIndex();
  }

  size(): number {
    return this.count;
  }

  /** The revision through which synced watches have been sent every change. */
  headRevision(): number {
    return this.head;
  }

  /**
   * Starts a watch from `fromRevision` (null: the next revision applied here).
   * Refused if the window no longer holds that revision, or too many watch.
   */
  watch(selector: WatchSelector, fromRevision: number | null, sink: WatchSink): WatchStart {
    if (this.count >= this.limits.watchersMax) return { ok: false, error: 'too_many_watchers' };
    const src = this.source();
    const oldest = src.changes().oldestServable();
    const from = fromRevision ?? src.appliedIndex() + 1;
    if (from < oldest) return { ok: false, error: 'compacted', oldestRevision: oldest };
    const w = new Watch(this, selector, from, sink);
    this.count++;
    if (from === this.head + 1 && this.head === src.appliedIndex()) this.sync(w);
    else {
      this.unsynced.add(w);
      this.requestPoll();
    }
    return { ok: true, watch: w };
  }

  /** Delivers what was applied since the last call, and catches up unsynced watches; true if work remains. */
  poll(): boolean {
    const src = this.source();
    const feed = src.changes();
    const applied = src.appliedIndex();
    // No watch at all (the common case): nothing to read or dispatch, only the head to keep up.
    if (this.count === 0) {
      this.head = applied;
      return false;
    }
    if (applied > this.head) {
      if (this.head + 1 < feed.oldestServable()) {
        // A snapshot install moved the window past what synced watches have seen.
        for (const w of this.syncedWatches()) this.unsync(w, this.head + 1);
      } else {
        feed.forEachFrom(this.head + 1, (r) => {
          this.dispatch(r);
          return true;
        });
      }
      this.head = applied;
    }
    return this.catchUp(feed);
  }

  /** Ends every watch: the node is stopping. */
  stop(): void {
    for (const w of [...this.syncedWatches(), ...this.unsynced]) this.end(w, { kind: 'stopping' });
  }

  /** @internal through Watch.resume */
  resume(w: Watch): void {
    if (w.ended || !w.paused) return;
    w.paused = false;
    this.requestPoll();
  }

  /** @internal through Watch.cancel */
  cancel(w: Watch): void {
    if (w.ended) return;
    this.remove(w);
  }

  /** Sends one newly applied revision to the synced watches that follow one of its keys. */
  private dispatch(r: RevisionChanges): void {
    const targets = new Map<Watch, KvChange[]>();
    const add = (w: Watch, c: KvChange): void => {
      const list = targets.get(w);
      if (list === undefined) targets.set(w, [c]);
      else list.push(c);
    };
    for (const c of r.changes) {
      const keyed = this.byKey.get(c.key);
      if (keyed !== undefined) for (const w of keyed) add(w, c);
      for (const w of this.prefixes) if (w.matches(c.key)) add(w, c);
    }
    for (const [w, changes] of targets) {
      if (!w.sink.deliver({ revision: r.revision, changes })) {
        this.unsync(w, r.revision + 1);
        w.paused = true;
        w.lagged = true;
      }
    }
  }

  private catchUp(feed: ChangeFeed): boolean {
    let budget = this.limits.catchUpRevisionsPerPoll;
    for (const w of [...this.unsynced]) {
      if (w.paused) continue;
      if (budget <= 0) return true;
      const oldest = feed.oldestServable();
      if (w.cursor < oldest) {
        this.end(w, w.lagged ? { kind: 'too_slow', oldestRevision: oldest } : { kind: 'compacted', oldestRevision: oldest });
        continue;
      }
      let exhausted = false;
      feed.forEachFrom(w.cursor, (r) => {
        if (r.revision > this.head) return false;
        if (budget <= 0) {
          exhausted = true;
          return false;
        }
        budget--;
        w.cursor = r.revision + 1;
        const changes = r.changes.filter((c) => w.matches(c.key));
        if (changes.length > 0 && !w.sink.deliver({ revision: r.revision, changes })) {
          w.paused = true;
          w.lagged = true;
          return false;
        }
        return true;
      });
      if (w.paused || exhausted) continue;
      // Through the head: revisions without a record changed nothing.
      if (w.cursor <= this.head) w.cursor = this.head + 1;
      if (w.cursor === this.head + 1) {
        this.unsynced.delete(w);
        this.sync(w);
      }
    }
    return budget <= 0 && [...this.unsynced].some((w) => !w.paused);
  }

  private sync(w: Watch): void {
    w.synced = true;
    w.lagged = false;
    w.cursor = this.head + 1;
    if (w.selector.kind === 'prefix') this.prefixes.add(w);
    else {
      let set = this.byKey.get(w.selector.key);
      if (set === undefined) this.byKey.set(w.selector.key, (set = new Set()));
      set.add(w);
    }
  }

  private unsync(w: Watch, cursor: number): void {
    this.unindex(w);
    w.cursor = cursor;
    this.unsynced.add(w);
  }

  private unindex(w: Watch): void {
    if (!w.synced) return;
    w.synced = false;
    if (w.selector.kind === 'prefix') this.prefixes.delete(w);
    else {
      const set = this.byKey.get(w.selector.key)!;
      set.delete(w);
      if (set.size === 0) this.byKey.delete(w.selector.key);
    }
  }

  private end(w: Watch, why: WatchEnd): void {
    this.remove(w);
    w.sink.end(why);
  }

  private remove(w: Watch): void {
    this.unindex(w);
    this.unsynced.delete(w);
    w.ended = true;
    this.count--;
  }

  private *syncedWatches(): Iterable<Watch> {
    yield* [...this.prefixes];
    for (const set of [...this.byKey.values()]) yield* [...set];
  }
}
