import { accessSync, constants, mkdirSync, statSync, type Stats } from 'node:fs';

/** How often a running node checks that its data directory is still the one it opened. */
export const DATA_DIR_CHECK_INTERVAL_MS = 1_000;

export type DataDirProblem = { readonly ok: true } | { readonly ok: false; readonly error: string };

function codeOf(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : 'unknown';
}

function whyUnwritable(code: string): string {
  switch (code) {
    case 'EROFS':
      return 'on a read-only file system';
    case 'EACCES':
    case 'EPERM':
      return 'not writable by this process';
    case 'ENOSPC':
      return 'on a full disk';
    default:
      return `unusable (${code})`;
  }
}

/** Creates the data directory if needed and checks that the node can write there, with a message an operator can act on. */
export function prepareDataDir(dir: string): DataDirProblem {
  try {
    mkdirSync(dir, { recursive: true });
    if (!statSync(dir).isDirectory()) return { ok: false, error: `node.data_dir ${dir} is not a directory` };
    accessSync(dir, constants.W_OK);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: `node.data_dir ${dir} is ${whyUnwritable(codeOf(e))}` };
  }
}

/**
 * Watches that `dir` stays the directory the node opened, and writable. On Linux
 * a deleted directory's open files stay writable, so LevelDB would keep
 * "succeeding" into unlinked files and every write since would vanish at the next
 * start; and on a file system remounted read-only the open files may take writes
 * that new ones (the next log file, a compaction) cannot. The node must stop
 * instead. `onLost` is called once; the returned function stops watching.
 */
export function watchDataDir(dir: string, onLost: (why: string) => void, intervalMs = DATA_DIR_CHECK_INTERVAL_MS): () => void {
  const identity = (s: Stats): string => `${s.dev}:${s.ino}`;
  const opened = identity(statSync(dir));
  const timer = setInterval(() => {
    let why: string | null = null;
    try {
      if (identity(statSync(dir)) !== opened) why = `node.data_dir ${dir} was replaced by another directory while the node ran`;
      else accessSync(dir, constants.W_OK);
    } catch (e) {
      const code = codeOf(e);
      why = code === 'ENOENT' ? `node.data_dir ${dir} vanished while the node ran` : `node.data_dir ${dir} became ${whyUnwritable(code)} while the node ran`;
    }
    if (why === null) return;
    clearInterval(timer);
    onLost(why);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
