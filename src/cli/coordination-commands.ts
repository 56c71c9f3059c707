// kvstore get --prefix, lease, watch, snapshot save and snapshot restore.
import { createWriteStream } from 'node:fs';
import { readFile, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { parseBackup } from '../backup/backup-file.js';
import { restoreDataDir } from '../backup/restore.js';
import type { Consistency } from '../client/common.js';
import type { KvClient } from '../client/rest-client.js';
import { WatchEnded } from '../client/watch-stream.js';
import { KvStateMachine, kvStateMachineDefaults } from '../kv/state-machine.js';
import { EXIT_FAILED, EXIT_OK, reportError, type CliIo } from './cli-io.js';

/** Keys per page while listing: the server's default page. */
const LIST_PAGE_KEYS = 1000;

export interface ListFlags {
  readonly consistency: Consistency;
  readonly keysOnly: boolean;
  readonly printRevision: boolean;
  /** Stop after this many keys; undefined: all. */
  readonly limit: number | undefined;
}

/** `get PREFIX --prefix`: one line per key, page after page. */
export async function listCommand(client: KvClient, io: CliIo, prefix: string, f: ListFlags): Promise<number> {
  let printed = 0;
  let pageToken: string | undefined;
  for (;;) {
    const limit = Math.min(LIST_PAGE_KEYS, f.limit === undefined ? LIST_PAGE_KEYS : f.limit - printed);
    const page = await client.list(prefix, { consistency: f.consistency, keysOnly: f.keysOnly, limit, ...(pageToken === undefined ? {} : { pageToken }) });
    if (!page.ok) return reportError(io, page);
    for (const e of page.entries) {
      if (f.printRevision) io.stdout.write(`${e.revision}\t`);
      io.stdout.write(e.key);
      if (e.value !== null) {
        io.stdout.write('\t');
        io.stdout.write(e.value);
      }
      io.stdout.write('\n');
    }
    printed += page.entries.length;
    if (page.nextPageToken === null || (f.limit !== undefined && printed >= f.limit)) return EXIT_OK;
    pageToken = page.nextPageToken;
  }
}

function positiveInt(s: string | undefined): number | null {
  return s !== undefined && /^[1-9]\d{0,14}$/.test(s) ? Number(s) : null;
}

export interface LeaseFlags {
  readonly idempotencyKey: string | undefined;
  /** keepalive: renew once, not until interrupted. */
  readonly once: boolean;
}

/** `lease grant TTL`, `lease keepalive ID`, `lease revoke ID`, `lease list`, `lease info ID`. */
export async function leaseCommand(client: KvClient, io: CliIo, args: readonly string[], f: LeaseFlags, usageError: (m: string) => number): Promise<number> {
  const [sub, arg] = args;
  const key = f.idempotencyKey === undefined ? {} : { idempotencyKey: f.idempotencyKey };
  if (f.once && sub !== 'keepalive') return usageError('--once goes with lease keepalive');
  switch (sub) {
    case 'grant': {
      const ttl = positiveInt(arg);
      if (ttl === null) return usageError('lease grant takes a TTL in whole seconds');
      const r = await client.grantLease(ttl, key);
      if (!r.ok) return reportError(io, r);
      io.stdout.write(`lease ${r.id} granted with TTL ${r.ttl}s\n`);
      return EXIT_OK;
    }
    case 'revoke': {
      const id = positiveInt(arg);
      if (id === null) return usageError('lease revoke takes a lease id');
      const r = await client.revokeLease(id, key);
      if (!r.ok) return reportError(io, r);
      io.stdout.write(`lease ${id} revoked at revision ${r.revision}\n`);
      return EXIT_OK;
    }
    case 'keepalive': {
      const id = positiveInt(arg);
      if (id === null) return usageError('lease keepalive takes a lease id');
      for (;;) {
        const r = await client.keepAliveLease(id);
        if (!r.ok) return reportError(io, r);
        io.stdout.write(`lease ${id} kept alive (TTL ${r.ttl}s)\n`);
        if (f.once) return EXIT_OK;
        await delay(Math.max(100, (r.ttl * 1000) / 3));
      }
    }
    case 'list': {
      if (arg !== undefined) return usageError('lease list takes no argument');
      const r = await client.leases();
      if (!r.ok) return reportError(io, r);
      for (const l of r.leases) io.stdout.write(`${l.id}\t${l.ttl}\n`);
      return EXIT_OK;
    }
    case 'info': {
      const id = positiveInt(arg);
      if (id === null) return usageError('lease info takes a lease id');
      const r = await client.leaseInfo(id);
      if (!r.ok) return reportError(io, r);
      io.stdout.write(`lease ${id} ttl ${r.ttl}s remaining ${r.remainingMs === null ? 'unknown' : `${r.remainingMs}ms`}\n`);
      for (const k of r.keys) {
        io.stdout.write(k);
        io.stdout.write('\n');
      }
      return EXIT_OK;
    }
    default:
      return usageError(`lease grant, keepalive, revoke, list or info, got ${JSON.stringify(sub)}`);
  }
}

/** `watch KEY [--prefix] [--from-revision R]`: one line per key changed, until interrupted. */
export async function watchCommand(client: KvClient, io: CliIo, key: string, f: { readonly prefix: boolean; readonly fromRevision: number | undefined }): Promise<number> {
  try {
    for await (const r of client.watch(key, { prefix: f.prefix, ...(f.fromRevision === undefined ? {} : { fromRevision: f.fromRevision }) })) {
      for (const ch of r.changes) {
        io.stdout.write(`${r.revision}\t${ch.type}\t`);
        io.stdout.write(ch.key);
        if (ch.value !== null) {
          io.stdout.write('\t');
          io.stdout.write(ch.value);
        }
        io.stdout.write('\n');
      }
    }
    return EXIT_OK;
  } catch (e) {
    if (!(e instanceof WatchEnded)) throw e;
    io.stderr.write(`Error: ${e.code}: ${e.message}\n`);
    return EXIT_FAILED;
  }
}

/** `snapshot save FILE`: downloads to FILE.part, checks it whole, then renames it into place. */
export async function snapshotSaveCommand(client: KvClient, io: CliIo, file: string): Promise<number> {
  const r = await client.snapshot();
  if (!r.ok) return reportError(io, r);
  const part = `${file}.part`;
  try {
    const out = createWriteStream(part);
    for await (const chunk of r.body) if (!out.write(chunk)) await once(out, 'drain');
    out.end();
    await once(out, 'close');
    const backup = parseBackup(await readFile(part));
    if ('error' in backup) throw new Error(backup.error);
    const sm = KvStateMachine.restore(kvStateMachineDefaults, [backup.snapshot]);
    if ('error' in sm) throw new Error(`the downloaded state does not restore: ${sm.error}`);
    await rename(part, file);
    io.stdout.write(`snapshot saved to ${file}: revision ${backup.index}, ${sm.size()} keys, ${sm.leaseCount()} leases, sha256 ${backup.sha256}\n`);
    return EXIT_OK;
  } catch (e) {
    await rm(part, { force: true });
    io.stderr.write(`Error: saving the snapshot failed: ${(e as Error).message}\n`);
    return EXIT_FAILED;
  }
}

export interface RestoreFlags {
  readonly dataDir: string | undefined;
  readonly id: string | undefined;
  readonly peers: string | undefined;
}

/** `snapshot restore FILE --data-dir D --id ID --peers A,B,C`: needs no cluster. */
export async function snapshotRestoreCommand(io: CliIo, file: string, f: RestoreFlags, usageError: (m: string) => number): Promise<number> {
  if (f.dataDir === undefined || f.id === undefined || f.peers === undefined) return usageError('snapshot restore needs --data-dir, --id and --peers');
  const peers = f.peers.split(',').map((p) => p.trim()).filter((p) => p !== '');
  if (peers.length === 0) return usageError('--peers lists the ids of the new cluster, e.g. n1,n2,n3');
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    io.stderr.write(`Error: cannot read ${file}: ${(e as Error).message}\n`);
    return EXIT_FAILED;
  }
  const r = await restoreDataDir(bytes, f.dataDir, f.id, peers);
  if (!r.ok) {
    io.stderr.write(`Error: ${r.error}\n`);
    return EXIT_FAILED;
  }
  io.stdout.write(`restored revision ${r.index} (${r.keys} keys, ${r.leases} leases, sha256 ${r.sha256}) into ${f.dataDir} for ${f.id} of ${peers.join(',')}\n`);
  return EXIT_OK;
}
