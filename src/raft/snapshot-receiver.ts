import type { InstallSnapshot, Snapshot, SnapshotMeta } from './types.js';

/**
 * A follower's half-received snapshot. Chunks must arrive in order; a gap or a
 * chunk of another snapshot is answered with the chunk we need, so the leader
 * resumes from there (after loss, reordering or a dropped connection). Nothing is
 * installed until the last chunk is in: a crash before that leaves the old state.
 */
export class SnapshotReceiver {
  private meta: SnapshotMeta | null = null;
  private chunks: Uint8Array[] = [];

  /** Takes one chunk; returns the whole snapshot once complete, else the next chunk needed. */
  receive(m: InstallSnapshot): { readonly complete: Snapshot } | { readonly nextChunk: number } {
    const same = this.meta !== null && this.meta.index === m.meta.index && this.meta.term === m.meta.term;
    if (!same) {
      if (m.chunk !== 0) return { nextChunk: 0 };
      this.meta = m.meta;
      this.chunks = [];
    }
    if (m.chunk !== this.chunks.length) return { nextChunk: this.chunks.length };
    this.chunks.push(m.data);
    if (this.chunks.length < m.chunkCount) return { nextChunk: this.chunks.length };
    const complete: Snapshot = { meta: this.meta!, chunks: this.chunks };
    this.reset();
    return { complete };
  }

  reset(): void {
    this.meta = null;
    this.chunks = [];
  }
}
