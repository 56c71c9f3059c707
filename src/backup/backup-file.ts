// The backup file `GET /v1/snapshot` streams and `kvstore snapshot save|restore`
// read: the state machine's own snapshot, framed so a file can be checked whole
// before anything is built from it.
//
//   "KVBK", u8 version 1, varint index (the applied index the state is at)
//   the state machine snapshot (src/kv/snapshot.ts: its own format, CRC-32 at its end)
//   32 bytes: SHA-256 of every byte before
import { createHash } from 'node:crypto';
import { ByteReader, ByteWriter, CorruptBytes, readVarint } from '../kv/bytes.js';
import type { SnapshotReader } from '../kv/snapshot.js';

const magic = Buffer.from('KVBK', 'latin1');
const version = 1;
const digestBytes = 32;

/** The file's bytes, a state-machine chunk of at most `chunkBytes` at a time, then the digest. */
export function* backupChunks(reader: SnapshotReader, chunkBytes: number): Generator<Uint8Array> {
  const hash = createHash('sha256');
  const header = new ByteWriter(16);
  for (const b of magic) header.u8(b);
  header.u8(version);
  header.varint(reader.appliedIndex);
  const first = header.view().slice();
  hash.update(first);
  yield first;
  for (let c = reader.next(chunkBytes); c !== null; c = reader.next(chunkBytes)) {
    hash.update(c);
    yield c;
  }
  yield new Uint8Array(hash.digest());
}

export interface Backup {
  readonly index: number;
  /** The state machine's snapshot, to give to KvStateMachine.restore. */
  readonly snapshot: Uint8Array;
  readonly sha256: string;
}

/** Checks a whole backup file: header, digest. The snapshot inside is checked by restoring it. */
export function parseBackup(file: Uint8Array): Backup | { readonly error: string } {
  if (file.length < magic.length + 2 + digestBytes) return { error: 'the file is too short to be a backup' };
  if (Buffer.compare(file.subarray(0, magic.length), magic) !== 0) return { error: 'not a kvstore backup (bad magic)' };
  if (file[magic.length] !== version) return { error: `unknown backup version ${file[magic.length]}` };
  const body = file.subarray(0, file.length - digestBytes);
  const digest = createHash('sha256').update(body).digest();
  if (Buffer.compare(digest, file.subarray(file.length - digestBytes)) !== 0) return { error: 'checksum mismatch: the file is damaged or truncated' };
  const r = new ByteReader(body.subarray(magic.length + 1));
  let index: number;
  try {
    index = readVarint(r);
  } catch (e) {
    if (e instanceof CorruptBytes) return { error: `bad header: ${e.message}` };
    throw e;
  }
  return { index, snapshot: body.subarray(body.length - r.remaining), sha256: digest.toString('hex') };
}
