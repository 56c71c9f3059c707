import type { KvResult, RequestTag } from './command.js';

/**
 * The exactly-once table (Raft paper §6.3): for each client, the results of its
 * most recent requests, so a retried request is answered with its first result
 * instead of being applied twice.
 *
 * Everything is driven by log indexes, never the wall clock, so every replica
 * keeps, expires and evicts exactly the same sessions.
 *
 * Limits: a client's oldest result is forgotten once it has `resultsPerClient`
 * newer ones, so a client must not have more requests than that in flight; a
 * retry of a forgotten request is applied again. A client unseen for
 * `expiryEntries` log entries is forgotten, and beyond `clientsMax` clients the
 * least recently seen is evicted.
 */
export interface SessionsConfig {
  readonly resultsPerClient: number;
  readonly clientsMax: number;
  readonly expiryEntries: number;
}

export interface RecordedResult {
  readonly requestId: string;
  readonly result: KvResult;
}

/** Immutable, so a snapshot can capture the table by reference. */
export interface ClientSession {
  readonly lastSeenIndex: number;
  /** Oldest first; 1..resultsPerClient entries with distinct request ids. */
  readonly results: readonly RecordedResult[];
}

export class Sessions {
  /**
   * Ordered least recently seen first: a client is re-inserted whenever it is
   * seen, and indexes only grow, so lastSeenIndex is strictly increasing in
   * iteration order. Expiry and eviction therefore only ever look at the front.
   */
  private readonly clients = new Map<string, ClientSession>();
  private lastIndex = 0;

  constructor(readonly config: SessionsConfig) {
    for (const [name, v] of Object.entries(config)) {
      if (!Number.isSafeInteger(v) || v < 1) throw new Error(`Sessions: ${name} ${String(v)} is not a positive integer`);
    }
  }

  size(): number {
    return this.clients.size;
  }

  lookup(tag: RequestTag): KvResult | undefined {
    const session = this.clients.get(tag.clientId);
    if (session === undefined) return undefined;
    for (const r of session.results) if (r.requestId === tag.requestId) return r.result;
    return undefined;
  }

  /** Marks the client as seen at `index` (a retry keeps its session alive). */
  touch(clientId: string, index: number): void {
    const session = this.clients.get(clientId);
    if (session === undefined) return;
    this.advance(index);
    this.clients.delete(clientId);
    this.clients.set(clientId, { lastSeenIndex: index, results: session.results });
  }

  record(tag: RequestTag, index: number, result: KvResult): void {
    this.advance(index);
    const session = this.clients.get(tag.clientId);
    if (session !== undefined && session.results.some((r) => r.requestId === tag.requestId)) {
      throw new Error(`Sessions.record: ${tag.clientId}/${tag.requestId} already has a result`);
    }
    const older = session?.results ?? [];
    const keep = Math.min(older.length, this.config.resultsPerClient - 1);
    const results = [...older.slice(older.length - keep), { requestId: tag.requestId, result }];
    this.clients.delete(tag.clientId);
    this.clients.set(tag.clientId, { lastSeenIndex: index, results });
    if (this.clients.size > this.config.clientsMax) this.evictOldest();
  }

  /** Forgets the clients not seen for `expiryEntries` entries as of `index`. */
  expire(index: number): void {
    for (const [clientId, session] of this.clients) {
      if (index - session.lastSeenIndex < this.config.expiryEntries) break;
      this.clients.delete(clientId);
    }
  }

  /** The table in its order, least recently seen first; its sessions are immutable. */
  capture(): readonly (readonly [string, ClientSession])[] {
    return [...this.clients];
  }

  /**
   * Re-adds a captured session while restoring a snapshot, least recently seen
   * first. Returns why the session is inconsistent, or null. Keeps this table's
   * bounds even if the snapshot was taken with larger ones.
   */
  restore(clientId: string, session: ClientSession): string | null {
    if (this.clients.has(clientId)) return `client ${clientId} appears twice`;
    if (session.lastSeenIndex <= this.lastIndex) return `client ${clientId} is out of last-seen order`;
    if (session.results.length === 0) return `client ${clientId} has no results`;
    const ids = new Set(session.results.map((r) => r.requestId));
    if (ids.size !== session.results.length) return `client ${clientId} repeats a request id`;
    this.lastIndex = session.lastSeenIndex;
    const results = session.results.slice(Math.max(0, session.results.length - this.config.resultsPerClient));
    this.clients.set(clientId, { lastSeenIndex: session.lastSeenIndex, results });
    if (this.clients.size > this.config.clientsMax) this.evictOldest();
    return null;
  }

  private advance(index: number): void {
    if (index <= this.lastIndex) throw new Error(`Sessions: index ${index} is not after ${this.lastIndex}`);
    this.lastIndex = index;
  }

  private evictOldest(): void {
    for (const clientId of this.clients.keys()) {
      this.clients.delete(clientId);
      return;
    }
  }
}
