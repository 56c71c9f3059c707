// GET /v1/events: this node's live events as Server-Sent Events (the cluster page's feed).
import { PassThrough } from 'node:stream';
import type Koa from 'koa';
import type { Delivery, NodeEvents } from '../debug/node-events.js';
import { HttpError } from './http-error.js';

/** How often the status is sampled while someone listens. */
export const STATUS_SAMPLE_MS = 500;
/** A comment line this often keeps proxies and the browser from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** A subscriber this far behind (bytes not yet taken by its socket) is cut; it reconnects with Last-Event-ID. */
const SUBSCRIBER_BACKLOG_BYTES_MAX = 1 << 20;
/** Streams open at once on one node: each holds a connection and a request slot. */
export const EVENT_STREAMS_MAX = 64;

/**
 * Streams of one node's events. Event ids are `<boot>.<n>`: `boot` changes each
 * time the node starts, so a Last-Event-ID from before a restart asks for a fresh
 * start rather than a resume at a number that now means something else.
 */
export class EventStreams {
  private open = 0;
  private sampler: NodeJS.Timeout | null = null;
  /** Subscribers cut for falling behind, for the metric. */
  cut = 0;

  constructor(
    private readonly events: NodeEvents,
    private readonly boot: string,
  ) {}

  streams(): number {
    return this.open;
  }

  serve(ctx: Koa.Context): void {
    if (this.open >= EVENT_STREAMS_MAX) throw new HttpError('too_many_requests', `${EVENT_STREAMS_MAX} event streams are open on this node`, { 'Retry-After': '1' });
    const last = this.lastEventId(ctx.get('Last-Event-ID'));
    const out = new PassThrough();
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.status = 200;
    ctx.type = 'text/event-stream; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache, no-transform');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.body = out;
    this.open++;
    const send = (d: Delivery): void => {
      if (out.writableLength > SUBSCRIBER_BACKLOG_BYTES_MAX) {
        this.cut++;
        out.end();
        return;
      }
      const [name, data] = 'hello' in d ? ['hello', d.hello] : [d.event.kind, d.event.data];
      out.write(`id: ${this.boot}.${d.id}\nevent: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    out.write('retry: 1000\n\n');
    const unsubscribe = this.events.subscribe(last, send);
    const keepalive = setInterval(() => out.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    this.startSampling();
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(keepalive);
      this.open--;
      if (this.events.subscriberCount() === 0) this.stopSampling();
    };
    out.on('close', close);
    ctx.req.on('close', () => {
      close();
      out.destroy();
    });
  }

  /** The event number to resume after, or null to start fresh (none given, another boot's, or not ours). */
  private lastEventId(header: string): number | null {
    if (header === '') return null;
    const dot = header.lastIndexOf('.');
    const n = Number(header.slice(dot + 1));
    // A resume from another boot, or an id we never gave: start over, and say so (a hello with reset).
    if (header.slice(0, dot) !== this.boot || !Number.isSafeInteger(n) || n < 0) return Number.MAX_SAFE_INTEGER;
    return n;
  }

  private startSampling(): void {
    if (this.sampler !== null) return;
    this.events.sample();
    this.sampler = setInterval(() => this.events.sample(), STATUS_SAMPLE_MS);
    this.sampler.unref();
  }

  private stopSampling(): void {
    if (this.sampler === null) return;
    clearInterval(this.sampler);
    this.sampler = null;
  }
}
