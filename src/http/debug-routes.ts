// The visualizer's routes: the cluster page (/ui), its proxy to the other members, the event stream and the flight recording.
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type Koa from 'koa';
import type { FlightRecorder } from '../debug/flight-recorder.js';
import { encodeRecording, type RecordingHeader } from '../debug/recording-codec.js';
import type { UiAsset } from '../ui/assets.js';
import type { EventStreams } from './events-route.js';
import { HttpError } from './http-error.js';
import type { MemberProxy } from './member-proxy.js';

/** What a node serves for debugging; the page is left out with `http.ui: false`, the recording with `debug.recorder: false`. */
export interface DebugServices {
  readonly streams: EventStreams;
  readonly ui: { readonly page: UiAsset; readonly assets: ReadonlyMap<string, UiAsset>; readonly proxy: MemberProxy } | null;
  readonly recording: { readonly recorder: FlightRecorder; readonly header: () => RecordingHeader } | null;
}

export const UI_ASSETS_PREFIX = '/ui/assets/';

export function servePage(ctx: Koa.Context, page: UiAsset): void {
  ctx.type = page.type;
  ctx.set('Cache-Control', 'no-cache');
  // The page loads only from its own origin: no CDN, no inline script.
  ctx.set('Content-Security-Policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
  ctx.body = page.body;
}

export function serveAsset(ctx: Koa.Context, assets: ReadonlyMap<string, UiAsset>, name: string): void {
  const a = assets.get(name);
  if (a === undefined) throw new HttpError('not_found', `no asset ${JSON.stringify(name.slice(0, 64))}`);
  ctx.type = a.type;
  ctx.set('Cache-Control', 'no-cache');
  ctx.body = a.body;
}

/**
 * GET /v1/debug/recording: the flight recorder's ring as JSON, encoded a chunk at
 * a time with a turn of the event loop between chunks, so a large recording does
 * not hold up the node's Raft work while it is sent.
 */
export function serveRecording(ctx: Koa.Context, recording: DebugServices['recording']): void {
  if (recording === null) throw new HttpError('not_found', 'the flight recorder is off on this node (debug.recorder: false)');
  const rec = recording.recorder.recording();
  if (rec === null) throw new HttpError('not_found', 'the flight recorder has recorded nothing yet');
  const header = recording.header();
  const chunks = encodeRecording(header, rec);
  ctx.type = 'application/json';
  ctx.set('Content-Disposition', `attachment; filename="kvstore-${header.node}-recording.json"`);
  ctx.body = Readable.from(
    (async function* () {
      for (const chunk of chunks) {
        yield chunk;
        await nextTurn();
      }
    })(),
  );
}
