// A node's data directory on a disk the test can fill, empty and make read-only:
// a small tmpfs when we may mount one (root), else RLIMIT_FSIZE and file modes.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessCluster, ProcessNode } from './process-cluster.js';

export interface SmallDisk {
  readonly kind: 'tmpfs' | 'file-size-limit';
  /** Takes nearly all the space: the running node's next writes fail. */
  fill(): void;
  /** Gives the space back (for the file-size limit: from the node's next start). */
  free(): void;
  /** Makes the data directory unwritable; `writable()` undoes it. */
  readOnly(): void;
  writable(): void;
}

const TMPFS_BYTES = 64 * 1024 * 1024;
/** What fill() leaves: less than one batch of the writes the tests make. */
const LEFT_BYTES = 64 * 1024;
const FILLER = 'filler.bin';
/** RLIMIT_FSIZE when no fault is on: large enough never to matter. */
const NO_LIMIT_BYTES = 2 ** 40;

function tryMount(dir: string): boolean {
  if (process.getuid?.() !== 0 || process.env['KVSTORE_TEST_DISK'] === 'file-size-limit') return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES}`, 'tmpfs', dir], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

function tmpfsDisk(n: ProcessNode, cluster: ProcessCluster): SmallDisk {
  // Read-only is a read-only bind mount over the tmpfs (a tmpfs with files open for writing cannot be remounted read-only).
  let readOnly = false;
  const run = (command: 'mount' | 'umount', ...args: string[]): void => void execFileSync(command, args, { stdio: 'pipe' });
  cluster.onStop(() => {
    if (readOnly) run('umount', '-l', n.dataDir);
    run('umount', '-l', n.dataDir);
  });
  return {
    kind: 'tmpfs',
    fill: () => {
      const s = statfsSync(n.dataDir);
      const bytes = Number(s.bavail) * Number(s.bsize) - LEFT_BYTES;
      if (bytes > 0) writeFileSync(join(n.dataDir, FILLER), Buffer.alloc(bytes));
    },
    free: () => rmSync(join(n.dataDir, FILLER), { force: true }),
    readOnly: () => {
      run('mount', '--bind', n.dataDir, n.dataDir);
      run('mount', '-o', 'remount,bind,ro', n.dataDir);
      readOnly = true;
    },
    writable: () => {
      run('umount', n.dataDir);
      readOnly = false;
    },
  };
}

function largestFileBytes(dir: string): number {
  let max = 0;
  for (const name of readdirSync(dir, { recursive: true })) {
    const s = statSync(join(dir, String(name)));
    if (s.isFile()) max = Math.max(max, s.size);
  }
  return max;
}

function setModes(dir: string, writable: boolean): void {
  for (const name of ['', ...readdirSync(dir, { recursive: true }).map(String)]) {
    const p = join(dir, name);
    chmodSync(p, statSync(p).isDirectory() ? (writable ? 0o755 : 0o555) : writable ? 0o644 : 0o444);
  }
}

/** The running node's files may grow no more (EFBIG), like a disk that filled up. */
function fileSizeLimitDisk(n: ProcessNode): SmallDisk {
  n.fileSizeLimitBytes = NO_LIMIT_BYTES;
  const limit = (bytes: number): void => {
    const pid = n.proc?.pid;
    if (pid !== undefined) execFileSync('prlimit', ['--pid', String(pid), `--fsize=${bytes}`], { stdio: 'pipe' });
  };
  return {
    kind: 'file-size-limit',
    fill: () => limit(largestFileBytes(n.dataDir) + LEFT_BYTES),
    free: () => limit(NO_LIMIT_BYTES),
    readOnly: () => setModes(n.dataDir, false),
    writable: () => setModes(n.dataDir, true),
  };
}

/** Call from ProcessCluster.start's `prepare`, before the node first starts. */
export function smallDisk(n: ProcessNode, cluster: ProcessCluster): SmallDisk {
  mkdirSync(n.dataDir, { recursive: true });
  return tryMount(n.dataDir) ? tmpfsDisk(n, cluster) : fileSizeLimitDisk(n);
}
