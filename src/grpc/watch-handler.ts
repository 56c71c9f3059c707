// kvstore.v1.Watch: a server stream per watch, served from this node's applied state.
import * as grpc from '@grpc/grpc-js';
import { keyBytesMax } from '../kv/limits.js';
import type { BinaryKey } from '../kv/sharded-map.js';
import type { WatchEnd, WatchEvent, WatchHub } from '../watch/watch-hub.js';
import type { WatchHandlers } from './generated/kvstore/v1/Watch.js';
import type { WatchResponse } from './generated/kvstore/v1/WatchResponse.js';
import type { GrpcMetrics } from './grpc-metrics.js';
import { grpcStatusOf } from './unary.js';
import { secondsSince } from '../metrics/elapsed.js';

/** Trailer naming the oldest revision the change window holds, when a watch ends for want of older ones. */
export const OLDEST_REVISION_METADATA = 'x-kvstore-oldest-revision';

export function watchResponseOf(e: WatchEvent): WatchResponse {
  return {
    revision: e.revision,
    events: e.changes.map((c) => ({
      type: c.value === null ? 'DELETE' : 'PUT',
      kv: { key: Buffer.from(c.key, 'latin1'), value: c.value === null ? Buffer.alloc(0) : Buffer.from(c.value.buffer, c.value.byteOffset, c.value.byteLength), revision: e.revision, lease: c.lease },
    })),
  };
}

/** The status a watch ends with. */
interface EndStatus {
  readonly code: grpc.status;
  readonly details: string;
  readonly metadata?: grpc.Metadata;
}

function endStatus(why: WatchEnd): EndStatus {
  if (why.kind === 'stopping') return { code: grpcStatusOf('node_stopping'), details: 'this node is stopping; resume at another with from_revision = the last revision + 1' };
  const metadata = new grpc.Metadata();
  metadata.set(OLDEST_REVISION_METADATA, String(why.oldestRevision));
  return why.kind === 'compacted'
    ? { code: grpcStatusOf('compacted'), details: `revision ${why.oldestRevision - 1} and older are compacted: list again, then watch from the listing's revision + 1`, metadata }
    : { code: grpcStatusOf('watch_too_slow'), details: `the watcher fell behind the change window (which now starts at revision ${why.oldestRevision}) and was cut off`, metadata };
}

export function watchHandlers(hub: WatchHub, metrics: GrpcMetrics): WatchHandlers {
  return {
    Watch: (call) => {
      const started = process.hrtime.bigint();
      const close = (status: EndStatus): void => {
        metrics.observeCall('Watch.Watch', status.code, secondsSince(started));
        call.emit('error', status);
      };
      const req = call.request;
      if (req.key.length > keyBytesMax || (!req.prefix && req.key.length === 0)) return close({ code: grpcStatusOf('bad_key'), details: `a watched key is 1 to ${keyBytesMax} bytes (a prefix 0 to ${keyBytesMax})` });
      const key = req.key.toString('latin1') as BinaryKey;
      const r = hub.watch(req.prefix ? { kind: 'prefix', prefix: key } : { kind: 'key', key }, req.from_revision === 0 ? null : req.from_revision, {
        deliver: (e) => call.write(watchResponseOf(e)),
        end: (why) => close(endStatus(why)),
      });
      if (!r.ok) {
        if (r.error === 'too_many_watchers') return close({ code: grpcStatusOf('too_many_watchers'), details: 'this node serves as many watches as it may; try another node' });
        return close(endStatus({ kind: 'compacted', oldestRevision: r.oldestRevision }));
      }
      call.on('drain', () => r.watch.resume());
      call.on('cancelled', () => {
        r.watch.cancel();
        metrics.observeCall('Watch.Watch', grpc.status.CANCELLED, secondsSince(started));
      });
    },
  };
}
