/**
 * When to snapshot the state machine and compact the log: once the entries applied
 * since the last snapshot pass a count or a byte total, whichever comes first.
 */
export class SnapshotPolicy {
  private entries = 0;
  private bytes = 0;

  constructor(
    private readonly everyEntries: number,
    private readonly everyBytes: number,
  ) {}

  applied(dataBytes: number): void {
    this.entries++;
    this.bytes += dataBytes;
  }

  due(): boolean {
    return this.entries >= this.everyEntries || this.bytes >= this.everyBytes;
  }

  /** A snapshot was started now: count afresh from here. */
  taken(): void {
    this.entries = 0;
    this.bytes = 0;
  }
}
