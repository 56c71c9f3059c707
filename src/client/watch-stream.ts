// KvClient.watch: SSE from GET /v1/watch/{key}, resumed at another node with
// Last-Event-ID when a connection ends, so no revision is missed or repeated.
import { setTimeout as delay } from 'node:timers/promises';
import type { Key } from './common.js';
import { encodeKey, keyFromJson, valueFromJson } from './json-forms.js';

export interface WatchOptions {
  /** Watch every key starting with `key`. */
  readonly prefix?: boolean;
  /** The first revision to get (default: the next one applied). */
  readonly fromRevision?: number;
  /** Stops the watch. */
  readonly signal?: AbortSignal;
}

export interface WatchedChange {
  readonly type: 'put' | 'delete';
  readonly key: Uint8Array;
  /** null for a delete. */
  readonly value: Uint8Array | null;
  readonly lease: number;
}

export interface WatchedRevision {
  readonly revision: number;
  readonly changes: readonly WatchedChange[];
}

/** A watch the cluster ended (compacted, too slow): resuming it would miss revisions. */
export class WatchEnded extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly oldestRevision: number | null,
  ) {
    super(message);
  }
}

const RECONNECT_DELAY_MS = 200;

function parseEvent(data: string): WatchedRevision {
  const j = JSON.parse(data) as { revision: number; events: { type: 'put' | 'delete'; key: string; value?: string; lease?: number }[] };
  return {
    revision: j.revision,
    changes: j.events.map((e) => ({ type: e.type, key: keyFromJson(e.key)!, value: e.value === undefined ? null : valueFromJson(e.value), lease: e.lease ?? 0 })),
  };
}

export async function* watchEvents(endpoints: readonly string[], auth: Readonly<Record<string, string>>, key: Key, opts: WatchOptions): AsyncGenerator<WatchedRevision, void, undefined> {
  const query = opts.prefix === true ? '?prefix' : '';
  const path = `/v1/watch/${encodeKey(key)}${query}`;
  let last: number | null = opts.fromRevision === undefined ? null : opts.fromRevision - 1;
  let next = 0;
  const aborted = (): boolean => opts.signal?.aborted === true;
  while (!aborted()) {
    const base = endpoints[next++ % endpoints.length]!;
    const headers: Record<string, string> = { ...auth, accept: 'text/event-stream' };
    // Resuming: every node serves the same revisions, so any one goes on after the last seen.
    if (last !== null) headers['last-event-id'] = String(last);
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, { headers, ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
    } catch {
      await delay(RECONNECT_DELAY_MS);
      continue;
    }
    if (res.status !== 200) {
      const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
      if (res.status === 410) throw new WatchEnded(body.error ?? 'compacted', body.message ?? 'the watch cannot go on', Number(res.headers.get('x-kvstore-oldest-revision')));
      await delay(RECONNECT_DELAY_MS);
      continue;
    }
    let text = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += Buffer.from(chunk).toString('utf8');
        for (let at = text.indexOf('\n\n'); at >= 0; at = text.indexOf('\n\n')) {
          const block = text.slice(0, at);
          text = text.slice(at + 2);
          let event = '';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event: ')) event = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
            // The first node says where a watch "from now" starts: a reconnect goes on from there.
            const from = /^: watching from revision (\d+)$/.exec(line);
            if (from !== null && last === null) last = Number(from[1]) - 1;
          }
          if (event === 'change') {
            const r = parseEvent(data);
            last = r.revision;
            yield r;
          } else if (event === 'error') {
            const e = JSON.parse(data) as { error: string; message: string; oldest_revision?: number };
            // A node stopping is no reason to stop watching: another goes on.
            if (e.error !== 'node_stopping') throw new WatchEnded(e.error, e.message, e.oldest_revision ?? null);
          }
        }
      }
    } catch (e) {
      if (e instanceof WatchEnded) throw e;
      if (aborted()) return;
    }
    // The connection ended (the node went away, or stopped): go on at another.
  }
}
