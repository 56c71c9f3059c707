// GET /v1/snapshot (admin): a consistent backup of the state machine, streamed.
import { Readable } from 'node:stream';
import type Koa from 'koa';
import { backupChunks } from '../backup/backup-file.js';
import type { SnapshotReader } from '../kv/snapshot.js';
import type { Gateway } from './gateway.js';

/** The size of the pieces the state machine is serialised in while streaming. */
const BACKUP_CHUNK_BYTES = 1 << 20;

/**
 * The state at a linearizable read (every write committed before the request is
 * in it), captured at once (copy-on-write: writes go on meanwhile) and streamed in
 * the backup format (src/backup/backup-file.ts), ending with its SHA-256. A
 * client that goes away releases the capture.
 */
export async function getSnapshot(ctx: Koa.Context, gateway: Gateway): Promise<void> {
  const reader: SnapshotReader = await gateway.read(ctx, 'get', 'linearizable', (state) => state.snapshot());
  ctx.set('X-Kvstore-Snapshot-Index', String(reader.appliedIndex));
  ctx.set('Content-Disposition', `attachment; filename="kvstore-${reader.appliedIndex}.snap"`);
  ctx.type = 'application/octet-stream';
  const stream = Readable.from(backupChunks(reader, BACKUP_CHUNK_BYTES), { objectMode: false, highWaterMark: BACKUP_CHUNK_BYTES });
  stream.once('close', () => reader.close());
  ctx.body = stream;
}
